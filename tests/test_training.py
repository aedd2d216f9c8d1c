"""The trainer: run folder, checkpoints and resume, atomic writes, data order,
time budget, configuration errors, learning-rate schedules, tf.distribute."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from translator import train as train_cli
from translator import training
from translator.config import Config, ModelConfig, load_config, preset_names
from translator.data import load_splits_from_config
from translator.model import build_model
from translator.tokenizer import train_tokenizers
from translator.training import (
    RunPaths,
    TrainingData,
    TrainOptions,
    WarmupSchedule,
    atomic_write,
    read_checkpoint_state,
    save_checkpoint,
)

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
    assert state["epoch"] == 1 and state["step"] == steps
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
    assert read_checkpoint_state(run / "checkpoints" / "last.keras")["step"] == summary["steps"]


def test_cosine_over_a_time_budget_reaches_zero_when_the_budget_ends(tmp_path):
    schedule = training.BudgetCosine(training.TimeBudget(10.0), 1e-3, warmup_steps=10)
    assert schedule.rate(4, 0.0) == pytest.approx(0.5e-3)  # warming up
    assert schedule.rate(100, 300.0) == pytest.approx(0.5e-3)  # half the budget
    assert schedule.rate(100, 600.0) == pytest.approx(0.0, abs=1e-12)
    assert schedule.rate(100, 900.0) == pytest.approx(0.0, abs=1e-12)
    # Without a time budget it is cosine over the epochs' steps.
    config = load_config("spa-en", ["train.warmup_steps=0"])
    assert config.train.schedule == "budget_cosine"
    optimizer = training.make_optimizer(config, total_steps=100)
    assert float(optimizer.learning_rate) == pytest.approx(config.train.learning_rate, rel=1e-3)
    optimizer.iterations.assign(50)
    assert float(optimizer.learning_rate) == pytest.approx(config.train.learning_rate / 2, rel=0.05)


# --------------------------------------------------------------------------- atomic writes


def compiled_tiny_model():
    config = Config(model=ModelConfig(units=8, embedding_dim=8, decoder="luong"))
    config = config.replace(
        model=ModelConfig(
            units=8, embedding_dim=8, decoder="luong", source_vocab_size=20, target_vocab_size=24
        )
    )
    model = build_model(config)
    training.compile_model(model, config, total_steps=10)
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(1)
    return model


def test_a_failed_checkpoint_write_leaves_the_previous_one_loadable(tmp_path, monkeypatch):
    model = compiled_tiny_model()
    path = tmp_path / "checkpoints" / "last.keras"
    save_checkpoint(model, path, {"epoch": 1, "step": 1})
    before = path.read_bytes()

    # Killed between the temporary write and the rename.
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == path:
            raise KeyboardInterrupt("killed before rename")
        return real_replace(src, dst)

    monkeypatch.setattr(training.os, "replace", replace)
    model.optimizer.iterations.assign(2)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(model, path, {"epoch": 2, "step": 2})
    monkeypatch.undo()

    # Killed in the middle of writing the file itself.
    def half_write(tmp):
        tmp.write_bytes(before[: len(before) // 2])
        raise OSError("disk full / killed mid-write")

    with pytest.raises(OSError):
        atomic_write(path, half_write)

    assert path.read_bytes() == before
    assert read_checkpoint_state(path) == {"epoch": 1, "step": 1}
    restored = keras.saving.load_model(path)
    assert int(restored.optimizer.iterations.numpy()) == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.keras"]  # no leftovers


# --------------------------------------------------------------------------- data order


def test_epoch_order_depends_only_on_seed_and_epoch():
    config = load_config("dates", [*TINY, "data.train_limit=200", "train.batch_size=16"])
    splits = load_splits_from_config(config)
    source_tok, target_tok = train_tokenizers(config.tokenizer, splits.train)
    a = TrainingData(splits.train, source_tok, target_tok, config)
    b = TrainingData(splits.train, source_tok, target_tok, config)

    def batches(ds):
        return [(x[0].tolist(), y.tolist()) for x, y in ds.as_numpy_iterator()]

    epoch2 = batches(a.epoch_dataset(2))
    assert len(epoch2) == a.steps_per_epoch
    assert batches(b.epoch_dataset(2)) == epoch2
    # Epoch 2 of an uninterrupted run == epoch 2 of a run resumed at epoch 2.
    full = batches(a.dataset(0, 3))
    assert full[2 * a.steps_per_epoch :] == epoch2 == batches(b.dataset(2, 3))
    assert batches(a.epoch_dataset(1)) != epoch2
    # Every kept pair is served exactly once per epoch.
    served = sum(sum(1 for row in y if any(row)) for _, y in epoch2)
    assert served == a.size == 200


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


# --------------------------------------------------------------------------- schedules


def test_learning_rate_schedules():
    constant = WarmupSchedule(1e-3, "constant", warmup_steps=10)
    assert float(constant(0)) == pytest.approx(1e-4)
    assert float(constant(9)) == pytest.approx(1e-3)
    assert float(constant(500)) == pytest.approx(1e-3)
    cosine = WarmupSchedule(1e-3, "cosine", warmup_steps=10, total_steps=110)
    assert float(cosine(9)) == pytest.approx(1e-3)
    assert float(cosine(59)) == pytest.approx(0.5e-3, rel=1e-3)
    assert float(cosine(109)) == pytest.approx(0.0, abs=1e-9)
    inverse = WarmupSchedule(1e-3, "inverse_sqrt", warmup_steps=100)
    assert float(inverse(49)) == pytest.approx(0.5e-3)
    assert float(inverse(399)) == pytest.approx(0.5e-3)  # sqrt(100 / 400)
    again = WarmupSchedule.from_config(cosine.get_config())
    assert float(again(59)) == pytest.approx(float(cosine(59)))
    config = load_config("dates", ["train.schedule=cosine", "train.optimizer=sgd"])
    optimizer = training.make_optimizer(config, total_steps=100)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.global_clipnorm == 1.0


# --------------------------------------------------------------------------- distribute

_MIRRORED = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from translator.config import load_config
    from translator.training import TrainOptions, train
    overrides = json.loads(sys.argv[2])
    config = load_config("dates", overrides)
    result = {}
    for name, distribute in (("single", None), ("mirrored", "mirrored")):
        summary = train(config, f"{sys.argv[1]}/{name}", TrainOptions(distribute=distribute,
                                                                        verbose=0))
        lines = open(f"{sys.argv[1]}/{name}/metrics.jsonl").read().splitlines()
        result[name] = {"losses": [json.loads(line)["loss"] for line in lines],
                        "replicas": summary["replicas"], "steps": summary["steps"]}
    print("RESULT " + json.dumps(result))
    """
)


