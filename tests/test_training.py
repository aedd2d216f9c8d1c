"""The trainer: run folder, checkpoints and resume, time budget, configuration errors.

A tiny ``dates`` model (:data:`TINY`) keeps every run to seconds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from translator import train as train_cli
from translator import training
from translator.config import ModelConfig, load_config, preset_names
from translator.runs import RunPaths, read_checkpoint_state
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
    return [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]


# --------------------------------------------------------------------------- presets


def test_every_preset_loads_and_validates():
    names = preset_names()
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
        # Same check as the CLI: a buildable model once vocabulary sizes are known.
        model_config = ModelConfig(
            **{**config.model.__dict__, "source_vocab_size": 50, "target_vocab_size": 60}
        )
        assert model_config.decoder in ("sutskever", "cho", "bahdanau", "luong")
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
    summary = json.loads((ref / "summary.json").read_text())
    steps = summary["steps_per_epoch"]
    assert summary["epochs"] == 2 and summary["steps"] == 2 * steps
    for name in ("config.yaml", "best.keras", "final.keras", "metrics.csv", "summary.json"):
        assert (ref / name).is_file(), name
    assert (ref / "tokenizers" / "tokenizers.json").is_file()
    for events in ("train", "validation"):  # TensorBoard event files
        assert list((ref / "logs" / events).iterdir())
    saved = load_config(ref / "config.yaml")
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
    assert not (run / "summary.json").exists()
    # The checkpoint holds the optimizer state (Adam moments and the step counter).
    restored = keras.saving.load_model(RunPaths(run).last)
    assert int(restored.optimizer.iterations.numpy()) == steps
    assert any(np.abs(v.numpy()).sum() > 0 for v in restored.optimizer.variables[2:])

    # Resume: tokenizers are loaded (not retrained), epochs and steps continue.
    tokenizer_mtime = (run / "tokenizers" / "tokenizers.json").stat().st_mtime_ns
    assert train_cli.main(["--resume", "--output", str(run), "--quiet"]) == 0
    assert (run / "tokenizers" / "tokenizers.json").stat().st_mtime_ns == tokenizer_mtime
    resumed = json.loads((run / "summary.json").read_text())
    assert resumed["epochs"] == 2 and resumed["steps"] == 2 * steps
    rows_resumed = history(run)
    assert [r["epoch"] for r in rows_resumed] == [1, 2]
    assert [r["step"] for r in rows_resumed] == [steps, 2 * steps]
    # Same data order and optimizer state: the resumed run retraces the reference.
    for a, b in zip(rows, rows_resumed):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-3)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-3)


def test_time_budget_stops_cleanly_with_checkpoint_and_summary(tmp_path):
    run = tmp_path / "budget"
    # 0.005 min = 0.3 s: the first epoch's tracing alone is longer.
    args = tiny_args(
        run, "train.epochs=50", "train.early_stopping_patience=null", "train.schedule=budget_cosine"
    )
    assert train_cli.main([*args, "--time-budget", "0.005"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped_by"] == "time_budget"
    # Cosine anneals over the budget (not the 50 epochs): already below the peak.
    assert summary["final"]["learning_rate"] < 0.003
    assert summary["epochs"] == 1 and summary["partial_last_epoch"]
    assert 0 < summary["steps"] < summary["steps_per_epoch"]
    assert (run / "final.keras").is_file() and (run / "best.keras").is_file()
    assert read_checkpoint_state(RunPaths(run).last).step == summary["steps"]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--set", "model.cell=transformer"], "model.cell"),
        (["--set", "train.optimiser=adam"], "optimiser"),
        (["--set", "train.batch_size=big"], "train.batch_size"),
        (["--set", "data.corpus=no-such-corpus"], "no-such-corpus"),
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
    assert not (tmp_path / "b" / "config.yaml").exists()
    used = tmp_path / "used"
    used.mkdir()
    (used / "config.yaml").write_text("name: x\n")
    assert train_cli.main(["--config", "dates", "--output", str(used)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert train_cli.main(["--resume", "--output", str(tmp_path / "none")]) == 2


# --------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_killed_process_resumes_from_its_last_checkpoint(tmp_path):
    import signal
    import time

    run = tmp_path / "killed"
    args = [sys.executable, "-m", "translator.train", *tiny_args(run, "train.epochs=4")]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_file = RunPaths(run).last_state
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if state_file.is_file() and json.loads(state_file.read_text())["epoch"] >= 1:
            break
        time.sleep(0.05)
    time.sleep(0.5)  # somewhere in epoch 2, possibly inside a checkpoint write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = read_checkpoint_state(RunPaths(run).last)
    assert 1 <= state.epoch < 4
    keras.saving.load_model(RunPaths(run).last)  # never corrupt
    assert train_cli.main(["--resume", "--output", str(run), "--quiet"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 4 and summary["steps"] == 4 * summary["steps_per_epoch"]
    assert [r["epoch"] for r in history(run)] == [1, 2, 3, 4]
