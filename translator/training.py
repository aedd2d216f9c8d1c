"""Teacher-forced training of a :class:`~translator.model.Seq2Seq`, with a run folder.

:func:`train` is what ``python -m translator.train`` runs.  A run folder holds::

    config.yaml            resolved config (vocabulary sizes filled in)
    tokenizers/            source/target tokenizer assets (trained on train only)
    checkpoints/last.keras model + optimizer state after the last epoch, with the
                           training state embedded (epoch, step, wall time, history)
    checkpoints/last.json  a readable copy of that training state
    best.keras             weights with the lowest validation loss (no optimizer)
    final.keras            weights when training ended (no optimizer)
    metrics.jsonl          one JSON line per epoch: every log, epoch, step, time, lr
    metrics.csv            the same as a table
    logs/                  TensorBoard event files
    summary.json           what was trained, how long, how well (see summarize)
    eval/                  written later by ``translator.evaluate``

Data order: every epoch is a fresh permutation of the training pairs drawn with the
stateless seed ``[train.seed, epoch]``, then bucketed by length.  Epoch ``k`` therefore
sees the same batches whether or not the run was interrupted and resumed before it.

Checkpoints are written atomically (temporary file in the same folder, fsync,
``os.replace``), so a kill at any moment leaves the previous checkpoint intact.  The
training state lives *inside* ``last.keras`` (a zip member), so the model, optimizer
and epoch counter can never disagree.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import platform
import random
import secrets
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from translator.config import Config, ConfigError, DecodeConfig, load_config
from translator.metrics import MaskedAccuracy, MaskedCrossEntropy, Perplexity
from translator.model import Seq2Seq, build_model
from translator.pipeline import PipelineStats, make_dataset
from translator.tokenizer import (
    PAD_ID,
    START_ID,
    Tokenizer,
    load_tokenizers,
    save_tokenizers,
    train_tokenizers,
)

_PACKAGE = "translator"
STATE_MEMBER = "training_state.json"  # zip member of last.keras holding the state
STATE_VERSION = 1
DISTRIBUTE_CHOICES = ("mirrored", "multiworker")
_SHARD_BY_DATA = tf.data.experimental.AutoShardPolicy.DATA


class TrainingError(RuntimeError):
    """A run cannot start (folder already used, nothing to resume, ...)."""


# --------------------------------------------------------------------------- run folder


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """Where everything of one run lives (see the module docstring)."""

    root: Path

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


def remove_stale_temporaries(folder: Path) -> None:
    """Deletes ``.name.XXXX.suffix`` leftovers of writes killed before their rename."""
    if folder.is_dir():
        for leftover in folder.glob(".*.tmp*"):
            with contextlib.suppress(OSError):
                leftover.unlink()


def save_checkpoint(model: keras.Model, path: str | Path, state: dict[str, Any]) -> Path:
    """Atomically saves the compiled model (optimizer included) with ``state`` inside."""

    def write(tmp: Path) -> None:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(STATE_MEMBER, json.dumps(state, default=_json_default))

    return atomic_write(path, write)


def read_checkpoint_state(path: str | Path) -> dict[str, Any]:
    """The training state embedded in a checkpoint by :func:`save_checkpoint`."""
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(STATE_MEMBER).decode("utf-8"))


# --------------------------------------------------------------------------- optimizer


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate with linear warm-up, then constant, cosine or inverse-sqrt.

    With ``s = step + 1`` and ``w = warmup_steps``:

    * ``constant``: ``peak * min(1, s / w)``;
    * ``cosine``: warm-up, then ``peak * (1 + cos(pi * p)) / 2`` where ``p`` goes from 0
      to 1 over the remaining ``total_steps - w`` steps (and stays at 1);
    * ``inverse_sqrt``: ``peak * min(s / w, sqrt(w / s))`` (Vaswani et al. 2017;
      ``w`` is taken as 1 without warm-up).
    """

    def __init__(self, peak: float, kind: str, warmup_steps: int = 0, total_steps: int = 1):
        super().__init__()
        self.peak = float(peak)
        self.kind = kind
        self.warmup_steps = int(warmup_steps)
        self.total_steps = max(1, int(total_steps))

    def __call__(self, step: Any) -> Any:
        s = ops.cast(step, "float32") + 1.0
        w = float(max(self.warmup_steps, 1))
        warm = ops.minimum(1.0, s / w) if self.warmup_steps > 0 else 1.0
        if self.kind == "inverse_sqrt":
            return self.peak * ops.minimum(warm, ops.sqrt(w / ops.maximum(s, 1.0)))
        if self.kind == "cosine":
            span = float(max(1, self.total_steps - self.warmup_steps))
            progress = ops.clip((s - float(self.warmup_steps)) / span, 0.0, 1.0)
            return self.peak * warm * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return self.peak * warm * ops.ones_like(s)

    def get_config(self) -> dict[str, Any]:
        return {
            "peak": self.peak,
            "kind": self.kind,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
        }


