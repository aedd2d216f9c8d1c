"""The Keras callbacks of a training run.

* :class:`TimeBudget`: stops cleanly once the wall-clock budget is spent;
* :class:`ValidationBleu`: greedy-decodes a validation sample after each epoch;
* :class:`RunRecorder`: the run's persistent state -- history, timing, checkpoints,
  early stopping (it writes the run folder through :mod:`translator.runs`);
* :class:`TensorBoardLogger`: epoch logs as TensorBoard scalars.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
from keras import ops
from tensorflow.core.framework import summary_pb2

from translator.config import Config, DecodeConfig
from translator.inference import Inference
from translator.optimizer import current_learning_rate
from translator.runs import (
    RunPaths,
    TrainingState,
    save_checkpoint,
    save_weights_only,
    write_history,
    write_json,
)
from translator.scoring import bleu
from translator.tokenizer import Tokenizer


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
        inference = Inference.from_config(
            self.model, self.source_tokenizer, self.target_tokenizer, self.config
        )
        hypotheses = inference.translate(
            [source for source, _ in self.pairs],
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
        state: TrainingState,
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
        self.twin: keras.Model | None = None
        self.stopped_by: str | None = None
        self._session_start = time.monotonic()
        self._epoch_start = self._session_start
        self._last_batch_end = self._session_start
        self._base_wall = state.wall_seconds
        self._base_train = state.train_seconds
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
        state.epoch = epoch + 1
        state.step = int(ops.convert_to_numpy(optimizer.iterations))
        state.partial_epoch = partial
        state.wall_seconds = self.wall_seconds()
        state.train_seconds = self.train_seconds()
        state.label_tokens += self._epoch_steps * self.label_tokens_per_step
        logs["learning_rate"] = current_learning_rate(optimizer)

        monitor = logs.get("val_loss", logs.get("loss"))
        best = math.inf if state.best_val_loss is None else state.best_val_loss
        if monitor is not None and monitor < best:
            state.best_val_loss = float(monitor)
            state.best_epoch = epoch + 1
            state.best_val_perplexity = logs.get("val_perplexity")
            state.early_stopping_wait = 0
            if self.write:
                self.twin = save_weights_only(self.model, self.paths.best, self.twin)
        else:
            state.early_stopping_wait += 1
        if self.patience is not None and state.early_stopping_wait >= self.patience:
            self.model.stop_training = True
            self.stopped_by = "early_stopping"
        if self.time_budget is not None and self.time_budget.triggered:
            self.stopped_by = "time_budget"

        state.history.append(
            {
                "epoch": epoch + 1,
                "step": state.step,
                "wall_seconds": round(state.wall_seconds, 3),
                "train_seconds": round(state.train_seconds, 3),
                "partial_epoch": partial,
                **{k: float(v) for k, v in logs.items() if isinstance(v, int | float)},
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
        )
        state.stopped_by = self.stopped_by
        if self.write:
            save_checkpoint(self.model, self.paths.last, state)
            write_json(self.paths.last_state, state.to_dict(history=False))
            write_history(self.paths, state.history)


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
