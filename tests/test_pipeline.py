"""Tests of translator.pipeline on real English–Spanish pairs.

Uses $TRANSLATOR_DATA_DIR/spa-eng/spa.txt (skipped when the variable is unset); a few
thousand pairs and small SentencePiece vocabularies keep it fast.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from translator.config import DataConfig, TokenizerConfig, TrainConfig
from translator.pipeline import PipelineStats, encode_sources, make_dataset, padding_fraction
from translator.tokenizer import END_ID, PAD_ID, START_ID, Tokenizer, train_tokenizers

DATA_DIR = os.environ.get("TRANSLATOR_DATA_DIR")
SKIP_REASON = "TRANSLATOR_DATA_DIR is not set (it points to the shared test corpora)"


@pytest.fixture(scope="module")
def pairs() -> list[tuple[str, str]]:
    """4,000 random (English, Spanish) pairs: short and long ones mixed."""
    if not DATA_DIR:
        pytest.skip(SKIP_REASON)
    path = Path(DATA_DIR or "") / "spa-eng" / "spa.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    chosen = random.Random(1).sample(lines, 4000)
    return [tuple(line.split("\t")[:2]) for line in chosen]  # type: ignore[misc]


@pytest.fixture(scope="module")
def tokenizers(pairs: list[tuple[str, str]]) -> tuple[Tokenizer, Tokenizer]:
    return train_tokenizers(TokenizerConfig(vocab_size=1000), pairs)


def _rows(tensor: np.ndarray) -> list[list[int]]:
    """Rows of a padded batch without the padding."""
    return [[int(t) for t in row if t != PAD_ID] for row in tensor]


def _all_rows(dataset: tf.data.Dataset) -> tuple[list, list, list]:
    sources, decoder_inputs, labels = [], [], []
    for (source, decoder_input), label in dataset.as_numpy_iterator():
        sources += _rows(source)
        decoder_inputs += _rows(decoder_input)
        labels += _rows(label)
    return sources, decoder_inputs, labels


def test_shapes_dtypes_and_teacher_forcing_shift(
    pairs: list[tuple[str, str]], tokenizers: tuple[Tokenizer, Tokenizer]
) -> None:
    source_tok, target_tok = tokenizers
    subset = pairs[:300]
    dataset, stats = make_dataset(
        subset, source_tok, target_tok, DataConfig(), TrainConfig(batch_size=32), training=False
    )
    assert stats.total == stats.kept == 300
    spec = dataset.element_spec
    for tensor_spec in (spec[0][0], spec[0][1], spec[1]):
        assert tensor_spec.dtype == tf.int32 and tensor_spec.shape.as_list() == [None, None]
    (source, decoder_input), labels = next(iter(dataset))
    assert source.shape[0] == decoder_input.shape[0] == labels.shape[0] == 32
    assert decoder_input.shape == labels.shape
    assert (decoder_input.numpy()[:, 0] == START_ID).all()

    sources, decoder_inputs, label_rows = _all_rows(dataset)
    expected_sources = source_tok.tokenize([s for s, _ in subset]).to_list()
    expected_targets = target_tok.tokenize([t for _, t in subset]).to_list()
    assert sources == expected_sources  # no START/END on the source side
    assert decoder_inputs == [[START_ID, *y] for y in expected_targets]
    assert label_rows == [[*y, END_ID] for y in expected_targets]
    # Padding is trailing only: the first pad ends every row.
    for row in labels.numpy():
        length = int((row != PAD_ID).sum())
        assert row[length - 1] == END_ID and (row[length:] == PAD_ID).all()


def test_over_length_pairs_dropped_or_trimmed_and_counted(
    pairs: list[tuple[str, str]], tokenizers: tuple[Tokenizer, Tokenizer]
) -> None:
    source_tok, target_tok = tokenizers
    subset = pairs[:1000]
    source_len = source_tok.tokenize([s for s, _ in subset]).row_lengths().numpy()
    target_len = target_tok.tokenize([t for _, t in subset]).row_lengths().numpy()
    over = (source_len > 8) | (target_len > 9)
    assert 100 < over.sum() < 900  # the limits bite, but not everywhere

    drop = DataConfig(max_source_length=8, max_target_length=9, overlength="drop")
    dataset, stats = make_dataset(subset, source_tok, target_tok, drop, TrainConfig(), False)
    assert (stats.total, stats.dropped, stats.trimmed, stats.empty) == (1000, over.sum(), 0, 0)
    assert stats.kept == 1000 - over.sum()
    np.testing.assert_array_equal(stats.kept_indices, np.flatnonzero(~over))
    sources, decoder_inputs, labels = _all_rows(dataset)
    assert len(sources) == stats.kept
    assert max(map(len, sources)) <= 8 and max(map(len, labels)) <= 9 + 1
    assert stats.source_tokens == sum(map(len, sources))
    assert stats.target_tokens == sum(map(len, labels)) - stats.kept
    print(f"\ndrop: {stats}")

    trim = DataConfig(max_source_length=8, max_target_length=9, overlength="trim")
    dataset, stats = make_dataset(subset, source_tok, target_tok, trim, TrainConfig(), False)
    assert (stats.kept, stats.dropped, stats.trimmed) == (1000, 0, over.sum())
    sources, decoder_inputs, labels = _all_rows(dataset)
    assert max(map(len, sources)) == 8
    # Room for START/END is kept: y has up to 9 tokens, decoder input/labels 10.
    assert max(map(len, labels)) == max(map(len, decoder_inputs)) == 10
    assert all(row[-1] == END_ID for row in labels)
    first_long = int(np.flatnonzero(target_len > 9)[0])
    full = target_tok.tokenize([subset[first_long][1]]).to_list()[0]
    assert labels[first_long] == [*full[:9], END_ID]
    print(f"trim: {stats}")


def test_empty_sides_are_dropped(tokenizers: tuple[Tokenizer, Tokenizer]) -> None:
    source_tok, target_tok = tokenizers
    pairs = [("Hello.", "Hola."), ("   ", "Nada."), ("Nothing.", ""), ("Bye.", "Adiós.")]
    dataset, stats = make_dataset(pairs, source_tok, target_tok, DataConfig(), TrainConfig(), False)
    assert (stats.kept, stats.empty, stats.dropped) == (2, 2, 0)
    assert stats.kept_indices.tolist() == [0, 3]
    assert len(_all_rows(dataset)[0]) == 2


def test_bucketing_cuts_padding(
    pairs: list[tuple[str, str]], tokenizers: tuple[Tokenizer, Tokenizer]
) -> None:
    source_tok, target_tok = tokenizers
    data = DataConfig(max_source_length=40, max_target_length=40)
    fractions = {}
    for bucket in (False, True):
        train = TrainConfig(batch_size=64, bucket=bucket, shuffle_buffer=4000, seed=7)
        dataset, stats = make_dataset(pairs, source_tok, target_tok, data, train, training=True)
        fractions[bucket] = padding_fraction(dataset)
        if bucket:
            assert len(stats.bucket_boundaries) >= 5
            boundaries = stats.bucket_boundaries
    print(
        f"\npadding fraction over source+target positions, {len(pairs)} spa-eng pairs, "
        f"batch 64: padded_batch {fractions[False]:.3f}, bucketed {fractions[True]:.3f} "
        f"(boundaries {list(boundaries)})"
    )
    assert fractions[True] < 0.6 * fractions[False]

    # pad_to_bucket_boundary: few distinct shapes, every batch as wide as its bucket.
    train = TrainConfig(batch_size=64, bucket=True, seed=7)
    dataset, _ = make_dataset(
        pairs,
        source_tok,
        target_tok,
        data,
        train,
        True,
        pad_to_bucket_boundary=True,
        drop_remainder=True,
    )
    shapes = {(s.shape, d.shape) for (s, d), _ in dataset.as_numpy_iterator()}
    assert len(shapes) <= len(boundaries)
    assert {s[0][0] for s in shapes} == {64}
    assert {s[0][1] for s in shapes} <= {b - 1 for b in boundaries}
    print(f"pad_to_bucket_boundary: {padding_fraction(dataset):.3f}, {len(shapes)} shapes")


def _first_batches(dataset: tf.data.Dataset, n: int) -> list[np.ndarray]:
    out = []
    for (source, decoder_input), labels in dataset.take(n).as_numpy_iterator():
        out += [source, decoder_input, labels]
    return out


@pytest.mark.parametrize("bucket", [False, True])
def test_same_seed_same_batches(
    bucket: bool, pairs: list[tuple[str, str]], tokenizers: tuple[Tokenizer, Tokenizer]
) -> None:
    source_tok, target_tok = tokenizers
    subset = pairs[:2000]

    def build(seed: int) -> tf.data.Dataset:
        train = TrainConfig(batch_size=32, bucket=bucket, shuffle_buffer=1000, seed=seed)
        return make_dataset(subset, source_tok, target_tok, DataConfig(), train, True)[0]

    first, second = build(11), build(11)
    # Each new iteration is a new epoch: reshuffled, in the same way for both.
    first_epochs = [_first_batches(first, 6) for _ in range(2)]
    second_epochs = [_first_batches(second, 6) for _ in range(2)]
    assert _same(first_epochs[0], second_epochs[0])
    assert _same(first_epochs[1], second_epochs[1])
    assert not _same(first_epochs[0], first_epochs[1])
    assert not _same(first_epochs[0], _first_batches(build(12), 6))


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True)
    )


def test_eval_order_preserved(
    pairs: list[tuple[str, str]], tokenizers: tuple[Tokenizer, Tokenizer]
) -> None:
    source_tok, target_tok = tokenizers
    train = TrainConfig(batch_size=50, bucket=True, shuffle_buffer=1000)
    dataset, stats = make_dataset(pairs, source_tok, target_tok, DataConfig(), train, False)
    assert stats.bucket_boundaries == ()  # no bucketing for evaluation by default
    sources, _, _ = _all_rows(dataset)
    expected = source_tok.tokenize([pairs[i][0] for i in stats.kept_indices]).to_list()
    assert sources == expected
    again, _, _ = _all_rows(dataset)  # and every pass gives the same order
    assert again == sources


def test_stats_string_and_defaults() -> None:
    stats = PipelineStats(
        total=3, kept=2, dropped=1, trimmed=0, empty=0, source_tokens=5, target_tokens=6
    )
    assert "2/3 pairs kept" in str(stats)
    assert stats.kept_indices.shape == (0,)


def test_encode_sources(tokenizers: tuple[Tokenizer, Tokenizer]) -> None:
    source_tok, _ = tokenizers
    strings = ["Tom is reading a very long book about the history of Spain.", "Hi.", ""]
    ids, lengths, truncated = encode_sources(strings, source_tok, max_length=6)
    full = source_tok.tokenize(strings).to_list()
    assert ids.dtype == tf.int32 and lengths.dtype == tf.int32 and truncated.dtype == tf.bool
    assert ids.shape == (3, 6)
    assert lengths.numpy().tolist() == [min(len(r), 6) for r in full]
    assert truncated.numpy().tolist() == [len(r) > 6 for r in full]
    assert _rows(ids.numpy()) == [r[:6] for r in full]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def in_graph(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return encode_sources(batch, source_tok, 6)

    graph_ids, graph_lengths, _ = in_graph(tf.constant(strings))
    np.testing.assert_array_equal(graph_ids.numpy(), ids.numpy())
    np.testing.assert_array_equal(graph_lengths.numpy(), lengths.numpy())
