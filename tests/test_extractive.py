"""The extractive summarizer: a pointer decoder over sentences, trained, decoded, exported."""

from __future__ import annotations

import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import (  # noqa: F401  (extractive_artifacts: the session's marker-task run)
    WITHOUT_TRANSLATOR,
    extractive_artifacts,
    extractive_config,
    marker_pairs,
    run_without_translator,
)

from translator import decoding
from translator.config import load_config
from translator.evaluation import evaluate_run
from translator.extractive import FIRST_SENTENCE_ID
from translator.model import build_model
from translator.sentences import pack_sentences, split_sentences, split_sentences_graph
from translator.special_tokens import END_ID, START_ID, UNK_ID
from translator.tokenizer import WordTokenizer


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    return build_model(extractive_config(**VOCAB))


VOCAB = {"model.source_vocab_size": 40, "model.target_vocab_size": 40}


def random_articles(batch: int, sentences: list[int], words: int = 8) -> np.ndarray:
    rng = np.random.default_rng(0)
    ids = np.zeros((batch, max(sentences), words), np.int32)
    for b, count in enumerate(sentences):
        for j in range(count):
            length = rng.integers(1, words + 1)
            ids[b, j, :length] = rng.integers(4, 40, size=length)
    return ids.reshape(batch, -1)


def test_sentence_rule_is_the_same_in_python_and_in_the_graph():
    texts = [
        'First one. "Second one!" Third one? Fourth (one.) Fifth\nSixth line',
        "no punctuation at all here",
        "One sentence.",
        "",
        " \n\t ",
        "Dots... in the middle. And U.S. style, and 3.5 per cent.\r\nNext.",
        "Ünïcödé sentence.  Ça va? 中文句子。 End",
        " ".join(f"Sentence {i} ends." for i in range(2000)),
    ]
    graph = split_sentences_graph(texts).to_list()
    for text, row in zip(texts, graph):
        assert [s.decode("utf-8") for s in row] == split_sentences(text)
    assert len(graph[-1]) == 2000 and graph[3] == [] and graph[1] == [b"no punctuation at all here"]


def test_pack_sentences_puts_each_sentence_in_its_slot():
    tokenizer = WordTokenizer.train(["a b c d e f g"], vocab_size=20)
    ids, sentences, counts, truncated = pack_sentences(
        ["a b. c d e f g h i! e", "", "a"], tokenizer, max_sentences=2, sentence_words=3
    )
    a, b, c, d, e = (int(tokenizer.tokenize(tf.constant([w])).flat_values[0]) for w in "abcde")
    assert ids.shape == (3, 6)
    assert ids.numpy()[0].tolist() == [a, b, UNK_ID, c, d, e]  # "." is an unknown word
    assert ids.numpy()[1].tolist() == [0] * 6
    assert counts.numpy().tolist() == [2, 0, 1]
    assert truncated.numpy().tolist() == [True, False, False]
    assert sentences.numpy()[0].tolist() == [b"a b.", b"c d e f g h i!"]


def test_a_training_step_reaches_every_weight_and_lowers_the_loss(model):
    source = random_articles(2, [3, 4])
    decoder_input = np.array([[START_ID, 5, 6], [START_ID, 7, 0]])
    labels = np.array([[5, 6, END_ID], [7, END_ID, 0]])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)

    def loss():
        return loss_fn(labels, model((source, decoder_input), training=True))

    with tf.GradientTape() as tape:
        before = loss()
    grads = tape.gradient(before, model.trainable_variables)
    for weight, grad in zip(model.trainable_variables, grads):
        assert grad is not None and np.abs(tf.convert_to_tensor(grad)).max() > 0, weight.path
    keras.optimizers.SGD(0.1).apply(grads, model.trainable_variables)
    assert float(loss()) < float(before)


def test_stepwise_decoding_equals_the_teacher_forced_call(model):
    source = random_articles(3, [4, 2, 5])
    picks = np.array([[START_ID, 5, 7, 4], [START_ID, 5, 4, 0], [START_ID, 8, 6, 4]])
    logits, weights = model((source, picks), return_attention=True)
    state = model.encode(source)
    for t in range(picks.shape[1] - 1):  # a Python loop over steps: tests only
        step_logits, state, step_weights = model.decode_step(tf.constant(picks[:, t]), state)
        allowed = logits[:, t] > -1e8  # masked: -1e9 in training, -inf when decoding
        np.testing.assert_array_equal(np.isfinite(step_logits), allowed)
        np.testing.assert_allclose(step_logits[allowed], logits[:, t][allowed], atol=1e-5)
        np.testing.assert_allclose(step_weights, weights[:, t], atol=1e-5)


