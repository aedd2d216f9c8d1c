import itertools
import subprocess
import sys

import keras
import numpy as np
import pytest

from translator.config import ConfigError, ModelConfig
from translator.model import Seq2Seq, build_model

CELLS = ["rnn", "lstm", "gru", "peephole_lstm"]
VARIANTS = [
    ("sutskever", "general", False),
    ("cho", "general", False),
    ("bahdanau", "general", False),
    ("luong", "dot", False),
    ("luong", "general", False),
    ("luong", "concat", False),
    ("luong", "dot", True),
    ("luong", "general", True),
    ("luong", "concat", True),
]
# Every cell x variant; bidirectional alternates so both encoders meet every variant.
COMBOS = [
    (cell, *variant, (i + j) % 2 == 1)
    for (i, cell), (j, variant) in itertools.product(enumerate(CELLS), enumerate(VARIANTS))
]

SRC = np.array([[5, 6, 7, 8, 0, 0], [9, 10, 11, 0, 0, 0], [4, 5, 6, 7, 8, 9]], "int32")
TGT = np.array([[2, 5, 6, 7], [2, 8, 3, 0], [2, 9, 10, 11]], "int32")


def tiny(cell="gru", decoder="bahdanau", attention="general", input_feeding=False, bi=True, **kw):
    cfg = ModelConfig(
        cell=cell,
        embedding_dim=12,
        units=12,
        decoder=decoder,
        attention=attention,
        input_feeding=input_feeding,
        bidirectional=bi,
        source_vocab_size=20,
        target_vocab_size=24,
        **{"merge_mode": "sum" if attention == "dot" else "concat", **kw},
    )
    return build_model(cfg)


def stepwise_logits(model):
    """``decode_step`` over TGT from ``encode(SRC)``: ``[batch, tgt_len, vocab]``."""
    state = model.encode(SRC)
    steps = []
    for t in range(TGT.shape[1]):
        step_logits, state, _ = model.decode_step(TGT[:, t], state)
        steps.append(step_logits.numpy())
    return np.stack(steps, 1)


@pytest.mark.parametrize("cell,decoder,attention,input_feeding,bi", COMBOS)
def test_shapes_masking_and_stepwise_parity(cell, decoder, attention, input_feeding, bi):
    model = tiny(cell, decoder, attention, input_feeding, bi)
    logits, weights = model((SRC, TGT), return_attention=True)
    assert logits.shape == (3, 4, 24)
    assert weights.shape == (3, 4, 6)
    w = weights.numpy()
    assert (w[0, :, 4:] == 0).all() and (w[1, :, 3:] == 0).all()
    if decoder in ("bahdanau", "luong"):
        np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)

    # what sits under the source padding changes nothing
    noisy = SRC.copy()
    noisy[SRC == 0] = 13
    longer = np.concatenate([SRC, np.zeros((3, 2), "int32")], axis=1)
    for other in (longer,):
        np.testing.assert_allclose(model((other, TGT)), logits, atol=1e-5)
    masked = model.encode(noisy)["mask"].numpy()
    assert masked.all()  # sanity: the noisy copy is unmasked, so it must differ
    assert not np.allclose(model((noisy, TGT)), logits, atol=1e-5)

    # stepping decode_step over the target reproduces the teacher-forced logits
    state = model.encode(SRC)
    steps, step_weights = [], []
    for t in range(TGT.shape[1]):
        step_logits, state, step_w = model.decode_step(TGT[:, t], state)
        steps.append(step_logits.numpy())
        step_weights.append(step_w.numpy())
    np.testing.assert_allclose(np.stack(steps, 1), logits, atol=1e-5)
    np.testing.assert_allclose(np.stack(step_weights, 1), w, atol=1e-5)


