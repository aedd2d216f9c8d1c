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

from translator.config import Config, DataConfig, TokenizerConfig, TrainConfig, load_config
from translator.data import load_splits_from_config
from translator.pipeline import PipelineStats, TrainingData, make_dataset, padding_fraction
from translator.special_tokens import END_ID, PAD_ID, START_ID
from translator.tokenizer import Tokenizer, train_tokenizers

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
    dataset, stats = make_dataset(subset, source_tok, target_tok, DataConfig(), 32)
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
    dataset, stats = make_dataset(subset, source_tok, target_tok, drop, 64)
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
    dataset, stats = make_dataset(subset, source_tok, target_tok, trim, 64)
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
    dataset, stats = make_dataset(pairs, source_tok, target_tok, DataConfig(), 64)
    assert (stats.kept, stats.empty, stats.dropped) == (2, 2, 0)
    assert stats.kept_indices.tolist() == [0, 3]
    assert len(_all_rows(dataset)[0]) == 2


def _training(pairs, tokenizers, data=None, **train) -> TrainingData:
    """The trainer's own batches (translator.pipeline.TrainingData)."""
    config = Config(data=data or DataConfig(), train=TrainConfig(**train))
    return TrainingData(pairs, *tokenizers, config)


def test_bucketing_cuts_padding(
    pairs: list[tuple[str, str]], tokenizers: tuple[Tokenizer, Tokenizer]
) -> None:
    data = DataConfig(max_source_length=40, max_target_length=40)
    fractions = {}
    for bucket in (False, True):
        training = _training(pairs, tokenizers, data, batch_size=64, bucket=bucket, seed=7)
        fractions[bucket] = padding_fraction(training.epoch_dataset(0))
        if bucket:
            assert len(training.stats.bucket_boundaries) >= 5
            boundaries = training.boundaries
    print(
        f"\npadding fraction over source+target positions, {len(pairs)} spa-eng pairs, "
        f"batch 64: padded_batch {fractions[False]:.3f}, bucketed {fractions[True]:.3f} "
        f"(boundaries {list(boundaries)})"
    )
    assert fractions[True] < 0.6 * fractions[False]

    # pad_to_bucket_boundary: few distinct shapes, every batch as wide as its bucket.
    config = Config(data=data, train=TrainConfig(batch_size=64, bucket=True, seed=7))
    training = TrainingData(pairs, *tokenizers, config, pad_to_bucket_boundary=True)
    dataset = training.epoch_dataset(0)
    shapes = {(s.shape, d.shape) for (s, d), _ in dataset.as_numpy_iterator()}
    assert len(shapes) <= len(training.boundaries)
    assert {s[0][0] for s in shapes} == {64}
    assert {s[0][1] for s in shapes} <= {b - 1 for b in training.boundaries}
    assert sum(1 for _ in dataset) == training.steps_per_epoch
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
    subset = pairs[:2000]

    def build(seed: int) -> TrainingData:
        return _training(subset, tokenizers, batch_size=32, bucket=bucket, seed=seed)

    first, second = build(11), build(11)
    # Each epoch is reshuffled, in the same way for both.
    first_epochs = [_first_batches(first.epoch_dataset(e), 6) for e in range(2)]
    second_epochs = [_first_batches(second.epoch_dataset(e), 6) for e in range(2)]
    assert _same(first_epochs[0], second_epochs[0])
    assert _same(first_epochs[1], second_epochs[1])
    assert not _same(first_epochs[0], first_epochs[1])
    assert not _same(first_epochs[0], _first_batches(build(12).epoch_dataset(0), 6))
    # The training batches hold exactly the pairs make_dataset tokenizes, each once.
    rows = sorted(map(tuple, _all_rows(first.epoch_dataset(1))[0]))
    expected = sorted(
        map(tuple, _all_rows(make_dataset(subset, *tokenizers, DataConfig(), 64)[0])[0])
    )
    assert rows == expected


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True)
    )


def test_eval_order_preserved(
    pairs: list[tuple[str, str]], tokenizers: tuple[Tokenizer, Tokenizer]
) -> None:
    source_tok, target_tok = tokenizers
    dataset, stats = make_dataset(pairs, source_tok, target_tok, DataConfig(), 50)
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


def test_epoch_order_depends_only_on_seed_and_epoch():
    config = load_config(
        "dates", ["data.train_limit=200", "data.eval_limit=64", "train.batch_size=16"]
    )
    splits = load_splits_from_config(config)
    source_tok, target_tok = train_tokenizers(config.tokenizer, splits.train)
    a = TrainingData(splits.train, source_tok, target_tok, config)
    b = TrainingData(splits.train, source_tok, target_tok, config)

    def batches(ds):
        return [(x[0].tolist(), y.tolist()) for x, y in ds.as_numpy_iterator()]

    epoch2 = batches(a.epoch_dataset(2))
    assert len(epoch2) == a.steps_per_epoch
    assert batches(b.epoch_dataset(2)) == epoch2
    # Epoch 2 of an uninterrupted run == epoch 2 of a run resumed at epoch 2.
    full = batches(a.dataset(0, 3))
    assert full[2 * a.steps_per_epoch :] == epoch2 == batches(b.dataset(2, 3))
    assert batches(a.epoch_dataset(1)) != epoch2
    # Every kept pair is served exactly once per epoch.
    served = sum(sum(1 for row in y if any(row)) for _, y in epoch2)
    assert served == a.size == 200
