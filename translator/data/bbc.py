"""BBC News Summary: ``article-summary`` and ``lead-title`` (headline generation).

Layout: ``articles/<category>/NNN.txt`` (title on line 1, a blank line, then paragraphs)
and ``summaries/<category>/NNN.txt`` (the extractive reference summary).

* ``article-summary``: the article body (paragraphs after the title, whitespace
  collapsed) -> the summary.  Upstream glues summary sentences together without a space
  (``...$10.9bn.For the full-year...``); because the summaries are copied from the
  article, a space is put back wherever the article shows a sentence boundary there.
* ``lead-title``: the lead (first paragraph after the title, extended with the next
  ones until it has at least :data:`LEAD_MIN_WORDS` words; one over
  :data:`LEAD_MAX_WORDS` words is cut to its first sentences) -> the title line.

Splits are made per category, by the rank of the hash of the normalized article text:
10 % test, 10 % validation, 80 % train in every category, so each category appears in
each split and both directions share one split of the articles.
"""

from __future__ import annotations

import re
from pathlib import Path

from translator.data.reading import LineReporter, collapse
from translator.data.spec import LoadContext
from translator.data.splits import SPLIT_NAMES, Pair, split_by_rank

ARTICLES = "bbc-news-summary/articles"
SUMMARIES = "bbc-news-summary/summaries"
LEAD_MIN_WORDS = 15
LEAD_MAX_WORDS = 60  # longer leads (a few files lack paragraph breaks) are cut by sentence
TEST_FRACTION = 0.1
VALIDATION_FRACTION = 0.1

# A possible missing space: after sentence punctuation or a closing quote, before text.
_GLUED = re.compile(r"(?<=[.!?\"')])(?=[^\s.,;:!?)'\"\d])|(?<=[.!?])(?=[\"'])|(?<=[\"'])(?=[\"'])")
_WINDOW = 12  # characters each side used to check a boundary against the article


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # The Kaggle original has one Latin-1 byte (a pound sign in sport/199.txt).
        return data.decode("cp1252", errors="replace")


def repair_summary(summary: str, article: str) -> str:
    """Puts back the spaces between summary sentences that the article has.

    A glued boundary gets a space when the text around it does not occur in the
    article as written but its left part ends, and its right part starts, a sentence
    there.  ``article`` must be whitespace-collapsed.
    """
    padded = f" {article} "
    pieces, last = [], 0
    for match in _GLUED.finditer(summary):
        at = match.start()
        left, right = summary[max(0, at - _WINDOW) : at], summary[at : at + _WINDOW]
        if (left + right) not in padded and left + " " in padded and " " + right in padded:
            pieces.append(summary[last:at])
            last = at
    pieces.append(summary[last:])
    return " ".join(pieces)


def split_article(text: str) -> tuple[str, list[str]]:
    """``(title, paragraphs)`` of an article file, each whitespace-collapsed.

    The title is the first line; paragraphs are separated by blank lines.
    """
    head, _, rest = text.strip().partition("\n")
    paragraphs = [collapse(block) for block in re.split(r"\n\s*\n", rest)]
    return collapse(head), [p for p in paragraphs if p]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def lead(
    paragraphs: list[str], min_words: int = LEAD_MIN_WORDS, max_words: int = LEAD_MAX_WORDS
) -> str:
    """The first paragraphs of the body: at least ``min_words`` words when possible.

    A lead over ``max_words`` words (an article without paragraph breaks) is cut to its
    first sentences, again at least ``min_words`` words.
    """
    taken: list[str] = []
    for paragraph in paragraphs:
        taken.append(paragraph)
        if sum(len(p.split()) for p in taken) >= min_words:
            break
    text = " ".join(taken)
    if len(text.split()) <= max_words:
        return text
    sentences: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentences.append(sentence)
        if sum(len(s.split()) for s in sentences) >= min_words:
            break
    return " ".join(sentences)


def _documents(ctx: LoadContext, reporter: LineReporter) -> dict[str, list[tuple[str, Pair]]]:
    """Per category: ``(article text, (source, target))`` for the chosen direction."""
    articles_dir = ctx.locate(ARTICLES).path
    summaries_dir = ctx.locate(SUMMARIES).path
    by_category: dict[str, list[tuple[str, Pair]]] = {}
    for category_dir in sorted(p for p in articles_dir.iterdir() if p.is_dir()):
        docs = by_category.setdefault(category_dir.name, [])
        for article_path in sorted(category_dir.glob("*.txt")):
            relative = article_path.relative_to(articles_dir)
            text = _decode(article_path.read_bytes())
            title, paragraphs = split_article(text)
            if not title or not paragraphs:
                reporter.report(None, f"{relative}: article without a title or body")
                continue
            body = " ".join(paragraphs)
            if ctx.direction.name == "lead-title":
                docs.append((body, (lead(paragraphs), title)))
                continue
            summary_path: Path = summaries_dir / relative
            if not summary_path.is_file():
                reporter.report(None, f"{relative}: no summary at {summary_path}")
                continue
            summary = collapse(_decode(summary_path.read_bytes()))
            if not summary:
                reporter.report(None, f"{relative}: empty summary")
                continue
            docs.append((body, (body, repair_summary(summary, body))))
    return by_category


def load_bbc(ctx: LoadContext) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """The BBC News Summary pairs for ``ctx.direction``, split per category."""
    reporter = ctx.reporter(str(ctx.locate(ARTICLES).path.parent))
    train: list[Pair] = []
    validation: list[Pair] = []
    test: list[Pair] = []
    groups: dict[str, dict[str, int]] = {}
    for category, docs in _documents(ctx, reporter).items():
        parts = split_by_rank(docs, lambda d: d[0], TEST_FRACTION, VALIDATION_FRACTION)
        for target, part in zip((train, validation, test), parts, strict=True):
            target.extend(pair for _, pair in part)
        groups[category] = dict(zip(SPLIT_NAMES, map(len, parts), strict=True))
    reporter.finish()
    ctx.notes["groups"] = groups
    return train, validation, test