def make_optimizer(
    config: Config, total_steps: int, over_budget: bool = False
) -> keras.optimizers.Optimizer:
    """The optimizer of ``config.train`` with its schedule and global-norm clipping.

    ``total_steps`` sizes the cosine schedule (``epochs * steps_per_epoch``).  With
    ``over_budget`` the learning rate is a plain variable that :class:`BudgetCosine`
    sets during training.  ``sgd`` is plain SGD (no momentum); ``adamw`` uses Keras'
    default weight decay.
    """
    train = config.train
    if over_budget or (train.schedule == "constant" and not train.warmup_steps):
        rate: Any = train.learning_rate
    else:
        # budget_cosine without a time budget anneals over the epochs instead.
        kind = "cosine" if train.schedule == "budget_cosine" else train.schedule
        rate = WarmupSchedule(train.learning_rate, kind, train.warmup_steps, total_steps)
    # Clipping by global norm: g <- g * min(1, clipnorm / ||g||) over all gradients.
    kwargs: dict[str, Any] = {"learning_rate": rate, "global_clipnorm": train.clipnorm}
    if train.optimizer == "adam":
        return keras.optimizers.Adam(**kwargs)
    if train.optimizer == "adamw":
        return keras.optimizers.AdamW(**kwargs)
    return keras.optimizers.SGD(**kwargs)


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate the optimizer uses at its current step."""
    return float(ops.convert_to_numpy(optimizer.learning_rate))


# --------------------------------------------------------------------------- data


def _bucket_of(lengths: np.ndarray, boundaries: Sequence[int]) -> np.ndarray:
    """Bucket index as ``bucket_by_sequence_length`` assigns it ([b[i-1], b[i]))."""
    return np.searchsorted(np.asarray(boundaries), lengths, side="right")


class TrainingData:
    """Training pairs tokenized once, served epoch by epoch in a seeded order.

    The pairs go through :func:`translator.pipeline.make_dataset` once (its length
    filters, trimming and bucket boundaries are the single source of truth); the
    resulting examples are kept in memory as ragged id tensors.  Epoch ``e`` is the
    permutation ``stateless_shuffle(range(n), seed=[seed, e])`` of them, bucketed by
    length, so its batches depend only on ``(seed, e)``.  That makes the number of
    batches per epoch fixed and known up front (:attr:`steps_per_epoch`).
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str, str]],
        source_tokenizer: Tokenizer,
        target_tokenizer: Tokenizer,
        config: Config,
        pad_to_bucket_boundary: bool = False,
        drop_remainder: bool = False,
    ) -> None:
        self.config = config
        train = config.train
        dataset, stats = make_dataset(
            pairs,
            source_tokenizer,
            target_tokenizer,
            config.data,
            train,
            training=False,
            bucket=train.bucket,
            pointer_generator=config.model.pointer_generator,
        )
        sources, labels = [], []
        for (source, _decoder_input), label in dataset.as_numpy_iterator():
            source_len = (source != PAD_ID).sum(axis=1)
            label_len = (label != PAD_ID).sum(axis=1)
            sources.extend(row[:n] for row, n in zip(source, source_len))
            labels.extend(row[:n] for row, n in zip(label, label_len))
        self.stats: PipelineStats = stats
        self.size = len(sources)
        if self.size == 0:
            raise TrainingError("no training pairs left after the length filters")
        self.source_lengths = np.array([len(s) for s in sources], np.int64)
        self.label_lengths = np.array([len(t) for t in labels], np.int64)
        self._sources = tf.RaggedTensor.from_row_lengths(
            np.concatenate(sources).astype(np.int32), self.source_lengths
        )
        label_values = np.concatenate(labels).astype(np.int32)
        self._labels = tf.RaggedTensor.from_row_lengths(label_values, self.label_lengths)
        self.pad_to_bucket_boundary = pad_to_bucket_boundary and train.bucket
        # XLA wants few shapes: full batches only, padded to the bucket's top length.
        # tf.distribute wants full batches too, so that every replica gets an equal part.
        self.drop_remainder = self.pad_to_bucket_boundary or drop_remainder
        lengths = np.maximum(self.source_lengths, self.label_lengths)
        self.boundaries = list(stats.bucket_boundaries) if train.bucket else []
        if self.boundaries:
            top = max(config.data.max_source_length, config.data.max_target_length + 1) + 1
            self.boundaries[-1] = max(self.boundaries[-1], top)
        self.steps_per_epoch = self._count_batches(lengths)
        # Average real label tokens per batch (for tokens/s; about, if dropping).
        self.label_tokens_per_step = self.label_tokens_per_epoch / self.steps_per_epoch

    @property
    def label_tokens_per_epoch(self) -> int:
        """Real label tokens (target tokens + END) served per epoch (about, if dropping)."""
        return int(self.label_lengths.sum())

    def _count_batches(self, lengths: np.ndarray) -> int:
        batch = self.config.train.batch_size
        if not self.boundaries:
            counts = np.array([self.size])
        else:
            counts = np.bincount(_bucket_of(lengths, self.boundaries))
        if self.drop_remainder:
            steps = int((counts // batch).sum())
        else:
            steps = int(np.ceil(counts / batch).sum())
        if steps == 0:
            raise TrainingError(
                f"train.batch_size={batch} is larger than every length bucket; "
                "lower it or turn off XLA (train.jit_compile=false)"
            )
        return steps

    def epoch_dataset(self, epoch: Any) -> tf.data.Dataset:
        """The batches of epoch ``epoch`` (a Python int or a scalar int64 tensor)."""
        seed = tf.stack([tf.constant(self.config.train.seed, tf.int64), tf.cast(epoch, tf.int64)])
        order = tf.random.experimental.stateless_shuffle(tf.range(self.size, dtype=tf.int64), seed)
        sources = tf.gather(self._sources, order)
        labels = tf.gather(self._labels, order)
        start = tf.RaggedTensor.from_tensor(
            tf.fill([self.size, 1], tf.constant(START_ID, tf.int32)),
            row_splits_dtype=labels.row_splits.dtype,
        )
        decoder_inputs = tf.concat([start, labels[:, :-1]], axis=1)  # [START] + y
        ds = tf.data.Dataset.from_tensor_slices(((sources, decoder_inputs), labels))
        # Ragged slices are typed ragged_rank=0; identity retypes them as dense rows.
        ds = ds.map(lambda x, y: tf.nest.map_structure(tf.identity, (x, y)))
        batch = self.config.train.batch_size
        padding = ((PAD_ID, PAD_ID), PAD_ID)
        if self.boundaries:
            return ds.bucket_by_sequence_length(
                element_length_func=lambda x, _y: tf.maximum(tf.shape(x[0])[0], tf.shape(x[1])[0]),
                bucket_boundaries=self.boundaries,
                bucket_batch_sizes=[batch] * (len(self.boundaries) + 1),
                padding_values=padding,
                pad_to_bucket_boundary=self.pad_to_bucket_boundary,
                drop_remainder=self.drop_remainder,
            )
        return ds.padded_batch(
            batch, (([None], [None]), [None]), padding, drop_remainder=self.drop_remainder
        )

    def dataset(self, initial_epoch: int, epochs: int) -> tf.data.Dataset:
        """Epochs ``initial_epoch .. epochs - 1`` back to back (``steps_per_epoch`` each)."""
        ds = tf.data.Dataset.range(initial_epoch, epochs).flat_map(self.epoch_dataset)
        total = max(0, epochs - initial_epoch) * self.steps_per_epoch
        ds = ds.apply(tf.data.experimental.assert_cardinality(total))
        options = tf.data.Options()
        options.deterministic = True
        # Each worker builds the same batches and keeps its share of every batch.
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def validation_dataset(
    pairs: Sequence[tuple[str, str]],
    source_tokenizer: Tokenizer,
    target_tokenizer: Tokenizer,
    config: Config,
    data: TrainingData,
) -> tuple[tf.data.Dataset, PipelineStats]:
    """Validation batches, bucketed like training (order is irrelevant for the loss)."""
    use_buckets = bool(data.boundaries)
    dataset, stats = make_dataset(
        pairs,
        source_tokenizer,
        target_tokenizer,
        config.data,
        config.train,
        training=False,
        bucket=use_buckets,
        bucket_boundaries=data.boundaries or None,
        pad_to_bucket_boundary=data.pad_to_bucket_boundary,
        pointer_generator=config.model.pointer_generator,
    )
    # Bucketing hides the number of batches; count them once (the ids are in memory)
    # so Keras knows the validation length instead of running into the end of it.
    batches = int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1).numpy())
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = _SHARD_BY_DATA
    return dataset.with_options(options), stats


