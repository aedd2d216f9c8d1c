"""Masked loss, label smoothing, accuracy and perplexity against hand computations;
sacrebleu / ROUGE helpers and BLEU by source length."""

import math

import matplotlib
import numpy as np
import pytest
import sacrebleu

from translator.metrics import MaskedAccuracy, MaskedCrossEntropy, Perplexity, token_nll
from translator.scoring import (
    bleu,
    bleu_by_length,
    chrf,
    corpus_scores,
    length_buckets,
    plot_bleu_by_length,
    rouge,
    ter,
    word_count,
)

# Two sentences, vocabulary of 4; the second has one padding position (label 0).
LABELS = np.array([[1, 2, 3], [3, 1, 0]], "int32")
LOGITS = np.array(
    [
        [[0.0, 2.0, 0.5, -1.0], [1.0, 0.0, 3.0, 0.0], [0.2, 0.1, 0.0, 1.5]],
        [[0.0, 0.0, 0.0, 4.0], [2.0, 1.0, 0.0, 0.0], [9.0, -9.0, 5.0, 7.0]],
    ],
    "float32",
)


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def hand_nll(labels, logits):
    lp = log_softmax(logits.astype("float64"))
    return [
        -lp[b, t, labels[b, t]]
        for b in range(labels.shape[0])
        for t in range(labels.shape[1])
        if labels[b, t] != 0
    ]


def test_masked_loss_is_the_mean_over_real_tokens_and_ignores_padding():
    expected = np.mean(hand_nll(LABELS, LOGITS))
    loss = float(MaskedCrossEntropy()(LABELS, LOGITS))
    assert loss == pytest.approx(expected, rel=1e-5)
    # Whatever the logits say at padded positions, the loss does not move.
    changed = LOGITS.copy()
    changed[1, 2] = [-50.0, 50.0, 3.0, 0.0]
    assert float(MaskedCrossEntropy()(LABELS, changed)) == pytest.approx(loss, rel=1e-6)
    # All-padding batch: zero, not NaN.
    assert float(MaskedCrossEntropy()(np.zeros_like(LABELS), LOGITS)) == 0.0


def test_label_smoothing_matches_hand_computation():
    eps, vocab = 0.1, LOGITS.shape[-1]
    lp = log_softmax(LOGITS.astype("float64"))
    per_token = []
    for b in range(2):
        for t in range(3):
            y = LABELS[b, t]
            if y == 0:
                continue
            target = np.full(vocab, eps / vocab)
            target[y] += 1.0 - eps
            per_token.append(-(target * lp[b, t]).sum())
    loss = float(MaskedCrossEntropy(label_smoothing=eps)(LABELS, LOGITS))
    assert loss == pytest.approx(np.mean(per_token), rel=1e-5)
    assert loss > float(MaskedCrossEntropy()(LABELS, LOGITS))


def test_loss_serializes_with_its_smoothing():
    loss = MaskedCrossEntropy(label_smoothing=0.2)
    again = MaskedCrossEntropy.from_config(loss.get_config())
    assert again.label_smoothing == 0.2


def test_perplexity_is_exp_of_total_nll_over_total_tokens_across_batches():
    metric = Perplexity()
    metric.update_state(LABELS, LOGITS)  # 5 real tokens
    short_labels = np.array([[2, 0, 0]], "int32")  # 1 real token, confidently right
    short_logits = np.zeros((1, 3, 4), "float32")
    short_logits[0, 0, 2] = 6.0
    metric.update_state(short_labels, short_logits)
    nll = hand_nll(LABELS, LOGITS) + hand_nll(short_labels, short_logits)
    expected = math.exp(sum(nll) / 6)
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)
    # ...which is not the mean of the two per-batch perplexities.
    per_batch = [math.exp(np.mean(hand_nll(LABELS, LOGITS))), math.exp(nll[-1])]
    assert abs(np.mean(per_batch) - expected) > 0.1
    # exp(mean loss) for the same single batch, unsmoothed.
    single = Perplexity()
    single.update_state(LABELS, LOGITS)
    loss = float(MaskedCrossEntropy()(LABELS, LOGITS))
    assert float(single.result()) == pytest.approx(math.exp(loss), rel=1e-5)
    metric.reset_state()
    assert float(metric.count.numpy()) == 0.0


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_loss_gradient_is_softmax_minus_the_smoothed_target_on_real_tokens(eps):
    import tensorflow as tf

    logits = tf.constant(LOGITS)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = MaskedCrossEntropy(label_smoothing=eps)(LABELS, logits)
    gradient = tape.gradient(loss, logits).numpy()
    vocab, real = LOGITS.shape[-1], (LABELS != 0).sum()
    target = (1 - eps) * np.eye(vocab)[LABELS] + eps / vocab
    expected = (np.exp(log_softmax(LOGITS)) - target) * (LABELS != 0)[..., None] / real
    np.testing.assert_allclose(gradient, expected, atol=1e-6)
    # The same loss when the vocabulary is only known at run time (the extractive
    # decoder's logits are over a batch's sentences).
    spec = tf.TensorSpec([None, None, None], tf.float32)
    dynamic = tf.function(lambda x: MaskedCrossEntropy(label_smoothing=eps)(LABELS, x), [spec])
    assert float(dynamic(logits)) == pytest.approx(float(loss), rel=1e-6)


