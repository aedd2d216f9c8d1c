"""Tests of translator.tokenizer on real corpora and real TF graphs.

Corpora come from $TRANSLATOR_DATA_DIR (the shared test data); tests that need them
are skipped when it is unset.  Vocabularies are small to keep training cheap.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops a reloaded SavedModel needs)

from translator.config import TokenizerConfig
from translator.special_tokens import (
    END_ID,
    PAD_ID,
    RESERVED_PIECES,
    START_ID,
    UNK_ID,
    UNK_TEXT,
)
from translator.tokenizer import (
    CharTokenizer,
    Normalization,
    SentencePieceTokenizer,
    Tokenizer,
    WordTokenizer,
    load_tokenizer,
    load_tokenizers,
    normalize,
    normalize_strings,
    save_tokenizers,
    train_tokenizers,
)

DATA_DIR = os.environ.get("TRANSLATOR_DATA_DIR")
needs_data = pytest.mark.skipif(
    not DATA_DIR, reason="TRANSLATOR_DATA_DIR is not set (it points to the shared test corpora)"
)
LANGUAGES = ("spa", "eng", "deu", "fra", "cmn")

# Strings that stress normalization and byte fallback: accents (composed and
# decomposed), Spanish punctuation, digits, emoji (with ZWJ and skin tone), scripts
# absent from every training corpus, compatibility characters, odd whitespace.
TRICKY = [
    "¿Dónde está el niño? ¡Qué día!",
    "Cafe\u0301 cre\u0300me bru\u0302le\u0301e",  # decomposed accents → NFC composes
    "Ñandú, pingüino, ÀÉÎÕÜ, straße, ẞ, İstanbul, ΟΔΟΣ",
    "Tel. 0034 912 345 678, 3.14159, 1,000,000 €, 50 %",
    "Emoji 😀👍🏽 👩‍👩‍👧 🇪🇸 ✈️",
    "Unseen: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ᚠᛇᚻ ꦱꦸꦫꦏꦂꦠ 𓀀 龘 靐 𠜎",
    "Compatibility: ﬁ ﬂ Ａｂｃ ① ½ ㎏",
    "  lots\tof \u00a0 odd\u3000whitespace\u2028here  ",
    "",
]


# --------------------------------------------------------------------------- corpora


def _data_path(*parts: str) -> Path:
    return Path(DATA_DIR or "").joinpath(*parts)


@functools.cache
def _sentences(lang: str) -> tuple[str, ...]:
    """All sentences of one language from the shared corpora."""
    if lang in ("spa", "cmn"):
        folder = {"spa": "spa-eng", "cmn": "cmn-eng"}[lang]
        text = _data_path(folder, f"{lang}.txt").read_text(encoding="utf-8")
        lines = [line.split("\t")[1] for line in text.splitlines() if "\t" in line]
    elif lang == "fra":
        with zipfile.ZipFile(_data_path("tatoeba-anki", "fra-eng.zip")) as archive:
            text = archive.read("fra.txt").decode("utf-8")
        lines = [line.split("\t")[1] for line in text.splitlines() if "\t" in line]
    else:
        name = {"eng": "train.en", "deu": "train.de"}[lang]
        lines = _data_path("multi30k", name).read_text(encoding="utf-8").splitlines()
    return tuple(lines)


@functools.cache
def _split(lang: str, n_train: int = 3000, n_test: int = 1000) -> tuple[list[str], list[str]]:
    """Disjoint random training and test sentences of one language."""
    distinct = sorted(set(_sentences(lang)))
    chosen = random.Random(0).sample(distinct, n_train + n_test)
    return chosen[:n_train], chosen[n_train:]


@functools.cache
def _sentencepiece(lang: str) -> SentencePieceTokenizer:
    train, _ = _split(lang)
    # 3,000 Chinese sentences need ~2,400 pieces (260 reserved and byte pieces plus
    # the characters that cover 99.95% of the text); the rest go to byte fallback.
    size = 3000 if lang == "cmn" else 2000
    return SentencePieceTokenizer.train(train, vocab_size=size, name=f"{lang}_tokenizer")


def _texts(tensor: tf.Tensor) -> list[str]:
    return [s.decode("utf-8") for s in tensor.numpy()]


def _id_lists(ragged: tf.RaggedTensor) -> list[list[int]]:
    return ragged.to_list()


# --------------------------------------------------------------------------- normalization


def test_reserved_ids() -> None:
    assert (PAD_ID, UNK_ID, START_ID, END_ID) == (0, 1, 2, 3)
    assert RESERVED_PIECES == ("<pad>", "<unk>", "<s>", "</s>")


NORMALIZATIONS = [
    Normalization(),
    Normalization("NFKC"),
    Normalization("NFC", lowercase=True),
    Normalization("NFKC", lowercase=True, strip_accents=True),
]


@pytest.mark.parametrize("norm", NORMALIZATIONS, ids=str)
def test_python_and_graph_normalization_agree_on_tricky_strings(norm: Normalization) -> None:
    graph = _texts(normalize_strings(TRICKY, norm))
    assert graph == [normalize(s, norm) for s in TRICKY]


def test_normalization_settings_do_what_they_say() -> None:
    assert normalize("Cafe\u0301  \t au\u00a0lait ") == "Café au lait"
    assert normalize("ﬁne Ａ") == "ﬁne Ａ"  # NFC keeps compatibility characters
    assert normalize("ﬁne Ａ", Normalization("NFKC")) == "fine A"
    assert normalize("ÑANDÚ Straße", Normalization(lowercase=True)) == "ñandú straße"
    assert normalize("¿Ñandú? Élan", Normalization(strip_accents=True)) == "¿Nandu? Elan"


@needs_data
@pytest.mark.parametrize("lang", LANGUAGES)
def test_python_and_graph_normalization_agree_on_corpora(lang: str) -> None:
    _, test = _split(lang)
    for norm in (NORMALIZATIONS[0], NORMALIZATIONS[-1]):
        assert _texts(normalize_strings(test, norm)) == [normalize(s, norm) for s in test]


# --------------------------------------------------------------------------- SentencePiece


@needs_data
@pytest.mark.parametrize("lang", LANGUAGES)
def test_sentencepiece_round_trip_on_real_sentences(lang: str) -> None:
    tokenizer = _sentencepiece(lang)
    _, test = _split(lang)
    ids = tokenizer.tokenize(tf.constant(test))
    assert ids.dtype == tf.int32 and ids.shape.rank == 2 and ids.nrows() == len(test)
    flat = ids.flat_values.numpy()
    # Byte fallback: nothing unknown; tokenize() never emits PAD/START/END.
    assert not np.isin(flat, [PAD_ID, UNK_ID, START_ID, END_ID]).any()
    assert flat.max() < tokenizer.vocab_size
    expected = [normalize(s) for s in test]
    assert _texts(tokenizer.detokenize(ids)) == expected
    assert _texts(tokenizer.normalize(tf.constant(test))) == expected


@needs_data
def test_sentencepiece_round_trips_unseen_characters_through_bytes() -> None:
    tokenizer = _sentencepiece("spa")
    ids = tokenizer.tokenize(tf.constant(TRICKY))
    assert _texts(tokenizer.detokenize(ids)) == [normalize(s) for s in TRICKY]
    assert UNK_ID not in ids.flat_values.numpy()
    pieces = _texts(tokenizer.id_to_piece(ids[4]))  # the emoji line
    assert "<0xF0>" in pieces  # first byte of a 4-byte UTF-8 character
    # Chinese characters never seen by the Spanish model round-trip as bytes too.
    chinese = ["这是一个测试。", "龘靐齉爩"]
    assert _texts(tokenizer.detokenize(tokenizer.tokenize(chinese))) == chinese


@needs_data
def test_chinese_rare_characters_round_trip() -> None:
    tokenizer = _sentencepiece("cmn")
    rare = ["他喜欢吃饕餮大餐，还有鱻和麤。", "𠜎𠜱𠝹𠱓 are rare CJK Ext-B characters"]
    ids = tokenizer.tokenize(rare)
    assert UNK_ID not in ids.flat_values.numpy()
    assert _texts(tokenizer.detokenize(ids)) == rare


def test_sentencepiece_unigram_bpe_vocab_size_fallbacks(caplog: pytest.LogCaptureFixture) -> None:
    sentences = [f"Frase número {i}: el gato {i % 7} come pescado." for i in range(300)]
    with caplog.at_level(logging.INFO, logger="translator.tokenizer"):
        bpe = SentencePieceTokenizer.train(sentences, vocab_size=50_000, model_type="bpe")
    assert bpe.vocab_size < 50_000
    assert "asked for 50000 pieces, got" in caplog.text
    assert bpe.meta["model_type"] == "bpe"
    text = ["El gato número 12 come pescado."]
    assert _texts(bpe.detokenize(bpe.tokenize(text))) == text
    with pytest.raises(ValueError, match="too small"):
        SentencePieceTokenizer.train(sentences, vocab_size=100)


def test_sentencepiece_training_is_deterministic() -> None:
    sentences = [
        f"Línea {i}: {'abcdefghij'[i % 10] * (i % 5 + 1)} y más texto." for i in range(500)
    ]
    first = SentencePieceTokenizer.train(sentences, vocab_size=300)
    second = SentencePieceTokenizer.train(sentences, vocab_size=300)
    assert first.model_proto == second.model_proto


# --------------------------------------------------------------------------- char and word


@needs_data
def test_char_tokenizer_round_trip() -> None:
    train, test = _split("spa")
    tokenizer = CharTokenizer.train(train, vocab_size=500)
    vocab = tokenizer.vocabulary()
    assert tuple(vocab[:4]) == RESERVED_PIECES
    assert vocab[4] == " "  # the most frequent character in Spanish text
    known = set(vocab[4:])
    # Round trip means: text whose characters were all seen in training comes back
    # exactly; an unseen character becomes UNK and shows as ⁇.
    covered = [s for s in test if set(normalize(s)) <= known]
    assert len(covered) > 0.95 * len(test)
    ids = tokenizer.tokenize(covered)
    assert UNK_ID not in ids.flat_values.numpy()
    assert [len(row) for row in _id_lists(ids)] == [len(normalize(s)) for s in covered]
    assert _texts(tokenizer.detokenize(ids)) == [normalize(s) for s in covered]
    unseen = tokenizer.tokenize(["ñ😀ß"])
    assert _id_lists(unseen)[0][1] == UNK_ID
    assert _texts(tokenizer.detokenize(unseen)) == [
        f"ñ{UNK_TEXT}" + ("ß" if "ß" in known else UNK_TEXT)
    ]


@needs_data
def test_word_tokenizer() -> None:
    train, test = _split("spa")
    tokenizer = WordTokenizer.train(train, vocab_size=1500)
    assert tokenizer.vocab_size == 1500
    ids = tokenizer.tokenize(["¿Dónde está el perro?", "Xyzzyq plugh."])
    assert _texts(tokenizer.id_to_piece(ids[0])) == ["¿", "Dónde", "está", "el", "perro", "?"]
    assert _id_lists(ids)[1][:2] == [UNK_ID, UNK_ID]  # out of vocabulary
    assert _texts(tokenizer.detokenize(ids)) == [
        "¿ Dónde está el perro ?",
        f"{UNK_TEXT} {UNK_TEXT} .",
    ]
    # Space-joined output tokenizes back to the same ids.
    ids = tokenizer.tokenize(test)
    again = tokenizer.tokenize(tokenizer.detokenize(ids))
    assert _id_lists(again) == _id_lists(ids)
    # Han characters are split one by one (Chinese has no spaces).
    assert tokenizer.tokenize(["你好"]).row_lengths().numpy().tolist() == [2]


def test_word_tokenizer_lowercase_and_accents() -> None:
    norm = Normalization(lowercase=True, strip_accents=True)
    tokenizer = WordTokenizer.train(["Él está aquí.", "el esta aqui"], 50, normalization=norm)
    assert _id_lists(tokenizer.tokenize(["ÉL ESTÁ AQUÍ."])) == _id_lists(
        tokenizer.tokenize(["el esta aqui ."])
    )
    assert UNK_ID not in tokenizer.tokenize(["ÉL ESTÁ AQUÍ."]).flat_values.numpy()


# --------------------------------------------------------------------------- interface


def _small_tokenizers() -> list[Tokenizer]:
    sentences = [
        "El niño come manzanas.",
        "¿Dónde está la estación?",
        "Tengo 3 gatos y 2 perros.",
    ] * 50
    return [
        SentencePieceTokenizer.train(sentences, vocab_size=300),
        CharTokenizer.train(sentences, vocab_size=100),
        WordTokenizer.train(sentences, vocab_size=100),
    ]


@pytest.fixture(scope="module")
def small_tokenizers() -> list[Tokenizer]:
    return _small_tokenizers()


def test_detokenize_drops_pad_start_and_everything_after_end(
    small_tokenizers: list[Tokenizer],
) -> None:
    for tokenizer in small_tokenizers:
        ids = tokenizer.tokenize(["El niño come manzanas.", "Tengo 3 perros."])
        rows = _id_lists(ids)
        width = max(map(len, rows)) + 4
        dense = np.full([2, width], PAD_ID, np.int64)  # int64 like an argmax
        for i, row in enumerate(rows):
            full = [START_ID, *row, END_ID, 7, 8]  # junk after END is ignored
            dense[i, : len(full)] = full
        expected = _texts(tokenizer.detokenize(ids))
        assert _texts(tokenizer.detokenize(dense)) == expected, tokenizer.kind
        assert _texts(tokenizer.detokenize(tf.ragged.constant(rows))) == expected
        assert tokenizer.detokenize(rows[0]).numpy().decode() == expected[0]


def test_id_to_piece_shapes_and_reserved_pieces(small_tokenizers: list[Tokenizer]) -> None:
    for tokenizer in small_tokenizers:
        reserved = tokenizer.id_to_piece(tf.constant([[0, 1], [2, 3]]))
        assert reserved.shape == (2, 2) and reserved.dtype == tf.string
        assert _texts(tf.reshape(reserved, [-1])) == list(RESERVED_PIECES)
        assert tokenizer.vocabulary()[:4] == list(RESERVED_PIECES)
        ids = tokenizer.tokenize(["El niño come.", "Tengo 3 gatos."])
        pieces = tokenizer.id_to_piece(ids)
        assert isinstance(pieces, tf.RaggedTensor)
        assert pieces.row_lengths().numpy().tolist() == ids.row_lengths().numpy().tolist()
        vocab = tokenizer.vocabulary()
        assert [p.decode() for p in pieces.flat_values.numpy()] == [
            vocab[i] for i in ids.flat_values.numpy()
        ]
        assert _texts(tokenizer.id_to_piece([-1, 10**6])) == ["<unk>", "<unk>"]


def test_tokenizers_work_inside_tf_function_and_tf_data(
    small_tokenizers: list[Tokenizer],
) -> None:
    for tokenizer in small_tokenizers:

        @tf.function
        def round_trip(strings: tf.Tensor, tok: Tokenizer = tokenizer) -> tf.Tensor:
            return tok.detokenize(tok.tokenize(strings).to_tensor())

        strings = tf.constant(["¿Dónde está el niño?", "Tengo 2 gatos."])
        assert _texts(round_trip(strings)) == _texts(
            tokenizer.detokenize(tokenizer.tokenize(strings))
        )
        dataset = tf.data.Dataset.from_tensor_slices(strings).batch(2).map(tokenizer.tokenize)
        assert _id_lists(next(iter(dataset))) == _id_lists(tokenizer.tokenize(strings))


# --------------------------------------------------------------------------- persistence


@pytest.mark.parametrize("kind", ["sentencepiece", "char", "word"])
def test_save_and_load_give_identical_ids(
    kind: str, small_tokenizers: list[Tokenizer], tmp_path: Path
) -> None:
    tokenizer = {t.kind: t for t in small_tokenizers}[kind]
    info = tokenizer.save(tmp_path)
    assert info.name == "tokenizer.json"
    files = sorted(p.name for p in tmp_path.iterdir())
    if kind == "sentencepiece":
        assert files == ["tokenizer.json", "tokenizer.model", "tokenizer.vocab"]
    else:
        assert files == ["tokenizer.json", "tokenizer.vocab.txt"]
    restored = load_tokenizer(tmp_path)
    assert type(restored) is type(tokenizer)
    assert restored.vocabulary() == tokenizer.vocabulary()
    assert restored.normalization == tokenizer.normalization
    text = tf.constant(TRICKY)
    assert _id_lists(restored.tokenize(text)) == _id_lists(tokenizer.tokenize(text))
    assert load_tokenizer(info).vocab_size == tokenizer.vocab_size


def test_save_tokenizers_pair_and_joint(tmp_path: Path) -> None:
    pairs = [(f"I have {i} cats.", f"Tengo {i} gatos.") for i in range(200)]
    config = TokenizerConfig(kind="char", vocab_size=60, lowercase=True)
    source, target = train_tokenizers(config, pairs)
    assert source is not target
    save_tokenizers(source, target, tmp_path / "pair")
    loaded_source, loaded_target = load_tokenizers(tmp_path / "pair")
    assert loaded_source.vocabulary() == source.vocabulary()
    assert loaded_target.vocabulary() == target.vocabulary()
    assert loaded_target.normalization.lowercase
    with pytest.raises(ValueError, match="load_tokenizers"):
        load_tokenizer(tmp_path / "pair")
    assert load_tokenizer(tmp_path / "pair" / "target").vocabulary() == target.vocabulary()

    joint_config = TokenizerConfig(vocab_size=300, joint=True, model_type="bpe")
    joint, same = train_tokenizers(joint_config, pairs)
    assert joint is same
    save_tokenizers(joint, same, tmp_path / "joint")
    assert (tmp_path / "joint" / "joint.model").exists()
    loaded, loaded_same = load_tokenizers(tmp_path / "joint")
    assert loaded is loaded_same
    text = tf.constant(["Tengo 12 cats."])
    assert _id_lists(loaded.tokenize(text)) == _id_lists(joint.tokenize(text))


def test_train_sentences_cap_is_deterministic() -> None:
    pairs = [(f"source sentence {i}", f"frase de destino {i}") for i in range(400)]
    config = TokenizerConfig(vocab_size=300, train_sentences=100)
    first, _ = train_tokenizers(config, pairs)
    again, _ = train_tokenizers(config, pairs)
    assert first.meta["train_sentences"] == 100
    assert first.model_proto == again.model_proto


@pytest.mark.parametrize("kind", ["sentencepiece", "char", "word"])
def test_tokenizer_inside_saved_model(
    kind: str, small_tokenizers: list[Tokenizer], tmp_path: Path
) -> None:
    tokenizer = {t.kind: t for t in small_tokenizers}[kind]

    class Export(tf.Module):
        def __init__(self, tok: Tokenizer) -> None:
            super().__init__()
            self.tokenizer = tok

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def ids(self, strings: tf.Tensor) -> tf.Tensor:
            return self.tokenizer.tokenize(strings).to_tensor()

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def round_trip(self, strings: tf.Tensor) -> tf.Tensor:
            return self.tokenizer.detokenize(self.tokenizer.tokenize(strings))

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
        def pieces(self, ids: tf.Tensor) -> tf.Tensor:
            return self.tokenizer.id_to_piece(ids)

    export = Export(tokenizer)
    strings = tf.constant(TRICKY[:5])
    expected_ids = export.ids(strings).numpy()
    expected_text = _texts(export.round_trip(strings))
    expected_pieces = export.pieces(tf.constant(expected_ids)).numpy()
    tf.saved_model.save(export, str(tmp_path / "model"))
    del export
    loaded = tf.saved_model.load(str(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.ids(strings).numpy(), expected_ids)
    assert _texts(loaded.round_trip(strings)) == expected_text
    np.testing.assert_array_equal(loaded.pieces(tf.constant(expected_ids)).numpy(), expected_pieces)
    # The tokenizer's own tf.functions are saved too.
    reloaded_ids = loaded.tokenizer.tokenize(strings)
    assert _id_lists(reloaded_ids) == _id_lists(tokenizer.tokenize(strings))
    assert _texts(loaded.tokenizer.detokenize_dense(reloaded_ids.to_tensor())) == expected_text
    if kind == "sentencepiece":
        # A fresh process has no SentencePiece resource yet: the SavedModel must
        # recreate it from what it holds (no files besides the SavedModel needed).
        script = (
            "import json, sys\n"
            "import tensorflow as tf\n"
            "import tensorflow_text\n"
            "m = tf.saved_model.load(sys.argv[1])\n"
            "out = m.round_trip(tf.constant(json.loads(sys.argv[2])))\n"
            "print(json.dumps([s.decode() for s in out.numpy()]))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "model"), json.dumps(TRICKY[:5])],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert json.loads(result.stdout.strip().splitlines()[-1]) == expected_text


def test_sentencepiece_model_proto_is_plain_bytes(small_tokenizers: list[Tokenizer]) -> None:
    import sentencepiece as spm

    tokenizer = small_tokenizers[0]
    assert isinstance(tokenizer, SentencePieceTokenizer)
    processor = spm.SentencePieceProcessor(model_proto=tokenizer.model_proto)
    text = "Tengo 3 gatos."
    assert processor.encode(text) == _id_lists(tokenizer.tokenize([text]))[0]
