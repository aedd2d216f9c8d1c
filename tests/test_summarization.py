"""Summary scoring: ROUGE equals rouge-score run directly; the Lead-k baselines."""

from rouge_score import rouge_scorer

from translator.data import load_splits
from translator.scoring import lead_baseline, rouge


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


def test_lead_three_sentences_for_summaries_and_lead_words_for_headlines():
    article = 'First one. "Second one!" Third one? Fourth one.'
    long_ref = " ".join(["word"] * 40)
    name, leads = lead_baseline([article], [long_ref])
    assert name == "lead-3" and leads == ['First one. "Second one!" Third one?']
    name, leads = lead_baseline(["a b c d e f g h"], ["x y z"])
    assert name == "lead-3-words" and leads == ["a b c"]


def test_lead_baselines_on_the_real_bbc_and_reuters_test_splits(data_dir):
    for corpus, direction in [
        ("bbc-news-summary", "article-summary"),
        ("bbc-news-summary", "lead-title"),
        ("reuters-21578", "body-title"),
    ]:
        test = load_splits(corpus, direction, data_dir=str(data_dir)).test
        sources, refs = [s for s, _ in test], [t for _, t in test]
        name, leads = lead_baseline(sources, refs)
        scores = rouge(leads, refs)
        print(
            f"{corpus} {direction} ({len(test)} pairs) {name}: ROUGE-1/2/L F1 "
            f"{scores['rouge1_f1']:.2f} / {scores['rouge2_f1']:.2f} / {scores['rougeL_f1']:.2f}"
        )
        assert scores["rouge1_f1"] > 10  # a real baseline, not an empty one