def test_masked_accuracy_counts_real_tokens_only():
    metric = MaskedAccuracy()
    metric.update_state(LABELS, LOGITS)
    # argmax: [1, 2, 3] vs [1, 2, 3] -> 3 right; [3, 0, (pad)] vs [3, 1] -> 1 right.
    assert float(metric.result()) == pytest.approx(4 / 5)


def test_token_nll_handles_float16_logits():
    nll, mask = token_nll(LABELS, LOGITS.astype("float16"))
    assert nll.dtype == "float32" and float(np.asarray(mask).sum()) == 5
    assert float(np.asarray(nll).sum()) == pytest.approx(sum(hand_nll(LABELS, LOGITS)), rel=1e-2)


# --------------------------------------------------------------------------- scoring

HYPS = ["The cat sat on the mat .", "a dog barks", "hello world , how are you"]
REFS = ["The cat sat on a mat .", "A dog barks loudly", "hello world , how are you"]


def test_corpus_scores_equal_sacrebleu_and_carry_signatures():
    scores = corpus_scores(HYPS, REFS)
    assert scores["bleu"]["score"] == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score)
    assert scores["chrf"]["score"] == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score)
    assert "case:mixed" in scores["bleu"]["signature"]
    assert "tok:13a" in scores["bleu"]["signature"]
    lower = bleu(HYPS, REFS, lowercase=True)
    assert "case:lc" in lower["signature"] and lower["score"] > scores["bleu"]["score"]
    # TER follows the case setting (sacrebleu's own default would ignore case).
    assert ter(["A dog"], ["a dog"])["score"] > 0
    assert ter(["A dog"], ["a dog"], lowercase=True)["score"] == 0
    assert chrf(["x"], ["x"])["score"] == pytest.approx(100.0)
    assert bleu(["你好世界"], ["你好世界"], tokenize="zh")["signature"].find("tok:zh") >= 0
    # tok:zh splits Chinese into characters: 7 of the reference's 8, all 1-4-grams
    # right, so BLEU = 100 * BP = 100 * exp(1 - 8/7); 13a sees one (wrong) word each.
    hyp, ref = ["我们今天去公园"], ["我们今天去公园玩"]
    assert bleu(hyp, ref, tokenize="zh")["score"] == pytest.approx(100 * math.exp(-1 / 7))
    assert bleu(hyp, ref)["score"] == 0.0
    with pytest.raises(ValueError, match="aligned"):
        bleu(HYPS, REFS[:2])


def test_rouge_f1_with_stemming():
    scores = rouge(["the cats are running"], ["the cat is running"])
    assert set(scores) == {"rouge1_f1", "rouge2_f1", "rougeL_f1"}
    assert scores["rouge1_f1"] == pytest.approx(75.0)  # stemming: cats->cat, running->run
    assert rouge(["same words"], ["same words"])["rougeL_f1"] == pytest.approx(100.0)


def test_chinese_characters_count_as_words():
    assert word_count("Hello, world!") == 2
    assert word_count("我今天很忙，明天再說吧。") == 12  # 10 characters and 2 punctuation marks
    assert word_count("Tom 去了 Boston。") == 4
    assert word_count("  ") == 0
    groups = dict(length_buckets(["我爱你。", "我" * 25]))
    assert groups["0-10"] == [0] and groups["20-30"] == [1]


def test_bleu_by_length_buckets_and_plot(tmp_path):
    sources = ["one two", " ".join(["w"] * 12), " ".join(["w"] * 55)]
    groups = dict(length_buckets(sources))
    assert groups["0-10"] == [0] and groups["10-20"] == [1] and groups["50+"] == [2]
    assert groups["20-30"] == []
    rows = bleu_by_length(sources, HYPS, REFS)
    assert [r["sentences"] for r in rows] == [1, 1, 0, 0, 0, 1]
    assert rows[2]["bleu"] is None
    assert rows[5]["bleu"] == pytest.approx(100.0)
    path = plot_bleu_by_length(rows, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.pyplot as plt

    assert matplotlib.get_backend().lower() == "agg" and plt.get_fignums() == []
