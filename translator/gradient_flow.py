"""Gradient flow through time: how much of the loss reaches each encoder position.

The lesson of Bengio et al. (1994), "Learning Long-Term Dependencies with Gradient
Descent is Difficult", and Hochreiter & Schmidhuber (1997), measured on a real model:

* :func:`hidden_state_gradients` -- ``||dL/dh_t||`` for every source position ``t``
  of the encoder, the *total* derivative (through the decoder and through every later
  encoder step), averaged over a batch.  A vanilla RNN's gradient at the first
  position is orders of magnitude below its gradient at the last; gated cells
  (LSTM, GRU) keep it much closer.
* :func:`train_and_record` -- a short training run that records the global gradient
  norm *before* clipping at every step, so spikes (exploding gradients; Pascanu et
  al. 2013, "On the difficulty of training recurrent neural networks") and the
  ``train.clipnorm`` threshold can be seen side by side.
* :func:`measure_cells` -- both, for several cells on the same batches: at
  initialization and after the training steps.

The encoder is stepped cell by cell in eager mode so that each ``h_t`` is a tensor
on the tape; this is analysis code, not a training or decoding path.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from translator.config import Config, ConfigError
from translator.metrics import MaskedCrossEntropy
from translator.model import Seq2Seq, build_model
from translator.optimizer import make_optimizer
from translator.pipeline import make_dataset
from translator.special_tokens import PAD_ID
from translator.tokenizer import Tokenizer


def lesson_config(config: Config, cell: str) -> Config:
    """``config`` with ``cell`` and a one-layer, forward-only encoder.

    A backward encoder direction would hand the decoder the first position directly,
    hiding what the lesson shows.
    """
    model = dataclasses.replace(config.model, cell=cell, bidirectional=False, encoder_layers=1)
    return config.replace(model=model)


def _check_model(model: Seq2Seq) -> None:
    encoder = model.encoder
    if encoder.bidirectional or encoder.num_layers != 1:
        raise ConfigError(
            "gradient flow is measured on a one-layer forward encoder; this model has "
            f"bidirectional={encoder.bidirectional}, encoder_layers={encoder.num_layers} "
            "(train one with --set model.bidirectional=false --set model.encoder_layers=1)"
        )
    if model.decoder.pointer_generator:
        raise ConfigError("gradient flow does not support pointer-generator models")


def _encode_stepwise(model: Seq2Seq, source_ids: tf.Tensor) -> tuple[dict, list[tf.Tensor]]:
    """The model's ``encode`` with the encoder stepped one position at a time.

    Returns the decoder's initial state and the list of ``h_t`` ``[batch, units]``.
    Padding positions carry the previous state on, as Keras' masked RNN does.
    """
    encoder = model.encoder
    cell = encoder.rnns[0].cell
    mask = tf.not_equal(source_ids, PAD_ID)
    inputs = encoder.embedding(source_ids)
    batch = tf.shape(source_ids)[0]
    states = [tf.zeros([batch, size], inputs.dtype) for size in tf.nest.flatten(cell.state_size)]
    hidden = []
    for t in range(int(source_ids.shape[1])):
        _, new = cell(inputs[:, t], states, training=False)
        keep = mask[:, t : t + 1]
        states = [tf.where(keep, n, s) for n, s in zip(tf.nest.flatten(new), states)]
        hidden.append(states[0])
    memory = tf.stack(hidden, axis=1)
    state = model.decoder.initial_state(memory, mask, model.bridge([states]), states[0])
    return state, hidden


def hidden_state_gradients(
    model: Seq2Seq, source_ids: Any, decoder_input_ids: Any, labels: Any
) -> np.ndarray:
    """Per-example ``||dL/dh_t||``, float64 ``[batch, src_len]`` (NaN on padding).

    ``L`` is the masked cross-entropy of the teacher-forced batch (no dropout, no label
    smoothing), ``h_t`` the encoder's hidden state after position ``t``.
    """
    _check_model(model)
    source_ids = tf.convert_to_tensor(source_ids, tf.int32)
    with tf.GradientTape() as tape:
        state, hidden = _encode_stepwise(model, source_ids)
        logits, _ = model.decoder(tf.convert_to_tensor(decoder_input_ids), state, training=False)
        loss = MaskedCrossEntropy()(tf.convert_to_tensor(labels), logits)
    grads = tape.gradient(loss, hidden)
    norms = np.stack([np.linalg.norm(np.asarray(g, np.float64), axis=-1) for g in grads], axis=1)
    return np.where(np.asarray(source_ids) != PAD_ID, norms, np.nan)


def position_profile(norms: np.ndarray) -> np.ndarray:
    """Mean norm at each position over the examples that reach it, ``[src_len]``."""
    with warnings.catch_warnings():  # a position no example reaches is NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(norms, axis=0)


def first_to_last_ratio(norms: np.ndarray) -> float:
    """Geometric mean over examples of ``||dL/dh_1|| / ||dL/dh_last||``.

    ``last`` is each example's last real position, so padding does not matter.
    """
    ratios = []
    for row in norms:
        real = row[~np.isnan(row)]
        if real.size and real[-1] > 0 and real[0] > 0:
            ratios.append(math.log10(real[0] / real[-1]))
    return float(10 ** np.mean(ratios)) if ratios else float("nan")


def train_and_record(model: Seq2Seq, config: Config, batches: Sequence[tuple], steps: int) -> dict:
    """Trains ``steps`` steps on ``batches`` (cycled) with ``config.train``'s optimizer
    (constant rate, global-norm clipping at ``train.clipnorm``).

    Returns ``{"global_norm": [...], "loss": [...]}``, one value per step; the norm is
    the one *before* clipping.
    """
    train = dataclasses.replace(config.train, schedule="constant", warmup_steps=0)
    optimizer = make_optimizer(config.replace(train=train), total_steps=max(steps, 1))
    loss_fn = MaskedCrossEntropy(config.train.label_smoothing)
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def step(source_ids: tf.Tensor, decoder_input_ids: tf.Tensor, labels: tf.Tensor) -> tuple:
        with tf.GradientTape() as tape:
            logits = model((source_ids, decoder_input_ids), training=True)
            loss = loss_fn(labels, logits)
        # Dense: an embedding's IndexedSlices repeat rows, and the norm of repeated
        # slices is not the norm of the update they sum to.
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
        norm = tf.linalg.global_norm(grads)
        optimizer.apply_gradients(zip(grads, variables))  # clips to global_clipnorm
        return loss, norm

    record: dict[str, list[float]] = {"global_norm": [], "loss": []}
    for i in range(steps):
        (source_ids, decoder_input_ids), labels = batches[i % len(batches)]
        loss, norm = step(source_ids, decoder_input_ids, labels)
        record["loss"].append(float(loss))
        record["global_norm"].append(float(norm))
    return record


def sample_batches(
    pairs: Sequence[tuple[str, str]],
    source_tokenizer: Tokenizer,
    target_tokenizer: Tokenizer,
    config: Config,
    batch_size: int,
    count: int,
    seed: int,
) -> list[tuple]:
    """``count`` batches of pairs drawn at random (seeded) from the whole of ``pairs``."""
    rng = np.random.default_rng(seed)
    size = min(len(pairs), batch_size * count)
    chosen = [pairs[i] for i in rng.choice(len(pairs), size=size, replace=False)]
    dataset, _ = make_dataset(chosen, source_tokenizer, target_tokenizer, config.data, batch_size)
    return [tuple(tf.nest.map_structure(np.asarray, batch)) for batch in dataset]


@dataclasses.dataclass
class CellReport:
    """What :func:`measure_cells` measured for one cell."""

    cell: str
    init_positions: np.ndarray  # mean ||dL/dh_t|| per position at initialization
    trained_positions: np.ndarray  # the same after the training steps
    init_ratio: float  # first-to-last ratio (geometric mean over the probe batch)
    trained_ratio: float
    global_norm: list[float]  # pre-clip global gradient norm per training step
    loss: list[float]

    def summary(self, clipnorm: float | None) -> dict[str, Any]:
        """The headline numbers; ``steps_clipped`` counts steps whose norm exceeded
        ``clipnorm``."""
        return {
            "cell": self.cell,
            "first_to_last_init": self.init_ratio,
            "first_to_last_trained": self.trained_ratio,
            "max_global_norm": max(self.global_norm, default=float("nan")),
            "median_global_norm": float(np.median(self.global_norm)) if self.global_norm else None,
            "steps_clipped": (
                None if clipnorm is None else sum(n > clipnorm for n in self.global_norm)
            ),
            "first_loss": self.loss[0] if self.loss else None,
            "final_loss": self.loss[-1] if self.loss else None,
        }


def measure_cells(
    config: Config,
    cells: Sequence[str],
    train_batches: Sequence[tuple],
    probe_batch: tuple,
    steps: int,
) -> list[CellReport]:
    """For each cell: ``||dL/dh_t||`` on ``probe_batch`` at initialization, the pre-clip
    global norm over ``steps`` training steps, and ``||dL/dh_t||`` again after them.

    Every cell starts from the same seed and sees the same batches.
    """
    (probe_source, probe_inputs), probe_labels = probe_batch
    reports = []
    for cell in cells:
        keras.utils.set_random_seed(config.train.seed)
        cell_config = lesson_config(config, cell)
        model = build_model(cell_config)
        before = hidden_state_gradients(model, probe_source, probe_inputs, probe_labels)
        record = train_and_record(model, cell_config, train_batches, steps)
        after = hidden_state_gradients(model, probe_source, probe_inputs, probe_labels)
        reports.append(
            CellReport(
                cell=cell,
                init_positions=position_profile(before),
                trained_positions=position_profile(after),
                init_ratio=first_to_last_ratio(before),
                trained_ratio=first_to_last_ratio(after),
                global_norm=record["global_norm"],
                loss=record["loss"],
            )
        )
    return reports
