"""Every registered layer and model through the shared harness (tests/layer_harness.py):
eager and symbolic calls, a training step, get_config/from_config, a .keras round trip."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import tiny_model
from layer_harness import run_layer_test

from translator.attention import ATTENTIONS, get_attention
from translator.cells import PeepholeLSTMCell, make_rnn, num_states
from translator.decoder import Decoder
from translator.encoder import Bridge, Encoder
from translator.extractive import FIRST_SENTENCE_ID, ExtractiveSummarizer
from translator.model import Seq2Seq
from translator.special_tokens import START_ID

B, SRC_LEN, TGT_LEN, VOCAB = 2, 4, 4, 12


def normal(*shape):
    # NumPy's global generator: conftest's autouse _seed reseeds it for every test.
    return np.random.standard_normal(shape).astype("float32")


MASK = np.array([[True, True, True, False], [True, True, False, False]])  # [B, SRC_LEN]

# --------------------------------------------------------------------------- attention


@pytest.mark.parametrize("coverage", [False, True], ids=["plain", "coverage"])
@pytest.mark.parametrize("kind", sorted(ATTENTIONS))
def test_attention(kind, coverage, tmp_path):
    values = normal(B, SRC_LEN, 6)
    if coverage:  # one decoder step with the coverage vector, as the decoders call it
        query, kwargs = normal(B, 6), {"coverage": np.abs(normal(B, SRC_LEN)) * MASK}
        shapes = ((B, 6), (B, SRC_LEN))
    else:  # all target steps at once (the Luong fast path)
        query, kwargs = normal(B, 3, 6), {}
        shapes = ((B, 3, 6), (B, 3, SRC_LEN))
    _, weights = run_layer_test(
        get_attention(kind, units=5, use_coverage=coverage),
        init_kwargs={"units": 5, "use_coverage": coverage},
        args=(query, values, MASK),
        kwargs=kwargs,
        tmp_path=tmp_path,
        expected_output_shape=shapes,
        run_training=kind != "dot" or coverage,  # plain dot scores have no weights
    )
    weights = np.asarray(weights)
    assert not (weights * ~(MASK if coverage else MASK[:, None])).any()  # padding: 0 weight
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)


# --------------------------------------------------------------------------- encoder, bridge

SOURCE = np.array([[3, 4, 5, 6, 0], [7, 8, 0, 0, 0]], "int32")


@pytest.mark.parametrize(
    "cell,layers,bidirectional,merge_mode",
    [
        ("gru", 1, False, "concat"),
        ("lstm", 1, True, "concat"),
        ("peephole_lstm", 1, True, "sum"),
        ("rnn", 2, False, "concat"),
    ],
)
def test_encoder(cell, layers, bidirectional, merge_mode, tmp_path):
    init = dict(
        vocab_size=VOCAB,
        embedding_dim=5,
        units=4,
        cell=cell,
        num_layers=layers,
        bidirectional=bidirectional,
        merge_mode=merge_mode,
        dropout=0.0,
    )
    width = 8 if bidirectional and merge_mode == "concat" else 4
    state_shapes = [[(B, width)] * num_states(cell)] * layers
    _, _, mask = run_layer_test(
        Encoder,
        init_kwargs=init,
        args=(SOURCE,),
        tmp_path=tmp_path,
        expected_output_shape=((B, 5, width), state_shapes, (B, 5)),
    )
    np.testing.assert_array_equal(mask, SOURCE != 0)


@pytest.mark.parametrize(
    "cell,state_sizes,layers,always_project",
    [
        ("lstm", [8], 2, False),  # one bidirectional encoder layer feeds both decoder layers
        ("gru", [4, 4], 2, True),
        ("gru", [4], 1, False),  # sizes agree: passed through, no weights
    ],
)
def test_bridge(cell, state_sizes, layers, always_project, tmp_path):
    states = [[normal(B, size) for _ in range(num_states(cell))] for size in state_sizes]
    projected = always_project or state_sizes[0] != 4
    out = run_layer_test(
        Bridge,
        init_kwargs=dict(units=4, num_layers=layers, cell=cell, always_project=always_project),
        args=(states,),
        tmp_path=tmp_path,
        expected_output_shape=[[(B, 4)] * num_states(cell)] * layers,
        run_training=projected,
    )
    if not projected:
        np.testing.assert_array_equal(out[0][0], states[0][0])


# --------------------------------------------------------------------------- decoder

DECODERS = {
    "sutskever-lstm-2layers": dict(variant="sutskever", cell="lstm", num_layers=2),
    "sutskever-tied": dict(variant="sutskever", embedding_dim=8, tie_embeddings=True),
    "cho": dict(variant="cho"),
    "bahdanau": dict(variant="bahdanau"),
    "luong-general-lstm": dict(variant="luong", attention="general", cell="lstm"),
    "luong-dot": dict(variant="luong", attention="dot"),
    "luong-concat-peephole": dict(variant="luong", attention="concat", cell="peephole_lstm"),
    "luong-input-feeding": dict(variant="luong", attention="general", input_feeding=True),
    "bahdanau-pointer-generator": dict(variant="bahdanau", pointer_generator=True),
    "bahdanau-coverage": dict(variant="bahdanau", coverage=True),
    "luong-coverage-pointer": dict(variant="luong", coverage=True, pointer_generator=True),
}


@pytest.mark.parametrize("name", list(DECODERS))
def test_decoder(name, tmp_path):
    init = dict(vocab_size=VOCAB, embedding_dim=6, units=8, memory_dim=8, context_dim=8)
    init.update(DECODERS[name])
    cell, layers = init.get("cell", "gru"), init.get("num_layers", 1)
    # The state comes from initial_state (documented input of call); a second decoder
    # of the same config makes it, so the keys have the right shapes.
    maker = Decoder(**init)
    maker.build()
    memory = normal(B, SRC_LEN, 8)
    rnn_states = [[normal(B, 8) for _ in range(num_states(cell))] for _ in range(layers)]
    extended = np.array([[5, VOCAB, 6, 0], [7, 8, 0, 0]], "int32")  # VOCAB: a copied word
    state = maker.initial_state(memory, MASK, rnn_states, normal(B, 8), extended_ids=extended)
    state = {k: np.asarray(v) for k, v in state.items()}
    target_in = np.array([[2, 5, VOCAB if init.get("pointer_generator") else 9, 6], [2, 7, 8, 0]])
    out_vocab = VOCAB + 1 if init.get("pointer_generator") else VOCAB
    logits, weights = run_layer_test(
        Decoder,
        init_kwargs=init,
        args=(target_in.astype("int32"), state),
        tmp_path=tmp_path,
        expected_output_shape=((B, TGT_LEN, out_vocab), (B, TGT_LEN, SRC_LEN)),
        # The attention keys are projected by initial_state(), not call().
        not_trained_by_call=("attention/w_k", "attention/w_a"),
    )
    weights = np.asarray(weights)
    if init["variant"] in ("sutskever", "cho"):
        assert not weights.any()
    else:
        assert not (weights * ~MASK[:, None]).any()  # padding gets no attention
        np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    if init.get("pointer_generator"):  # log-probabilities over the extended vocabulary
        np.testing.assert_allclose(np.exp(np.asarray(logits)).sum(-1), 1.0, rtol=1e-4)


# --------------------------------------------------------------------------- cells


def test_peephole_lstm_cell(tmp_path):
    h, c = normal(B, 4), normal(B, 4)
    out, (new_h, _) = run_layer_test(
        PeepholeLSTMCell,
        init_kwargs={"units": 4},
        args=(normal(B, 3), [h, c]),
        tmp_path=tmp_path,
        expected_output_shape=((B, 4), [(B, 4), (B, 4)]),
    )
    np.testing.assert_array_equal(out, new_h)


def test_peephole_lstm_in_an_rnn_layer(tmp_path):
    run_layer_test(
        make_rnn("peephole_lstm", 4, name="peephole_rnn"),
        init_kwargs={"return_sequences": True, "return_state": True},
        args=(normal(B, 5, 3),),
        kwargs={"mask": SOURCE != 0},
        tmp_path=tmp_path,
        expected_output_shape=((B, 5, 4), (B, 4), (B, 4)),
    )


# --------------------------------------------------------------------------- Seq2Seq

SEQ2SEQ = {
    "gru-bahdanau-bidirectional": dict(decoder="bahdanau"),
    "lstm-luong-concat-feeding": dict(
        decoder="luong", cell="lstm", attention="concat", input_feeding=True
    ),
    "rnn-cho": dict(decoder="cho", cell="rnn", bidirectional=False),
    "pointer-coverage": dict(
        decoder="bahdanau", pointer_generator=True, coverage=True, vocab=20, source_vocab=20
    ),
}


@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_seq2seq(name, tmp_path):
    model = tiny_model(**SEQ2SEQ[name])
    source = np.array([[3, 4, 5, 6, 0], [7, 8, 9, 0, 0]], "int32")
    target_in = np.array([[2, 5, 6, 7], [2, 8, 9, 0]], "int32")
    vocab = model.model_args["target_vocab_size"]
    run_layer_test(
        model,
        args=((source, target_in),),
        tmp_path=tmp_path,
        expected_output_shape=(B, 4, vocab),
    )


def test_extractive_summarizer(tmp_path):
    # Two articles of 3 and 2 sentences (8-word slots), START then one pick each.
    rng = np.random.default_rng(0)
    source = np.zeros((B, 3, 8), "int32")
    for b, count in enumerate((3, 2)):
        for j in range(count):
            source[b, j, : rng.integers(1, 9)] = rng.integers(4, 40)
    picks = np.array([[START_ID, FIRST_SENTENCE_ID + 1], [START_ID, FIRST_SENTENCE_ID]])
    run_layer_test(
        ExtractiveSummarizer,
        init_kwargs=dict(vocab_size=40, sentence_words=8, cell="gru", units=8, embedding_dim=8),
        args=((source.reshape(B, -1), picks),),
        expected_output_shape=(B, 2, FIRST_SENTENCE_ID + 3),
        tmp_path=tmp_path,
        # The harness's loss is a random projection of the logits, whose masked entries
        # (-1e9) swamp a float32 sum; test_extractive.py takes a step on the real loss.
        run_training=False,
    )


def test_every_registered_layer_is_covered_here():
    # The layers registered by the modules imported so far (all of the model's here).
    registered = {
        obj
        for key, obj in keras.saving.get_custom_objects().items()
        if key.startswith("translator>")
        and isinstance(obj, type)
        and issubclass(obj, keras.layers.Layer)
    }
    covered = {
        *ATTENTIONS.values(),
        Encoder,
        Bridge,
        Decoder,
        PeepholeLSTMCell,
        Seq2Seq,
        ExtractiveSummarizer,
    }
    assert not registered - covered, f"add {registered - covered} to tests/test_layers.py"
    # 4 attention classes, Encoder, Bridge, Decoder, cell, Seq2Seq, ExtractiveSummarizer
    assert len(registered) == 10
