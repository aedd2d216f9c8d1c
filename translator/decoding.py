"""Batched decoding in one ``tf.while_loop``: greedy, sampling and beam search.

Every strategy drives any :class:`~translator.model.Seq2Seq` variant through its two
decoding entry points, ``model.encode(source_ids) -> state`` and
``model.decode_step(token_ids, state) -> (logits, state, attention)``, and returns one
:class:`DecodeResult`.  The loops are TF graph code, so they are traced as they are
into the exported SavedModel; called eagerly, each strategy runs through a
``tf.function`` compiled once per model (runtime settings such as the beam width,
length penalty, temperature or seed are tensors, so changing them does not retrace).

Conventions (the same for every strategy):

* ``ids`` hold the generated tokens without START.  A hypothesis that ended holds
  END as its last token; nothing follows it but padding (0).  A hypothesis cut at the
  maximum length has no END.
* ``lengths`` count the tokens in ``ids`` -- END included when present -- so
  ``ids[..., :length]`` is exactly the scored sequence.
* ``log_probs`` are the model's log-probabilities of those tokens (summed; with
  temperature 1 and no top-k filter, whatever distribution was sampled from), so
  teacher-forcing ``[START] + ids[:length - 1]`` through ``model((source, ...))``
  gives them back.
* ``scores``: for beam search the GNMT length-normalized score (Wu et al. 2016)
  ``log_prob / lp`` with ``lp = ((5 + length) / 6) ** alpha``, sorted best first;
  for greedy and sampling the log-probability itself.
* ``attention`` ``[B, N, T, S]``: the weights of each generated token, zero beyond
  ``length`` (and zero for the context-vector variants, which have none).
* The maximum length of each output is ``floor(a * source_length + b)`` (at least 1),
  capped by an explicit maximum when given (:func:`max_output_length`).  An empty
  source (no tokens) gives an empty output: length 0, log-prob 0, score 0.
* ``block_ngram_repeat = n > 0``: no hypothesis repeats one of its own n-grams.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from translator.config import STRATEGIES, DecodeConfig
from translator.special_tokens import END_ID, PAD_ID, START_ID

_NEG_INF = float("-inf")
_TOP_K_CHUNK = 64  # about this many columns per chunk in _row_top_k (32-128: all close)

# Compiled decoding functions per model (weak keys: a deleted model frees its
# functions).  Eager callers would otherwise pay a full retrace on every call.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

# The public functions are graph code already (explicit tf.while_loop / tf.cond), so
# AutoGraph has nothing to convert; converting them anyway (when a caller's
# tf.function has autograph on) costs seconds of tracing.
_graph_code = tf.autograph.experimental.do_not_convert


@dataclasses.dataclass(frozen=True)
class DecodeResult:
    """Decoded hypotheses; all fields are ``tf.Tensor`` (see the module doc).

    Attributes:
        ids: int32 ``[B, N, T]``, N = n-best (1 for greedy, ``n`` samples for sampling).
        scores: float32 ``[B, N]``; beam: length-penalized, best first.
        log_probs: float32 ``[B, N]``, summed token log-probabilities.
        lengths: int32 ``[B, N]``, tokens in ``ids`` (END counted when present).
        attention: float32 ``[B, N, T, S]``.
    """

    ids: tf.Tensor
    scores: tf.Tensor
    log_probs: tf.Tensor
    lengths: tf.Tensor
    attention: tf.Tensor

    def as_dict(self) -> dict[str, tf.Tensor]:
        """The fields as a dict (for ``tf.function`` outputs and signatures)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def numpy(self) -> dict[str, Any]:
        """The fields as numpy arrays (eager results only)."""
        return {k: v.numpy() for k, v in self.as_dict().items()}


# --------------------------------------------------------------------------- helpers


@_graph_code
def source_lengths(source_ids: Any) -> tf.Tensor:
    """Non-padding tokens per row: int32 ``[B, S]`` -> int32 ``[B]``."""
    return tf.reduce_sum(tf.cast(tf.not_equal(source_ids, PAD_ID), tf.int32), axis=1)


@_graph_code
def max_output_length(source_ids: Any, a: Any, b: Any, cap: Any | None = None) -> tf.Tensor:
    """Per-sequence output limit: int32 ``[B]``.

    ``floor(a * source_length + b)``, at least 1, at most ``cap`` (when given); 0 for an
    empty source, which decodes to an empty output.

    Args:
        source_ids: int32 ``[B, S]`` padded with 0.
        a, b: python numbers or scalar tensors.
        cap: python int or scalar tensor, or None for no cap.
    """
    lengths = source_lengths(source_ids)
    limit = tf.floor(tf.cast(a, tf.float32) * tf.cast(lengths, tf.float32) + tf.cast(b, tf.float32))
    limit = tf.maximum(tf.cast(limit, tf.int32), 1)
    if cap is not None:
        limit = tf.minimum(limit, tf.cast(cap, tf.int32))
    return tf.where(lengths > 0, limit, 0)


