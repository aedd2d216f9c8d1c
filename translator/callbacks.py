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

    The clock starts at ``started_at`` (``time.monotonic()`` when the command started:
    corpus loading, tokenizer training and model building count) or, without it, when
    training starts, and carries on from ``spent`` seconds (what earlier invocations
    of a resumed run used), so a resumed run gets the *remaining* budget.  Checked
    after every batch; Keras then finishes the epoch's bookkeeping (validation,
    checkpoint) and ends ``fit`` normally.
    """

    def __init__(self, minutes: float, spent: float = 0.0, started_at: float | None = None) -> None:
        super().__init__()
        self.seconds = 60.0 * minutes
        self.spent = float(spent)
        self.start: float | None = started_at
        self.triggered = False

    def elapsed(self) -> float:
        """Budget seconds used so far, earlier invocations included."""
        running = 0.0 if self.start is None else time.monotonic() - self.start
        return self.spent + running

    def remaining(self) -> float:
        return self.seconds - self.elapsed()

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.start is None:  # once: a resumed epoch and the rest are two fits
            self.start = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self.triggered and self.remaining() <= 0:
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
    ``metrics.jsonl`` / ``metrics.csv`` from the history.

    Between epochs it also writes ``last.keras`` every ``every_steps`` batches and/or
    every ``every_seconds`` of wall-clock time, recording how many batches of the
    current epoch are done (``TrainingState.epoch_step``), so that ``--resume``
    continues mid-epoch.  Only the chief writes.

    With ``validate_every_steps`` it also evaluates ``validation_data`` every that many
    batches and appends an interim history row (fractional ``epoch``, ``interim:
    true``) -- the points of a learning curve finer than one per epoch.  The training
    metrics' running state is restored afterwards, so the epoch's own numbers are
    those of all its batches.
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
        every_steps: int | None = None,
        every_seconds: float | None = None,
        validate_every_steps: int | None = None,
        validation_data: Any = None,
    ) -> None:
        super().__init__()
        self.paths = paths
        self.state = state
        self.patience = patience
        self.label_tokens_per_step = label_tokens_per_step
        self.steps_per_epoch = steps_per_epoch
        self.write = write
        self.time_budget = time_budget
        self.every_steps = every_steps
        self.every_seconds = every_seconds
        self.validate_every_steps = validate_every_steps if validation_data is not None else None
        self.validation_data = validation_data
        self.twin: keras.Model | None = None
        self.stopped_by: str | None = None
        now = time.monotonic()
        self._session_start: float | None = None
        self._base_wall = state.wall_seconds
        self._last_batch_end = now
        self._last_save = now
        self._since_save = 0
        self._epoch = state.epoch
        self._epoch_steps = state.epoch_step  # a resumed epoch starts part-way
        self._session_steps = 0
        state.invocations.append(
            {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "wall_seconds": 0.0, "steps": 0}
        )

    # timing ---------------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        if self._session_start is None:  # once: a resumed epoch and the rest are two fits
            self._session_start = time.monotonic()
            self._last_save = self._session_start

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._last_batch_end = time.monotonic()
        if epoch != self._epoch:
            self._epoch, self._epoch_steps = epoch, 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        now = time.monotonic()
        # Batches only: validation and checkpointing are not training throughput.
        self.state.train_seconds += now - self._last_batch_end
        self.state.label_tokens += self.label_tokens_per_step
        self._last_batch_end = now
        self._epoch_steps += 1
        self._session_steps += 1
        self._since_save += 1
        due = (self.every_steps is not None and self._since_save >= self.every_steps) or (
            self.every_seconds is not None and now - self._last_save >= self.every_seconds
        )
        mid_epoch = self._epoch_steps < self.steps_per_epoch  # the epoch's end does both
        every = self.validate_every_steps
        if every and mid_epoch and self._session_steps % every == 0:
            self._validate_interim()
        if due and mid_epoch:
            self._update_times(mid_epoch=True)
            self._save()

    def _validate_interim(self) -> None:
        variables = [v for metric in self.model.metrics for v in metric.variables]
        running = [ops.convert_to_numpy(v) for v in variables]
        logs = self.model.evaluate(self.validation_data, verbose=0, return_dict=True)
        for variable, value in zip(variables, running, strict=True):
            variable.assign(value)
        self._update_times(mid_epoch=True)
        self.state.history.append(
            {
                "epoch": round(self._epoch + self._epoch_steps / self.steps_per_epoch, 4),
                "step": self.state.step,
                "wall_seconds": round(self.state.wall_seconds, 3),
                "train_seconds": round(self.state.train_seconds, 3),
                "partial_epoch": True,
                "interim": True,
                **{f"val_{k}": float(v) for k, v in logs.items()},
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
        )
        self._last_batch_end = time.monotonic()  # validation is not training time

    def wall_seconds(self) -> float:
        start = self._session_start if self._session_start is not None else time.monotonic()
        return self._base_wall + time.monotonic() - start

    def _update_times(self, mid_epoch: bool) -> None:
        state = self.state
        state.step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        state.epoch_step = self._epoch_steps if mid_epoch else 0
        state.wall_seconds = self.wall_seconds()
        if self.time_budget is not None:
            state.budget_seconds = self.time_budget.elapsed()
        state.invocations[-1]["wall_seconds"] = round(state.wall_seconds - self._base_wall, 3)
        state.invocations[-1]["steps"] = self._session_steps

    def _save(self) -> None:
        if self.write:
            save_checkpoint(self.model, self.paths.last, self.state)
            write_json(self.paths.last_state, self.state.to_dict(history=False))
        self._last_save = time.monotonic()
        self._since_save = 0

    # the epoch's bookkeeping --------------------------------------------------------------
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        partial = self._epoch_steps < self.steps_per_epoch
        state = self.state
        state.epoch = epoch + 1
        state.partial_epoch = partial
        self._update_times(mid_epoch=False)
        logs["learning_rate"] = current_learning_rate(self.model.optimizer)

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
        self._save()
        if self.write:
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
