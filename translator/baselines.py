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

Sentences come from :func:`translator.sentences.split_sentences`, the one rule used
everywhere (the extractive model and its export included).
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
from translator.sentences import split_sentences

HEADLINE_WORDS = 30  # references shorter than this on average are headlines
LEAD_SENTENCES = tuple(range(1, 11))
LEAD_FRACTIONS = (0.2, 0.3, 0.4, 0.5, 0.6)


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
    none does; returns the chosen indices in article order (ties: the earlier one).

    The candidate extract is the chosen sentences' tokens concatenated in article
    order; its n-gram overlap with the reference is updated incrementally (the
    sentence's own n-grams plus the bigrams across its new neighbours), which is
    exact and keeps labelling a training split to seconds.
    """
    reference_tokens = _tokens(reference)
    sentence_tokens = [_tokens(s) for s in sentences]
    ref = (_ngrams(reference_tokens, 1), _ngrams(reference_tokens, 2))
    ref_total = (sum(ref[0].values()), sum(ref[1].values()))
    own = [(_ngrams(t, 1), _ngrams(t, 2)) for t in sentence_tokens]
    counts = (Counter(), Counter())
    overlap, total = [0, 0], [0, 0]
    chosen: list[int] = []
    best = 0.0

    def last_first(left: int | None, right: int | None) -> tuple[str, str] | None:
        if left is None or right is None:
            return None
        return sentence_tokens[left][-1], sentence_tokens[right][0]

    def delta(i: int) -> tuple[dict, dict]:
        # Nearest chosen sentences with tokens before and after i, in article order.
        left = max((j for j in chosen if j < i and sentence_tokens[j]), default=None)
        right = min((j for j in chosen if j > i and sentence_tokens[j]), default=None)
        bigrams = dict(own[i][1])
        if sentence_tokens[i]:
            for gram, step in ((last_first(left, i), 1), (last_first(i, right), 1)):
                if gram is not None:
                    bigrams[gram] = bigrams.get(gram, 0) + step
            joined = last_first(left, right)
            if joined is not None:
                bigrams[joined] = bigrams.get(joined, 0) - 1
        return own[i][0], bigrams

    def score_with(change: tuple[dict, dict]) -> tuple[float, list[int], list[int]]:
        new_overlap, new_total, f1 = list(overlap), list(total), 0.0
        for n in (0, 1):
            for gram, count in change[n].items():
                if count:
                    before = counts[n][gram]
                    limit = ref[n][gram]
                    new_overlap[n] += min(before + count, limit) - min(before, limit)
                    new_total[n] += count
            if new_overlap[n]:
                p, r = new_overlap[n] / new_total[n], new_overlap[n] / ref_total[n]
                f1 += 2 * p * r / (p + r)
        return f1 / 2, new_overlap, new_total

    while len(chosen) < len(sentences):
        changes = {i: delta(i) for i in range(len(sentences)) if i not in chosen}
        options = [(score_with(change), -i, change) for i, change in changes.items()]
        (score, overlap_after, total_after), index, change = max(
            options, key=lambda o: (o[0][0], o[1])
        )
        if score <= best:
            break
        best, overlap, total = score, overlap_after, total_after
        for n in (0, 1):
            counts[n].update(change[n])
        chosen.append(-index)
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
