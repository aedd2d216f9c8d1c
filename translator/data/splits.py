"""Deterministic train / validation / test splits.

Corpora without official splits are split by a hash of the source text, so the split
of a pair never depends on file order, on the other pairs, or on a random seed, and one
source sentence (after :func:`normalize_key`) can never sit in two splits:

    key    = NFC-normalized, lower-cased source text
    bucket = int(first 8 hex digits of sha256(key as UTF-8)) % 100
    bucket < 2 -> test, < 4 -> validation, else train      (about 2 % / 2 % / 96 %)
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Pair = tuple[str, str]

SPLIT_NAMES = ("train", "validation", "test")
TEST_BUCKETS = 2  # buckets [0, 2) are test
VALIDATION_BUCKETS = 4  # buckets [2, 4) are validation
LIMIT_SEED = 0  # fixed: limits must pick the same pairs on every run


def normalize_key(text: str) -> str:
    """The hashing key of a sentence: NFC-normalized and lower-cased."""
    return unicodedata.normalize("NFC", text).lower()


def hash_bucket(key: str) -> int:
    """The bucket (0-99) of a key: the first 8 hex digits of its sha256, modulo 100."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % 100


def hash_split(key: str) -> str:
    """``"train"``, ``"validation"`` or ``"test"`` for a key (see the module docstring).

    Pass :func:`normalize_key` of the source text; the key is hashed as given.
    """
    bucket = hash_bucket(key)
    if bucket < TEST_BUCKETS:
        return "test"
    if bucket < VALIDATION_BUCKETS:
        return "validation"
    return "train"


@dataclass
class Splits:
    """Source/target string pairs per split, plus what was loaded and how.

    ``info`` holds at least ``corpus``, ``direction``, ``source_lang``, ``target_lang``,
    ``task``, ``bleu_tokenize`` (the sacrebleu tokenizer for the target), ``files`` (where
    each file was read), ``skipped`` (malformed lines skipped per file) and ``split_rule``.
    """

    train: list[Pair]
    validation: list[Pair]
    test: list[Pair]
    info: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> list[Pair]:
        if name not in SPLIT_NAMES:
            raise KeyError(f"unknown split {name!r}; splits: {list(SPLIT_NAMES)}")
        return getattr(self, name)

    def sizes(self) -> dict[str, int]:
        """Number of pairs per split."""
        return {name: len(self[name]) for name in SPLIT_NAMES}


def split_by_hash(
    pairs: Iterable[Pair], key: Callable[[Pair], str] | None = None
) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Splits pairs with :func:`hash_split` of the normalized source (or of ``key(pair)``).

    File order is kept inside each split.
    """
    out: dict[str, list[Pair]] = {name: [] for name in SPLIT_NAMES}
    cache: dict[str, str] = {}  # many corpora repeat a source with several translations
    for pair in pairs:
        text = key(pair) if key else pair[0]
        split = cache.get(text)
        if split is None:
            split = cache[text] = hash_split(normalize_key(text))
        out[split].append(pair)
    return out["train"], out["validation"], out["test"]


def split_by_rank(
    items: list[Any], key: Callable[[Any], str], test_fraction: float, validation_fraction: float
) -> tuple[list[Any], list[Any], list[Any]]:
    """Splits one group by the rank of each item's key hash: exact fractions per group.

    Items are ordered by sha256 of ``normalize_key(key(item))``; the first
    ``round(test_fraction * n)`` distinct keys go to test, the next to validation, the
    rest to train.  Equal keys always land together.  Input order is kept in each split.
    """
    keys = sorted(
        {normalize_key(key(item)) for item in items},
        key=lambda k: hashlib.sha256(k.encode("utf-8")).hexdigest(),
    )
    n_test = round(test_fraction * len(keys))
    n_val = round(validation_fraction * len(keys))
    where = {
        k: ("test" if i < n_test else "validation" if i < n_test + n_val else "train")
        for i, k in enumerate(keys)
    }
    out: dict[str, list[Any]] = {name: [] for name in SPLIT_NAMES}
    for item in items:
        out[where[normalize_key(key(item))]].append(item)
    return out["train"], out["validation"], out["test"]


def subsample(pairs: list[Pair], limit: int | None) -> list[Pair]:
    """At most ``limit`` pairs, drawn with a fixed seed and kept in their original order.

    Taking the first ``limit`` pairs would be biased, since several corpora are sorted by
    length.  None (or a limit at least the size) returns the list unchanged.
    """
    if limit is None or limit >= len(pairs):
        return pairs
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    chosen = sorted(random.Random(LIMIT_SEED).sample(range(len(pairs)), limit))
    return [pairs[i] for i in chosen]
