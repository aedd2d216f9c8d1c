"""The trainer: run folder, checkpoints and resume, time budget, configuration errors.

A tiny ``dates`` model (:data:`TINY`) keeps every run to seconds."""

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import artifacts, run_module  # noqa: F401

from translator import train as train_cli
from translator import training
from translator.config import ConfigError, ModelConfig, load_config, preset_names
from translator.runs import RunPaths, read_checkpoint_state, read_json
from translator.training import TrainOptions

# A tiny dates model: ~20 steps an epoch, seconds per run on two CPU cores.
TINY = [
    "data.train_limit=640",
    "data.eval_limit=64",
    "model.units=16",
    "model.embedding_dim=16",
    "train.batch_size=32",
]


def tiny_args(output, *extra):
    args = ["--config", "dates", "--output", str(output), "--quiet"]
    for item in TINY + list(extra):
        args += ["--set", item]
    return args


def history(run):
    return [json.loads(line) for line in RunPaths(Path(run)).history.read_text().splitlines()]


# --------------------------------------------------------------------------- presets


def test_every_preset_loads_and_validates():
    from translator.attention import ATTENTIONS
    from translator.extractive import ExtractiveSummarizer
    from translator.model import build_model

    names = preset_names()
    tuned = load_config("spa-en")
    for name in (
        "dates",
        "spa-en-quick",
        "spa-en",
        "multi30k-de-en",
        "multi30k-en-de",
        "spa-en-rnn-sutskever",
        "spa-en-lstm-sutskever",
        "spa-en-gru-sutskever",
        "spa-en-gru-cho",
        "spa-en-lstm-cho",
        "spa-en-gru-bahdanau",
        "spa-en-lstm-bahdanau",
        "spa-en-gru-luong",
        "spa-en-lstm-luong",
    ):
        assert name in names
    for name in names:
        config = load_config(name)
        assert config.name == name
        # Same check as the CLI: a buildable model once vocabulary sizes are known
        # (build_model checks what the config cannot: dot widths, tying, joint vocab).
        vocab = {"source_vocab_size": 50, "target_vocab_size": 50 if config.tokenizer.joint else 60}
        sized = ModelConfig(**{**config.model.__dict__, **vocab})
        if config.model.extractive:  # the sentence extractor: no token decoder to check
            model = build_model(config.replace(model=sized))
            assert isinstance(model, ExtractiveSummarizer) and config.task == "summarization"
            continue
        decoder = build_model(sized).decoder
        # ... and it is the configured one (the Decoder silently drops input feeding,
        # coverage and copying where its variant has no use for them).
        wanted = config.model
        assert (decoder.variant, decoder.cell) == (wanted.decoder, wanted.cell)
        assert (decoder.input_feeding, decoder.coverage, decoder.pointer_generator) == (
            wanted.input_feeding,
            wanted.coverage,
            wanted.pointer_generator,
        )
        if wanted.attention_name is None:
            assert not decoder.has_attention
        else:
            assert type(decoder.attention) is ATTENTIONS[wanted.attention_name]
        if name.startswith("spa-en-") and name != "spa-en-quick":  # spa-en-<cell>-<decoder>
            assert name.split("-")[2:] == [wanted.cell, wanted.decoder]
            # The variants differ in architecture only: the tuned preset's recipe.
            assert config.train == tuned.train, name
            assert wanted.dropout == tuned.model.dropout, name
    comparison = [n for n in names if n.startswith("spa-en-") and n != "spa-en-quick"]
    sizes = {(load_config(n).model.units, load_config(n).tokenizer.vocab_size) for n in comparison}
    assert sizes == {(256, 5000)}  # one size for the whole comparison


# --------------------------------------------------------------------------- run + resume


