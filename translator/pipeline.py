"""``tf.data`` input pipelines for teacher-forced training and evaluation.

Both paths start from the same one-pass tokenization (:func:`tokenize_pairs`) and end
in the same batching (:func:`batch_examples`); they differ only in order:

* :func:`make_dataset`: the pairs in their given order (evaluation aligns hypotheses
  with references), optionally bucketed by length;
* :class:`TrainingData`: epoch ``e`` is the permutation
  ``stateless_shuffle(range(n), seed=[train.seed, e])`` of the pairs, bucketed by
  length, so its batches depend only on ``(seed, e)`` -- a run resumed at epoch ``e``
  sees the same batches as one that never stopped.

Elements are::

    ((source_ids, decoder_input_ids), labels)      # int32 [B, Ls], [B, Lt], [B, Lt]

with ``decoder_input = [START] + y`` and ``labels = y + [END]``.  For a
pointer-generator model (``pointer_generator=True``, one joint vocabulary) the source
ids are in the extended vocabulary (:mod:`translator.copying`: unknown source words
get ids ``vocab_size + j``), and target words copied from the source are labelled
with the same ids.  Source ids carry no START/END (the encoder needs neither; the
decoder learns when to stop from END in the labels).  Padding uses ``PAD_ID`` (0),
per batch.

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

from translator.baselines import oracle_indices
from translator.config import Config, ConfigError, DataConfig
from translator.copying import extend_source, extend_target
from translator.extractive import FIRST_SENTENCE_ID
from translator.sentences import pack_sentences
from translator.special_tokens import END_ID, PAD_ID, START_ID
from translator.tokenizer import Tokenizer, tokenize_all

DEFAULT_NUM_BUCKETS = 40  # quantiles; spa-en: 15 distinct boundaries, 8% padding
_ARTICLE_CHUNK = 256  # articles split and packed per graph call


@dataclasses.dataclass(frozen=True)
class PipelineStats:
    """What :func:`tokenize_pairs` did with the pairs.

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

    def as_dict(self) -> dict[str, int]:
        """The counts (for ``summary.json``)."""
        names = ("total", "kept", "dropped", "trimmed", "empty", "source_tokens", "target_tokens")
        return {name: getattr(self, name) for name in names}


def length_boundaries(lengths: np.ndarray, num_buckets: int = DEFAULT_NUM_BUCKETS) -> list[int]:
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


@dataclasses.dataclass(frozen=True)
class TokenizedPairs:
    """The kept pairs as ids, in the order of the given pairs.

    Attributes:
        sources: int32 ragged ``[N, (Ls)]`` (extended ids for a pointer-generator).
        targets: int32 ragged ``[N, (Lt)]`` without START/END.
        stats: counts of what was kept, dropped and trimmed.
    """

    sources: tf.RaggedTensor
    targets: tf.RaggedTensor
    stats: PipelineStats

    @property
    def lengths(self) -> np.ndarray:
        """Bucketing length of each pair: ``max(len(source), len(target) + 1)``."""
        source = self.sources.row_lengths().numpy()
        return np.maximum(source, self.targets.row_lengths().numpy() + 1)

    def examples(self, order: Any = None) -> tf.data.Dataset:
        """Unbatched ``((source, decoder_input), labels)``, in ``order`` (indices) if given."""
        sources, targets = self.sources, self.targets
        if order is not None:
            sources, targets = tf.gather(sources, order), tf.gather(targets, order)
        features = (sources, _add_column(targets, START_ID, at_end=False))
        labels = _add_column(targets, END_ID, at_end=True)
        dataset = tf.data.Dataset.from_tensor_slices((features, labels))
        # Slices of a RaggedTensor come out as plain 1-D tensors but are *typed* as
        # RaggedTensorSpec(ragged_rank=0), which padded_batch rejects; a map retypes them.
        return dataset.map(lambda x, y: tf.nest.map_structure(tf.identity, (x, y)))


