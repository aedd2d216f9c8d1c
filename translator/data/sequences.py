"""Seeded synthetic symbol sequences to copy or reverse: long-range dependencies on demand.

Every source is ``length`` random letters from the first ``symbols`` of ``a``-``z``
(no spaces: a character tokenizer reads one symbol per token); the ``copy`` target
is the source itself, the ``reverse`` target the source backwards.  With a model that
sees only the encoder's final state (Sutskever et al. 2014), the last outputs of
``reverse`` (and the first of ``copy``) need the first inputs ``length`` encoder steps
back -- the task of the vanishing gradient lesson (``python -m translator.gradients``,
preset ``reverse``; Bengio et al. 1994, Hochreiter & Schmidhuber 1997).
Sources are unique across splits; the test split is drawn first.
"""

from __future__ import annotations

import random
import string

from translator.data.errors import CorpusError
from translator.data.spec import LoadContext
from translator.data.splits import Pair

TASKS = ("copy", "reverse")
DEFAULT_SEED = 0
DEFAULT_SIZES = {"train": 20_000, "validation": 500, "test": 500}
DEFAULT_LENGTH = (50, 60)
DEFAULT_SYMBOLS = 10


def make_sequences(
    task: str = "copy",
    seed: int = DEFAULT_SEED,
    train_size: int = DEFAULT_SIZES["train"],
    validation_size: int = DEFAULT_SIZES["validation"],
    test_size: int = DEFAULT_SIZES["test"],
    min_length: int = DEFAULT_LENGTH[0],
    max_length: int = DEFAULT_LENGTH[1],
    symbols: int = DEFAULT_SYMBOLS,
) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Train / validation / test ``(source, target)`` pairs of the ``task``."""
    if task not in TASKS:
        raise CorpusError(f"sequences: task {task!r} is not one of {list(TASKS)}")
    if not 1 <= min_length <= max_length:
        raise CorpusError(
            f"sequences: need 1 <= min_length <= max_length, got {min_length}-{max_length}"
        )
    if not 2 <= symbols <= 26:
        raise CorpusError(f"sequences: symbols must be in 2..26, got {symbols}")
    sizes = (test_size, validation_size, train_size)
    if min(sizes) < 0:
        raise CorpusError(f"sequences: split sizes must be >= 0, got {sizes}")
    alphabet = string.ascii_lowercase[:symbols]
    rng = random.Random(seed)
    seen: set[str] = set()
    drawn: list[list[Pair]] = []
    for size in sizes:
        pairs: list[Pair] = []
        while len(pairs) < size:
            length = rng.randint(min_length, max_length)
            source = "".join(rng.choice(alphabet) for _ in range(length))
            if source in seen:  # practically never at these lengths
                continue
            seen.add(source)
            pairs.append((source, source if task == "copy" else source[::-1]))
        drawn.append(pairs)
    test, validation, train = drawn
    return train, validation, test


def load_sequences(ctx: LoadContext) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """The registry loader: :func:`make_sequences` for the direction (``copy``/``reverse``)."""
    o = ctx.options
    return make_sequences(
        task=ctx.direction.name,
        seed=int(o["seed"]),
        train_size=int(o["train_size"]),
        validation_size=int(o["validation_size"]),
        test_size=int(o["test_size"]),
        min_length=int(o["min_length"]),
        max_length=int(o["max_length"]),
        symbols=int(o["symbols"]),
    )
