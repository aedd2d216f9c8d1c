"""Extractive baselines for summarization: the validated Lead and the greedy oracle.

A summarizer is only worth reading if it beats the article's own opening, so
``evaluate`` reports, beside the model's ROUGE:

* **Lead**, chosen without looking at the test set.  For summaries (references of
  ``HEADLINE_WORDS`` words or more on average in the *training* split) the candidates
  are Lead-1..10 sentences and Lead-20..60 % of the article's words; the one with the
  best mean of ROUGE-1 and ROUGE-2 F1 on the *validation* split is scored on the test
  pairs.  For headlines it is Lead-N words, N the training references' mean length.
* **The oracle**: per article, the sentences picked greedily to maximize the mean of
  ROUGE-1 and ROUGE-2 F1 against the reference (Nallapati et al. 2017, SummaRuNNer's
  extraction labels), kept in article order -- the ceiling of any extractive summary.

Sentences come from :func:`split_sentences`, one deterministic rule used everywhere.
Selection scores use rouge-score's tokenizer and Porter stemmer with n-gram counts
(no LCS: fast enough for every candidate); reported scores are
:func:`translator.scoring.rouge`.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from translator.scoring import rouge

HEADLINE_WORDS = 30  # references shorter than this on average are headlines
LEAD_SENTENCES = tuple(range(1, 11))
LEAD_FRACTIONS = (0.2, 0.3, 0.4, 0.5, 0.6)

# A sentence ends at . ! or ? (and closing quotes or brackets) followed by whitespace;
# a line break always ends one.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)]))\s+|\s*\n\s*")


def split_sentences(text: str) -> list[str]:
    """The article's sentences, by the rule above; text without sentence punctuation
    is one sentence, and empty text has none."""
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s]


@dataclass(frozen=True)
class Lead:
    """A Lead baseline: ``kind`` is ``sentences``, ``fraction`` or ``words``."""

    kind: str
    amount: float

    @property
    def name(self) -> str:
        if self.kind == "sentences":
            return f"lead-{int(self.amount)}"
        if self.kind == "fraction":
            return f"lead-{round(100 * self.amount)}%"
        return f"lead-{int(self.amount)}-words"

    def apply(self, text: str) -> str:
        if self.kind == "sentences":
            return " ".join(split_sentences(text)[: int(self.amount)])
        words = text.split()
        count = int(self.amount) if self.kind == "words" else round(self.amount * len(words))
        return " ".join(words[: max(1, count)])


@functools.lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    from nltk.stem import porter

    return porter.PorterStemmer().stem(word) if len(word) > 3 else word


def _tokens(text: str) -> tuple[str, ...]:
    # rouge-score's tokenizer: lower case, non-alphanumerics become spaces, stemmed.
    return tuple(_stem(w) for w in re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def _f1(candidate: Counter, reference: Counter) -> float:
    overlap = sum((candidate & reference).values())
    if not overlap:
        return 0.0
    precision = overlap / sum(candidate.values())
    recall = overlap / sum(reference.values())
    return 2 * precision * recall / (precision + recall)


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def selection_score(candidate: Sequence[str], reference: Sequence[str]) -> float:
    """Mean of ROUGE-1 and ROUGE-2 F1 of token sequences (0..1)."""
    return (
        _f1(_ngrams(candidate, 1), _ngrams(reference, 1))
        + _f1(_ngrams(candidate, 2), _ngrams(reference, 2))
    ) / 2


def oracle_indices(sentences: Sequence[str], reference: str) -> list[int]:
    """Greedy oracle: add the sentence that raises :func:`selection_score` most, until
    none does; returns the chosen indices in article order."""
    reference_tokens = _tokens(reference)
    sentence_tokens = [_tokens(s) for s in sentences]
    chosen: list[int] = []
    best = 0.0

    def with_sentence(i: int) -> float:
        tokens = sum((sentence_tokens[j] for j in sorted([*chosen, i])), ())
        return selection_score(tokens, reference_tokens)

    while len(chosen) < len(sentences):
        score, index = max((with_sentence(i), -i) for i in range(len(sentences)) if i not in chosen)
        index = -index  # ties: the earlier sentence
        if score <= best:
            break
        best, chosen = score, [*chosen, index]
    return sorted(chosen)


def oracle_summary(article: str, reference: str) -> str:
    """The oracle's extract of ``article``, sentences in article order."""
    sentences = split_sentences(article)
    return " ".join(sentences[i] for i in oracle_indices(sentences, reference))


def is_headline_task(train_references: Sequence[str]) -> bool:
    """Whether the training references are headlines (shorter than ``HEADLINE_WORDS``)."""
    mean = sum(len(r.split()) for r in train_references) / max(1, len(train_references))
    return mean < HEADLINE_WORDS


def choose_lead(
    train_references: Sequence[str], validation: Sequence[tuple[str, str]]
) -> tuple[Lead, float | None]:
    """The Lead baseline for a task, chosen without the test set (see the module doc).

    Returns the baseline and its validation score (None for headlines, whose N comes
    from the training references alone).
    """
    if is_headline_task(train_references):
        mean = sum(len(r.split()) for r in train_references) / max(1, len(train_references))
        return Lead("words", max(1, round(mean))), None
    candidates = [Lead("sentences", k) for k in LEAD_SENTENCES]
    candidates += [Lead("fraction", x) for x in LEAD_FRACTIONS]
    references = [_tokens(reference) for _, reference in validation]

    def mean_score(lead: Lead) -> float:
        scores = [
            selection_score(_tokens(lead.apply(source)), reference)
            for (source, _), reference in zip(validation, references)
        ]
        return sum(scores) / max(1, len(scores))

    scored = [(mean_score(lead), -i, lead) for i, lead in enumerate(candidates)]
    score, _, lead = max(scored)  # ties: the earlier (shorter) candidate
    return lead, 100.0 * score


def summary_baselines(
    train_references: Sequence[str],
    validation: Sequence[tuple[str, str]],
    pairs: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """``{"lead": {...}, "oracle": {...}}`` scored with ROUGE on ``pairs`` (the test
    pairs); no oracle for headlines (a headline is not a set of sentences)."""
    lead, validation_score = choose_lead(train_references, validation)
    references = [reference for _, reference in pairs]
    result: dict[str, Any] = {
        "lead": {
            "baseline": lead.name,
            "chosen_on": "training references" if lead.kind == "words" else "validation",
            "validation_r12": validation_score,
            "rouge": rouge([lead.apply(source) for source, _ in pairs], references),
        }
    }
    if lead.kind != "words":
        extracts = [oracle_summary(source, reference) for source, reference in pairs]
        result["oracle"] = {"rouge": rouge(extracts, references)}
    return result
