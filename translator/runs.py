"""The run folder: its layout, atomic writes, checkpoints, training state and loading.

Every file of a run is named here and nowhere else.  A run folder holds::

    config.yaml            resolved config (vocabulary sizes filled in)
    tokenizers/            source/target tokenizer assets (trained on train only)
    checkpoints/last.keras model + optimizer state after the last epoch, with the
                           training state embedded (epoch, step, wall time, history)
    checkpoints/last.json  a readable copy of that training state
    best.keras             weights with the lowest validation loss (no optimizer)
    final.keras            weights when training ended (no optimizer)
    metrics.jsonl          one JSON line per epoch: every log, epoch, step, time, lr (and
                           interim validation rows with train.validate_every_steps)
    metrics.csv            the same as a table
    logs/                  TensorBoard event files
    summary.json           what was trained, how long, how well
    eval/                  written by ``translator.evaluate``: <split>[.<tag>].json, ...

Writes are atomic (temporary file in the same folder, fsync, ``os.replace``), so a
kill at any moment leaves the previous file intact.  The training state lives
*inside* ``last.keras`` (a zip member), so model, optimizer and epoch counter can
never disagree.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import importlib.metadata
import io
import json
import os
import platform
import secrets
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

import translator.model  # noqa: F401  (registers the Keras classes that checkpoints name)
from translator.config import Config, ConfigError, load_config
from translator.tokenizer import Tokenizer, load_tokenizers, save_tokenizers

STATE_MEMBER = "training_state.json"  # zip member of last.keras holding the state
STATE_VERSION = 1
CHECKPOINTS = ("best", "final", "last")
PACKAGES = (
    "translator",
    "tensorflow",
    "tensorflow-text",
    "keras",
    "numpy",
    "sacrebleu",
    "sentencepiece",
)


class RunError(RuntimeError):
    """A run folder is missing, incomplete, or already in use."""


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """Where everything of one run lives (see the module docstring)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def tokenizers(self) -> Path:
        return self.root / "tokenizers"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.keras"

    @property
    def last_state(self) -> Path:
        return self.checkpoints / "last.json"

    @property
    def best(self) -> Path:
        return self.root / "best.keras"

    @property
    def final(self) -> Path:
        return self.root / "final.keras"

    @property
    def history(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def history_csv(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    def checkpoint(self, name: str) -> Path:
        """``best``, ``final`` or ``last`` -> its ``.keras`` file."""
        if name not in CHECKPOINTS:
            raise ValueError(f"checkpoint {name!r}: choose one of {list(CHECKPOINTS)}")
        return {"best": self.best, "final": self.final, "last": self.last}[name]

    @staticmethod
    def eval_name(split: str, tag: str | None = None) -> str:
        """``test`` or ``test.<tag>``: the stem of one evaluation's files."""
        return f"{split}.{tag}" if tag else split

    def eval_file(self, split: str, tag: str | None = None, suffix: str = ".json") -> Path:
        """``eval/<split>[.<tag>]<suffix>`` (``.json``, ``.hyp.txt``, ``.ref.txt``, ...)."""
        return self.eval / f"{self.eval_name(split, tag)}{suffix}"

    def evaluations(self) -> dict[str, Any]:
        """Every ``eval/*.json`` as ``{stem: data}`` (unreadable files are skipped)."""
        if not self.eval.is_dir():
            return {}
        found = {path.stem: read_json(path) for path in sorted(self.eval.glob("*.json"))}
        return {name: data for name, data in found.items() if data is not None}


# --------------------------------------------------------------------------- atomic files


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Writes ``path`` all-or-nothing: ``write(tmp)``, fsync, ``os.replace(tmp, path)``.

    The temporary file sits in the same folder (so the rename is atomic) and keeps
    ``path``'s suffix (Keras insists on ``.keras``).  If anything fails (or the process
    is interrupted) before the rename, ``path`` keeps its previous content and the
    temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not pre-created (mkstemp would make it 0600): the writer creates it normally.
    tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}"
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write` for UTF-8 text."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def write_json(path: str | Path, data: Any) -> Path:
    """Atomically writes indented JSON."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=_json_default)
    return atomic_write_text(path, text + "\n")


def read_json(path: str | Path) -> Any:
    """The JSON in ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def remove_stale_temporaries(folder: Path) -> None:
    """Deletes ``.name.XXXX.suffix`` leftovers of writes killed before their rename."""
    if folder.is_dir():
        for leftover in folder.glob(".*.tmp*"):
            with contextlib.suppress(OSError):
                leftover.unlink()


# --------------------------------------------------------------------------- training state


@dataclasses.dataclass
class TrainingState:
    """What a resumable checkpoint records besides weights and optimizer.

    Attributes:
        epoch: epochs finished (the next epoch to run).
        epoch_step: batches of epoch ``epoch`` already trained (a checkpoint written
            mid-epoch); 0 at an epoch boundary.
        step: optimizer steps taken.
        partial_epoch: the last finished epoch was cut short (time budget).
        wall_seconds: wall-clock time of all training invocations together.
        train_seconds: time spent in training batches only.
        label_tokens: real label tokens trained on (for tokens/s).
        best_val_loss, best_epoch, best_val_perplexity: the best epoch so far.
        early_stopping_wait: epochs since the last improvement.
        stopped_by: ``early_stopping``, ``time_budget`` or None.
        budget_seconds: time-budget seconds used (a resumed run gets the rest).
        history: one record per finished epoch, plus interim validation rows
            (``interim: true``); what ``metrics.jsonl`` holds.
        invocations: one record per training command (start time, wall seconds,
            steps), as of its last checkpoint.
    """

    seed: int = 0
    epoch: int = 0
    epoch_step: int = 0
    step: int = 0
    partial_epoch: bool = False
    wall_seconds: float = 0.0
    train_seconds: float = 0.0
    label_tokens: float = 0.0
    best_val_loss: float | None = None
    best_epoch: int | None = None
    best_val_perplexity: float | None = None
    early_stopping_wait: int = 0
    stopped_by: str | None = None
    budget_seconds: float = 0.0
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    invocations: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    version: int = STATE_VERSION

    def to_dict(self, history: bool = True) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if not history:
            del data["history"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingState:
        """Reads a stored state; keys this version does not know are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def save_checkpoint(model: keras.Model, path: str | Path, state: TrainingState) -> Path:
    """Atomically saves the compiled model (optimizer included) with ``state`` inside.

    Raises:
        RunError: the file could not be written (a full disk, a file-size limit...);
            ``path`` still holds the previous checkpoint.
    """

    def write(tmp: Path) -> None:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(STATE_MEMBER, json.dumps(state.to_dict(), default=_json_default))

    try:
        return atomic_write(path, write)
    except (OSError, RuntimeError, ValueError, zipfile.BadZipFile) as err:
        kept = "it still holds the previous checkpoint" if Path(path).exists() else "none kept"
        raise RunError(f"could not write the checkpoint {path} ({err}); {kept}") from err


def _corrupt(path: str | Path, err: BaseException) -> RunError:
    reason = " ".join(str(err).split()) or type(err).__name__
    return RunError(
        f"{path} is truncated or corrupt ({reason}); restore it from a copy, "
        "or delete it to start that part over"
    )


def read_checkpoint_state(path: str | Path) -> TrainingState:
    """The training state embedded in a checkpoint by :func:`save_checkpoint`
    (:class:`RunError` naming the file when it cannot be read)."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read(STATE_MEMBER).decode("utf-8"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise _corrupt(path, err) from err
    return TrainingState.from_dict(data)


def load_checkpoint_weights(model: keras.Model, path: str | Path) -> None:
    """Loads the weights (and optimizer state) of ``path`` into a built ``model``."""
    try:
        model.load_weights(path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise _corrupt(path, err) from err


def read_history(paths: RunPaths) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` (``[]`` when the run has none yet)."""
    if not paths.history.is_file():
        return []
    lines = paths.history.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def write_history(paths: RunPaths, history: list[dict[str, Any]]) -> None:
    """Rewrites ``metrics.jsonl`` and ``metrics.csv`` from the whole history."""
    lines = "".join(json.dumps(row, default=_json_default) + "\n" for row in history)
    atomic_write_text(paths.history, lines)
    columns: list[str] = []
    for row in history:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(paths.history_csv, buffer.getvalue())


def save_weights_only(model: keras.Model, path: str | Path, twin: keras.Model | None = None):
    """Atomically saves architecture + weights (no optimizer) through an uncompiled twin.

    Returns the twin so the next save can reuse it (building one costs a trace).
    """
    if twin is None:
        twin = type(model).from_config(model.get_config())
        twin.build()
    twin.set_weights(model.get_weights())
    atomic_write(path, lambda tmp: twin.save(tmp))
    return twin


# --------------------------------------------------------------------------- reading runs


def versions() -> dict[str, str | None]:
    """Versions of what produced a run or an export, by distribution name (None: not
    installed), plus Python and the platform."""
    found: dict[str, str | None] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def fill_vocab_sizes(config: Config, source: Tokenizer, target: Tokenizer) -> Config:
    """``config`` with the model's vocabulary sizes taken from the tokenizers."""
    model = dataclasses.replace(
        config.model, source_vocab_size=source.vocab_size, target_vocab_size=target.vocab_size
    )
    return config.replace(model=model)


