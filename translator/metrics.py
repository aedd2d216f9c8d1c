"""Teacher-forcing loss and metrics over real (non-padding) target tokens.

Labels use id 0 for padding (``translator.special_tokens.PAD_ID``); every function and
class here ignores those positions and averages over the real tokens only.

* :class:`MaskedCrossEntropy` -- the training loss: token-level cross-entropy with
  optional label smoothing, averaged over real tokens.
* :class:`MaskedAccuracy` -- the fraction of real tokens whose arg-max is the label.
* :class:`Perplexity` -- ``exp(sum NLL / number of real tokens)`` over everything seen
  since the last reset (a whole epoch), *not* a mean of per-batch perplexities.  It
  always uses the unsmoothed NLL, so it is comparable across label-smoothing settings.

Logits are cast to float32 before any softmax, so the loss and metrics stay exact
under ``mixed_float16``.  All three are registered Keras serializables: a compiled
``.keras`` checkpoint reloads with them when this module has been imported.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from translator.special_tokens import PAD_ID

_PACKAGE = "translator"


def token_nll(labels: Any, logits: Any) -> tuple[Any, Any]:
    """Per-token negative log-likelihood and the real-token mask (for metrics).

    Args:
        labels: int ``[batch, time]`` target ids (0 = padding).
        logits: ``[batch, time, vocab]`` unnormalized scores (any float dtype).

    Returns:
        ``(nll, mask)``: float32 ``[batch, time]`` with 0 on padding, and float32
        ``[batch, time]`` with 1.0 on real tokens.
    """
    labels, logits, mask = _prepare(labels, logits)
    # -log p_y = logsumexp(logits) - logit_y: cheap forwards, but the gather's gradient
    # scatters over all of [batch, time, vocab]; the training loss uses token_losses.
    nll = ops.logsumexp(logits, axis=-1) - _label_logits(labels, logits)
    return nll * mask, mask


def token_losses(labels: Any, logits: Any, label_smoothing: float = 0.0) -> tuple[Any, Any]:
    """Per-token cross-entropy against the (optionally smoothed) one-hot target.

    With smoothing ``eps`` over a vocabulary of ``V`` ids the target distribution is
    ``(1 - eps) * onehot(y) + eps / V`` (Szegedy et al. 2016; Keras' convention), so

        loss = (1 - eps) * (-log p_y) + eps * mean_v(-log p_v).

    Returns:
        ``(loss, mask)``, float32 ``[batch, time]``; ``loss`` is 0 on padding.
    """
    labels, logits, mask = _prepare(labels, logits)
    vocab = logits.shape[-1] or ops.shape(logits)[-1]
    # The fused softmax cross-entropy kernel computes the loss and its gradient
    # (softmax - target) in one pass: with the dense target's one write, 2.3x faster
    # forwards and backwards than logsumexp and a gather (64 x 13 x 5,000, this CPU).
    target = ops.one_hot(labels, vocab)
    if label_smoothing:
        uniform = label_smoothing / ops.cast(vocab, "float32")
        target = target * (1.0 - label_smoothing) + uniform
    loss = ops.categorical_crossentropy(target, logits, from_logits=True)
    return loss * mask, mask


def _prepare(labels: Any, logits: Any) -> tuple[Any, Any, Any]:
    labels = ops.cast(labels, "int32")
    return labels, ops.cast(logits, "float32"), ops.cast(ops.not_equal(labels, PAD_ID), "float32")


def _label_logits(labels: Any, logits: Any) -> Any:
    """``logits[b, t, labels[b, t]]``, ``[batch, time]``."""
    return ops.squeeze(ops.take_along_axis(logits, ops.expand_dims(labels, -1), axis=-1), -1)


def masked_mean(values: Any, mask: Any) -> Any:
    """``sum(values * mask) / sum(mask)`` (0 when the mask is empty)."""
    return ops.divide_no_nan(ops.sum(values * mask), ops.sum(mask))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskedCrossEntropy(keras.losses.Loss):
    """Sparse cross-entropy from logits, averaged over real tokens (label 0 ignored).

    Args:
        label_smoothing: ``eps`` in ``[0, 1)``; see :func:`token_losses`.

    ``call`` returns per-token losses weighted ``total / real`` on real tokens and 0 on
    padding, so Keras' ``sum_over_batch_size`` reduction gives
    ``sum(loss * mask) / sum(mask)`` and scales it for ``tf.distribute`` (each
    replica's mean is divided by the number of replicas before gradients are summed).
    """

    def __init__(
        self, label_smoothing: float = 0.0, name: str = "masked_cross_entropy", **kwargs: Any
    ) -> None:
        kwargs.setdefault("reduction", "sum_over_batch_size")
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        losses, mask = token_losses(y_true, y_pred, self.label_smoothing)
        # Weight real tokens by total/valid: the reduction's sum / total then gives
        # sum(loss * mask) / valid (what Keras' own mask handling does).
        total = ops.cast(ops.size(mask), "float32")
        return losses * ops.divide_no_nan(total, ops.sum(mask))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["label_smoothing"] = self.label_smoothing
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskedAccuracy(keras.metrics.Metric):
    """Fraction of real target tokens whose logit is the largest (stateful)."""

    def __init__(self, name: str = "accuracy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable((), "zeros", dtype="float64", name="correct")
        self.count = self.add_variable((), "zeros", dtype="float64", name="count")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        labels, logits, mask = _prepare(y_true, y_pred)
        # The label's logit is the largest (ties count as hits): one max pass, where
        # Keras' argmax makes four over [batch, time, vocab] (it remaps -0.0 first).
        top = ops.max(logits, axis=-1)
        hits = ops.cast(ops.greater_equal(_label_logits(labels, logits), top), "float32") * mask
        self.correct.assign_add(ops.cast(ops.sum(hits), "float64"))
        self.count.assign_add(ops.cast(ops.sum(mask), "float64"))

    def result(self) -> Any:
        return ops.cast(ops.divide_no_nan(self.correct, self.count), "float32")

    def reset_state(self) -> None:
        self.correct.assign(0.0)
        self.count.assign(0.0)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Perplexity(keras.metrics.Metric):
    """``exp(total NLL / total real tokens)`` over all batches since the last reset.

    Accumulates the two sums (float64) rather than averaging per-batch perplexities,
    which would over-weight short batches and is not a perplexity at all.
    """

    def __init__(self, name: str = "perplexity", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.total_nll = self.add_variable((), "zeros", dtype="float64", name="total_nll")
        self.count = self.add_variable((), "zeros", dtype="float64", name="count")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        nll, mask = token_nll(y_true, y_pred)
        self.total_nll.assign_add(ops.cast(ops.sum(nll), "float64"))
        self.count.assign_add(ops.cast(ops.sum(mask), "float64"))

    def mean_nll(self) -> Any:
        """The mean token NLL so far (the log of the perplexity)."""
        return ops.divide_no_nan(self.total_nll, self.count)

    def result(self) -> Any:
        return ops.cast(ops.exp(self.mean_nll()), "float32")

    def reset_state(self) -> None:
        self.total_nll.assign(0.0)
        self.count.assign(0.0)
