"""Summary scoring: ROUGE equals rouge-score run directly; the validated Lead baselines
and the extractive oracle (:mod:`translator.baselines`)."""

import pytest
from rouge_score import rouge_scorer

from translator.baselines import (
    Lead,
    choose_lead,
    oracle_indices,
    oracle_summary,
    summary_baselines,
)
from translator.data import load_splits
from translator.scoring import rouge
from translator.sentences import split_sentences


def _direct_rouge(hypotheses, references):
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    rows = [scorer.score(r, h) for h, r in zip(hypotheses, references)]
    return {
        f"{k}_f1": 100 * sum(row[k].fmeasure for row in rows) / len(rows)
        for k in ("rouge1", "rouge2", "rougeL")
    }


def test_rouge_equals_rouge_score_run_directly():
    hyps = ["the cats were running home", "stocks fell sharply on monday", ""]
    refs = ["the cat runs home", "shares fell on monday", "nothing here"]
    ours, direct = rouge(hyps, refs), _direct_rouge(hyps, refs)
    for key, value in direct.items():
        assert abs(ours[key] - value) < 1e-9


def test_sentences_split_by_one_rule_whatever_the_text():
    article = 'First one. "Second one!" Third one? Fourth (one.) Fifth\nSixth line'
    assert split_sentences(article) == [
        "First one.",
        '"Second one!"',
        "Third one?",
        "Fourth (one.)",
        "Fifth",
        "Sixth line",
    ]
    assert split_sentences("no punctuation at all here") == ["no punctuation at all here"]
    assert split_sentences("One sentence.") == ["One sentence."]
    assert split_sentences("") == [] and split_sentences(" \n ") == []
    many = " ".join(f"Sentence {i} ends." for i in range(2000))
    assert len(split_sentences(many)) == 2000


def test_the_oracle_picks_exactly_the_reference_sentences():
    article = (
        "The council met on Monday. Rain fell over the hills all week. "
        "The mayor announced a new bridge across the river. Tickets cost five pounds. "
        "Work on the bridge starts in the spring and ends next year."
    )
    reference = (
        "The mayor announced a new bridge across the river. "
        "Work on the bridge starts in the spring and ends next year."
    )
    sentences = split_sentences(article)
    assert oracle_indices(sentences, reference) == [2, 4]
    assert oracle_summary(article, reference) == reference
    assert oracle_indices([], reference) == [] and oracle_indices(["x"], "") == []


def test_lead_is_chosen_on_validation_or_training_references_never_test():
    validation = [
        (
            "Alpha one two. Beta three four. Gamma five six. Delta seven.",
            "Alpha one two. Beta three four.",
        ),
        (
            "Red cats sit. Blue dogs run. Green birds sing. Gray fish swim.",
            "Red cats sit. Blue dogs run.",
        ),
    ]
    long_refs = [" ".join(["word"] * 40)] * 3
    lead, score = choose_lead(long_refs, validation)
    assert lead.name == "lead-2" and score == pytest.approx(100.0)
    assert lead.apply("A b. C d. E f.") == "A b. C d."
    lead, score = choose_lead(["four words in here", "and two"], validation)  # headlines
    assert lead.name == "lead-3-words" and score is None
    assert lead.apply("a b c d e") == "a b c"
    assert Lead("fraction", 0.6).apply(" ".join("abcdefghij")) == "a b c d e f"
    assert Lead("fraction", 0.6).name == "lead-60%"


def test_validated_baselines_on_the_real_bbc_and_reuters_test_splits(data_dir):
    figures = {}
    for corpus, direction in [
        ("bbc-news-summary", "article-summary"),
        ("bbc-news-summary", "lead-title"),
        ("reuters-21578", "body-title"),
    ]:
        splits = load_splits(corpus, direction, data_dir=str(data_dir))
        train_refs = [t for _, t in splits.train]
        result = summary_baselines(train_refs, splits.validation, splits.test)
        figures[direction] = result
        for name, part in result.items():
            r = part["rouge"]
            print(
                f"{corpus} {direction} ({len(splits.test)} test pairs) {name} "
                f"{part.get('baseline', '')}: ROUGE-1/2/L F1 "
                f"{r['rouge1_f1']:.2f} / {r['rouge2_f1']:.2f} / {r['rougeL_f1']:.2f}"
            )
    bbc = figures["article-summary"]
    # BBC summaries are ~43 % of the article: a long Lead wins on validation, far
    # above Lead-3 (~44.7 ROUGE-1), and the oracle is the ceiling above it.
    assert bbc["lead"]["chosen_on"] == "validation"
    assert bbc["lead"]["rouge"]["rouge1_f1"] > 60
    assert bbc["oracle"]["rouge"]["rouge1_f1"] > bbc["lead"]["rouge"]["rouge1_f1"] + 20
    reuters = figures["body-title"]
    assert reuters["lead"]["chosen_on"] == "training references" and "oracle" not in reuters
    assert reuters["lead"]["rouge"]["rouge1_f1"] > 15