class Crash(keras.callbacks.Callback):
    """Simulates a crash: raises after ``batch`` batches of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("simulated crash")


def test_run_folder_interrupt_and_resume_continue_epochs_steps_and_data_order(tmp_path):
    # Uninterrupted reference: 2 epochs.
    ref = tmp_path / "ref"
    assert train_cli.main(tiny_args(ref, "train.epochs=2")) == 0
    summary = read_json(RunPaths(ref).summary)
    steps = summary["steps_per_epoch"]
    assert summary["epochs"] == 2 and summary["steps"] == 2 * steps
    assert summary["model"]["encoder_units"] == summary["model"]["units"]  # the default
    assert summary["model"]["output_bfloat16"] is False
    layout = RunPaths(ref)
    for path in (layout.config, layout.best, layout.final, layout.history_csv, layout.summary):
        assert path.is_file(), path
    assert (layout.tokenizers / "tokenizers.json").is_file()
    for events in ("train", "validation"):  # TensorBoard event files
        assert list((layout.logs / events).iterdir())
    saved = load_config(RunPaths(ref).config)
    assert saved.model.source_vocab_size and saved.model.target_vocab_size
    rows = history(ref)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"loss", "val_loss", "accuracy", "perplexity", "val_perplexity", "learning_rate"} <= set(
        rows[0]
    )
    assert rows[-1]["loss"] < rows[0]["loss"]  # it learns
    for key in ("task", "corpus", "direction", "variant", "parameters", "tokens_per_second"):
        assert summary[key] is not None, key
    assert summary["data"]["train"]["kept"] == 640

    # Crash in the middle of epoch 2: the last checkpoint is epoch 1's.
    run = tmp_path / "run"
    config = load_config("dates", [*TINY, "train.epochs=2"])
    with pytest.raises(RuntimeError, match="simulated crash"):
        training.train(config, run, TrainOptions(verbose=0, callbacks=[Crash(1, 5)]))
    state = read_checkpoint_state(RunPaths(run).last)
    assert state.epoch == 1 and state.step == steps
    assert not RunPaths(run).summary.exists()
    # The checkpoint holds the optimizer state (Adam moments and the step counter).
    restored = keras.saving.load_model(RunPaths(run).last)
    assert int(restored.optimizer.iterations.numpy()) == steps
    assert any(np.abs(v.numpy()).sum() > 0 for v in restored.optimizer.variables[2:])

    # Resume: tokenizers are loaded (not retrained), epochs and steps continue.
    tokenizer_mtime = (RunPaths(run).tokenizers / "tokenizers.json").stat().st_mtime_ns
    assert train_cli.main(["--resume", "--output", str(run), "--quiet"]) == 0
    assert (RunPaths(run).tokenizers / "tokenizers.json").stat().st_mtime_ns == tokenizer_mtime
    resumed = read_json(RunPaths(run).summary)
    assert resumed["epochs"] == 2 and resumed["steps"] == 2 * steps
    rows_resumed = history(run)
    assert [r["epoch"] for r in rows_resumed] == [1, 2]
    assert [r["step"] for r in rows_resumed] == [steps, 2 * steps]
    # Same data order and optimizer state: the resumed run retraces the reference.
    for a, b in zip(rows, rows_resumed):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-3)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-3)


@pytest.mark.parametrize(
    "budget",
    [
        ["--time-budget", "0.005"],
        ["--set", "train.time_budget_minutes=0.005"],  # a preset's own budget
        ["--set", "train.time_budget_minutes=600", "--time-budget", "0.005"],  # CLI wins
    ],
    ids=["cli", "config", "cli-over-config"],
)
def test_time_budget_stops_cleanly_with_checkpoint_and_summary(tmp_path, budget):
    run = tmp_path / "budget"
    # 0.005 min = 0.3 s: the first epoch's tracing alone is longer.
    args = tiny_args(
        run, "train.epochs=50", "train.early_stopping_patience=null", "train.schedule=budget_cosine"
    )
    # spa-en's speed settings too, so the summary must record them as trained.
    args += ["--set", "model.encoder_units=8", "--set", "model.output_bfloat16=true"]
    assert train_cli.main([*args, *budget]) == 0
    summary = read_json(RunPaths(run).summary)
    assert summary["model"]["encoder_units"] == 8
    assert summary["model"]["output_bfloat16"] is True
    assert summary["stopped_by"] == "time_budget"
    assert summary["time_budget_minutes"] == 0.005
    # Cosine anneals over the budget (not the 50 epochs): already below the peak.
    assert summary["final"]["learning_rate"] < 0.003
    assert summary["epochs"] == 1 and summary["partial_last_epoch"]
    assert 0 < summary["steps"] < summary["steps_per_epoch"]
    assert RunPaths(run).final.is_file() and RunPaths(run).best.is_file()
    assert read_checkpoint_state(RunPaths(run).last).step == summary["steps"]


def test_interim_validation_adds_curve_points_and_leaves_the_epoch_alone(tmp_path):
    """validate_every_steps: extra history rows every N batches; the epoch's own train
    numbers are those of all its batches (the metrics' running state is restored)."""
    plain, probed = tmp_path / "plain", tmp_path / "probed"
    assert train_cli.main(tiny_args(plain, "train.epochs=2")) == 0
    assert train_cli.main(tiny_args(probed, "train.epochs=2", "train.validate_every_steps=7")) == 0
    rows, reference = history(probed), history(plain)
    interim = [row for row in rows if row.get("interim")]
    per_epoch = read_json(RunPaths(probed).summary)["steps_per_epoch"]
    assert [row["step"] for row in interim] == [
        s for s in range(7, 2 * per_epoch, 7) if s % per_epoch
    ]
    assert all(row["epoch"] % 1 > 0 for row in interim)  # fractional: mid-epoch
    assert all(row["val_perplexity"] > 1 for row in interim)
    epochs = [row for row in rows if not row.get("interim")]
    assert [row["epoch"] for row in epochs] == [1, 2]
    for mine, theirs in zip(epochs, reference, strict=True):
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-5)
        assert mine["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-5)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--set", "model.cell=transformer"], "model.cell"),
        (["--set", "train.optimiser=adam"], "optimiser"),
        (["--set", "train.batch_size=big"], "train.batch_size"),
        (["--set", "data.corpus=no-such-corpus"], "no-such-corpus"),
        (["--time-budget", "0"], "--time-budget must be > 0 minutes"),
    ],
)
def test_bad_config_exits_2_with_the_key_before_any_work(tmp_path, capsys, args, needle):
    out = tmp_path / "run"
    assert train_cli.main(["--config", "dates", "--output", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and "\n" not in err
    assert not out.exists()


def test_unknown_preset_missing_corpus_and_used_folder_exit_2(tmp_path, capsys, monkeypatch):
    assert train_cli.main(["--config", "nope", "--output", str(tmp_path / "a")]) == 2
    assert "unknown preset" in capsys.readouterr().err
    monkeypatch.delenv("TRANSLATOR_DATA_DIR", raising=False)
    monkeypatch.setenv("TRANSLATOR_CACHE_DIR", str(tmp_path / "cache"))
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [
        "--config",
        "spa-en",
        "--set",
        f"data.data_dir={empty}",
        "--output",
        str(tmp_path / "b"),
    ]
    assert train_cli.main(args) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "spa" in err and err.count("\n") == 1
    assert not RunPaths(tmp_path / "b").config.exists()
    used = tmp_path / "used"
    used.mkdir()
    RunPaths(used).config.write_text("name: x\n")
    assert train_cli.main(["--config", "dates", "--output", str(used)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert train_cli.main(["--resume", "--output", str(tmp_path / "none")]) == 2


# --------------------------------------------------------------------------- faults

# Checkpoints every 4 batches; 3 epochs of 27 batches; no early stop.
KILLABLE = [
    "train.epochs=3",
    "train.checkpoint_every_steps=4",
    "train.early_stopping_patience=null",
]


def _start(args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "translator.train", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _saved_step(paths):
    state = read_json(paths.last_state)
    return -1 if state is None else state["step"]


def _temporaries(paths):
    folder = paths.checkpoints
    return [p for p in folder.iterdir() if ".tmp" in p.name] if folder.is_dir() else []


def _kill_when(proc, ready, deadline_s=240):
    """SIGKILLs ``proc`` as soon as ``ready()``; False when it ended or timed out first."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.kill()
    proc.wait()
    return False


def test_sigkill_at_three_moments_and_resume_matches_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    assert train_cli.main(tiny_args(reference, *KILLABLE)) == 0
    ref_summary = read_json(RunPaths(reference).summary)
    per_epoch = ref_summary["steps_per_epoch"]
    total = ref_summary["steps"]
    assert total == 3 * per_epoch

    run = tmp_path / "killed"
    paths = RunPaths(run)
    rng = random.Random(15)
    # Kill 1 and 3 at random saved steps, kill 2 while a checkpoint is being written.
    first, third = sorted(rng.sample(range(4, total - 8, 4), 2))
    kills = []
    proc = _start(tiny_args(run, *KILLABLE))
    assert _kill_when(proc, lambda: _saved_step(paths) >= first), proc.stderr.read()[-2000:]
    kills.append(("step", _saved_step(paths)))
    for _ in range(6):  # the write takes milliseconds: try until one is caught
        before = _saved_step(paths)
        proc = _start(["--resume", "--output", str(run), "--quiet"])
        caught = _kill_when(proc, lambda b=before: _saved_step(paths) > b and _temporaries(paths))
        assert caught, proc.stderr.read()[-2000:]
        if _temporaries(paths):  # killed before the rename: a half-written file is left
            kills.append(("mid-write", _saved_step(paths)))
            break
    assert [kind for kind, _ in kills] == ["step", "mid-write"], kills
    proc = _start(["--resume", "--output", str(run), "--quiet"])
    assert _kill_when(proc, lambda: _saved_step(paths) >= max(third, kills[-1][1] + 4))
    kills.append(("step", _saved_step(paths)))
    for path in (paths.last, paths.best):  # every saved checkpoint loads
        if path.exists():
            keras.saving.load_model(path)

    assert train_cli.main(["--resume", "--output", str(run), "--quiet"]) == 0
    summary = read_json(paths.summary)
    assert summary["steps"] == total and summary["epochs"] == 3
    assert not _temporaries(paths)  # the half-written file was cleaned up
    rows, ref_rows = history(run), history(reference)
    assert [r["epoch"] for r in rows] == [1, 2, 3]  # each epoch exactly once
    assert [r["step"] for r in rows] == [per_epoch, 2 * per_epoch, total]
    # Same batches, same optimizer state: the resumed run ends where the reference
    # ends, up to thread-order float noise (the gaps are printed; see the README).
    for row, ref in zip(rows, ref_rows):
        assert row["val_loss"] == pytest.approx(ref["val_loss"], rel=1e-4)
    final = keras.saving.load_model(paths.final).get_weights()
    expected = keras.saving.load_model(RunPaths(reference).final).get_weights()
    for mine, theirs in zip(final, expected, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-3, atol=1e-5)
    loss_gap = max(abs(r["val_loss"] / e["val_loss"] - 1) for r, e in zip(rows, ref_rows))
    weight_gap = max(float(np.abs(m - t).max()) for m, t in zip(final, expected))
    assert len(summary["invocations"]) == 4  # three killed, one finished
    assert summary["invocations"][-1]["steps"] == total - kills[-1][1]
    print(
        f"\nkilled at {kills}; resumed to {summary['steps']} steps; largest val_loss "
        f"difference {loss_gap:.1e} (relative), largest weight difference {weight_gap:.1e}"
    )


def test_a_full_disk_keeps_the_previous_checkpoint_and_says_so(tmp_path):
    run = tmp_path / "full"
    paths = RunPaths(run)
    assert train_cli.main(tiny_args(run, "train.epochs=1")) == 0
    before = paths.last.read_bytes()
    limit = len(before) // 2  # best.keras (no optimizer state) fits, last.keras does not

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = [sys.executable, "-m", "translator.train", "--resume", "--output", str(run)]
    command += ["--quiet", "--set", "train.epochs=2", "--set", "train.checkpoint_every_steps=5"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        command, env=env, capture_output=True, text=True, preexec_fn=small_files, timeout=300
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert str(paths.last) in errors[0] and "previous checkpoint" in errors[0]
    assert paths.last.read_bytes() == before
    assert read_checkpoint_state(paths.last).epoch == 1


def test_a_corrupt_checkpoint_or_export_is_one_clear_line(tmp_path, capsys):
    run = tmp_path / "corrupt"
    paths = RunPaths(run)
    assert train_cli.main(tiny_args(run, "train.epochs=1")) == 0
    data = paths.last.read_bytes()
    paths.last.write_bytes(data[: len(data) // 3])
    capsys.readouterr()
    assert train_cli.main(["--resume", "--output", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert str(paths.last) in err and "corrupt" in err
    best = paths.best.read_bytes()
    paths.best.write_bytes(best[:100])
    from translator.runs import RunError, load_run

    with pytest.raises(RunError, match="corrupt"):
        load_run(run)


def test_a_corrupt_export_is_one_clear_line(artifacts, tmp_path):  # noqa: F811
    broken = tmp_path / "export"
    shutil.copytree(artifacts.export, broken)
    pb = broken / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:200])
    proc = run_module(["translator.translate", "--model", str(broken), "--text", "abc"])
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2 and err.startswith("error:") and "\n" not in err, err[-2000:]
    assert str(broken) in err and "corrupt" in err


def test_short_pairs_are_repeated_in_training_only(tmp_path):
    """data.short_pair_words / short_pair_repeats: each training pair with at most that
    many source words is seen that many times per epoch; validation is untouched."""
    from translator.data import load_splits_from_config
    from translator.data.oversampling import repeat_short_pairs

    pairs = [("Hola.", "Hi."), ("Me llamo Tom.", "My name is Tom."), ("¡Ayuda!", "Help!")]
    assert repeat_short_pairs(pairs, 1, 3) == [pairs[0]] * 3 + [pairs[1]] + [pairs[2]] * 3
    assert repeat_short_pairs(pairs, 0, 3) == repeat_short_pairs(pairs, 3, 1) == pairs

    extra = ["data.short_pair_words=1", "data.short_pair_repeats=3", "train.epochs=1"]
    config = load_config("dates", [*TINY, *extra])
    short = sum(len(s.split()) <= 1 for s, _ in load_splits_from_config(config).train)
    assert 0 < short < 640  # dates has one-word formats ("3/4/98") and longer ones
    run = tmp_path / "run"
    assert train_cli.main(tiny_args(run, *extra)) == 0
    data = read_json(RunPaths(run).summary)["data"]
    assert data["train"]["kept"] == 640 + 2 * short
    assert data["validation"]["kept"] == 64
    with pytest.raises(ConfigError, match="short_pair_repeats"):
        load_config("dates", ["data.short_pair_repeats=0"])