def _require_run(run_dir: str | Path) -> RunPaths:
    """The run's paths; :class:`RunError` saying what is missing when it is no run."""
    paths = RunPaths(Path(run_dir))
    if not paths.root.is_dir():
        raise RunError(
            f"run folder {paths.root} does not exist (train one with python -m translator.train)"
        )
    if not paths.config.is_file():
        raise RunError(f"{paths.root} is not a run folder (no config.yaml)")
    if not paths.tokenizers.is_dir():
        raise RunError(f"{paths.root} is not a complete run folder: tokenizers is missing")
    return paths


def load_run_setup(run_dir: str | Path) -> tuple[Config, Tokenizer, Tokenizer]:
    """``(config, source_tokenizer, target_tokenizer)`` of a run folder, vocabulary
    sizes filled in; :class:`RunError` naming what is missing otherwise."""
    paths = _require_run(run_dir)
    try:
        config = load_config(paths.config)
    except ConfigError as err:
        raise RunError(f"{paths.config}: {err}") from err
    source, target = load_tokenizers(paths.tokenizers)
    return fill_vocab_sizes(config, source, target), source, target


def find_checkpoint(run_dir: str | Path, checkpoint: str, fallback: bool = False) -> Path:
    """The ``.keras`` file of ``checkpoint``; with ``fallback`` the other finished
    weights (``best`` <-> ``final``) when it is missing."""
    paths = _require_run(run_dir)
    order = [checkpoint]
    if fallback:
        order += [c for c in ("best", "final") if c != checkpoint]
    for name in order:
        path = paths.checkpoint(name)
        if path.is_file():
            return path
    names = " or ".join(paths.checkpoint(name).name for name in order)
    raise RunError(f"{paths.root} has no {names} (has the run finished an epoch?)")


