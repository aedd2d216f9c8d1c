"""Line-oriented reading that survives bad input.

Files are read as bytes and decoded per line (at once when the whole file is valid
UTF-8, the usual case), so one invalid byte costs one line, never the file.  Malformed
lines go to a :class:`LineReporter`, which warns about the first few, counts the rest,
and in strict mode raises on the first one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from translator.data.errors import CorpusError

logger = logging.getLogger("translator.data")

#: Warnings logged per file before the reporter only counts (a broken file must not spam).
MAX_WARNINGS_PER_FILE = 5


class LineReporter:
    """Collects the malformed lines of one file.

    ``report`` logs the first :data:`MAX_WARNINGS_PER_FILE` problems as warnings, raises
    :class:`CorpusError` at once when ``strict``, and ``finish`` logs one summary line.
    """

    def __init__(self, name: str, strict: bool = False) -> None:
        self.name = name
        self.strict = strict
        self.count = 0
        self.first: str | None = None

    def report(self, line: int | None, reason: str) -> None:
        """Records that ``line`` (1-based; None for a whole file) is unusable: ``reason``."""
        where = f"line {line}: {reason}" if line is not None else reason
        message = f"{self.name}: {where}"
        if self.strict:
            raise CorpusError(f"malformed input: {message} (strict mode stops at the first one)")
        self.count += 1
        if self.first is None:
            self.first = where
        if self.count <= MAX_WARNINGS_PER_FILE:
            logger.warning("skipping malformed line: %s", message)

    def summary(self) -> str | None:
        """The one-line summary, or None when nothing was skipped."""
        if not self.count:
            return None
        return f"skipped {self.count} malformed lines in {self.name} (first: {self.first})"

    def finish(self) -> None:
        """Logs the summary line when anything was skipped."""
        summary = self.summary()
        if summary:
            logger.warning(summary)


def decode_lines(
    data: bytes, reporter: LineReporter, fallback: str | None = None
) -> Iterator[tuple[int, str | None]]:
    """Yields ``(line_number, text)`` for each line of ``data``, 1-based.

    A line that is not valid UTF-8 is decoded with ``fallback`` when one is given (for
    collections documented as Latin-1); otherwise it is reported and yielded as None so
    that callers reading aligned files keep their line numbers in step.  A final newline
    does not make an extra empty line; CR before LF and a leading BOM are dropped.
    """
    try:
        # Fast path: a valid file decodes at once; only a bad one is decoded line by line.
        texts: list[str] | None = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        texts = None
    lines = data.split(b"\n") if texts is None else texts
    if lines and not lines[-1]:
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, str):
            text = raw
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                if fallback is None:
                    bad = f"0x{raw[err.start]:02x} at byte {err.start + 1}"
                    reporter.report(number, f"invalid UTF-8 ({bad})")
                    yield number, None
                    continue
                text = raw.decode(fallback)
        if text.endswith("\r"):
            text = text[:-1]
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        yield number, text


def decode_text(data: bytes, reporter: LineReporter, fallback: str | None = None) -> str:
    """The whole text of ``data``, decoded as :func:`decode_lines` does (bad lines empty)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "\n".join(text or "" for _, text in decode_lines(data, reporter, fallback))


def read_columns(
    data: bytes, reporter: LineReporter, allowed: tuple[int, ...] = (2,)
) -> Iterator[tuple[int, list[str]]]:
    """Yields ``(line_number, fields)`` for tab-separated lines with an allowed column count.

    Fields are stripped.  Lines with another column count, invalid UTF-8, or an empty
    first or second field are reported and skipped.
    """
    expected = " or ".join(str(n) for n in allowed)
    for number, text in decode_lines(data, reporter):
        if text is None:
            continue
        fields = [field.strip() for field in text.split("\t")]
        if len(fields) not in allowed:
            found = len(fields)
            reporter.report(number, f"expected {expected} tab-separated columns, found {found}")
            continue
        if not fields[0] or not fields[1]:
            side = "source/first" if not fields[0] else "target/second"
            reporter.report(number, f"empty {side} column")
            continue
        yield number, fields


def collapse(text: str) -> str:
    """Collapses every run of whitespace (newlines included) to one space and strips."""
    return " ".join(text.split())


def read_aligned(
    first: bytes, second: bytes, first_reporter: LineReporter, second_reporter: LineReporter
) -> list[tuple[int, str, str]]:
    """Pairs line *i* of two aligned files: ``(line_number, first_text, second_text)``.

    Fields are stripped; a line where either side is empty or not UTF-8 is reported
    (in the file at fault) and skipped.  Files with different line counts cannot be
    aligned and raise :class:`CorpusError` even when not strict.
    """
    left = list(decode_lines(first, first_reporter))
    right = list(decode_lines(second, second_reporter))
    if len(left) != len(right):
        raise CorpusError(
            f"{first_reporter.name} has {len(left)} lines but {second_reporter.name} has "
            f"{len(right)}; aligned files need the same number of lines"
        )
    pairs = []
    for (number, a), (_, b) in zip(left, right, strict=True):
        if a is None or b is None:
            continue  # already reported as invalid UTF-8
        a, b = a.strip(), b.strip()
        if not a:
            first_reporter.report(number, "empty line (its pair is skipped)")
        elif not b:
            second_reporter.report(number, "empty line (its pair is skipped)")
        else:
            pairs.append((number, a, b))
    return pairs
