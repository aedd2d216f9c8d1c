"""Decoder internals: the graph time loop, copy distribution, pointer-generator, coverage."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from translator.attention import coverage_loss
from translator.config import ModelConfig
from translator.decoder import copy_distribution, time_loop
from translator.model import build_model

SRC = np.array([[5, 6, 7, 8, 0], [9, 10, 1, 0, 0]], "int32")
# The unknown word (id 1) at row 1, position 2 gets the temporary id V + 0 = 24.
EXT = np.array([[5, 6, 7, 8, 0], [9, 10, 24, 0, 0]], "int32")
TGT = np.array([[2, 5, 6, 7], [2, 24, 9, 3]], "int32")


def tiny(decoder="bahdanau", **kw):
    cfg = ModelConfig(
        cell="gru",
        embedding_dim=12,
        units=12,
        decoder=decoder,
        source_vocab_size=24,
        target_vocab_size=24,
        **kw,
    )
    return build_model(cfg)


def test_time_loop_matches_python_loop():
    inputs = tf.random.normal((2, 5, 3))

    def body(carry, x):
        carry = carry * 0.5 + x
        return carry, (carry, tf.reduce_sum(x, -1, keepdims=True))

    outs, sums = time_loop(body, tf.zeros((2, 3)), inputs, num_outputs=2)
    carry, expected = tf.zeros((2, 3)), []
    for t in range(5):
        carry = carry * 0.5 + inputs[:, t]
        expected.append(carry)
    np.testing.assert_allclose(outs, tf.stack(expected, 1), atol=1e-6)
    np.testing.assert_allclose(sums[..., 0], tf.reduce_sum(inputs, -1), atol=1e-6)


def test_copy_distribution_sums_repeated_words():
    weights = np.array([[0.1, 0.2, 0.3, 0.4]], "float32")
    ids = np.array([[5, 7, 5, 30]], "int32")
    dist = copy_distribution(weights, ids, 32).numpy()
    assert dist.shape == (1, 32)
    np.testing.assert_allclose(dist[0, [5, 7, 30]], [0.4, 0.2, 0.4], atol=1e-7)
    np.testing.assert_allclose(dist.sum(), 1.0, atol=1e-6)
    per_step = copy_distribution(np.stack([weights, weights], 1), ids, 32).numpy()
    np.testing.assert_allclose(per_step[:, 1], dist, atol=1e-7)


@pytest.mark.parametrize(
    "decoder,extra",
    [
        ("bahdanau", {}),
        ("luong", {}),
        ("luong", {"input_feeding": True}),
        ("bahdanau", {"coverage": True}),
    ],
)
def test_pointer_generator_is_a_distribution_and_steps_match(decoder, extra):
    model = tiny(decoder, pointer_generator=True, **extra)
    log_probs = model((SRC, TGT, EXT))
    assert log_probs.shape == (2, 4, 25)  # extended by the one unknown word
    np.testing.assert_allclose(np.exp(log_probs).sum(-1), 1.0, atol=1e-4)
    # the copied word can only come from the copy distribution
    assert np.exp(log_probs[0, :, 24]).max() < 1e-6
    assert np.exp(log_probs[1, :, 24]).min() > 1e-6

    state = model.encode(SRC, EXT)
    steps = []
    for t in range(TGT.shape[1]):
        step, state, _ = model.decode_step(TGT[:, t], state)  # id 24 is read as unknown
        steps.append(step)
    np.testing.assert_allclose(np.stack(steps, 1), log_probs, atol=1e-5)


def test_p_gen_stays_inside_zero_one():
    model = tiny("bahdanau", pointer_generator=True)
    state = model.encode(SRC, EXT)
    decoder = model.decoder
    embedded = decoder.embedding(TGT[:, 0])
    _, _, _, p_gen = decoder._step(embedded, state)
    p = p_gen.numpy()
    assert ((p > 0) & (p < 1)).all()


def test_coverage_loss_by_hand_and_added_in_training():
    weights = np.array([[[0.5, 0.5, 0.0], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8]]], "float32")
    mask = np.array([[True, True, True]])
    # c_1 = 0; c_2 = a_1; c_3 = a_1 + a_2
    by_hand = (0.0 + (0.2 + 0.5 + 0.0) + (0.1 + 0.1 + 0.2)) / 3
    np.testing.assert_allclose(coverage_loss(weights, mask), by_hand, rtol=1e-6)
    masked = coverage_loss(weights, np.array([[True, True, False]]))
    np.testing.assert_allclose(masked, (0.0 + 0.7) / 2, rtol=1e-6)

    model = tiny("bahdanau", coverage=True)
    target = np.array([[2, 5, 6, 7], [2, 8, 9, 0]], "int32")
    _, w = model((SRC, target), training=True, return_attention=True)
    # the loss the model added equals the formula on its own attention weights
    np.testing.assert_allclose(float(model.losses[-1]), coverage_loss(w, target != 0), rtol=1e-5)
    model((SRC, target), training=False)
    assert not model.losses


def test_pointer_generator_keras_round_trip(tmp_path):
    model = tiny("luong", pointer_generator=True, coverage=True)
    path = tmp_path / "pg.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded((SRC, TGT, EXT)), model((SRC, TGT, EXT)))