@_graph_code
def length_penalty(lengths: Any, alpha: Any) -> tf.Tensor:
    """GNMT length penalty ``((5 + |Y|) / 6) ** alpha`` (float32, same shape)."""
    lengths = tf.cast(lengths, tf.float32)
    return tf.pow((5.0 + lengths) / 6.0, tf.cast(alpha, tf.float32))


def _prepare(source_ids: Any, max_length: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """-> (source ids with at least one column, int32 [B] limits, original width S).

    A zero-width batch (every source empty) gets one padding column so the encoder
    has a time step; the attention is cut back to the original width afterwards.
    """
    source_ids = tf.convert_to_tensor(source_ids)
    source_ids = tf.cast(source_ids, tf.int32)
    width = tf.shape(source_ids)[1]
    batch = tf.shape(source_ids)[0]
    limits = tf.broadcast_to(tf.cast(max_length, tf.int32), [batch])
    limits = tf.where(source_lengths(source_ids) > 0, tf.maximum(limits, 0), 0)
    padded = tf.pad(source_ids, [[0, 0], [0, tf.maximum(1 - width, 0)]])
    return padded, limits, width


def _first_step(
    model: Any, source_ids: tf.Tensor, repeat: Any = None
) -> tuple[tf.Tensor, tf.Tensor, dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    """Encodes and runs the START step once (outside the loop).

    Returns ``(logits, weights, constants, carry)``: the entries of the state that
    ``decode_step`` returned unchanged (memory, mask, attention keys, ...) are
    constants of the loop, so they are neither carried nor reordered; the rest is the
    carry.  With ``repeat`` every row is repeated that many times (beams, samples):
    the encoder and the first step run once per source, not once per hypothesis.
    """
    state = model.encode(source_ids)
    batch = tf.shape(source_ids)[0]
    logits, new_state, weights = model.decode_step(tf.fill([batch], START_ID), state)
    constants = {k: v for k, v in new_state.items() if k in state and v is state[k]}
    carry = {k: v for k, v in new_state.items() if k not in constants}
    logits = tf.cast(logits, tf.float32)
    weights = tf.cast(weights, tf.float32)
    if repeat is not None:

        def tile(x: tf.Tensor) -> tf.Tensor:
            return tf.repeat(x, repeat, axis=0)

        logits, weights = tile(logits), tile(weights)
        constants = tf.nest.map_structure(tile, constants)
        carry = tf.nest.map_structure(tile, carry)
    return logits, weights, constants, carry


def _step(model: Any, tokens: tf.Tensor, constants: dict, carry: dict) -> tuple:
    logits, new_state, weights = model.decode_step(tokens, {**constants, **carry})
    new_carry = {k: new_state[k] for k in carry}
    return tf.cast(logits, tf.float32), new_carry, tf.cast(weights, tf.float32)


@_graph_code
def block_repeated_ngrams(log_probs: tf.Tensor, history: tf.Tensor, t: Any, n: int) -> tf.Tensor:
    """Sets to -inf every token that would repeat an n-gram of its own hypothesis.

    Args:
        log_probs: float32 ``[R, V]``, the next-token scores of R hypotheses.
        history: int32 ``[R, W]``, the tokens generated so far (positions ``< t``
            are valid; W >= t).
        t: the position being generated (scalar).
        n: n-gram order (python int > 0); n = 1 forbids repeating any token.

    Returns:
        ``log_probs`` with the banned entries at -inf.
    """
    rows, width = tf.shape(history)[0], tf.shape(history)[1]
    vocab = tf.shape(log_probs)[1]
    starts = tf.maximum(width - n + 1, 0)  # candidate n-gram start positions j
    # n-gram j matches when hist[j + i] == hist[t - n + 1 + i] for i < n - 1, and it
    # lies entirely before t (j + n - 1 < t).
    match = tf.broadcast_to(tf.range(starts)[tf.newaxis] <= t - n, [rows, starts])
    for i in range(n - 1):
        prefix = tf.gather(history, tf.maximum(t - n + 1 + i, 0), axis=1)
        match &= tf.equal(history[:, i : i + starts], prefix[:, tf.newaxis])
    banned = history[:, n - 1 : n - 1 + starts]
    row = tf.broadcast_to(tf.range(rows)[:, tf.newaxis], [rows, starts])
    hits = tf.scatter_nd(
        tf.reshape(tf.stack([row, banned], axis=-1), [-1, 2]),
        tf.reshape(tf.cast(match, tf.float32), [-1]),
        [rows, vocab],
    )
    return tf.where(hits > 0, _NEG_INF, log_probs)


def _search_scores(
    logits: tf.Tensor, history: tf.Tensor, t: Any, block: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """-> (the logits a strategy chooses from, log-normalizer ``[R]``).

    PAD and START are never generated (they are not outputs), and with ``block`` > 0
    repeated n-grams are banned (-inf).  The model's log-probability of token ``w`` is
    ``logits[w] - normalizer``; only the chosen tokens' values are ever needed, so the
    full ``[R, V]`` log-softmax is never materialized (a measurable share of a step).
    """
    normalizer = tf.reduce_logsumexp(logits, axis=-1)
    ids = tf.range(tf.shape(logits)[1])
    never = tf.equal(ids, PAD_ID) | tf.equal(ids, START_ID)
    search = tf.where(never[tf.newaxis], _NEG_INF, logits)
    if block:
        search = block_repeated_ngrams(search, history, t, block)
    return search, normalizer


def _normalizer(logits: tf.Tensor, row_max: tf.Tensor) -> tf.Tensor:
    """``logsumexp`` over the last axis of ``[R, V]`` given each row's maximum ``[R]``
    (one pass fewer than ``tf.reduce_logsumexp``, which finds the maximum itself)."""
    shifted = tf.exp(logits - row_max[:, tf.newaxis])
    return row_max + tf.math.log(tf.reduce_sum(shifted, axis=-1))


def _never_generated(tokens: tf.Tensor) -> tf.Tensor:
    return tf.equal(tokens, PAD_ID) | tf.equal(tokens, START_ID)


def _greedy_choice(logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """argmax without PAD/START, and the log-normalizer, in two passes over ``[R, V]``:
    the argmax is also the row maximum; the masked argmax is only computed in the
    (rare) case where PAD or START came out on top."""
    best = tf.argmax(logits, axis=-1, output_type=tf.int32)
    normalizer = _normalizer(logits, tf.gather(logits, best, batch_dims=1))
    bad = _never_generated(best)

    def masked() -> tf.Tensor:
        never = _never_generated(tf.range(tf.shape(logits)[1]))
        second = tf.argmax(tf.where(never, _NEG_INF, logits), axis=-1, output_type=tf.int32)
        return tf.where(bad, second, best)

    return tf.cond(tf.reduce_any(bad), masked, lambda: best), normalizer


def _row_top_k(logits: tf.Tensor, k: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Exact top-k of each row of ``[R, V]`` (k <= V), plus the rows' log-normalizer.

    ``tf.math.top_k`` over 5,000 columns costs about as much as the output layer's
    matmul; this looks only inside the k chunks of ~``_TOP_K_CHUNK`` columns with the
    largest maxima (the top-k elements can lie in no other chunk), whose maxima also
    give the normalizer's shift.  Returns ``(values [R, k], indices [R, k], normalizer
    [R])``.
    """
    rows, vocab = tf.shape(logits)[0], tf.shape(logits)[1]
    size = _chunk_size(logits.shape[-1])
    n_chunks = (vocab + size - 1) // size
    # Padding copies [R, V]; a chunk size that divides a static V avoids it.
    padded = tf.pad(logits, [[0, 0], [0, n_chunks * size - vocab]], constant_values=_NEG_INF)
    chunks = tf.reshape(padded, [rows, n_chunks, size])
    maxima = tf.reduce_max(chunks, axis=-1)  # [R, n_chunks]
    n_top = tf.minimum(k, n_chunks)
    _, top_chunks = tf.math.top_k(maxima, n_top)
    inside = tf.reshape(tf.gather(chunks, top_chunks, batch_dims=1), [rows, n_top * size])
    values, position = tf.math.top_k(inside, k)
    indices = tf.gather(top_chunks, position // size, batch_dims=1) * size + position % size
    return values, indices, _normalizer(padded, tf.reduce_max(maxima, axis=-1))


def _chunk_size(vocab: int | None) -> int:
    """A divisor of the (static) vocabulary size near ``_TOP_K_CHUNK``, else that."""
    if vocab:
        for delta in range(_TOP_K_CHUNK // 2):
            for size in (_TOP_K_CHUNK + delta, _TOP_K_CHUNK - delta):
                if vocab % size == 0:
                    return size
    return _TOP_K_CHUNK


def _write_column(history: tf.Tensor, t: Any, tokens: tf.Tensor) -> tf.Tensor:
    """history[:, t] = tokens (the column is 0 before)."""
    column = tf.one_hot(t, tf.shape(history)[1], dtype=tf.int32)
    return history + column[tf.newaxis] * tokens[:, tf.newaxis]


def _no_choice_to_end(search: tf.Tensor, tokens: tf.Tensor) -> tf.Tensor:
    """Where every token is banned (all -inf), end the hypothesis instead."""
    chosen = tf.gather(search, tokens, batch_dims=1)
    return tf.where(tf.math.is_finite(chosen), tokens, END_ID)


def _loose(loop_vars: Any) -> Any:
    """Shape invariants with every dimension unknown (ranks kept): beam and sample
    counts may be python ints or tensors, which would otherwise make the first
    iteration's static shapes disagree with the later ones."""

    def relax(x: Any) -> Any:
        if isinstance(x, tf.TensorArray):
            return None
        return tf.TensorShape([None] * x.shape.rank)

    return tf.nest.map_structure(relax, loop_vars)


def _trim(ids: tf.Tensor, attention: tf.Tensor, lengths: tf.Tensor, width: Any) -> tuple:
    """Cuts ``[.., T_run]`` outputs to the longest hypothesis and attention to S."""
    longest = tf.maximum(tf.reduce_max(tf.concat([tf.reshape(lengths, [-1]), [0]], 0)), 0)
    return ids[..., :longest], attention[..., :longest, :width]


# --------------------------------------------------------------------------- greedy / sample


def _sampling_loop(
    model: Any,
    source_ids: Any,
    max_length: Any,
    choose: Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]],
    block_ngram_repeat: int,
    repeat: Any = None,
) -> DecodeResult:
    """One token per step: ``choose(logits [R, V], history, t)`` -> (int32 tokens
    ``[R]``, log-normalizer ``[R]``).

    ``repeat`` decodes every source that many times (independent samples).
    """
    source_ids, limits, width = _prepare(source_ids, max_length)
    logits, weights, constants, carry = _first_step(model, source_ids, repeat)
    if repeat is not None:
        limits = tf.repeat(limits, repeat, axis=0)
    rows = tf.shape(limits)[0]
    steps = tf.maximum(tf.reduce_max(tf.concat([limits, [0]], 0)), 0)
    size = tf.maximum(steps, 1)

    def process(t, logits, weights, finished, lengths, log_prob, history, id_arr, attn_arr):
        tokens, normalizer = choose(logits, history, t)
        alive = tf.logical_not(finished)
        tokens = tf.where(alive, tokens, PAD_ID)
        gained = tf.gather(logits, tokens, batch_dims=1) - normalizer
        log_prob += tf.where(alive, gained, 0.0)
        lengths += tf.cast(alive, tf.int32)
        weights = tf.where(alive[:, tf.newaxis], weights, 0.0)
        finished = finished | tf.equal(tokens, END_ID) | (lengths >= limits)
        if block_ngram_repeat:
            history = _write_column(history, t, tokens)
        return (
            finished,
            lengths,
            log_prob,
            history,
            id_arr.write(t, tokens),
            attn_arr.write(t, weights),
            tokens,
        )

    history = tf.zeros([rows, size if block_ngram_repeat else 0], tf.int32)
    first = process(
        tf.constant(0),
        logits,
        weights,
        limits <= 0,
        tf.zeros([rows], tf.int32),
        tf.zeros([rows], tf.float32),
        history,
        tf.TensorArray(tf.int32, size=0, dynamic_size=True),
        tf.TensorArray(tf.float32, size=0, dynamic_size=True),
    )

    def cond(t, carry, finished, *_):
        return (t < steps) & tf.logical_not(tf.reduce_all(finished))

    def body(t, carry, finished, lengths, log_prob, history, id_arr, attn_arr, tokens):
        logits, carry, weights = _step(model, tokens, constants, carry)
        out = process(t, logits, weights, finished, lengths, log_prob, history, id_arr, attn_arr)
        return (t + 1, carry, *out)

    loop_vars = (tf.constant(1), carry, *first)
    _, _, _, lengths, log_prob, _, id_arr, attn_arr, _ = tf.while_loop(
        cond, body, loop_vars, shape_invariants=_loose(loop_vars)
    )
    ids = tf.transpose(id_arr.stack(), [1, 0])  # [R, T]
    attention = tf.transpose(attn_arr.stack(), [1, 0, 2])  # [R, T, S]
    ids, attention = _trim(ids, attention, lengths, width)
    n = 1 if repeat is None else repeat
    batch = rows // n

    def group(x: tf.Tensor) -> tf.Tensor:
        return tf.reshape(x, tf.concat([[batch, n], tf.shape(x)[1:]], 0))

    return DecodeResult(
        ids=group(ids),
        scores=group(log_prob),
        log_probs=group(log_prob),
        lengths=group(lengths),
        attention=group(attention),
    )


def _choice_from(
    pick: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], block: int
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """A ``choose`` for :func:`_sampling_loop` from ``pick(search_logits, t)``."""

    def choose(logits: tf.Tensor, history: tf.Tensor, t: tf.Tensor) -> tuple:
        search, normalizer = _search_scores(logits, history, t, block)
        return _no_choice_to_end(search, pick(search, t)), normalizer

    return choose


def _greedy_impl(model: Any, source_ids: Any, max_length: Any, block_ngram_repeat: int = 0):
    if block_ngram_repeat:

        def pick(search: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
            return tf.argmax(search, axis=-1, output_type=tf.int32)

        choose = _choice_from(pick, block_ngram_repeat)
    else:

        def choose(logits: tf.Tensor, history: tf.Tensor, t: tf.Tensor) -> tuple:
            return _greedy_choice(logits)

    return _sampling_loop(model, source_ids, max_length, choose, block_ngram_repeat)


def _sample_impl(
    model: Any,
    source_ids: Any,
    max_length: Any,
    temperature: Any,
    top_k: Any,
    seed: Any,
    num_samples: Any = 1,
    block_ngram_repeat: int = 0,
):
    temperature = tf.cast(temperature, tf.float32)
    top_k = tf.cast(top_k, tf.int32)
    seed = tf.cast(seed, tf.int64)

    def pick(search: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
        scaled = search / temperature  # logits: categorical normalizes
        vocab = tf.shape(scaled)[1]

        def keep_top_k() -> tf.Tensor:
            kth = tf.math.top_k(scaled, tf.minimum(top_k, vocab)).values[:, -1:]
            return tf.where(scaled < kth, _NEG_INF, scaled)

        scaled = tf.cond(top_k > 0, keep_top_k, lambda: scaled)
        # Stateless: the same (seed, step) draws the same numbers on every call.
        step_seed = tf.stack([seed, tf.cast(t, tf.int64)])
        drawn = tf.random.stateless_categorical(scaled, 1, step_seed, dtype=tf.int32)
        return drawn[:, 0]

    choose = _choice_from(pick, block_ngram_repeat)
    return _sampling_loop(
        model, source_ids, max_length, choose, block_ngram_repeat, repeat=num_samples
    )


# --------------------------------------------------------------------------- beam search


def _beam_impl(
    model: Any,
    source_ids: Any,
    max_length: Any,
    beam_size: Any,
    alpha: Any,
    n_best: Any = 1,
    block_ngram_repeat: int = 0,
) -> DecodeResult:
    """Beam search with finished hypotheses kept aside (see :func:`beam_search`)."""
    source_ids, limits, width = _prepare(source_ids, max_length)
    k = tf.maximum(tf.cast(beam_size, tf.int32), 1)
    pool = tf.clip_by_value(tf.cast(n_best, tf.int32), 1, k)  # finished kept per source
    alpha = tf.cast(alpha, tf.float32)
    batch = tf.shape(source_ids)[0]
    logits, weights, constants, carry = _first_step(model, source_ids, repeat=k)
    steps = tf.maximum(tf.reduce_max(tf.concat([limits, [0]], 0)), 0)
    size = tf.maximum(steps, 1)
    limit_lp = length_penalty(limits, alpha)
    base = (tf.range(batch) * k)[:, tf.newaxis]  # row offset of each source's beams

    def process(t, logits, weights, alive_lp, done, fin, history, arrays):
        """Extends the K alive beams of every source by one token (t: its index)."""
        # 2K candidates: even if K of them end, K can stay alive.  The best 2K of all
        # K * V extensions are among the best 2K of each beam, so rank those only.
        vocab = tf.shape(logits)[1]
        if block_ngram_repeat:
            search, normalizer = _search_scores(logits, history, t, block_ngram_repeat)
            per_row = tf.minimum(2 * k, vocab)
            row_logits, row_tokens, _ = _row_top_k(search, per_row)
        else:
            # Two more per beam, so that dropping PAD and START still leaves 2K.
            per_row = tf.minimum(2 * k + 2, vocab)
            row_logits, row_tokens, normalizer = _row_top_k(logits, per_row)
            row_logits = tf.where(_never_generated(row_tokens), _NEG_INF, row_logits)
        row_lp = row_logits - normalizer[:, tf.newaxis] + tf.reshape(alive_lp, [-1, 1])
        n_rows = k * per_row
        cand_lp, cand = tf.math.top_k(
            tf.reshape(row_lp, [batch, n_rows]), tf.minimum(2 * k, n_rows)
        )
        parent = cand // per_row
        token = tf.gather(tf.reshape(row_tokens, [batch, n_rows]), cand, batch_dims=1)
        last = (t + 1 >= limits)[:, tf.newaxis]  # this token is the last one allowed
        ends = tf.equal(token, END_ID) | last
        valid = tf.math.is_finite(cand_lp)

        # Finished: the ending candidates among the best K (as a K-beam search would
        # keep them), scored with the length penalty, merged into the pool.
        top = tf.range(tf.shape(cand)[1])[tf.newaxis] < k
        new_fin = ends & top & valid & tf.logical_not(done)[:, tf.newaxis]
        length = t + 1
        new_score = tf.where(new_fin, cand_lp / length_penalty(length, alpha), _NEG_INF)
        merged = {
            "score": tf.concat([fin["score"], new_score], 1),
            "log_prob": tf.concat([fin["log_prob"], cand_lp], 1),
            "length": tf.concat([fin["length"], tf.fill(tf.shape(cand), length)], 1),
            "parent": tf.concat([fin["parent"], parent], 1),
            "token": tf.concat([fin["token"], token], 1),
        }
        kept = tf.math.top_k(merged["score"], pool).indices
        fin = {name: tf.gather(v, kept, batch_dims=1) for name, v in merged.items()}

        # Alive: the best K candidates that did not end.
        alive_lp, chosen = tf.math.top_k(tf.where(ends, _NEG_INF, cand_lp), k)
        parent = tf.gather(parent, chosen, batch_dims=1)
        token = tf.gather(token, chosen, batch_dims=1)

        # Stop a source once its pool is full and no alive beam can overtake its
        # worst pooled hypothesis: log-probs only fall, so the best an alive beam can
        # reach is its log-prob over the largest penalty it could still get.
        best_lp = tf.maximum(length_penalty(length + 1, alpha), limit_lp)
        bound = alive_lp[:, 0] / best_lp
        done = done | last[:, 0] | (fin["score"][:, -1] >= bound)

        rows = tf.reshape(base + parent, [-1])
        if block_ngram_repeat:
            history = _write_column(tf.gather(history, rows), t, tf.reshape(token, [-1]))
        parents, tokens, attns = arrays
        arrays = (
            parents.write(t, parent),
            tokens.write(t, token),
            attns.write(t, tf.reshape(weights, [batch, k, tf.shape(weights)[1]])),
        )
        return alive_lp, done, fin, history, arrays, rows, tf.reshape(token, [-1])

    empty = limits <= 0
    zeros = tf.zeros([batch, pool], tf.int32)
    # An empty source is finished before it starts: an empty hypothesis scored 0.
    first_score = tf.where(empty[:, tf.newaxis] & (tf.range(pool) == 0), 0.0, _NEG_INF)
    fin = {
        "score": first_score,
        "log_prob": tf.zeros([batch, pool]),
        "length": zeros,
        "parent": zeros,
        "token": zeros,
    }
    alive_lp = tf.where(tf.range(k)[tf.newaxis] == 0, 0.0, tf.fill([batch, k], _NEG_INF))
    # Dynamic size: the loop usually stops before the length limit.
    arrays = (
        tf.TensorArray(tf.int32, size=0, dynamic_size=True),
        tf.TensorArray(tf.int32, size=0, dynamic_size=True),
        tf.TensorArray(tf.float32, size=0, dynamic_size=True),
    )
    history = tf.zeros([batch * k, size if block_ngram_repeat else 0], tf.int32)
    first = process(tf.constant(0), logits, weights, alive_lp, empty, fin, history, arrays)
    alive_lp, done, fin, history, arrays, rows, tokens = first
    carry = tf.nest.map_structure(lambda x: tf.gather(x, rows), carry)

    def cond(t, carry, alive_lp, done, *_):
        return (t < steps) & tf.logical_not(tf.reduce_all(done))

    def body(t, carry, alive_lp, done, fin, history, arrays, tokens):
        logits, carry, weights = _step(model, tokens, constants, carry)
        alive_lp, done, fin, history, arrays, rows, tokens = process(
            t, logits, weights, alive_lp, done, fin, history, arrays
        )
        carry = tf.nest.map_structure(lambda x: tf.gather(x, rows), carry)
        return t + 1, carry, alive_lp, done, fin, history, arrays, tokens

    loop_vars = (tf.constant(1), carry, alive_lp, done, fin, history, arrays, tokens)
    t_run, _, _, _, fin, _, arrays, _ = tf.while_loop(
        cond, body, loop_vars, shape_invariants=_loose(loop_vars)
    )
    ids, attention = _backtrack(fin, arrays, t_run, batch, pool)
    lengths = tf.where(tf.math.is_finite(fin["score"]), fin["length"], 0)
    ids, attention = _trim(ids, attention, lengths, width)
    finite = tf.math.is_finite(fin["score"])
    return DecodeResult(
        ids=ids,
        scores=fin["score"],
        log_probs=tf.where(finite, fin["log_prob"], _NEG_INF),
        lengths=lengths,
        attention=attention,
    )


def _backtrack(fin: dict, arrays: tuple, steps: tf.Tensor, batch: tf.Tensor, pool: tf.Tensor):
    """Follows the parent pointers back from each pooled hypothesis.

    ``parents[s]`` / ``tokens[s]`` ``[B, K]``: for the beams alive after step s, the
    beam (in step s-1 order) they extended and the token they added; ``attns[s]``
    ``[B, K, S]``: the weights computed at step s, by beam in step s-1 order.  A pooled
    hypothesis ending at step ``e = length - 1`` took ``fin["token"]`` from beam
    ``fin["parent"]``.  Returns ids ``[B, P, steps]`` and attention ``[B, P, steps, S]``.
    """
    parents_arr, tokens_arr, attn_arr = arrays
    parents, tokens, attns = parents_arr.stack(), tokens_arr.stack(), attn_arr.stack()
    end = tf.where(tf.math.is_finite(fin["score"]), fin["length"] - 1, -1)  # [B, P]
    out_ids = tf.TensorArray(tf.int32, size=steps)
    out_attn = tf.TensorArray(tf.float32, size=steps)

    def body(s, beam, out_ids, out_attn):
        at_end = tf.equal(s, end)
        on_path = s <= end
        token = tf.where(at_end, fin["token"], tf.gather(tokens[s], beam, batch_dims=1))
        parent = tf.where(at_end, fin["parent"], tf.gather(parents[s], beam, batch_dims=1))
        attn = tf.gather(attns[s], parent, batch_dims=1)  # [B, P, S]
        token = tf.where(on_path, token, PAD_ID)
        attn = tf.where(on_path[..., tf.newaxis], attn, 0.0)
        beam = tf.where(on_path, parent, beam)
        return s - 1, beam, out_ids.write(s, token), out_attn.write(s, attn)

    loop_vars = (steps - 1, tf.zeros([batch, pool], tf.int32), out_ids, out_attn)
    _, _, out_ids, out_attn = tf.while_loop(
        lambda s, *_: s >= 0, body, loop_vars, shape_invariants=_loose(loop_vars)
    )
    ids = tf.transpose(out_ids.stack(), [1, 2, 0])
    width = tf.shape(attns)[-1]
    attn = tf.reshape(out_attn.stack(), [steps, batch, pool, width])
    return ids, tf.transpose(attn, [1, 2, 0, 3])


# --------------------------------------------------------------------------- public API


def _compiled(model: Any, strategy: str, block_ngram_repeat: int) -> Callable:
    """The ``tf.function`` of one strategy for ``model`` (built once, then reused)."""
    functions = _COMPILED.setdefault(model, {})
    key = (strategy, block_ngram_repeat)
    if key in functions:
        return functions[key]
    ref = weakref.ref(model)  # a strong reference would keep the cache entry alive
    ids = tf.TensorSpec([None, None], tf.int32)
    limits = tf.TensorSpec([None], tf.int32)
    f32, i32 = tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int32)
    if strategy == "greedy":

        def run(source_ids, max_length):
            return _greedy_impl(ref(), source_ids, max_length, block_ngram_repeat).as_dict()

        signature = [ids, limits]
    elif strategy == "sample":

        def run(source_ids, max_length, temperature, top_k, seed, num_samples):
            return _sample_impl(
                ref(), source_ids, max_length, temperature, top_k, seed, num_samples,
                block_ngram_repeat,
            ).as_dict()  # fmt: skip

        signature = [ids, limits, f32, i32, tf.TensorSpec([], tf.int64), i32]
    else:

        def run(source_ids, max_length, beam_size, alpha, n_best):
            return _beam_impl(
                ref(), source_ids, max_length, beam_size, alpha, n_best, block_ngram_repeat
            ).as_dict()

        signature = [ids, limits, i32, f32, i32]
    # autograph off: the loops are explicit tf.while_loop / tf.cond already.
    functions[key] = tf.function(run, input_signature=signature, autograph=False)
    return functions[key]


def _dispatch(model: Any, strategy: str, block: int, source_ids: Any, max_length: Any, *args):
    """Runs ``strategy`` inline inside a graph, or through its compiled function."""
    impl = {"greedy": _greedy_impl, "sample": _sample_impl, "beam": _beam_impl}[strategy]
    if tf.inside_function():
        return impl(model, source_ids, max_length, *args, block_ngram_repeat=block)
    source_ids = tf.cast(tf.convert_to_tensor(source_ids), tf.int32)
    limits = tf.broadcast_to(tf.cast(max_length, tf.int32), tf.shape(source_ids)[:1])
    specs = _compiled(model, strategy, block).input_signature[2:]
    args = [tf.cast(a, s.dtype) for a, s in zip(args, specs)]
    return DecodeResult(**_compiled(model, strategy, block)(source_ids, limits, *args))


@_graph_code
def greedy_search(
    model: Any, source_ids: Any, max_length: Any, *, block_ngram_repeat: int = 0
) -> DecodeResult:
    """Greedy decoding (argmax at every step).

    Args:
        model: a ``Seq2Seq`` (anything with ``encode`` / ``decode_step``).
        source_ids: int32 ``[B, S]``, padded with 0.
        max_length: int or int32 scalar / ``[B]`` tensor: output limit per sequence
            (see :func:`max_output_length`).
        block_ngram_repeat: 0, or n: never repeat an n-gram.

    Returns:
        :class:`DecodeResult` with N = 1; scores are log-probabilities.
    """
    return _dispatch(model, "greedy", block_ngram_repeat, source_ids, max_length)


@_graph_code
def sample(
    model: Any,
    source_ids: Any,
    max_length: Any,
    temperature: Any = 1.0,
    top_k: Any = 0,
    seed: Any = 0,
    *,
    num_samples: Any = 1,
    block_ngram_repeat: int = 0,
) -> DecodeResult:
    """Ancestral sampling from ``softmax(logits / temperature)``, optionally top-k.

    Stateless random ops seeded with ``(seed, step)``: the same seed and batch give
    the same output.  ``top_k = 0`` keeps the whole vocabulary; ``top_k = 1`` is
    greedy.  ``num_samples`` independent samples per source come out as N, in
    sampling order (not sorted).  Scores are the model's log-probabilities of the
    sampled tokens (temperature 1, no filter).
    """
    return _dispatch(
        model,
        "sample",
        block_ngram_repeat,
        source_ids,
        max_length,
        temperature,
        top_k,
        seed,
        num_samples,
    )


@_graph_code
def beam_search(
    model: Any,
    source_ids: Any,
    max_length: Any,
    beam_size: Any = 5,
    length_penalty: Any = 1.0,
    n_best: Any = 1,
    *,
    block_ngram_repeat: int = 0,
) -> DecodeResult:
    """Beam search of width ``beam_size`` with the GNMT length penalty.

    Every step extends the K alive hypotheses of each source (K rows per source,
    reordered with ``tf.gather`` on the flattened batch*beam axis) and takes the 2K
    best candidates.  Candidates that end (END, or the length limit) among the best K
    go to a pool of finished hypotheses scored ``log_prob / lp(length)``; the K best
    others stay alive.  Finished hypotheses are never extended.  A source stops when
    its pool holds ``n_best`` hypotheses and no alive one could still beat the worst
    of them (log-probs only fall; the penalty is bounded by the one at the length
    limit), or at its length limit.  With ``beam_size=1`` and ``length_penalty=0``
    this is exactly greedy search.

    Args:
        model, source_ids, max_length: as for :func:`greedy_search`.
        beam_size: K, a python int or int32 scalar tensor.
        length_penalty: alpha (0: plain log-probability).
        n_best: hypotheses returned per source (at most K).

    Returns:
        :class:`DecodeResult` with N = min(n_best, K), best first.  Slots with no
        hypothesis (possible only when n-gram blocking leaves too few) have score
        -inf and length 0.
    """
    return _dispatch(
        model,
        "beam",
        block_ngram_repeat,
        source_ids,
        max_length,
        beam_size,
        length_penalty,
        n_best,
    )


@_graph_code
def decode(
    model: Any,
    source_ids: Any,
    config: DecodeConfig,
    *,
    max_length: Any | None = None,
    n_best: Any = 1,
    seed: Any = 0,
    beam_size: Any | None = None,
    length_penalty: Any | None = None,
    temperature: Any | None = None,
    top_k: Any | None = None,
) -> DecodeResult:
    """Decodes a batch with the strategy of ``config``: the one strategy dispatch.

    Args:
        model: a ``Seq2Seq``.
        source_ids: int32 ``[B, S]`` padded with 0 (as from
            :func:`translator.inference.encode_sources`).
        config: strategy, beam size, length penalty, temperature, top-k,
            ``max_length_a`` / ``max_length_b`` and n-gram blocking.
        max_length: cap on the output length (tokens, END included); None: only
            ``a * source_length + b``.  Usually ``data.max_target_length + 1``.
        n_best: hypotheses per source for beam search, samples for sampling;
            greedy always gives one.
        seed: sampling seed.
        beam_size, length_penalty, temperature, top_k: replace the config's values
            (python numbers or scalar tensors, e.g. a signature's inputs).

    Returns:
        :class:`DecodeResult`; ``result.ids[:, 0]`` are the best (or first) outputs.
    """

    def value(given: Any, default: Any) -> Any:
        return default if given is None else given

    limits = max_output_length(source_ids, config.max_length_a, config.max_length_b, max_length)
    block = config.block_ngram_repeat
    if config.strategy == "greedy":
        return greedy_search(model, source_ids, limits, block_ngram_repeat=block)
    if config.strategy == "sample":
        return sample(
            model,
            source_ids,
            limits,
            value(temperature, config.temperature),
            value(top_k, config.top_k),
            seed,
            num_samples=n_best,
            block_ngram_repeat=block,
        )
    if config.strategy == "beam":
        return beam_search(
            model,
            source_ids,
            limits,
            value(beam_size, config.beam_size),
            value(length_penalty, config.length_penalty),
            n_best,
            block_ngram_repeat=block,
        )
    raise ValueError(f"unknown decoding strategy {config.strategy!r}; choose one of {STRATEGIES}")
