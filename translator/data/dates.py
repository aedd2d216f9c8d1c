"""A seeded synthetic corpus: human-readable dates -> ISO 8601 (``1998-03-03``).

It needs no files, trains in about a minute, and its attention maps are easy to read
(the model must find the day, month and year wherever the format puts them).  Sources
come in the formats of :data:`FORMATS` (weekdays are always the true weekday), in lower
case, capitalized names ("3 March 1998") or upper case, for years 1900-2099 by default.

The same seed and sizes always give the same splits.  Every source string is unique
across the three splits, and the test split is drawn first, so it does not change when
only the training size changes.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable

from translator.data.errors import CorpusError
from translator.data.spec import LoadContext
from translator.data.splits import Pair

MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

DEFAULT_SEED = 0
DEFAULT_SIZES = {"train": 20_000, "validation": 1_000, "test": 1_000}
MIN_YEAR, MAX_YEAR = 1900, 2099
CASES = ("lower", "capitalized", "upper")
CASE_WEIGHTS = (0.5, 0.35, 0.15)


def ordinal(day: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ..., ``11th``, ``12th``, ``13th``, ``21st``."""
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _month(d: dt.date) -> str:
    return MONTHS[d.month - 1]


def _weekday(d: dt.date) -> str:
    return WEEKDAYS[d.weekday()]


#: Format name -> renderer (lower case).  The name shows the shape of the output.
FORMATS: dict[str, Callable[[dt.date], str]] = {
    "d month yyyy": lambda d: f"{d.day} {_month(d)} {d.year}",  # 3 march 1998
    "month d, yyyy": lambda d: f"{_month(d)} {d.day}, {d.year}",  # march 3, 1998
    "weekday d month yyyy": lambda d: f"{_weekday(d)} {d.day} {_month(d)} {d.year}",
    "d mon yyyy": lambda d: f"{d.day} {_month(d)[:3]} {d.year}",  # 3 mar 1998
    "month dth yyyy": lambda d: f"{_month(d)} {ordinal(d.day)} {d.year}",  # march 3rd 1998
    "yyyy-mm-dd": lambda d: d.isoformat(),  # 1998-03-03
    "dd.mm.yyyy": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",  # 03.03.1998
    "weekday, month d, yyyy": lambda d: f"{_weekday(d)}, {_month(d)} {d.day}, {d.year}",
    "mon d, yyyy": lambda d: f"{_month(d)[:3]} {d.day}, {d.year}",  # mar 3, 1998
    "dth of month yyyy": lambda d: f"{ordinal(d.day)} of {_month(d)} {d.year}",
    "wkd d mon yyyy": lambda d: f"{_weekday(d)[:3]} {d.day} {_month(d)[:3]} {d.year}",
}

_NAME = re.compile(r"\b([a-z])([a-z]{2,})\b")  # month/weekday names, not "of" or "3rd"


def render(date: dt.date, fmt: str, case: str = "lower") -> str:
    """``date`` written in format ``fmt`` (a key of :data:`FORMATS`) and ``case``."""
    text = FORMATS[fmt](date)
    if case == "capitalized":
        return _NAME.sub(lambda m: m.group(1).upper() + m.group(2), text)
    if case == "upper":
        return text.upper()
    return text


def make_dates(
    seed: int = DEFAULT_SEED,
    train_size: int = DEFAULT_SIZES["train"],
    validation_size: int = DEFAULT_SIZES["validation"],
    test_size: int = DEFAULT_SIZES["test"],
    min_year: int = MIN_YEAR,
    max_year: int = MAX_YEAR,
) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Train / validation / test ``(human date, ISO date)`` pairs, unique sources."""
    if min_year > max_year or min_year < 1 or max_year > 9999:
        raise CorpusError(
            f"dates: need 1 <= min_year <= max_year <= 9999, got {min_year}-{max_year}"
        )
    sizes = (test_size, validation_size, train_size)
    if min(sizes) < 0:
        raise CorpusError(f"dates: split sizes must be >= 0, got {sizes}")
    rng = random.Random(seed)
    first = dt.date(min_year, 1, 1).toordinal()
    last = dt.date(max_year, 12, 31).toordinal()
    formats = sorted(FORMATS)
    seen: set[str] = set()
    drawn: list[list[Pair]] = []
    for size in sizes:  # test first, so that it does not depend on the training size
        pairs: list[Pair] = []
        attempts = 0
        while len(pairs) < size:
            attempts += 1
            if attempts > 100 * size + 1000:
                raise CorpusError(
                    f"dates: cannot draw {size} distinct dates in {min_year}-{max_year}"
                )
            date = dt.date.fromordinal(rng.randint(first, last))
            source = render(date, rng.choice(formats), rng.choices(CASES, CASE_WEIGHTS)[0])
            if source not in seen:
                seen.add(source)
                pairs.append((source, date.isoformat()))
        drawn.append(pairs)
    test, validation, train = drawn
    return train, validation, test


def load_dates(ctx: LoadContext) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """The registry loader: :func:`make_dates` with the corpus options."""
    o = ctx.options
    return make_dates(
        seed=int(o["seed"]),
        train_size=int(o["train_size"]),
        validation_size=int(o["validation_size"]),
        test_size=int(o["test_size"]),
        min_year=int(o["min_year"]),
        max_year=int(o["max_year"]),
    )