def tokenize_pairs(
    pairs: Sequence[tuple[str, str]],
    source_tokenizer: Tokenizer,
    target_tokenizer: Tokenizer,
    data_config: DataConfig,
    *,
    pointer_generator: bool = False,
    extractive: bool = False,
) -> TokenizedPairs:
    """Tokenizes every pair once and applies the length rules of ``data_config``.

    ``max_source_length`` / ``max_target_length`` are in tokens without START/END;
    ``overlength: drop`` drops longer pairs, ``trim`` cuts them (START/END are added on
    top, so decoder inputs and labels have at most ``max_target_length + 1``
    positions).  Pairs where either side tokenizes to nothing are dropped (counted
    ``empty``).  ``pointer_generator``: source ids in the extended vocabulary and copied
    target words labelled with their extended ids (needs one tokenizer for both sides).
    ``extractive``: articles packed by sentence and labelled with the oracle's picks
    (:func:`tokenize_articles`).
    """
    if extractive:
        return tokenize_articles(pairs, source_tokenizer, data_config)
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
    stats = PipelineStats(
        total=total,
        kept=int(keep.sum()),
        dropped=int((over & ~empty).sum()) if data_config.overlength == "drop" else 0,
        trimmed=trimmed,
        empty=int(empty.sum()),
        source_tokens=int(source_len[keep].sum()),
        target_tokens=int(target_len[keep].sum()),
        kept_indices=kept_indices,
    )
    return TokenizedPairs(
        sources=tf.gather(source_ids, kept_indices),
        targets=tf.gather(target_ids, kept_indices),
        stats=stats,
    )


def tokenize_articles(
    pairs: Sequence[tuple[str, str]], tokenizer: Tokenizer, data_config: DataConfig
) -> TokenizedPairs:
    """Articles -> sentence-packed ids, summaries -> the oracle's sentence ids.

    Sources are :func:`translator.sentences.pack_sentences` rows (the first
    ``max_sentences`` sentences, ``sentence_words`` tokens each); targets are
    ``FIRST_SENTENCE_ID + j`` for the sentences ``j`` that the greedy oracle
    (:func:`translator.baselines.oracle_indices`) picks against the reference, in
    article order, at most ``max_target_length`` of them.  The oracle reads the
    sentences the graph split produced, so labels and model inputs always agree.
    Articles with no sentence, or whose reference shares nothing with them, are
    dropped (``empty``); ``trimmed`` counts articles cut to ``max_sentences``.
    """
    if not pairs:
        return tokenize_pairs(pairs, tokenizer, tokenizer, data_config)
    width = data_config.sentence_words
    sources, targets, counts, cut = [], [], [], []
    for i in range(0, len(pairs), _ARTICLE_CHUNK):
        chunk = pairs[i : i + _ARTICLE_CHUNK]
        ids, sentences, kept, truncated = pack_sentences(
            tf.constant([article for article, _ in chunk], tf.string),
            tokenizer,
            data_config.max_sentences,
            width,
        )
        kept = kept.numpy()
        sources.append(tf.RaggedTensor.from_tensor(ids, lengths=kept * width))
        for row, count, (_, reference) in zip(sentences.numpy(), kept, chunk):
            texts = [s.decode("utf-8") for s in row[:count]]
            picks = oracle_indices(texts, reference)[: data_config.max_target_length]
            targets.append([FIRST_SENTENCE_ID + j for j in picks])
        counts.extend(kept.tolist())
        cut.extend(truncated.numpy().tolist())
    keep = (np.array(counts) > 0) & (np.array([len(t) for t in targets]) > 0)
    kept_indices = np.flatnonzero(keep)
    source_ids = tf.gather(tf.concat(sources, axis=0), kept_indices)
    stats = PipelineStats(
        total=len(pairs),
        kept=int(keep.sum()),
        dropped=0,
        trimmed=int((np.array(cut) & keep).sum()),
        empty=int((~keep).sum()),
        source_tokens=int(np.count_nonzero(source_ids.flat_values.numpy())),
        target_tokens=int(sum(len(targets[i]) for i in kept_indices)),
        kept_indices=kept_indices,
    )
    target_ids = tf.ragged.constant(targets, dtype=tf.int32, ragged_rank=1)
    return TokenizedPairs(
        sources=source_ids, targets=tf.gather(target_ids, kept_indices), stats=stats
    )


