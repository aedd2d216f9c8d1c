"""``tf.data`` input pipelines for teacher-forced training and evaluation.

:func:`make_dataset` turns ``(source, target)`` string pairs into batches of::

    ((source_ids, decoder_input_ids), labels)      # int32 [B, Ls], [B, Lt], [B, Lt]

with ``decoder_input = [START] + y`` and ``labels = y + [END]``.  For a
pointer-generator model (``pointer_generator=True``, one joint vocabulary) the source
ids are in the extended vocabulary (:mod:`translator.copying`: unknown source words
get ids ``vocab_size + j``), and target words copied from the source are labelled
with the same ids.  Source ids carry no
START/END (the encoder needs neither; the decoder learns when to stop from END in the
labels).  Padding uses ``PAD_ID`` (0), per batch.

Every pair is tokenized once, up front, with the in-graph tokenizer (batched calls);
the token ids stay in memory as ragged tensors.  That one pass also gives exact
statistics (:class:`PipelineStats`) before training starts, and epochs don't pay for
tokenization again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from translator.config import DataConfig, TrainConfig
from translator.copying import extend_source, extend_target
from translator.tokenizer import END_ID, PAD_ID, START_ID, Tokenizer, tokenize_all

DEFAULT_NUM_BUCKETS = 40  # quantiles; spa-en: 15 distinct boundaries, 8% padding


@dataclasses.dataclass(frozen=True)
class PipelineStats:
    """What :func:`make_dataset` did with the pairs.

    Attributes:
        total: pairs given.
        kept: pairs in the dataset (``total - dropped - empty``).
        dropped: pairs dropped for being over ``max_source_length`` /
            ``max_target_length`` (``overlength: drop``).
        trimmed: kept pairs cut down to the maximum lengths (``overlength: trim``).
        empty: pairs dropped because one side has no tokens at all.
        source_tokens: source tokens in the kept pairs (after trimming).
        target_tokens: target tokens in the kept pairs, without START/END.
        bucket_boundaries: the length boundaries used for bucketing (empty if none).
        kept_indices: index in ``pairs`` of each dataset row, in dataset order for
            evaluation datasets (use it to align references when pairs were dropped).
    """

    total: int
    kept: int
    dropped: int
    trimmed: int
    empty: int
    source_tokens: int
    target_tokens: int
    bucket_boundaries: tuple[int, ...] = ()
    kept_indices: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros([0], np.int64), repr=False, compare=False
    )

    def __str__(self) -> str:
        return (
            f"{self.kept}/{self.total} pairs kept ({self.dropped} over-length dropped, "
            f"{self.trimmed} trimmed, {self.empty} empty); "
            f"{self.source_tokens} source / {self.target_tokens} target tokens"
        )


def _bucket_boundaries(lengths: np.ndarray, num_buckets: int) -> list[int]:
    """Boundaries at length quantiles, so buckets hold about equal numbers of pairs.

    A bucket ``i`` takes lengths in ``[b[i-1], b[i])``; the last boundary is
    ``max + 1`` so the open-ended bucket stays empty (required by
    ``pad_to_bucket_boundary``).
    """
    if lengths.size == 0:
        return [1]
    quantiles = np.quantile(lengths, np.linspace(0.0, 1.0, num_buckets + 1)[1:-1])
    top = int(lengths.max()) + 1
    boundaries = {int(np.floor(q)) + 1 for q in quantiles}
    boundaries = {b for b in boundaries if int(lengths.min()) < b < top}
    return [*sorted(boundaries), top]


def _add_column(tokens: tf.RaggedTensor, token_id: int, at_end: bool) -> tf.RaggedTensor:
    column = tf.RaggedTensor.from_tensor(
        tf.fill([tokens.nrows(), 1], tf.constant(token_id, tf.int32)),
        row_splits_dtype=tokens.row_splits.dtype,
    )
    return tf.concat([tokens, column] if at_end else [column, tokens], axis=1)


def make_dataset(
    pairs: Sequence[tuple[str, str]],
    source_tokenizer: Tokenizer,
    target_tokenizer: Tokenizer,
    data_config: DataConfig,
    train_config: TrainConfig,
    training: bool,
    *,
    bucket: bool | None = None,
    bucket_boundaries: Sequence[int] | None = None,
    pad_to_bucket_boundary: bool = False,
    drop_remainder: bool = False,
    pointer_generator: bool = False,
) -> tuple[tf.data.Dataset, PipelineStats]:
    """Builds the batched dataset of teacher-forcing examples.

    Args:
        pairs: ``(source, target)`` raw strings.
        source_tokenizer, target_tokenizer: trained tokenizers (may be one object).
        data_config: ``max_source_length`` / ``max_target_length`` (tokens, without
            START/END) and ``overlength`` (``drop`` or ``trim``).  Trimmed targets keep
            ``max_target_length`` tokens; START/END are added on top, so decoder
            inputs and labels have at most ``max_target_length + 1`` positions.
        train_config: ``batch_size``, ``bucket``, ``shuffle_buffer``, ``seed``.
        training: shuffle (seeded, reshuffled each epoch in a reproducible order)
            and bucket by length if ``train_config.bucket``.  Otherwise the order of
            ``pairs`` is kept (evaluation aligns hypotheses with references).
        bucket: overrides whether to bucket (default: ``train_config.bucket`` when
            training, ``False`` for evaluation because bucketing reorders pairs).
        bucket_boundaries: explicit length boundaries; default: about
            ``DEFAULT_NUM_BUCKETS`` quantiles of ``max(len(source), len(target) + 1)``.
        pad_to_bucket_boundary: pad each batch to its bucket's upper length instead
            of its longest pair: more padding, but only a few distinct shapes (what
            ``jit_compile`` wants).  Needs bucketing.
        drop_remainder: drop incomplete batches (fixed batch dimension).
        pointer_generator: give source ids in the extended vocabulary and label
            copied target words with their extended ids (needs one tokenizer for
            both sides).

    Returns:
        ``(dataset, stats)``.  Elements are ``((source_ids, decoder_input_ids),
        labels)``, int32 ``[B, Ls]``, ``[B, Lt]``, ``[B, Lt]``, padded with 0.
        Pairs where either side tokenizes to nothing are dropped (counted ``empty``).
    """
    total = len(pairs)
    max_source, max_target = data_config.max_source_length, data_config.max_target_length
    target_ids = tokenize_all((t for _, t in pairs), target_tokenizer)
    target_len = target_ids.row_lengths().numpy()
    if pointer_generator:
        if source_tokenizer is not target_tokenizer:
            raise ValueError("pointer_generator needs one (joint) tokenizer for both sides")
        source_pieces = tokenize_all((s for s, _ in pairs), source_tokenizer, pieces=True)
        source_len = source_pieces.row_lengths().numpy()
        if data_config.overlength == "trim":
            # Only what the model reads can be copied: a word past the cut gets no
            # extended id, so a target word that only occurs there stays unknown.
            source_pieces = source_pieces[:, :max_source]
        source_ids, oov_words = extend_source(source_pieces, target_tokenizer)
        target_pieces = tokenize_all((t for _, t in pairs), target_tokenizer, pieces=True)
        target_ids = extend_target(
            target_pieces, target_ids, oov_words, target_tokenizer.vocab_size
        )
    else:
        source_ids = tokenize_all((s for s, _ in pairs), source_tokenizer)
        source_len = source_ids.row_lengths().numpy()

    over = (source_len > max_source) | (target_len > max_target)
    empty = (source_len == 0) | (target_len == 0)
    if data_config.overlength == "drop":
        keep = ~over & ~empty
        trimmed = 0
    else:
        keep = ~empty
        trimmed = int((over & keep).sum())
        source_ids = source_ids[:, :max_source]
        target_ids = target_ids[:, :max_target]
        source_len = np.minimum(source_len, max_source)
        target_len = np.minimum(target_len, max_target)
    kept_indices = np.flatnonzero(keep)
    source_ids = tf.gather(source_ids, kept_indices)
    target_ids = tf.gather(target_ids, kept_indices)

    use_buckets = (train_config.bucket if training else False) if bucket is None else bucket
    lengths = np.maximum(source_len[keep], target_len[keep] + 1)
    if use_buckets:
        boundaries = list(bucket_boundaries or _bucket_boundaries(lengths, DEFAULT_NUM_BUCKETS))
    else:
        boundaries = []
    if pad_to_bucket_boundary and not use_buckets:
        raise ValueError("pad_to_bucket_boundary needs bucketing (bucket=True)")

    stats = PipelineStats(
        total=total,
        kept=int(keep.sum()),
        dropped=int((over & ~empty).sum()) if data_config.overlength == "drop" else 0,
        trimmed=trimmed,
        empty=int(empty.sum()),
        source_tokens=int(source_len[keep].sum()),
        target_tokens=int(target_len[keep].sum()),
        bucket_boundaries=tuple(boundaries),
        kept_indices=kept_indices,
    )

    decoder_inputs = _add_column(target_ids, START_ID, at_end=False)
    labels = _add_column(target_ids, END_ID, at_end=True)
    features = (source_ids, decoder_inputs)
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    # Slices of a RaggedTensor come out as plain 1-D tensors but are *typed* as
    # RaggedTensorSpec(ragged_rank=0), which padded_batch rejects; a map retypes them.
    dataset = dataset.map(
        lambda features, labels: tf.nest.map_structure(tf.identity, (features, labels))
    )

    options = tf.data.Options()
    options.deterministic = True  # same seed → same batches (and eval order kept)
    dataset = dataset.with_options(options)
    if training:
        # Seeded op-level shuffle: each epoch gets a new order, and the sequence of
        # orders is the same every time the dataset is built with this seed.
        buffer = max(1, min(train_config.shuffle_buffer, stats.kept))
        dataset = dataset.shuffle(buffer, seed=train_config.seed, reshuffle_each_iteration=True)

    batch_size = train_config.batch_size
    if use_buckets:
        dataset = dataset.bucket_by_sequence_length(
            element_length_func=lambda features, _labels: tf.maximum(
                tf.shape(features[0])[0], tf.shape(features[1])[0]
            ),
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padding_values=(tuple(PAD_ID for _ in features), PAD_ID),
            pad_to_bucket_boundary=pad_to_bucket_boundary,
            drop_remainder=drop_remainder,
        )
    else:
        dataset = dataset.padded_batch(
            batch_size,
            padded_shapes=(tuple([None] for _ in features), [None]),
            padding_values=(tuple(PAD_ID for _ in features), PAD_ID),
            drop_remainder=drop_remainder,
        )
    return dataset.prefetch(tf.data.AUTOTUNE), stats


def padding_fraction(dataset: tf.data.Dataset, max_batches: int | None = None) -> float:
    """Fraction of PAD positions over all source + label positions of the batches.

    Args:
        dataset: batches of ``((source_ids, decoder_input_ids), labels)``.
        max_batches: look at the first ``max_batches`` batches only.
    """
    pads = positions = 0
    if max_batches is not None:
        dataset = dataset.take(max_batches)
    for (source, *_), labels in dataset.as_numpy_iterator():
        pads += int((source == PAD_ID).sum() + (labels == PAD_ID).sum())
        positions += source.size + labels.size
    return pads / positions if positions else 0.0


def encode_sources(
    strings: Any, source_tokenizer: Tokenizer, max_length: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Tokenizes raw source strings for inference (TF ops: eager or in a tf.function).

    Args:
        strings: ``tf.string`` [B] (or a list of str).
        source_tokenizer: the source tokenizer.
        max_length: longest source kept, in tokens; longer ones are truncated.

    Returns:
        ``(ids, lengths, truncated)``: int32 ``[B, L]`` padded with 0 where
        ``L = max(lengths)`` (no START/END, as in training), int32 ``[B]`` token
        counts after truncation, and bool ``[B]`` (was the source cut).
    """
    tokens = source_tokenizer.tokenize(tf.convert_to_tensor(strings, tf.string))
    return _cut(tokens, max_length)


def encode_copy_sources(
    strings: Any, tokenizer: Tokenizer, max_length: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """:func:`encode_sources` for a pointer-generator's joint vocabulary.

    Unknown source words get extended ids (:func:`translator.copying.extend_source`);
    returns ``(ids, lengths, truncated, oov_words)``, the last ``tf.string`` ``[B, K]``.
    """
    pieces = tokenizer.pieces(tf.convert_to_tensor(strings, tf.string))
    extended, oov_words = extend_source(pieces, tokenizer)
    return (*_cut(extended, max_length), oov_words)


def _cut(tokens: tf.RaggedTensor, max_length: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Ragged ids -> (dense ids cut to ``max_length``, lengths after the cut, was cut)."""
    full = tokens.row_lengths()
    ids = tokens[:, :max_length].to_tensor(default_value=PAD_ID)
    lengths = tf.cast(tf.minimum(full, max_length), tf.int32)
    return ids, lengths, full > max_length