# --------------------------------------------------------------------------- model


def variant_name(model_config: Any) -> str:
    """Short name of the architecture: ``gru-bahdanau``, ``lstm-luong-general-feed``..."""
    parts = [model_config.cell, model_config.decoder]
    if model_config.decoder == "luong":
        parts.append(model_config.attention)
        if model_config.input_feeding:
            parts.append("feed")
    return "-".join(parts)


def compile_model(
    model: keras.Model, config: Config, total_steps: int, over_budget: bool = False
) -> keras.Model:
    """Compiles with the masked loss, accuracy and perplexity of :mod:`translator.metrics`.

    ``train.jit_compile`` asks for XLA "where it helps": Keras' ``auto`` uses it only
    with a GPU, without ``tf.distribute``, and when every layer supports it (the
    step-wise decoders set ``supports_jit=False``).  XLA on a CPU compiles for minutes
    and then runs slower than the plain graph, so it is never forced there.
    """
    model.compile(
        optimizer=make_optimizer(config, total_steps, over_budget),
        loss=MaskedCrossEntropy(config.train.label_smoothing),
        metrics=[MaskedAccuracy(), Perplexity()],
        jit_compile="auto" if config.train.jit_compile else False,
    )
    return model


def export_copy(model: Seq2Seq) -> Seq2Seq:
    """An uncompiled twin of ``model`` (same config) for optimizer-free ``.keras`` files."""
    twin = Seq2Seq.from_config(model.get_config())
    twin.build()
    return twin


