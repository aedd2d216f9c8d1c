"""Greedy, sampling and beam search (translator.decoding) on tiny real graphs."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import tensorflow as tf
from helpers import artifacts, teacher_forced_log_prob, tiny_model  # noqa: F401

from translator import decoding
from translator.config import DecodeConfig
from translator.special_tokens import END_ID, PAD_ID, START_ID

SRC = np.array(
    [[5, 6, 7, 8, 0, 0], [9, 10, 11, 0, 0, 0], [4, 5, 6, 7, 8, 9], [12, 4, 0, 0, 0, 0]], "int32"
)


@pytest.fixture(scope="module")
def trained(artifacts):  # noqa: F811
    """The session's trained model and a batch of its (reverse-task) sources."""
    strings = ["abc", "hgfe", "ab cd", "dcbaab", "h"]
    ids = artifacts.tokenizer.tokenize(tf.constant(strings)).to_tensor().numpy()
    return artifacts.model, ids


@pytest.fixture(scope="module")
def cho():
    return tiny_model("cho", "lstm", seed=1)


@pytest.fixture(scope="module")
def luong():
    return tiny_model("luong", "gru", seed=2, attention="general", input_feeding=True)


def reference_greedy(model, source_ids: np.ndarray, limit: int) -> tuple[list, list]:
    """Step-by-step greedy decoding in Python (PAD and START never chosen)."""
    state = model.encode(source_ids)
    tokens = np.full([len(source_ids)], START_ID, "int32")
    outputs = [[] for _ in source_ids]
    log_probs = np.zeros([len(source_ids)])
    done = np.zeros([len(source_ids)], bool)
    for _ in range(limit):
        logits, state, _ = model.decode_step(tokens, state)
        lp = tf.nn.log_softmax(logits).numpy()
        search = lp.copy()
        search[:, [PAD_ID, START_ID]] = -np.inf
        tokens = search.argmax(-1).astype("int32")
        for i, token in enumerate(tokens):
            if not done[i]:
                outputs[i].append(int(token))
                log_probs[i] += lp[i, token]
                done[i] = token == END_ID
    return outputs, log_probs


def check_well_formed(result: decoding.DecodeResult, limits) -> None:
    """END only last, padding after the length, attention zero beyond it."""
    ids, lengths = result.ids.numpy(), result.lengths.numpy()
    attention = result.attention.numpy()
    for b, n in itertools.product(range(ids.shape[0]), range(ids.shape[1])):
        length = lengths[b, n]
        seq = ids[b, n]
        assert (seq[length:] == PAD_ID).all()
        assert (attention[b, n, length:] == 0).all()
        assert not np.isin(seq[:length], [PAD_ID, START_ID]).any()
        body = seq[: max(length - 1, 0)]
        assert END_ID not in body
        if length and seq[length - 1] != END_ID:
            assert length == limits[b]  # cut only at the limit


