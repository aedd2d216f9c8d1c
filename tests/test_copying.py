"""The pointer-generator's extended vocabulary, and a copy task only copying can solve."""

import random
import string

import keras
import numpy as np
import tensorflow as tf

from translator.config import (
    Config,
    DataConfig,
    DecodeConfig,
    ModelConfig,
    TokenizerConfig,
    TrainConfig,
)
from translator.copying import detokenize_extended, extend_source, extend_target
from translator.export import export_model
from translator.model import build_model
from translator.pipeline import make_dataset
from translator.serving import load_exported
from translator.tokenizer import END_ID, START_ID, UNK_ID, WordTokenizer


def _tokenizer():
    return WordTokenizer.train(["the cat sat on the mat", "a dog"], vocab_size=50)


def test_unknown_source_words_get_per_row_ids_in_order_of_appearance():
    tok = _tokenizer()
    v = tok.vocab_size
    src = tf.constant(["the zorg sat on blix zorg", "a dog", "fleem the"])
    extended, oov = extend_source(tok.pieces(src), tok)
    the, sat, on = (int(tok.piece_to_id(w)) for w in ("the", "sat", "on"))
    assert extended.to_list() == [
        [the, v, sat, on, v + 1, v],
        [int(tok.piece_to_id("a")), int(tok.piece_to_id("dog"))],
        [v, the],
    ]
    assert oov.numpy().tolist() == [[b"zorg", b"blix"], [b"", b""], [b"fleem", b""]]


def test_targets_copy_only_words_their_own_source_has():
    tok = _tokenizer()
    v = tok.vocab_size
    src = tf.constant(["the zorg blix", "fleem"])
    _, oov = extend_source(tok.pieces(src), tok)
    tgt = tf.constant(["blix zorg qq", "zorg fleem"])
    ids = extend_target(tok.pieces(tgt), tok.tokenize(tgt), oov, v)
    assert ids.to_list() == [[v + 1, v, UNK_ID], [UNK_ID, v]]
    text = detokenize_extended(ids.to_tensor(), oov, tok).numpy().tolist()
    assert text == ["blix zorg ⁇".encode(), "⁇ fleem".encode()]


def _copy_pairs(n, seed):
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        name = "".join(rng.choices(string.ascii_lowercase, k=6))
        filler = rng.choice(["hello", "hi", "greetings"])
        pairs.append((f"{filler} name : {name} .", name))
    return pairs


def _exact_match(model, tok, pairs, pointer):
    sources = tf.constant([s for s, _ in pairs])
    extended, oov = extend_source(tok.pieces(sources), tok)
    # A pointer-generator reads the extended ids; the plain model the usual ones.
    source_ids = extended.to_tensor() if pointer else tok.tokenize(sources).to_tensor()
    state = model.encode(source_ids)
    tokens = tf.fill([len(pairs)], START_ID)
    out = []
    for _ in range(3):  # python loop: fine in a test
        logits, state, _ = model.decode_step(tokens, state)
        tokens = tf.cast(tf.argmax(logits, -1), tf.int32)
        out.append(tokens)
    ids = tf.stack(out, 1)
    text = detokenize_extended(ids, oov, tok).numpy()
    return np.mean([t.decode() == ref for t, (_, ref) in zip(text, pairs)])


def test_pointer_generator_learns_to_copy_unseen_names_and_plain_attention_cannot(tmp_path):
    train, test = _copy_pairs(1500, 0), _copy_pairs(100, 1)
    # The names are never in the vocabulary: only "hello name : ." and friends are.
    tok = WordTokenizer.train([s for s, _ in train[:50]] + ["x"], vocab_size=10)
    assert all(int(tok.piece_to_id(t)) == UNK_ID for _, t in test)
    results = {}
    for pointer in (False, True):
        keras.utils.set_random_seed(0)
        model = build_model(
            ModelConfig(
                cell="gru",
                embedding_dim=32,
                units=32,
                decoder="bahdanau",
                pointer_generator=pointer,
                source_vocab_size=tok.vocab_size,
                target_vocab_size=tok.vocab_size,
            )
        )
        dataset, _ = make_dataset(
            train,
            tok,
            tok,
            DataConfig(),
            TrainConfig(batch_size=50),
            training=True,
            pointer_generator=pointer,
        )
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
        )
        model.fit(dataset, epochs=3, verbose=0)
        results[pointer] = _exact_match(model, tok, test, pointer)
    print("copy-task exact match: plain", results[False], "pointer-generator", results[True])
    assert results[True] >= 0.9
    assert results[False] == 0.0  # it can only ever say "⁇"

    # The exported SavedModel copies too, in every decoding strategy.
    config = Config(
        tokenizer=TokenizerConfig(kind="word", joint=True),
        model=ModelConfig(decoder="bahdanau", pointer_generator=True),
        decode=DecodeConfig(max_length_a=0.0, max_length_b=4),
    )
    export_model(model, tok, tok, config, tmp_path / "export")
    exported = load_exported(tmp_path / "export")
    sources = [s for s, _ in test[:20]]
    names = [t for _, t in test[:20]]
    greedy = exported.translate(sources)
    assert [row[0] for row in greedy["translations"]] == names
    assert list(greedy["source_pieces"][0][3:4]) == [names[0]]  # the word, not "<unk>"
    assert exported.translate(sources, beam_size=3)["translations"][:, 0].tolist() == names
    sampled = exported.translate(sources, temperature=0.01, seed=1)["translations"][:, 0]
    assert sampled.tolist() == names


def test_end_id_is_not_copyable():
    # END is generated, never copied: the labels' END stays END.
    tok = _tokenizer()
    _, oov = extend_source(tok.pieces(tf.constant(["zorg"])), tok)
    ids = extend_target(
        tok.pieces(tf.constant(["zorg"])),
        tok.tokenize(tf.constant(["zorg"])),
        oov,
        tok.vocab_size,
    )
    assert END_ID not in ids.flat_values.numpy()
