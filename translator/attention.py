"""Attention layers: additive (Bahdanau) and multiplicative (Luong) scores.

Every layer has the same call signature::

    context, weights = attention(query, values, mask)

- ``query``: ``[batch, query_dim]`` (one decoder step) or ``[batch, tgt_len, query_dim]``
  (all steps at once, the Luong fast path);
- ``values``: encoder outputs ``[batch, src_len, value_dim]``;
- ``mask``: ``[batch, src_len]`` booleans, ``False`` on padding;
- ``context``: ``[batch, (tgt_len,) value_dim]``; ``weights``: ``[batch, (tgt_len,) src_len]``.

Padded source positions get exactly zero weight.  Two optional keyword arguments
serve the decoders: ``keys`` (``precompute(values)``, computed once per source
sentence, outside the decoding loop) and ``coverage`` (``[batch, src_len]``, the
sum of earlier attention distributions, See et al. 2017).

Layers are picked by name from :data:`ATTENTIONS` with :func:`get_attention`.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

_PACKAGE = "translator"


def masked_softmax(scores: Any, mask: Any | None) -> Any:
    """Softmax over the last axis that puts exactly zero mass on masked positions.

    ``scores``: ``[batch, tgt_len, src_len]``; ``mask``: ``[batch, src_len]`` (bool).
    A row whose positions are all masked (an empty source) gets all-zero weights.
    """
    if mask is None:
        return ops.softmax(scores, axis=-1)
    mask = ops.expand_dims(ops.cast(mask, "bool"), axis=1)
    # exp(fill - max) underflows to exactly 0.  The fill stays finite (-1e9 is -inf in
    # float16), so an all-masked row is uniform, then zeroed, instead of NaN.
    fill = -3e4 if "float16" in str(scores.dtype) else -1e9
    scores = ops.where(mask, scores, ops.full_like(scores, fill))
    weights = ops.softmax(scores, axis=-1)
    return weights * ops.cast(mask, weights.dtype)


def coverage_loss(weights: Any, target_mask: Any) -> Any:
    """See et al. (2017) eq. 12, averaged over real target positions.

    ``weights``: attention ``[batch, tgt_len, src_len]``; the coverage before step t
    is the sum of the earlier steps' weights, c_t = sum_{t' < t} a_{t'}; the loss is
    sum_i min(a_{t,i}, c_{t,i}) for each step t, masked by ``target_mask``
    ``[batch, tgt_len]`` and averaged over its true entries.
    """
    coverage = ops.cumsum(weights, axis=1) - weights
    per_step = ops.sum(ops.minimum(weights, coverage), axis=-1)
    mask = ops.cast(target_mask, per_step.dtype)
    return ops.sum(per_step * mask) / ops.maximum(ops.sum(mask), 1.0)


class Attention(keras.layers.Layer):
    """Base class: subclasses implement :meth:`precompute` and :meth:`score`.

    Args:
        units: size of the hidden layer of additive scores / of the projections.
        use_coverage: add a learned coverage term ``w_c * coverage_i`` to the scores
            (See et al. 2017, "Get To The Point", eq. 11).
    """

    def __init__(self, units: int, use_coverage: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.use_coverage = use_coverage

    def precompute(self, values: Any) -> Any:
        """Projects the encoder outputs once; the result is passed back as ``keys``."""
        return values

    def score(self, query: Any, keys: Any, coverage: Any | None) -> Any:
        """``query`` ``[batch, tgt_len, q]``, ``keys`` ``[batch, src_len, k]`` ->
        scores ``[batch, tgt_len, src_len]``."""
        raise NotImplementedError

    def call(
        self,
        query: Any,
        values: Any,
        mask: Any | None = None,
        keys: Any | None = None,
        coverage: Any | None = None,
    ) -> tuple[Any, Any]:
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, axis=1)
        if keys is None:
            keys = self.precompute(values)
        weights = masked_softmax(self.score(query, keys, coverage), mask)
        context = ops.matmul(weights, values)
        if single_step:
            return ops.squeeze(context, axis=1), ops.squeeze(weights, axis=1)
        return context, weights

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(units=self.units, use_coverage=self.use_coverage)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class AdditiveAttention(Attention):
    """Additive attention of Bahdanau, Cho & Bengio (2015), "Neural Machine
    Translation by Jointly Learning to Align and Translate", eq. 6 / appendix A.1.2:

        score(s, h_i) = v^T tanh(W_q s + W_k h_i [+ w_c coverage_i])

    with learned projections ``W_q``, ``W_k`` (``units`` wide) and vector ``v``.
    Keras' own ``AdditiveAttention`` has no projections, hence this layer.
    """

    def build(self, query_shape: Any, values_shape: Any, *args: Any, **kwargs: Any) -> None:
        self.query_projection = keras.layers.Dense(self.units, use_bias=False, name="w_q")
        self.key_projection = keras.layers.Dense(self.units, use_bias=True, name="w_k")
        self.query_projection.build(query_shape)
        self.key_projection.build(values_shape)
        self.v = self.add_weight(name="v", shape=(self.units,), initializer="glorot_uniform")
        if self.use_coverage:
            self.coverage_weight = self.add_weight(
                name="w_c", shape=(self.units,), initializer="zeros"
            )
        self.built = True

    def precompute(self, values: Any) -> Any:
        return self.key_projection(values)

    def score(self, query: Any, keys: Any, coverage: Any | None) -> Any:
        # [batch, tgt, 1, units] + [batch, 1, src, units]
        hidden = ops.expand_dims(self.query_projection(query), 2) + ops.expand_dims(keys, 1)
        if self.use_coverage and coverage is not None:
            cov = coverage if len(coverage.shape) == 3 else ops.expand_dims(coverage, 1)
            hidden = hidden + ops.expand_dims(cov, -1) * self.coverage_weight
        return ops.sum(ops.tanh(hidden) * self.v, axis=-1)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConcatAttention(AdditiveAttention):
    """Luong, Pham & Manning (2015), "Effective Approaches to Attention-based Neural
    Machine Translation", eq. 8, ``concat``: score(h_t, h_s) = v^T tanh(W_a [h_t; h_s]).

    Splitting ``W_a`` into query and key halves makes it the additive form, so it
    shares :class:`AdditiveAttention`'s code; Luong applies it to the current output
    h_t rather than the previous state s_{t-1}.
    """


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DotAttention(Attention):
    """Luong et al. (2015) eq. 8, ``dot``: score(h_t, h_s) = h_t^T h_s.

    Needs ``query_dim == value_dim``; has no weights (``units`` is unused).  With
    ``scale`` the score is divided by ``sqrt(query_dim)`` (Vaswani et al. 2017).
    """

    def __init__(
        self, units: int, use_coverage: bool = False, scale: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(units, use_coverage, **kwargs)
        self.scale = scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}

    def build(self, query_shape: Any, values_shape: Any, *args: Any, **kwargs: Any) -> None:
        if query_shape[-1] != values_shape[-1]:
            raise ValueError(
                f"dot attention needs equal query and value sizes, got {query_shape[-1]} "
                f"and {values_shape[-1]}; use 'general' or 'concat' instead"
            )
        if self.use_coverage:
            self.coverage_weight = self.add_weight(name="w_c", shape=(), initializer="zeros")
        self.built = True

    def score(self, query: Any, keys: Any, coverage: Any | None) -> Any:
        scores = ops.matmul(query, ops.swapaxes(keys, 1, 2))
        if self.scale:
            scores = scores / math.sqrt(query.shape[-1])
        if self.use_coverage and coverage is not None:
            cov = coverage if len(coverage.shape) == 3 else ops.expand_dims(coverage, 1)
            scores = scores + self.coverage_weight * cov
        return scores


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GeneralAttention(DotAttention):
    """Luong et al. (2015) eq. 8, ``general``: score(h_t, h_s) = h_t^T W_a h_s.

    ``W_a h_s`` is computed once per source sentence (``precompute``).
    """

    def build(self, query_shape: Any, values_shape: Any, *args: Any, **kwargs: Any) -> None:
        self.key_projection = keras.layers.Dense(query_shape[-1], use_bias=False, name="w_a")
        self.key_projection.build(values_shape)
        if self.use_coverage:
            self.coverage_weight = self.add_weight(name="w_c", shape=(), initializer="zeros")
        self.built = True

    def precompute(self, values: Any) -> Any:
        return self.key_projection(values)


ATTENTIONS: dict[str, type[Attention]] = {
    "bahdanau": AdditiveAttention,
    "additive": AdditiveAttention,
    "concat": ConcatAttention,
    "dot": DotAttention,
    "general": GeneralAttention,
}


def get_attention(kind: str, units: int, use_coverage: bool = False, **kwargs: Any) -> Attention:
    """Builds the attention layer registered under ``kind`` (see :data:`ATTENTIONS`)."""
    if kind not in ATTENTIONS:
        raise ValueError(f"unknown attention {kind!r}; choose one of {sorted(ATTENTIONS)}")
    return ATTENTIONS[kind](units=units, use_coverage=use_coverage, **kwargs)