@pytest.mark.parametrize("which", ["trained", "cho"])
def test_greedy_matches_python_reference(which, trained, cho):
    model, src = trained if which == "trained" else (cho, SRC)
    result = decoding.greedy_search(model, src, 9)
    outputs, log_probs = reference_greedy(model, src, 9)
    ids, lengths = result.ids.numpy()[:, 0], result.lengths.numpy()[:, 0]
    for i, expected in enumerate(outputs):
        assert ids[i, : lengths[i]].tolist() == expected
    np.testing.assert_allclose(result.log_probs.numpy()[:, 0], log_probs, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(result.scores, result.log_probs)
    check_well_formed(result, [9] * len(src))
    assert result.attention.shape[-1] == src.shape[1]
    if which == "trained":  # it learnt to stop
        assert (ids[np.arange(len(src)), lengths - 1] == END_ID).any()


@pytest.mark.parametrize("which", ["trained", "luong"])
def test_beam_of_one_is_greedy(which, trained, luong):
    model, src = trained if which == "trained" else (luong, SRC)
    greedy = decoding.greedy_search(model, src, 8)
    beam = decoding.beam_search(model, src, 8, beam_size=1, length_penalty=0.0)
    np.testing.assert_array_equal(beam.ids, greedy.ids)
    np.testing.assert_array_equal(beam.lengths, greedy.lengths)
    np.testing.assert_allclose(beam.log_probs, greedy.log_probs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(beam.attention, greedy.attention, atol=1e-6)


@pytest.mark.parametrize("which", ["trained", "cho", "luong"])
def test_beam_scores_are_sorted_teacher_forced_and_distinct(which, trained, cho, luong):
    model, src = {"trained": trained, "cho": (cho, SRC), "luong": (luong, SRC)}[which]
    alpha = 0.7
    limits = decoding.max_output_length(src, 1.0, 3, cap=8).numpy()
    result = decoding.beam_search(model, src, limits, beam_size=4, length_penalty=alpha, n_best=3)
    ids, lengths = result.ids.numpy(), result.lengths.numpy()
    scores, log_probs = result.scores.numpy(), result.log_probs.numpy()
    assert ids.shape[:2] == (len(src), 3)
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    check_well_formed(result, limits)
    for b in range(len(src)):
        recomputed = teacher_forced_log_prob(model, src[b], ids[b], lengths[b])
        np.testing.assert_allclose(log_probs[b], recomputed, rtol=1e-4, atol=1e-4)
        penalty = ((5.0 + lengths[b]) / 6.0) ** alpha
        np.testing.assert_allclose(scores[b], log_probs[b] / penalty, rtol=1e-5, atol=1e-5)
        hyps = {tuple(ids[b, n, : lengths[b, n]]) for n in range(3)}
        assert len(hyps) == 3  # n-best hypotheses are distinct


def test_beam_search_is_exact_when_the_beam_holds_every_prefix():
    """With a beam wider than the candidates of any step, beam search is exhaustive
    search: its n-best must be the true n-best under the length-penalized score (this
    checks the finished pool and the early stop)."""
    model = tiny_model("bahdanau", "gru", vocab=6, seed=3)  # choices: UNK, END, 4, 5
    src = SRC[:2]
    limit, alpha = 4, 0.8
    # 36 >= the candidates of any step, so every ending is pooled and no prefix dropped.
    result = decoding.beam_search(model, src, limit, beam_size=36, length_penalty=alpha, n_best=5)
    choices = [1, 4, 5]
    for b in range(len(src)):
        candidates = [
            (*p, END_ID) for n in range(limit) for p in itertools.product(choices, repeat=n)
        ]
        candidates += list(itertools.product(choices, repeat=limit))  # cut at the limit
        lengths = np.array([len(c) for c in candidates])
        hyps = np.zeros([len(candidates), limit], "int32")
        for i, c in enumerate(candidates):
            hyps[i, : len(c)] = c
        log_probs = teacher_forced_log_prob(model, src[b], hyps, lengths)
        scores = log_probs / ((5.0 + lengths) / 6.0) ** alpha
        best = np.sort(scores)[::-1][:5]
        np.testing.assert_allclose(result.scores.numpy()[b], best, rtol=1e-4, atol=1e-5)


def test_sampling_is_seeded_and_top_k_one_is_greedy(trained):
    model, src = trained
    a = decoding.sample(model, src, 10, temperature=1.0, top_k=0, seed=11, num_samples=3)
    b = decoding.sample(model, src, 10, temperature=1.0, top_k=0, seed=11, num_samples=3)
    c = decoding.sample(model, src, 10, temperature=3.0, top_k=0, seed=12, num_samples=3)
    np.testing.assert_array_equal(a.ids, b.ids)
    assert a.ids.shape[:2] == (len(src), 3)
    assert not np.array_equal(a.ids.numpy(), c.ids.numpy()[:, :, : a.ids.shape[2]])
    check_well_formed(a, [10] * len(src))
    ids, lengths = a.ids.numpy(), a.lengths.numpy()
    for row in range(len(src)):
        recomputed = teacher_forced_log_prob(model, src[row], ids[row], lengths[row])
        np.testing.assert_allclose(a.log_probs.numpy()[row], recomputed, rtol=1e-4, atol=1e-4)
    greedy = decoding.greedy_search(model, src, 10)
    top1 = decoding.sample(model, src, 10, temperature=0.7, top_k=1, seed=5)
    np.testing.assert_array_equal(top1.ids, greedy.ids)


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_no_repeated_ngrams(strategy, cho):
    n = 2
    config = DecodeConfig(strategy=strategy, beam_size=3, block_ngram_repeat=n, max_length_b=12)
    result = decoding.decode(cho, SRC, config, n_best=2)
    ids, lengths = result.ids.numpy(), result.lengths.numpy()
    for b, k in itertools.product(range(ids.shape[0]), range(ids.shape[1])):
        seq = ids[b, k, : lengths[b, k]].tolist()
        grams = [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]
        assert len(grams) == len(set(grams)), seq
    if strategy == "greedy":  # without blocking, this untrained model repeats itself
        plain = decoding.decode(cho, SRC, DecodeConfig(max_length_b=12))
        repeats = []
        for b in range(len(SRC)):
            seq = plain.ids.numpy()[b, 0, : plain.lengths.numpy()[b, 0]].tolist()
            repeats.append(len(seq) - 1 > len({tuple(seq[i : i + n]) for i in range(len(seq) - 1)}))
        assert any(repeats)


def test_max_output_length_and_empty_sources(cho):
    src = np.array([[4, 5, 6, 0], [0, 0, 0, 0], [4, 0, 0, 0]], "int32")
    limits = decoding.max_output_length(src, 1.5, 2, cap=5).numpy()
    assert limits.tolist() == [5, 0, 3]  # floor(1.5*3+2)=6 capped; empty -> 0
    for strategy in ("greedy", "beam", "sample"):
        config = DecodeConfig(strategy=strategy, beam_size=2, max_length_a=1.5, max_length_b=2)
        result = decoding.decode(cho, src, config, max_length=5, n_best=2)
        lengths, scores = result.lengths.numpy(), result.scores.numpy()
        assert lengths[1, 0] == 0 and scores[1, 0] == 0.0
        assert (lengths[:, 0] <= limits).all()
        check_well_formed(result, limits)
        # A batch of nothing but empty sources (zero columns) decodes to nothing.
        empty = decoding.decode(cho, np.zeros([2, 0], "int32"), config)
        assert empty.ids.shape[0] == 2 and empty.ids.shape[2] == 0
        assert empty.attention.shape[-1] == 0


def test_decode_inside_tf_function_with_tensor_beam_size(trained):
    model, src = trained
    config = DecodeConfig(strategy="beam", length_penalty=0.6)

    @tf.function(
        input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.int32)]
    )
    def run(source_ids, beam_size):
        limits = decoding.max_output_length(source_ids, 1.5, 10, 12)
        result = decoding.beam_search(model, source_ids, limits, beam_size, 0.6, n_best=2)
        return result.as_dict()

    for k in (2, 3):
        graph = run(src, k)
        config_k = dataclasses.replace(config, beam_size=k)
        eager = decoding.decode(model, src, config_k, max_length=12, n_best=2)
        np.testing.assert_array_equal(graph["ids"], eager.ids)
        np.testing.assert_allclose(graph["scores"], eager.scores, rtol=1e-6)
    assert run.experimental_get_tracing_count() == 1