def load_run(
    run_dir: str | Path, checkpoint: str = "best", fallback: bool = False
) -> tuple[Config, keras.Model, Tokenizer, Tokenizer]:
    """Loads ``(config, model, source_tokenizer, target_tokenizer)`` of a run folder.

    ``checkpoint``: ``best`` (lowest validation loss), ``final`` (end of training) or
    ``last`` (the resumable checkpoint).  The model is loaded uncompiled.
    """
    config, source_tokenizer, target_tokenizer = load_run_setup(run_dir)
    path = find_checkpoint(run_dir, checkpoint, fallback)
    try:
        model = keras.saving.load_model(path, compile=False)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise _corrupt(path, err) from err
    return config, model, source_tokenizer, target_tokenizer


def check_output(paths: RunPaths, resume: bool, chief: bool = True) -> None:
    """Refuses to overwrite another run, or to resume a folder that holds none.

    Only the chief checks a new run's folder: on a shared filesystem the other workers
    may look after the chief has already written ``config.yaml``.
    """
    if resume:
        if not paths.config.is_file():
            raise RunError(f"--resume: {paths.root} holds no run (no config.yaml)")
    elif chief and (paths.config.exists() or paths.last.exists()):
        raise RunError(
            f"{paths.root} already holds a run; continue it with --resume "
            "or choose another --output"
        )


def write_run_setup(
    paths: RunPaths,
    config: Config,
    source: Tokenizer,
    target: Tokenizer,
    *,
    tokenizers: bool = True,
) -> None:
    """Writes ``config.yaml`` and (unless ``tokenizers`` is false: they are there
    already) ``tokenizers/``: what every later step reads."""
    if tokenizers:
        save_tokenizers(source, target, paths.tokenizers)
    atomic_write_text(paths.config, config.to_yaml())
