"""Reuters-21578 headline generation: story body -> title, split by ``LEWISSPLIT``.

The 22 SGML files are parsed with regular expressions (SGML, not XML: no root element,
numeric character references such as ``&#3;``).  Stories need both ``<TITLE>`` and
``<BODY>``; ``LEWISSPLIT="NOT-USED"`` stories are skipped.  TEST is the test split; the
validation split is carved out of TRAIN with the hash rule (every TRAIN story whose
body does not hash to "train", about 4 %), so it never overlaps the training bodies.

Text cleaning: entities are decoded (``&lt;`` -> ``<``), control characters such as the
``&#3;`` end marker removed, the closing "Reuter" / "REUTER" sign-off stripped, and all
whitespace (the bodies are hard-wrapped) collapsed to single spaces.  Titles are upper
case in the collection and stay so unless ``uppercase_titles=False``; then an all-caps
title is lower-cased, except one-word ticker symbols in angle brackets (``<MMT>``),
which the body spells the same way (bracketed multi-word company names are lower-cased
too).  Lower case, not "sentence case", is the predictable choice: sentence case would
still lose proper nouns, and ROUGE is usually computed case-insensitively.
"""

from __future__ import annotations

import html
import re

from translator.data.reading import collapse, decode_text
from translator.data.spec import LoadContext
from translator.data.splits import Pair, hash_split, normalize_key

SGML_FILES = tuple(f"reuters-21578/reut2-{i:03d}.sgm" for i in range(22))

_STORY = re.compile(r"<REUTERS\b([^>]*)>(.*?)</REUTERS>", re.DOTALL)
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
_TITLE = re.compile(r"<TITLE>(.*?)</TITLE>", re.DOTALL)
_BODY = re.compile(r"<BODY>(.*?)</BODY>", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # &#2; &#3; &#5; &#30; &#127; ...
# The sign-off at the very end: "Reuter" or "REUTER" (rarely "reuter", "REUTERS",
# "REUTER..." or "REUTER...^M").  Case-sensitive, so a sentence ending "told Reuters." stays.
_SIGN_OFF = re.compile(r"(?:^|\s)(?:Reuter|REUTERS?|reuter)(?:\.\.\.)?(?:\^M)?$")
_SIGN_OFF_TAIL = 24  # characters searched: a $-anchored regex would rescan long bodies
_TICKER_OR_TEXT = re.compile(r"<[^<>\s]+>|[^<]+|<")  # a ticker is one bracketed word


def clean_text(raw: str) -> str:
    """Decodes entities, drops control characters and collapses whitespace."""
    return collapse(_CONTROL.sub(" ", html.unescape(raw)))


def clean_body(raw: str) -> str:
    """:func:`clean_text` plus removal of the closing "Reuter" (or "REUTER") line."""
    text = clean_text(raw)
    for _ in range(2):  # a few stories are signed off twice ("REUTER Reuter")
        tail = text[-_SIGN_OFF_TAIL:]
        match = _SIGN_OFF.search(tail)
        if not match:
            break
        text = text[: len(text) - len(tail) + match.start()].rstrip()
    return text


def lower_title(title: str) -> str:
    """Lower-cases an all-caps title but keeps ``<TICKER>`` symbols as they are.

    Only one-word bracketed symbols count as tickers; bracketed company names
    (``<BURTON GROUP PLC>``) are lower-cased with the rest.
    """
    if not title.isupper():
        return title
    return "".join(
        part if part.startswith("<") and part.endswith(">") else part.lower()
        for part in _TICKER_OR_TEXT.findall(title)
    )


def load_reuters(ctx: LoadContext) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Body -> title pairs from the 22 ``reut2-0NN.sgm`` files."""
    keep_case = bool(ctx.options.get("uppercase_titles", True))
    out: dict[str, list[Pair]] = {"train": [], "validation": [], "test": []}
    counts = {"not_used": 0, "without_title_or_body": 0}
    for path in SGML_FILES:
        located = ctx.locate(path)
        reporter = ctx.reporter(str(located))
        # The original collection has one Latin-1 byte (reut2-017.sgm): decode it as such.
        text = decode_text(located.read_bytes(), reporter, fallback="latin-1")
        for match in _STORY.finditer(text):
            attributes = dict(_ATTRIBUTE.findall(match.group(1)))
            split = attributes.get("LEWISSPLIT")
            if split == "NOT-USED":
                counts["not_used"] += 1
                continue
            if split not in ("TRAIN", "TEST"):
                line = text.count("\n", 0, match.start()) + 1
                reporter.report(line, f"story without a valid LEWISSPLIT ({split!r})")
                continue
            title, body = _TITLE.search(match.group(2)), _BODY.search(match.group(2))
            title_text = clean_text(title.group(1)) if title else ""
            body_text = clean_body(body.group(1)) if body else ""
            if not title_text or not body_text:
                counts["without_title_or_body"] += 1
                continue
            if not keep_case:
                title_text = lower_title(title_text)
            if split == "TEST":
                out["test"].append((body_text, title_text))
            elif hash_split(normalize_key(body_text)) == "train":
                out["train"].append((body_text, title_text))
            else:
                out["validation"].append((body_text, title_text))
        reporter.finish()
    ctx.notes["reuters_skipped_stories"] = counts
    return out["train"], out["validation"], out["test"]
