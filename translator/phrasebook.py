"""A phrasebook check: does a model translate the short sentences people type first?

Corpus BLEU hides them: a greeting is one pair in a hundred thousand, and a model can
score 45 BLEU while turning "Hola." into "You're coming.".  A phrasebook is a UTF-8
TSV file, one sentence per line::

    # comment
    Hola.<TAB>Hi. | Hello! + Hello there.

Column two lists the accepted translations separated by `` | ``; those after `` + ``
are marked as added by hand (not from the corpus) and count the same.  An output is
right when it equals an accepted one after :func:`normalize` (case folding, no end
punctuation, single spaces).  ``tests/data/spa-en-everyday.tsv`` is the project's
list for spa-en; ``python -m translator.evaluate --run R --phrasebook FILE`` runs it.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

_END_PUNCTUATION = re.compile(r"[\s.!?¡¿。！？]+$")
_START_PUNCTUATION = re.compile(r"^[\s¡¿]+")


class PhrasebookError(ValueError):
    """A malformed phrasebook file (the message names file and line)."""


@dataclasses.dataclass(frozen=True)
class Phrase:
    """One source sentence and the translations accepted for it."""

    source: str
    accepted: tuple[str, ...]
    added: tuple[str, ...] = ()  # accepted too, but not from the corpus

    def matches(self, output: str) -> bool:
        """Whether ``output`` equals an accepted translation after :func:`normalize`."""
        return normalize(output) in {normalize(t) for t in (*self.accepted, *self.added)}


def normalize(text: str) -> str:
    """Case-folded, single-spaced, without leading ¡¿ or trailing . ! ? (so "Hello!"
    equals "hello.")."""
    text = " ".join(text.split()).casefold()
    return _START_PUNCTUATION.sub("", _END_PUNCTUATION.sub("", text))


def _alternatives(field: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in field.split(" | ") if t.strip())


def read_phrasebook(path: str | Path) -> list[Phrase]:
    """Reads a phrasebook TSV (see the module doc); raises :class:`PhrasebookError`
    naming the file and line of the first malformed line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise PhrasebookError(f"{path}: no such phrasebook") from err
    except UnicodeDecodeError as err:
        raise PhrasebookError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    phrases = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip():
            raise PhrasebookError(
                f"{path}:{number}: expected 'source<TAB>translation | ...', got {line!r}"
            )
        corpus, _, added = fields[1].partition(" + ")
        phrase = Phrase(fields[0].strip(), _alternatives(corpus), _alternatives(added))
        if not phrase.accepted and not phrase.added:
            raise PhrasebookError(f"{path}:{number}: no accepted translation for {fields[0]!r}")
        phrases.append(phrase)
    if not phrases:
        raise PhrasebookError(f"{path}: no phrases")
    return phrases


def score_phrasebook(phrases: list[Phrase], outputs: list[str]) -> dict:
    """``{"right": n, "total": N, "rows": [{source, output, right, accepted}]}``."""
    rows = [
        {
            "source": phrase.source,
            "output": output,
            "right": phrase.matches(output),
            "accepted": [*phrase.accepted, *phrase.added],
        }
        for phrase, output in zip(phrases, outputs, strict=True)
    ]
    return {"right": sum(row["right"] for row in rows), "total": len(rows), "rows": rows}


def format_phrasebook(result: dict) -> str:
    """A plain-text table: a check mark or cross, the source and the output."""
    lines = [
        f"{'✓' if row['right'] else '✗'} {row['source']}  ->  {row['output']}"
        for row in result["rows"]
    ]
    lines.append(f"{result['right']}/{result['total']} right")
    return "\n".join(lines)