def save_weights_only_model(model: Seq2Seq, path: Path, twin: Seq2Seq | None = None) -> Seq2Seq:
    """Atomically saves architecture + weights (no optimizer) through ``twin``."""
    twin = twin or export_copy(model)
    twin.set_weights(model.get_weights())
    atomic_write(path, lambda tmp: twin.save(tmp))
    return twin


# --------------------------------------------------------------------------- distribution


def make_strategy(distribute: str | None) -> tf.distribute.Strategy | None:
    """``MirroredStrategy`` over every local GPU (else every logical CPU), or
    ``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``; None for no strategy."""
    if distribute is None:
        return None
    if distribute == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if distribute == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"--distribute {distribute!r}: choose one of {list(DISTRIBUTE_CHOICES)}")


def _prebuild_for_distribution(
    model: keras.Model, strategy: tf.distribute.Strategy, data: TrainingData
) -> None:
    """Builds the compiled loss/metrics from one local batch before ``fit``.

    Under a strategy, ``fit`` first pulls a distributed batch and averages it with a
    single ``strategy.reduce`` over the nested ``((source, decoder_input), labels)``
    structure, only to read its shapes.  ``MultiWorkerMirroredStrategy`` cannot reduce
    a nested structure (and ``MirroredStrategy`` fails on replicas of unequal size), so
    the build is done here with a plain batch and Keras' per-``fit`` build is skipped.
    """
    batch = next(iter(data.epoch_dataset(0).take(1)))
    with strategy.scope():
        model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def _vector_step_logs(model: keras.Model) -> None:
    """Returns each step's metric values as ``[1]`` vectors instead of scalars.

    Keras averages per-step logs across workers with
    ``strategy.reduce("MEAN", value, axis=0)``, which fails on scalars under
    ``MultiWorkerMirroredStrategy``; a one-element vector averages fine.  (Epoch logs
    are read from the metric variables themselves, summed over all replicas.)
    """
    compute_metrics = model.compute_metrics

    def vector_metrics(x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict:
        logs = compute_metrics(x, y, y_pred, sample_weight)
        return {name: ops.reshape(value, (1,)) for name, value in logs.items()}

    model.compute_metrics = vector_metrics


def is_chief(distribute: str | None) -> bool:
    """Whether this process writes the run folder.

    Always, except under ``multiworker``: there the ``chief`` task writes, or worker 0
    when ``TF_CONFIG`` names no chief.  The others train in lockstep and write nothing.
    """
    if distribute != "multiworker":
        return True
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task") or {}
    if not task:
        return True  # no cluster: a single worker
    if task.get("type") == "chief":
        return True
    has_chief = bool((tf_config.get("cluster") or {}).get("chief"))
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and not has_chief


# --------------------------------------------------------------------------- callbacks


class TimeBudget(keras.callbacks.Callback):
    """Stops training cleanly once ``minutes`` of wall-clock time have passed.

    Checked after every batch; Keras then finishes the epoch's bookkeeping
    (validation, checkpoint) and ends ``fit`` normally.
    """

    def __init__(self, minutes: float) -> None:
        super().__init__()
        self.seconds = 60.0 * minutes
        self.start = time.monotonic()
        self.triggered = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.start = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self.triggered and time.monotonic() - self.start >= self.seconds:
            self.triggered = True
            self.model.stop_training = True


class BudgetCosine(keras.callbacks.Callback):
    """Cosine learning-rate decay over a wall-clock budget instead of over epochs.

    ``train.schedule: budget_cosine`` with ``--time-budget`` (without one it is
    ``cosine`` over the epochs): a budget-limited run ends when the budget is spent,
    usually mid-epoch, so ``cosine`` sized in epochs would stop part-way down its curve.
    This one sets, before every batch,
    ``lr = peak * min(1, s / warmup_steps) * (1 + cos(pi * elapsed / budget)) / 2``,
    so the rate reaches 0 just as the budget runs out.  (It depends on the machine's
    speed, which is what a budget-matched comparison is about.)
    """

    def __init__(self, budget: TimeBudget, peak: float, warmup_steps: int = 0) -> None:
        super().__init__()
        self.budget = budget
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self._step = 0

    def rate(self, step: int, elapsed: float) -> float:
        """The learning rate at optimizer step ``step``, ``elapsed`` seconds in."""
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        progress = min(1.0, max(0.0, elapsed / self.budget.seconds))
        return self.peak * warm * 0.5 * (1.0 + math.cos(math.pi * progress))

    def on_train_begin(self, logs: dict | None = None) -> None:
        # Read the step once (a resumed run starts past 0) and count from there:
        # reading it every batch would wait for the device each step.
        self._step = int(ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        elapsed = time.monotonic() - self.budget.start
        self.model.optimizer.learning_rate = self.rate(self._step, elapsed)
        self._step += 1


class ValidationBleu(keras.callbacks.Callback):
    """Greedy-decodes a fixed validation sample after each epoch; logs ``val_bleu``."""

    def __init__(
        self,
        pairs: Sequence[tuple[str, str]],
        source_tokenizer: Tokenizer,
        target_tokenizer: Tokenizer,
        config: Config,
        tokenize: str = "13a",
        batch_size: int = 64,
    ) -> None:
        super().__init__()
        self.pairs = list(pairs)
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.config = config
        self.tokenize = tokenize
        self.batch_size = batch_size

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None or not self.pairs:
            return
        from translator.scoring import bleu  # sacrebleu is only needed here

        hypotheses = translate(
            self.model,
            [source for source, _ in self.pairs],
            self.source_tokenizer,
            self.target_tokenizer,
            self.config,
            DecodeConfig(strategy="greedy"),
            batch_size=self.batch_size,
        )
        references = [target for _, target in self.pairs]
        logs["val_bleu"] = bleu(hypotheses, references, self.tokenize)["score"]


class RunRecorder(keras.callbacks.Callback):
    """Owns the run's persistent state: history, timing, checkpoints, early stopping.

    After every epoch it adds ``epoch``, ``step``, ``learning_rate`` and times to the
    logs, saves ``best.keras`` when ``val_loss`` improves, updates the early-stopping
    counter (stopping after ``patience`` epochs without improvement), atomically
    writes ``checkpoints/last.keras`` with the whole state embedded, and rewrites
    ``metrics.jsonl`` / ``metrics.csv`` from the history.  Only the chief writes.
    """

    def __init__(
        self,
        paths: RunPaths,
        state: dict[str, Any],
        patience: int | None,
        label_tokens_per_step: float,
        steps_per_epoch: int,
        write: bool = True,
        time_budget: TimeBudget | None = None,
    ) -> None:
        super().__init__()
        self.paths = paths
        self.state = state
        self.patience = patience
        self.label_tokens_per_step = label_tokens_per_step
        self.steps_per_epoch = steps_per_epoch
        self.write = write
        self.time_budget = time_budget
        self.twin: Seq2Seq | None = None
        self.stopped_by: str | None = None
        self._session_start = time.monotonic()
        self._epoch_start = self._session_start
        self._last_batch_end = self._session_start
        self._base_wall = float(state.get("wall_seconds", 0.0))
        self._base_train = float(state.get("train_seconds", 0.0))
        self._session_train = 0.0
        self._epoch_steps = 0

    # timing ---------------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._session_start = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = self._last_batch_end = time.monotonic()
        self._epoch_steps = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._last_batch_end = time.monotonic()
        self._epoch_steps += 1

    def wall_seconds(self) -> float:
        return self._base_wall + time.monotonic() - self._session_start

    def train_seconds(self) -> float:
        return self._base_train + self._session_train

    # the epoch's bookkeeping --------------------------------------------------------------
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        # Batches only: validation and checkpointing are not training throughput.
        self._session_train += self._last_batch_end - self._epoch_start
        partial = self._epoch_steps < self.steps_per_epoch
        state = self.state
        state["epoch"] = epoch + 1
        state["step"] = int(ops.convert_to_numpy(optimizer.iterations))
        state["partial_epoch"] = partial
        state["wall_seconds"] = self.wall_seconds()
        state["train_seconds"] = self.train_seconds()
        state["label_tokens"] = state.get("label_tokens", 0.0) + (
            self._epoch_steps * self.label_tokens_per_step
        )
        logs["learning_rate"] = current_learning_rate(optimizer)

        monitor = logs.get("val_loss", logs.get("loss"))
        improved = monitor is not None and monitor < state.get("best_val_loss", math.inf)
        if improved:
            state["best_val_loss"] = float(monitor)
            state["best_epoch"] = epoch + 1
            state["best_val_perplexity"] = logs.get("val_perplexity")
            state["early_stopping_wait"] = 0
            if self.write:
                self.twin = save_weights_only_model(self.model, self.paths.best, self.twin)
        else:
            state["early_stopping_wait"] = state.get("early_stopping_wait", 0) + 1
        if self.patience is not None and state["early_stopping_wait"] >= self.patience:
            self.model.stop_training = True
            self.stopped_by = "early_stopping"
        if self.time_budget is not None and self.time_budget.triggered:
            self.stopped_by = "time_budget"

        record = {
            "epoch": epoch + 1,
            "step": state["step"],
            "wall_seconds": round(state["wall_seconds"], 3),
            "train_seconds": round(state["train_seconds"], 3),
            "partial_epoch": partial,
            **{k: float(v) for k, v in logs.items() if isinstance(v, int | float)},
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        state.setdefault("history", []).append(record)
        state["stopped_by"] = self.stopped_by
        if self.write:
            save_checkpoint(self.model, self.paths.last, state)
            write_json(self.paths.last_state, {k: v for k, v in state.items() if k != "history"})
            write_history(self.paths, state["history"])


class TensorBoardLogger(keras.callbacks.Callback):
    """Writes the epoch logs as TensorBoard scalars (``logs/train``, ``logs/validation``).

    Uses TensorFlow's own ``tf.summary.write`` with the scalar plugin's metadata, so
    the event files are written even when the ``tensorboard`` package is not
    installed (``tf.summary.scalar`` would need it); tags follow Keras' TensorBoard
    callback (``epoch_loss``, ``epoch_perplexity``, ...), steps are epoch numbers.
    """

    def __init__(self, log_dir: str | Path) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}

    def _writer(self, name: str) -> Any:
        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(str(self.log_dir / name))
        return self._writers[name]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from tensorflow.core.framework import summary_pb2

        plugin = summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        metadata = summary_pb2.SummaryMetadata(plugin_data=plugin)
        for key, value in (logs or {}).items():
            if not isinstance(value, int | float):
                continue
            name = "validation" if key.startswith("val_") else "train"
            tag = "epoch_" + key.removeprefix("val_")
            with self._writer(name).as_default():
                tf.summary.write(tag, tf.constant(float(value)), step=epoch + 1, metadata=metadata)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


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


# --------------------------------------------------------------------------- inference


def translate(
    model: Seq2Seq,
    sources: Sequence[str],
    source_tokenizer: Tokenizer,
    target_tokenizer: Tokenizer,
    config: Config,
    decode_config: DecodeConfig,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Translates raw strings (in order); over-long sources are truncated, never skipped.

    Sentences are decoded in batches of similar length (sorted by length, then put back
    in the original order), which wastes less time on padding.  ``progress(n)`` is
    called after each batch with the number of sentences done in it.
    """
    from translator.decoding import translate_batch  # the decoding module imports lazily

    outputs: list[str] = [""] * len(sources)
    lengths = [len(s) for s in sources]
    order = sorted(range(len(sources)), key=lambda i: lengths[i])
    cap = config.data.max_target_length + 1
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        texts = translate_batch(
            model,
            source_tokenizer,
            target_tokenizer,
            [sources[i] for i in chunk],
            decode_config,
            max_source_length=config.data.max_source_length,
            max_length=cap,
        )
        for i, text in zip(chunk, texts):
            outputs[i] = text
        if progress is not None:
            progress(len(chunk))
    return outputs


# --------------------------------------------------------------------------- runs


def versions() -> dict[str, str]:
    """Versions of what produced a run."""
    import importlib.metadata

    import sacrebleu
    import tensorflow_text

    try:
        translator_version = importlib.metadata.version("translator")
    except importlib.metadata.PackageNotFoundError:
        translator_version = "unknown (not installed)"
    return {
        "translator": translator_version,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "tensorflow_text": tensorflow_text.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "sacrebleu": sacrebleu.__version__,
        "platform": platform.platform(),
    }


def load_run(
    run_dir: str | Path, checkpoint: str = "best"
) -> tuple[Config, Seq2Seq, Tokenizer, Tokenizer]:
    """Loads ``(config, model, source_tokenizer, target_tokenizer)`` of a run folder.

    ``checkpoint``: ``best`` (lowest validation loss), ``final`` (end of training) or
    ``last`` (the resumable checkpoint).  The model is loaded uncompiled.
    """
    paths = RunPaths(Path(run_dir))
    if not paths.config.is_file():
        raise TrainingError(f"{run_dir} is not a run folder (no config.yaml)")
    names = {"best": paths.best, "final": paths.final, "last": paths.last}
    if checkpoint not in names:
        raise ValueError(f"checkpoint {checkpoint!r}: choose one of {list(names)}")
    path = names[checkpoint]
    if not path.is_file():
        raise TrainingError(f"{path} does not exist (has the run finished an epoch?)")
    config = load_config(paths.config)
    source_tokenizer, target_tokenizer = load_tokenizers(paths.tokenizers)
    model = keras.saving.load_model(path, compile=False)
    return config, model, source_tokenizer, target_tokenizer


def _fill_vocab_sizes(config: Config, source: Tokenizer, target: Tokenizer) -> Config:
    model = dataclasses.replace(
        config.model, source_vocab_size=source.vocab_size, target_vocab_size=target.vocab_size
    )
    return config.replace(model=model)


def _stats_dict(stats: PipelineStats) -> dict[str, int]:
    return {
        "total": stats.total,
        "kept": stats.kept,
        "dropped": stats.dropped,
        "trimmed": stats.trimmed,
        "empty": stats.empty,
        "source_tokens": stats.source_tokens,
        "target_tokens": stats.target_tokens,
    }


def check_output(paths: RunPaths, resume: bool, chief: bool = True) -> None:
    """Refuses to overwrite another run, or to resume a folder that holds none.

    Only the chief checks a new run's folder: on a shared filesystem the other workers
    may look after the chief has already written ``config.yaml``.
    """
    if resume:
        if not paths.config.is_file():
            raise TrainingError(f"--resume: {paths.root} holds no run (no config.yaml)")
    elif chief and (paths.config.exists() or paths.last.exists()):
        raise TrainingError(
            f"{paths.root} already holds a run; continue it with --resume "
            "or choose another --output"
        )


@dataclasses.dataclass
class TrainOptions:
    """How to run training (everything that is not the model/data config)."""

    resume: bool = False
    distribute: str | None = None
    mixed_precision: bool = False
    time_budget_minutes: float | None = None
    download: bool = False
    verbose: int = 1
    command: str = ""
    callbacks: Sequence[keras.callbacks.Callback] = ()


def train(config: Config, output: str | Path, options: TrainOptions | None = None) -> dict:
    """Trains ``config`` into the run folder ``output``; returns the summary dict.

    Raises :class:`ConfigError`, :class:`TrainingError` or the corpus errors of
    :mod:`translator.data` before any training when something is wrong.
    """
    options = options or TrainOptions()
    paths = RunPaths(Path(output))
    chief = is_chief(options.distribute)
    check_output(paths, options.resume, chief)
    strategy = make_strategy(options.distribute)  # before other TF work (collectives)
    if options.time_budget_minutes is not None and options.time_budget_minutes <= 0:
        raise ConfigError("--time-budget must be > 0 minutes")

    from translator.data import load_splits_from_config

    splits = load_splits_from_config(config, download=options.download)
    previous_policy = keras.mixed_precision.global_policy()
    if options.mixed_precision:
        if not tf.config.list_physical_devices("GPU"):
            print("warning: --mixed-precision without a GPU is slow", file=sys.stderr)
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        return _train(config, paths, options, strategy, chief, splits)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _train(
    config: Config,
    paths: RunPaths,
    options: TrainOptions,
    strategy: tf.distribute.Strategy | None,
    chief: bool,
    splits: Any,
) -> dict:
    start = time.monotonic()
    paths.root.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(paths.checkpoints)
    remove_stale_temporaries(paths.root)
    keras.utils.set_random_seed(config.train.seed)

    # Tokenizers: trained on the training split only; reused when resuming.
    if options.resume and (paths.tokenizers / "tokenizers.json").is_file():
        source_tok, target_tok = load_tokenizers(paths.tokenizers)
    else:
        source_tok, target_tok = train_tokenizers(config.tokenizer, splits.train)
        if chief:
            save_tokenizers(source_tok, target_tok, paths.tokenizers)
    config = _fill_vocab_sizes(config, source_tok, target_tok)
    if chief:
        atomic_write_text(paths.config, config.to_yaml())

    def scope() -> Any:  # a fresh context each time: a strategy scope is single-use
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    budget = None
    if options.time_budget_minutes is not None:
        budget = TimeBudget(options.time_budget_minutes)
    over_budget = config.train.schedule == "budget_cosine" and budget is not None
    with scope():
        model = build_model(config)
        # Built once to know whether XLA is on, which decides the batch shapes.
        compile_model(model, config, total_steps=1)
        jit = bool(model.jit_compile)
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    if config.train.batch_size % replicas:
        raise ConfigError(
            f"train.batch_size={config.train.batch_size} must be a multiple of the "
            f"{replicas} replicas (each gets an equal part of every batch)"
        )
    data = TrainingData(
        splits.train, source_tok, target_tok, config, jit, drop_remainder=strategy is not None
    )
    val_data, val_stats = validation_dataset(
        splits.validation, source_tok, target_tok, config, data
    )
    total_steps = config.train.epochs * data.steps_per_epoch
    with scope():
        compile_model(model, config, total_steps, over_budget)
        model.optimizer.build(model.trainable_variables)

    state: dict[str, Any] = {"version": STATE_VERSION, "seed": config.train.seed}
    if options.resume and paths.last.is_file():
        with scope():
            model.load_weights(paths.last)
        state = read_checkpoint_state(paths.last)
    initial_epoch = int(state.get("epoch", 0))
    if chief and state.get("history"):
        write_history(paths, state["history"])  # drop lines of an epoch that never finished

    callbacks: list[keras.callbacks.Callback] = list(options.callbacks)
    if budget is not None:
        callbacks.append(budget)
    if over_budget:
        train = config.train
        callbacks.append(BudgetCosine(budget, train.learning_rate, train.warmup_steps))
    if config.train.validation_bleu_sample > 0 and splits.validation:
        rng = random.Random(config.train.seed)
        count = min(config.train.validation_bleu_sample, len(splits.validation))
        sample = [
            splits.validation[i] for i in sorted(rng.sample(range(len(splits.validation)), count))
        ]
        tokenize = splits.info.get("bleu_tokenize", "13a")
        callbacks.append(ValidationBleu(sample, source_tok, target_tok, config, tokenize))
    recorder = RunRecorder(
        paths,
        state,
        config.train.early_stopping_patience,
        data.label_tokens_per_step,
        data.steps_per_epoch,
        write=chief,
        time_budget=budget,
    )
    callbacks.append(recorder)
    if chief:
        callbacks.append(TensorBoardLogger(paths.logs))

    verbose = options.verbose
    if strategy is not None:
        _prebuild_for_distribution(model, strategy, data)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _vector_step_logs(model)
    epochs = config.train.epochs
    if initial_epoch < epochs and state.get("stopped_by") != "early_stopping":
        model.fit(
            data.dataset(initial_epoch, epochs),
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=data.steps_per_epoch,
            validation_data=val_data,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # the order is TrainingData's (seeded per epoch)
        )
    if chief:
        save_weights_only_model(model, paths.final, recorder.twin)
        if not paths.best.exists():  # no epoch finished in this folder yet
            save_weights_only_model(model, paths.best, recorder.twin)
    elapsed = time.monotonic() - start
    summary = summarize(
        config, model, splits, data, val_stats, recorder.state, options, jit, elapsed, replicas
    )
    if chief:
        write_json(paths.summary, summary)
    return summary


def summarize(
    config: Config,
    model: keras.Model,
    splits: Any,
    data: TrainingData,
    val_stats: PipelineStats,
    state: dict[str, Any],
    options: TrainOptions,
    jit: bool,
    session_seconds: float,
    replicas: int = 1,
) -> dict[str, Any]:
    """The ``summary.json`` of a run: what was trained, for how long, and how well."""
    history = state.get("history", [])
    last = history[-1] if history else {}
    train_seconds = float(state.get("train_seconds", 0.0))
    tokens = float(state.get("label_tokens", 0.0))
    info = splits.info
    return {
        "name": config.name,
        "task": config.task,
        "corpus": info.get("corpus"),
        "direction": info.get("direction"),
        "source_lang": info.get("source_lang"),
        "target_lang": info.get("target_lang"),
        "variant": variant_name(config.model),
        "model": {
            "cell": config.model.cell,
            "decoder": config.model.decoder,
            "attention": config.model.attention if config.model.decoder == "luong" else None,
            "input_feeding": config.model.input_feeding,
            "bidirectional": config.model.bidirectional,
            "embedding_dim": config.model.embedding_dim,
            "units": config.model.units,
            "source_vocab_size": config.model.source_vocab_size,
            "target_vocab_size": config.model.target_vocab_size,
        },
        "parameters": int(model.count_params()),
        "epochs": int(state.get("epoch", 0)),
        "partial_last_epoch": bool(state.get("partial_epoch", False)),
        "steps": int(state.get("step", 0)),
        "steps_per_epoch": data.steps_per_epoch,
        "stopped_by": state.get("stopped_by") or "epochs",
        "train_seconds": round(train_seconds, 3),
        "wall_seconds": round(float(state.get("wall_seconds", 0.0)), 3),
        "session_seconds": round(session_seconds, 3),
        "tokens_per_second": round(tokens / train_seconds, 1) if train_seconds else None,
        "best_epoch": state.get("best_epoch"),
        "best_val_loss": state.get("best_val_loss"),
        "best_val_perplexity": state.get("best_val_perplexity"),
        "final": {k: v for k, v in last.items() if k not in ("time",)},
        "data": {
            "train": _stats_dict(data.stats),
            "validation": _stats_dict(val_stats),
            "test_pairs": len(splits.test),
            "bucket_boundaries": data.boundaries,
        },
        "xla": jit,
        "distribute": options.distribute,
        "replicas": replicas,
        "mixed_precision": options.mixed_precision,
        "time_budget_minutes": options.time_budget_minutes,
        "seed": config.train.seed,
        "versions": versions(),
        "command": options.command,
    }