def test_padding_and_picked_sentences_get_no_probability(model):
    source = random_articles(2, [2, 5])
    picks = np.array([[START_ID, FIRST_SENTENCE_ID + 1], [START_ID, FIRST_SENTENCE_ID + 3]])
    logits, weights = model((source, picks), return_attention=True)
    weights = weights.numpy()
    assert np.all(weights[0, :, 2:] == 0)  # sentences 2-4 of the first article are padding
    assert weights[0, 1, 1] == 0 and weights[1, 1, 3] == 0  # already picked
    assert np.all(logits.numpy()[..., :END_ID] < -1e8)  # PAD, UNK, START are never outputs
    # The same article alone (less sentence padding, and no padded word slots past its
    # last sentence) gets the same distribution.
    alone = model((source[:1, : 2 * 8], picks[:1]), return_attention=True)[1].numpy()
    np.testing.assert_allclose(alone[0], weights[0, :, :2], atol=1e-5)


def test_greedy_and_beam_search_never_repeat_a_sentence_and_stop(model):
    source = random_articles(3, [4, 1, 6])
    for result in (
        decoding.greedy_search(model, source, 10),
        decoding.beam_search(model, source, 10, beam_size=3, n_best=3),
    ):
        for row, lengths in zip(result.ids.numpy(), result.lengths.numpy()):
            for ids, length in zip(row, lengths):
                picked = [int(i) for i in ids[:length] if i >= FIRST_SENTENCE_ID]
                assert len(picked) == len(set(picked))
                assert all(i not in (0, 1, 2) for i in ids[:length])
        assert result.attention.shape[-1] == 6


def test_the_pointer_decoder_learns_to_pick_the_marked_sentences(extractive_artifacts):  # noqa: F811
    results = evaluate_run(extractive_artifacts.run, progress=False)
    # Every test article has a known answer: its MARKER sentences, in order.
    print(f"marker task: exact match {results['exact_match']:.3f}, rouge {results['rouge']}")
    assert results["exact_match"] >= 0.9
    assert results["rouge"]["rouge1_f1"] > results["lead"]["rouge"]["rouge1_f1"]


FRESH_PROCESS = (
    WITHOUT_TRANSLATOR
    + """
import json
model = tf.saved_model.load(sys.argv[1])
texts = json.loads(sys.argv[2])
out = model.signatures["translate"](
    text=tf.constant(texts), beam_size=tf.constant(1), length_penalty=tf.constant(1.0),
    max_length=tf.constant(0), n_best=tf.constant(1), temperature=tf.constant(0.0),
    top_k=tf.constant(0), seed=tf.constant(0),
)
result = {
    "summaries": [t[0].decode("utf-8") for t in out["translations"].numpy()],
    "indices": out["sentence_indices"].numpy()[:, 0].tolist(),
    "scores": out["sentence_scores"].numpy()[:, 0].tolist(),
    "sentences": out["source_lengths"].numpy().tolist(),
    "attention_shape": list(out["attention"].shape),
}
with open(sys.argv[3], "w", encoding="utf-8") as f:
    json.dump(result, f)
"""
)


def test_export_in_a_fresh_process_matches_and_takes_any_article(
    extractive_artifacts,  # noqa: F811
    tmp_path,
):
    # Also moved: the export must not depend on where it was written.
    moved = tmp_path / "elsewhere" / "extractive"
    shutil.copytree(extractive_artifacts.export, moved)
    articles = [a for a, _ in marker_pairs(6, 99)]
    edge = [
        "",
        "Only one zebra sentence here.",
        " ".join(f"Sentence {i} has a zebra." for i in range(2000)),
        "no punctuation at all and a zebra in it",
    ]
    result = run_without_translator(FRESH_PROCESS, moved, articles + edge, tmp_path)

    from translator.inference import Inference
    from translator.runs import load_run

    config, model, tokenizer, _ = load_run(extractive_artifacts.run)
    inference = Inference.from_config(model, tokenizer, tokenizer, config)
    greedy = load_config("bbc-extractive").decode
    assert result["summaries"] == inference.translate(articles + edge, greedy)
    for summary, (_, reference) in zip(result["summaries"], marker_pairs(6, 99)):
        assert summary == reference
    for indices, scores, text in zip(result["indices"], result["scores"], result["summaries"]):
        picked = [i for i in indices if i >= 0]
        assert len(picked) == len(set(picked))
        assert all(0 < s <= 1 for s, i in zip(scores, indices) if i >= 0)
        assert all(s == 0 for s, i in zip(scores, indices) if i < 0)
        assert bool(picked) == bool(text)
    empty, one, many, unpunctuated = result["summaries"][-4:]
    assert empty == "" and result["sentences"][-4] == 0
    assert one == "Only one zebra sentence here."
    assert result["sentences"][-2] == config.data.max_sentences  # cut, not failed
    assert many and set(many.split(". ")) <= {f"Sentence {i} has a zebra" for i in range(50)} | {
        many.split(". ")[-1]
    }
    assert unpunctuated == "no punctuation at all and a zebra in it"
    assert result["attention_shape"][-1] == config.data.max_sentences
