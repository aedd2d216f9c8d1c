"""Length statistics of split pairs, in characters and whitespace-separated words."""

from __future__ import annotations

import math
import statistics

from translator.data.splits import SPLIT_NAMES, Pair, Splits

UNITS = ("chars", "words")


def describe(lengths: list[int]) -> dict[str, float]:
    """Mean, median, 95th percentile (nearest rank) and maximum; zeros when empty."""
    if not lengths:
        return {"mean": 0.0, "median": 0.0, "p95": 0.0, "max": 0.0}
    ordered = sorted(lengths)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return {
        "mean": statistics.fmean(ordered),
        "median": float(statistics.median(ordered)),
        "p95": float(ordered[rank - 1]),
        "max": float(ordered[-1]),
    }


def pair_stats(pairs: list[Pair]) -> dict[str, dict[str, dict[str, float]]]:
    """``{side: {unit: describe(...)}}`` for the source and target sides of ``pairs``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for index, side in enumerate(("source", "target")):
        texts = [pair[index] for pair in pairs]
        out[side] = {
            "chars": describe([len(t) for t in texts]),
            "words": describe([len(t.split()) for t in texts]),
        }
    return out


def split_stats(splits: Splits) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """:func:`pair_stats` for each split."""
    return {name: pair_stats(splits[name]) for name in SPLIT_NAMES}