def test_mirrored_strategy_on_two_cpu_devices_matches_single_device(tmp_path):
    # Unbucketed, 640 pairs = 20 full batches: both runs see exactly the same batches.
    overrides = [*TINY, "train.epochs=2", "train.bucket=false"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", _MIRRORED, str(tmp_path), json.dumps(overrides)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[0][len("RESULT ") :])
    assert result["single"]["replicas"] == 1 and result["mirrored"]["replicas"] == 2
    assert result["single"]["steps"] == result["mirrored"]["steps"] == 40
    np.testing.assert_allclose(result["mirrored"]["losses"], result["single"]["losses"], rtol=1e-2)


# --------------------------------------------------------------------------- slow


def _free_ports(n):
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


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
    assert 1 <= state["epoch"] < 4
    keras.saving.load_model(RunPaths(run).last)  # never corrupt
    assert train_cli.main(["--resume", "--output", str(run), "--quiet"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 4 and summary["steps"] == 4 * summary["steps_per_epoch"]
    assert [r["epoch"] for r in history(run)] == [1, 2, 3, 4]


@pytest.mark.slow
def test_multiworker_two_local_workers_match_single_device(tmp_path):
    overrides = [*TINY, "train.epochs=2", "train.bucket=false"]
    single = tmp_path / "single"
    assert train_cli.main(tiny_args(single, "train.epochs=2", "train.bucket=false")) == 0
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        env = {**os.environ, "TF_CONFIG": tf_config, "TF_CPP_MIN_LOG_LEVEL": "2"}
        args = ["--config", "dates", "--output", str(tmp_path / "multi"), "--quiet"]
        for item in overrides:
            args += ["--set", item]
        args += ["--distribute", "multiworker"]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "translator.train", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs[0][-3000:] + outputs[1][-3000:]
    multi = [r["loss"] for r in history(tmp_path / "multi")]
    np.testing.assert_allclose(multi, [r["loss"] for r in history(single)], rtol=1e-2)