@pytest.mark.parametrize("feed", [False, True])
def test_luong_ablations_deep_output_and_scaled_scores(feed):
    """deep_output feeds E y_{t-1} to the readout; scale_scores divides dot/general
    scores by sqrt(units).  Both keep step-wise decoding equal to teacher forcing."""
    plain = tiny("gru", "luong", "general", feed)
    model = tiny("gru", "luong", "general", feed, deep_output=True, scale_scores=True)
    assert model.decoder.readout.kernel.shape == (12 * 2 + 12 + 12, 12)  # [c; h; E y]
    assert plain.decoder.readout.kernel.shape == (12 * 2 + 12, 12)
    logits = model((SRC, TGT)).numpy()
    np.testing.assert_allclose(stepwise_logits(model), logits, atol=1e-5)
    # the scaled score is the plain general score over sqrt(query size)
    attention = model.decoder.attention
    query = np.random.default_rng(0).normal(size=(3, 2, 12)).astype("float32")
    keys = attention.precompute(model.encode(SRC)["memory"])
    scaled = attention.score(query, keys, None).numpy()
    unscaled = np.matmul(query, np.swapaxes(keys.numpy(), 1, 2))
    np.testing.assert_allclose(scaled, unscaled / np.sqrt(12), rtol=1e-5)
    restored = Seq2Seq.from_config(model.get_config())
    assert restored.decoder.deep_output and restored.decoder.attention.scale


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_half_width_bidirectional_encoder(cell):
    """encoder_units=units/2 (OpenNMT-py's brnn): each direction is half as wide, the
    concatenated memory and final states are as wide as the decoder, so the bridge
    passes them on unprojected and even the ``dot`` score applies."""
    model = tiny(cell, "luong", "dot", encoder_units=6, merge_mode="concat")
    forward = model.encoder.rnns[0].forward_layer.cell
    gates = 3 if cell == "gru" else 4
    assert forward.recurrent_kernel.shape == (6, 6 * gates)
    assert model.encoder.output_dim == 12
    assert model.encode(SRC)["memory"].shape == (3, 6, 12)
    assert not model.bridge.weights
    full = tiny(cell, "luong", "general")
    assert full.encoder.output_dim == 24
    logits = model((SRC, TGT)).numpy()
    np.testing.assert_allclose(stepwise_logits(model), logits, atol=1e-5)
    clone = Seq2Seq.from_config(model.get_config())
    clone.build()
    assert clone.count_params() == model.count_params()
    with pytest.raises(ConfigError, match="encoder_units"):
        ModelConfig(encoder_units=0).validate()


def test_state_is_a_flat_dict_of_batch_major_tensors():
    model = tiny("lstm", "luong", "general", True, encoder_layers=2, decoder_layers=2)
    state = model.encode(SRC)
    assert {"memory", "mask", "keys", "feed", "rnn_0_0", "rnn_0_1", "rnn_1_0", "rnn_1_1"} <= set(
        state
    )
    for value in state.values():
        assert value.shape[0] == 3


@pytest.mark.parametrize("decoder", ["sutskever", "bahdanau", "luong"])
def test_deep_stacks_and_dropout(decoder):
    model = tiny("gru", decoder, "general", False, encoder_layers=2, decoder_layers=3, dropout=0.3)
    a = model((SRC, TGT), training=False)
    b = model((SRC, TGT), training=False)
    np.testing.assert_array_equal(a, b)
    c = model((SRC, TGT), training=True)
    assert not np.allclose(a, c)


def test_keras_save_load_identical(tmp_path):
    for decoder, attention, feed in [("bahdanau", "general", False), ("luong", "concat", True)]:
        model = tiny("lstm", decoder, attention, feed, tie_embeddings=True)
        path = tmp_path / f"{decoder}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        assert isinstance(loaded, Seq2Seq)
        np.testing.assert_array_equal(loaded((SRC, TGT)), model((SRC, TGT)))


def test_from_config_round_trip():
    model = tiny("peephole_lstm", "cho")
    clone = Seq2Seq.from_config(model.get_config())
    clone.build()
    assert clone.get_config() == model.get_config()
    assert clone.count_params() == model.count_params()


