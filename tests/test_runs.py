"""The run folder (translator.runs): layout, atomic writes, checkpoints, loading."""

import os
from pathlib import Path

import keras
import pytest
from helpers import artifacts  # noqa: F401

from translator import runs
from translator.config import Config, ModelConfig
from translator.model import build_model
from translator.runs import (
    RunError,
    RunPaths,
    TrainingState,
    atomic_write,
    load_run,
    read_checkpoint_state,
    save_checkpoint,
)
from translator.training import compile_model


def compiled_tiny_model():
    config = Config(model=ModelConfig(units=8, embedding_dim=8, decoder="luong"))
    config = config.replace(
        model=ModelConfig(
            units=8, embedding_dim=8, decoder="luong", source_vocab_size=20, target_vocab_size=24
        )
    )
    model = build_model(config)
    compile_model(model, config, total_steps=10)
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(1)
    return model


def test_a_failed_checkpoint_write_leaves_the_previous_one_loadable(tmp_path, monkeypatch):
    model = compiled_tiny_model()
    path = tmp_path / "checkpoints" / "last.keras"
    save_checkpoint(model, path, TrainingState(epoch=1, step=1))
    before = path.read_bytes()

    # Killed between the temporary write and the rename.
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == path:
            raise KeyboardInterrupt("killed before rename")
        return real_replace(src, dst)

    monkeypatch.setattr(runs.os, "replace", replace)
    model.optimizer.iterations.assign(2)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(model, path, TrainingState(epoch=2, step=2))
    monkeypatch.undo()

    # Killed in the middle of writing the file itself.
    def half_write(tmp):
        tmp.write_bytes(before[: len(before) // 2])
        raise OSError("disk full / killed mid-write")

    with pytest.raises(OSError):
        atomic_write(path, half_write)

    assert path.read_bytes() == before
    assert read_checkpoint_state(path) == TrainingState(epoch=1, step=1)
    restored = keras.saving.load_model(path)
    assert int(restored.optimizer.iterations.numpy()) == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.keras"]  # no leftovers


def test_the_layout_is_named_in_one_place(tmp_path):
    paths = RunPaths(tmp_path)
    assert paths.checkpoint("best") == tmp_path / "best.keras"
    assert paths.checkpoint("last") == tmp_path / "checkpoints" / "last.keras"
    assert paths.eval_file("test") == tmp_path / "eval" / "test.json"
    assert paths.eval_file("test", "beam5", ".hyp.txt") == tmp_path / "eval" / "test.beam5.hyp.txt"
    with pytest.raises(ValueError, match="checkpoint"):
        paths.checkpoint("newest")


def test_training_state_round_trips_and_ignores_unknown_keys():
    state = TrainingState(epoch=3, step=90, best_val_loss=0.5, history=[{"epoch": 1}])
    data = {**state.to_dict(), "from_a_later_version": 1}
    assert TrainingState.from_dict(data) == state
    assert "history" not in state.to_dict(history=False)


def test_load_run_loads_what_training_wrote_and_names_what_is_missing(artifacts, tmp_path):  # noqa: F811
    config, model, source, target = load_run(artifacts.run)
    assert config.model.source_vocab_size == source.vocab_size == target.vocab_size
    assert model.count_params() == artifacts.model.count_params()
    with pytest.raises(RunError, match="does not exist"):
        load_run(tmp_path / "nothing")
    with pytest.raises(RunError, match=r"final\.keras"):
        load_run(artifacts.run, "final")
    assert runs.find_checkpoint(artifacts.run, "final", fallback=True).name == "best.keras"