def batch_examples(
    examples: tf.data.Dataset,
    batch_size: int,
    boundaries: Sequence[int] = (),
    *,
    pad_to_bucket_boundary: bool = False,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Pads examples into batches; with ``boundaries``, one batch per length bucket.

    ``pad_to_bucket_boundary`` pads each batch to its bucket's upper length instead of
    its longest pair: more padding, but only a few distinct shapes (what
    ``jit_compile`` wants).  ``drop_remainder`` drops incomplete batches.
    """
    padding = ((PAD_ID, PAD_ID), PAD_ID)
    if boundaries:
        return examples.bucket_by_sequence_length(
            element_length_func=lambda x, _y: tf.maximum(tf.shape(x[0])[0], tf.shape(x[1])[0]),
            bucket_boundaries=list(boundaries),
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padding_values=padding,
            pad_to_bucket_boundary=pad_to_bucket_boundary,
            drop_remainder=drop_remainder,
        )
    if pad_to_bucket_boundary:
        raise ValueError("pad_to_bucket_boundary needs bucketing (bucket boundaries)")
    return examples.padded_batch(
        batch_size, (([None], [None]), [None]), padding, drop_remainder=drop_remainder
    )


def _deterministic(dataset: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.deterministic = True  # same seed -> same batches (and eval order kept)
    # Under tf.distribute each worker builds the same batches and keeps its share.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def make_dataset(
    pairs: Sequence[tuple[str, str]],
    source_tokenizer: Tokenizer,
    target_tokenizer: Tokenizer,
    data_config: DataConfig,
    batch_size: int,
    *,
    bucket: bool = False,
    bucket_boundaries: Sequence[int] | None = None,
    pad_to_bucket_boundary: bool = False,
    drop_remainder: bool = False,
    pointer_generator: bool = False,
    extractive: bool = False,
) -> tuple[tf.data.Dataset, PipelineStats]:
    """Batches of the pairs in their given order (evaluation, validation).

    Args:
        pairs: ``(source, target)`` raw strings.
        source_tokenizer, target_tokenizer: trained tokenizers (may be one object).
        data_config: the length rules (see :func:`tokenize_pairs`).
        batch_size: pairs per batch.
        bucket: batch by length buckets (less padding; the order is then by bucket).
        bucket_boundaries: explicit length boundaries; default: about
            ``DEFAULT_NUM_BUCKETS`` quantiles of ``max(len(source), len(target) + 1)``.
        pad_to_bucket_boundary, drop_remainder: see :func:`batch_examples`.
        pointer_generator, extractive: see :func:`tokenize_pairs`.

    Returns:
        ``(dataset, stats)``; elements ``((source_ids, decoder_input_ids), labels)``,
        int32 ``[B, Ls]``, ``[B, Lt]``, ``[B, Lt]``, padded with 0.
    """
    tokenized = tokenize_pairs(
        pairs,
        source_tokenizer,
        target_tokenizer,
        data_config,
        pointer_generator=pointer_generator,
        extractive=extractive,
    )
    boundaries: list[int] = []
    if bucket:
        boundaries = list(bucket_boundaries or length_boundaries(tokenized.lengths))
    stats = dataclasses.replace(tokenized.stats, bucket_boundaries=tuple(boundaries))
    dataset = batch_examples(
        _deterministic(tokenized.examples()),
        batch_size,
        boundaries,
        pad_to_bucket_boundary=pad_to_bucket_boundary,
        drop_remainder=drop_remainder,
    )
    return dataset.prefetch(tf.data.AUTOTUNE), stats


class TrainingData:
    """Training pairs tokenized once, served epoch by epoch in a seeded order.

    Epoch ``e`` is the permutation ``stateless_shuffle(range(n), seed=[seed, e])`` of
    the kept pairs, bucketed by length (``train.bucket``), so its batches depend only
    on ``(seed, e)`` and the number of batches per epoch is fixed and known up front
    (:attr:`steps_per_epoch`).

    Args:
        pairs: the training split.
        source_tokenizer, target_tokenizer: the run's tokenizers.
        config: ``data`` (length rules), ``train`` (``batch_size``, ``bucket``,
            ``seed``) and ``model.pointer_generator`` / ``model.extractive``.
        pad_to_bucket_boundary: few distinct batch shapes (XLA); full batches only.
        drop_remainder: full batches only (tf.distribute: equal parts per replica).
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
        self.tokenized = tokenize_pairs(
            pairs,
            source_tokenizer,
            target_tokenizer,
            config.data,
            pointer_generator=config.model.pointer_generator,
            extractive=config.model.extractive,
        )
        self.size = self.tokenized.stats.kept
        if self.size == 0:
            raise ConfigError(
                "no training pairs left after the length filters "
                "(data.max_source_length / data.max_target_length)"
            )
        lengths = self.tokenized.lengths
        self.boundaries = length_boundaries(lengths) if train.bucket else []
        if self.boundaries:
            # Room for any pair the length rules keep (validation pairs included).
            data = config.data
            longest = (
                data.max_sentences * data.sentence_words
                if config.model.extractive
                else data.max_source_length
            )
            top = max(longest, data.max_target_length + 1) + 1
            self.boundaries[-1] = max(self.boundaries[-1], top)
        self.stats = dataclasses.replace(
            self.tokenized.stats, bucket_boundaries=tuple(self.boundaries)
        )
        self.pad_to_bucket_boundary = pad_to_bucket_boundary and train.bucket
        # XLA wants few shapes: full batches only, padded to the bucket's top length.
        self.drop_remainder = self.pad_to_bucket_boundary or drop_remainder
        self.steps_per_epoch = self._count_batches(lengths)
        # Average real label tokens per batch (for tokens/s; about, if dropping).
        self.label_tokens_per_epoch = self.stats.target_tokens + self.size  # + END each
        self.label_tokens_per_step = self.label_tokens_per_epoch / self.steps_per_epoch

    def _count_batches(self, lengths: np.ndarray) -> int:
        batch = self.config.train.batch_size
        if not self.boundaries:
            counts = np.array([self.size])
        else:
            # The bucket bucket_by_sequence_length assigns: [b[i-1], b[i]).
            counts = np.bincount(np.searchsorted(self.boundaries, lengths, side="right"))
        if self.drop_remainder:
            steps = int((counts // batch).sum())
        else:
            steps = int(np.ceil(counts / batch).sum())
        if steps == 0:
            raise ConfigError(
                f"train.batch_size={batch} is larger than every length bucket; "
                "lower it or turn off XLA (train.jit_compile=false)"
            )
        return steps

    def epoch_dataset(self, epoch: Any) -> tf.data.Dataset:
        """The batches of epoch ``epoch`` (a Python int or a scalar int64 tensor)."""
        seed = tf.stack([tf.constant(self.config.train.seed, tf.int64), tf.cast(epoch, tf.int64)])
        order = tf.random.experimental.stateless_shuffle(tf.range(self.size, dtype=tf.int64), seed)
        return batch_examples(
            self.tokenized.examples(order),
            self.config.train.batch_size,
            self.boundaries,
            pad_to_bucket_boundary=self.pad_to_bucket_boundary,
            drop_remainder=self.drop_remainder,
        )

    def rest_of_epoch(self, epoch: int, done: int) -> tf.data.Dataset:
        """Epoch ``epoch`` without its first ``done`` batches (a run resumed mid-epoch
        sees exactly the batches an uninterrupted run would have seen next)."""
        ds = self.epoch_dataset(epoch).skip(done)
        ds = ds.apply(tf.data.experimental.assert_cardinality(self.steps_per_epoch - done))
        return _deterministic(ds).prefetch(tf.data.AUTOTUNE)

    def dataset(self, initial_epoch: int, epochs: int) -> tf.data.Dataset:
        """Epochs ``initial_epoch .. epochs - 1`` back to back (``steps_per_epoch`` each)."""
        ds = tf.data.Dataset.range(initial_epoch, epochs).flat_map(self.epoch_dataset)
        total = max(0, epochs - initial_epoch) * self.steps_per_epoch
        ds = ds.apply(tf.data.experimental.assert_cardinality(total))
        return _deterministic(ds).prefetch(tf.data.AUTOTUNE)

    def validation_dataset(
        self,
        pairs: Sequence[tuple[str, str]],
        source_tokenizer: Tokenizer,
        target_tokenizer: Tokenizer,
    ) -> tuple[tf.data.Dataset, PipelineStats]:
        """Validation batches, bucketed like training (order is irrelevant for the loss),
        with their number known to Keras."""
        dataset, stats = make_dataset(
            pairs,
            source_tokenizer,
            target_tokenizer,
            self.config.data,
            self.config.train.batch_size,
            bucket=bool(self.boundaries),
            bucket_boundaries=self.boundaries or None,
            pad_to_bucket_boundary=self.pad_to_bucket_boundary,
            pointer_generator=self.config.model.pointer_generator,
            extractive=self.config.model.extractive,
        )
        # Bucketing hides the number of batches; count them once (the ids are in memory)
        # so Keras knows the validation length instead of running into the end of it.
        batches = int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1).numpy())
        return dataset.apply(tf.data.experimental.assert_cardinality(batches)), stats


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