def test_weight_tying_shares_the_embedding():
    tied = tiny("gru", "luong", tie_embeddings=True)
    untied = tiny("gru", "luong")
    assert tied.count_params() == untied.count_params() - 12 * 24
    with pytest.raises(ConfigError, match="embedding_dim"):
        build_model(
            ModelConfig(
                units=8,
                embedding_dim=12,
                tie_embeddings=True,
                source_vocab_size=5,
                target_vocab_size=5,
            )
        )


def test_bfloat16_output_layer_in_training_only(tmp_path):
    """output_bfloat16 rounds the output layer's inputs, weights and logits to bfloat16
    in training; inference stays float32, equal to the same weights without it."""
    model = tiny("gru", "luong", output_bfloat16=True)
    plain = tiny("gru", "luong")
    plain.set_weights(model.get_weights())
    assert model.decoder.output_layer.kernel.dtype == "float32"
    expected = plain((SRC, TGT)).numpy()
    np.testing.assert_array_equal(model((SRC, TGT)).numpy(), expected)
    trained = model((SRC, TGT), training=True)  # the tiny model has no dropout
    assert trained.dtype == "float32"
    # bfloat16 keeps 8 bits of mantissa: close to the float32 logits, not equal
    assert not np.array_equal(trained.numpy(), expected)
    np.testing.assert_allclose(trained.numpy(), expected, atol=0.02 * np.abs(expected).max())
    path = tmp_path / "bf16.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.decoder.output_bfloat16
    np.testing.assert_array_equal(loaded((SRC, TGT), training=True), trained)
    with pytest.raises(ConfigError, match="output_bfloat16"):
        tiny("gru", "luong", output_bfloat16=True, tie_embeddings=True)


def test_build_model_needs_vocabulary_sizes_and_compatible_dot():
    with pytest.raises(ConfigError, match="vocab_size"):
        build_model(ModelConfig())
    with pytest.raises(ConfigError, match="merge_mode"):
        build_model(
            ModelConfig(
                decoder="luong",
                attention="dot",
                bidirectional=True,
                source_vocab_size=5,
                target_vocab_size=5,
            )
        )


@pytest.mark.parametrize(
    "decoder,feed,extra",
    [
        ("sutskever", False, {}),
        ("bahdanau", False, {}),
        ("luong", True, {}),
        ("luong", False, {"encoder_units": 6, "output_bfloat16": True}),
    ],
)
def test_fit_lowers_loss_and_every_weight_gets_gradient(decoder, feed, extra):
    import tensorflow as tf

    model = tiny("gru", decoder, "general", feed, encoder_layers=2, decoder_layers=2, **extra)
    labels = np.concatenate([TGT[:, 1:], np.full((3, 1), 3, "int32")], axis=1)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, model((SRC, TGT), training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    for weight, grad in zip(model.trainable_weights, grads):
        assert grad is not None, weight.path
        assert float(tf.reduce_max(tf.abs(tf.convert_to_tensor(grad)))) > 0, weight.path

    # "auto", as training compiles: XLA only where it helps (a GPU), never on a CPU.
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss_fn, jit_compile="auto")
    history = model.fit((SRC, TGT), labels, epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_keras_file_loads_in_fresh_process(tmp_path):
    model = tiny("gru", "bahdanau")
    path = tmp_path / "m.keras"
    model.save(path)
    expected = model((SRC, TGT)).numpy()
    np.save(tmp_path / "expected.npy", expected)
    code = f"""
import numpy as np, keras
import translator.model  # registers the classes
m = keras.models.load_model({str(path)!r})
src = np.array({SRC.tolist()}, "int32"); tgt = np.array({TGT.tolist()}, "int32")
np.testing.assert_array_equal(m((src, tgt)).numpy(), np.load({str(tmp_path / "expected.npy")!r}))
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
