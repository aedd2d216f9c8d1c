"""Loaders for the line-based corpora: Tatoeba/manythings files, Multi30K, Gigaword.

Each loader reads pairs in the corpus' own column order and flips them when the
direction is reversed, so the split key is always the source of the chosen direction.
"""

from __future__ import annotations

from translator.data.reading import read_aligned, read_columns
from translator.data.spec import Direction, LoadContext
from translator.data.splits import Pair, split_by_hash

SplitLists = tuple[list[Pair], list[Pair], list[Pair]]


def orient(pairs: list[Pair], direction: Direction) -> list[Pair]:
    """Swaps each pair when the direction reads the corpus backwards."""
    return [(b, a) for a, b in pairs] if direction.reverse else pairs


def load_tatoeba(ctx: LoadContext, path: str) -> SplitLists:
    """A manythings.org ``English<TAB>other[<TAB>attribution]`` file, split by hash.

    Both the old 2-column export and the newer 3-column one (attribution last) are read;
    any other column count is a malformed line.
    """
    located = ctx.locate(path)
    reporter = ctx.reporter(str(located))
    pairs = [(f[0], f[1]) for _, f in read_columns(located.read_bytes(), reporter, (2, 3))]
    reporter.finish()
    return split_by_hash(orient(pairs, ctx.direction))


def _aligned(ctx: LoadContext, first: str, second: str) -> list[Pair]:
    a, b = ctx.locate(first), ctx.locate(second)
    ra, rb = ctx.reporter(str(a)), ctx.reporter(str(b))
    pairs = [(x, y) for _, x, y in read_aligned(a.read_bytes(), b.read_bytes(), ra, rb)]
    ra.finish()
    rb.finish()
    return orient(pairs, ctx.direction)


#: Multi30K's official files per split, German first (the default direction is de-en).
MULTI30K_SPLITS = (("train", "train"), ("validation", "val"), ("test", "test2016"))


def load_multi30k(ctx: LoadContext) -> SplitLists:
    """The official Multi30K Task 1 train / val / test2016 raw files."""
    train, validation, test = (
        _aligned(ctx, f"multi30k/{stem}.de", f"multi30k/{stem}.en") for _, stem in MULTI30K_SPLITS
    )
    return train, validation, test


def load_gigaword_sample(ctx: LoadContext) -> SplitLists:
    """The 1,000-pair Gigaword sample (article sentence -> headline), split by hash."""
    pairs = _aligned(
        ctx,
        "gigaword-sample/train.article.first1000.txt",
        "gigaword-sample/train.title.first1000.txt",
    )
    return split_by_hash(pairs)
