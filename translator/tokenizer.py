"""Tokenization that runs inside the TensorFlow graph.

An exported SavedModel maps raw strings to raw strings, so normalization,
tokenization and detokenization are TF ops (from TensorFlow and tensorflow-text)
held by trackable ``tf.Module`` objects that are saved with the model.

Three kinds share one interface (:class:`Tokenizer`) and the reserved ids
``PAD_ID=0``, ``UNK_ID=1``, ``START_ID=2``, ``END_ID=3``:

* :class:`SentencePieceTokenizer`: unigram or BPE subwords trained with the
  ``sentencepiece`` package, applied with ``tf_text.SentencepieceTokenizer``.
  Byte fallback is on by default, so characters never seen in training (emoji,
  rare Chinese characters) become byte pieces and round-trip exactly.
* :class:`CharTokenizer`: one id per Unicode character (``dates``, teaching).
* :class:`WordTokenizer`: whitespace + punctuation split, most frequent words.

Every kind normalizes first (:func:`normalize_strings` in the graph, :func:`normalize`
in Python; both give the same result): optional lower-casing, Unicode NFC or NFKC,
optional accent stripping, and whitespace runs collapsed to one space with the ends
stripped. ``detokenize(tokenize(x)) == normalize(x)`` for SentencePiece (always,
with byte fallback) and for characters (when every character of ``x`` is in the
vocabulary); words are joined with single spaces.

Unknown ids render as ``⁇`` in detokenized text (SentencePiece's convention).

Files written by :meth:`Tokenizer.save` (``prefix`` is ``source``, ``target`` or
``joint`` when written by :func:`save_tokenizers`):

* ``{prefix}.json``: kind, vocabulary size, normalization and training settings;
* ``{prefix}.model`` + ``{prefix}.vocab`` (SentencePiece model and ``piece\\tscore``
  list) or ``{prefix}.vocab.txt`` (one piece per line, line number = id) for
  char/word.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import json
import logging
import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import sentencepiece as spm
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.python.ops import sentencepiece_tokenizer as _tf_text_sp

from translator.config import TokenizerConfig
from translator.special_tokens import (
    END_ID,
    PAD_ID,
    RESERVED_PIECES,
    START_ID,
    UNK_ID,
    UNK_TEXT,
)

_LOG = logging.getLogger(__name__)


FORMAT_VERSION = 1
PAIR_INDEX_FILE = "tokenizers.json"
SINGLE_PREFIX = "tokenizer"

# Whitespace that normalization turns into a plain space. Listed explicitly (instead
# of \s) because RE2's \s is ASCII-only and Python's \s is Unicode: the same list in
# both keeps graph and Python normalization identical.
_WHITESPACE_RANGES = (
    (0x09, 0x0D),
    (0x20, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
)
_RE2_WHITESPACE_RUN = (
    "[" + "".join(f"\\x{{{a:04x}}}-\\x{{{b:04x}}}" for a, b in _WHITESPACE_RANGES) + "]+"
)
_PY_WHITESPACE_RUN = re.compile(
    "[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in _WHITESPACE_RANGES) + "]+"
)
# Word split: every punctuation/symbol character and every Han character (Chinese has
# no spaces) becomes its own token; runs of letters, digits and marks are words.
_RE2_WORD_SPLIT = r"(\p{Han}|[^\p{L}\p{N}\p{M}\s])"

_STRINGS = tf.TensorSpec([None], tf.string)
_IDS_2D = tf.TensorSpec([None, None], tf.int32)
_IDS_ANY = tf.TensorSpec(None, tf.int32)
_CHUNK = 8192  # strings per eager call when preparing training text


# --------------------------------------------------------------------------- normalization


@dataclasses.dataclass(frozen=True)
class Normalization:
    """How text is normalized before tokenization.

    Attributes:
        form: Unicode normalization form, ``"NFC"`` (keeps compatibility characters
            such as ``ﬁ`` or full-width letters) or ``"NFKC"`` (folds them).
        lowercase: lower-case first (Unicode full lower-case mapping).
        strip_accents: drop combining marks (``é`` → ``e``, ``ñ`` → ``n``).
    """

    form: str = "NFC"
    lowercase: bool = False
    strip_accents: bool = False

    def __post_init__(self) -> None:
        if self.form not in ("NFC", "NFKC"):
            raise ValueError(f"normalization form {self.form!r}: choose 'NFC' or 'NFKC'")

    @classmethod
    def from_config(cls, config: TokenizerConfig) -> Normalization:
        return cls(config.normalization, config.lowercase, config.strip_accents)


def normalize(text: str, normalization: Normalization | None = None) -> str:
    """Normalizes one string in Python exactly as :func:`normalize_strings` does in graph.

    Args:
        text: any Unicode string.
        normalization: the settings (default: NFC, case and accents kept).

    Returns:
        The normalized string: optionally lower-cased, NFC/NFKC, optionally without
        combining marks, whitespace runs replaced by one space, ends stripped.
    """
    norm = normalization or Normalization()
    if norm.lowercase:
        text = text.lower()
    text = unicodedata.normalize(norm.form, text)
    if norm.strip_accents:
        text = unicodedata.normalize("NFD", text)
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        text = unicodedata.normalize(norm.form, text)
    return _PY_WHITESPACE_RUN.sub(" ", text).strip(" ")


def normalize_strings(strings: Any, normalization: Normalization | None = None) -> tf.Tensor:
    """Normalizes a string tensor with TF ops (usable eagerly and inside tf.function).

    Args:
        strings: ``tf.string`` tensor of any shape (or anything convertible to one).
        normalization: the settings (default: NFC, case and accents kept).

    Returns:
        ``tf.string`` tensor of the same shape; see :func:`normalize`.
    """
    norm = normalization or Normalization()
    x = tf.convert_to_tensor(strings, tf.string)
    if norm.lowercase:
        # tf.strings.lower with an encoding uses ICU's full lower-case mapping, which
        # matches Python's str.lower(); tf_text.case_fold_utf8 would also apply NFKC
        # and fold ß to ss.
        x = tf.strings.lower(x, encoding="utf-8")
    x = tf_text.normalize_utf8(x, norm.form)
    if norm.strip_accents:
        x = tf_text.normalize_utf8(x, "NFD")
        x = tf.strings.regex_replace(x, r"\p{Mn}+", "")
        x = tf_text.normalize_utf8(x, norm.form)
    x = tf.strings.regex_replace(x, _RE2_WHITESPACE_RUN, " ")
    return tf.strings.strip(x)


def _normalize_all(sentences: Sequence[str], normalization: Normalization) -> list[str]:
    """Graph-normalizes many Python strings (in chunks), dropping empty results."""
    out: list[str] = []
    for start in range(0, len(sentences), _CHUNK):
        chunk = normalize_strings(list(sentences[start : start + _CHUNK]), normalization)
        out.extend(s.decode("utf-8") for s in chunk.numpy())
    return [s for s in out if s]


# --------------------------------------------------------------------------- base class


def _as_int32(ids: Any) -> tf.Tensor | tf.RaggedTensor:
    if isinstance(ids, tf.RaggedTensor):
        return ids.with_flat_values(tf.cast(ids.flat_values, tf.int32))
    return tf.cast(tf.convert_to_tensor(ids), tf.int32)


def _strip_special(ids: tf.Tensor) -> tf.RaggedTensor:
    """Drops PAD and START ids and everything from the first END on: [B, L] → [B, (n)]."""
    after_end = tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=1) > 0
    keep = tf.logical_not(after_end) & tf.not_equal(ids, PAD_ID) & tf.not_equal(ids, START_ID)
    return tf.ragged.boolean_mask(ids, keep)


class Tokenizer(tf.Module):
    """Common interface of the in-graph tokenizers (a trackable ``tf.Module``).

    ``normalize``, ``tokenize`` and the graph halves of ``detokenize`` and
    ``id_to_piece`` are ``tf.function``\\ s with fixed input signatures, so they can
    be called eagerly, from other ``tf.function``\\ s and ``tf.data`` maps, and they
    are saved with any SavedModel that holds the tokenizer.  Loading such a
    SavedModel needs ``import tensorflow_text`` first (it registers the ops).
    """

    kind: ClassVar[str] = ""

    def __init__(self, normalization: Normalization, meta: dict[str, Any], name: str) -> None:
        super().__init__(name=name)
        self.normalization = normalization
        # json text, not a dict: tf.Module would wrap a dict in a trackable proxy.
        self._meta_json = json.dumps(meta, sort_keys=True)

    # -- the graph interface -------------------------------------------------------
    @tf.function(input_signature=[_STRINGS])
    def normalize(self, strings: tf.Tensor) -> tf.Tensor:
        """Normalizes ``strings`` (``tf.string`` [batch]) → ``tf.string`` [batch]."""
        return normalize_strings(strings, self.normalization)

    @tf.function(input_signature=[_STRINGS])
    def tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        """Normalizes and tokenizes ``strings`` (``tf.string`` [batch]).

        Returns:
            ``tf.RaggedTensor`` int32 [batch, (tokens)], without START/END ids.
        """
        return self._encode(normalize_strings(strings, self.normalization))

    def detokenize(self, ids: Any) -> tf.Tensor:
        """Turns token ids back into text.

        Args:
            ids: int ids, ``tf.RaggedTensor`` [batch, (tokens)] or dense [batch, len]
                (for instance padded decoder output), or one sequence [len].  PAD and
                START ids are dropped, and so is everything from the first END on.

        Returns:
            ``tf.string`` [batch] (a scalar for one sequence).
        """
        ids = _as_int32(ids)
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(default_value=PAD_ID)
        if ids.shape.rank == 1:
            return self.detokenize_dense(ids[tf.newaxis])[0]
        return self.detokenize_dense(ids)

    @tf.function(input_signature=[_IDS_2D])
    def detokenize_dense(self, ids: tf.Tensor) -> tf.Tensor:
        """Graph half of :meth:`detokenize`: int32 [batch, len] → ``tf.string`` [batch]."""
        in_range = (ids >= 0) & (ids < self.vocab_size)
        ids = tf.where(in_range, ids, UNK_ID)
        return self._decode(_strip_special(ids))

    def id_to_piece(self, ids: Any) -> tf.Tensor | tf.RaggedTensor:
        """Maps ids (dense of any shape, or ragged) to their pieces, same shape.

        Reserved ids give ``<pad>``, ``<unk>``, ``<s>``, ``</s>``; out-of-range ids
        give ``<unk>``.  Used for attention-plot labels.
        """
        ids = _as_int32(ids)
        if isinstance(ids, tf.RaggedTensor):
            return ids.with_flat_values(self.id_to_piece_dense(ids.flat_values))
        return self.id_to_piece_dense(ids)

    @tf.function(input_signature=[_IDS_ANY])
    def id_to_piece_dense(self, ids: tf.Tensor) -> tf.Tensor:
        """Graph half of :meth:`id_to_piece`: int32 of any shape → ``tf.string``."""
        flat = tf.reshape(ids, [-1])
        flat = tf.where((flat >= 0) & (flat < self.vocab_size), flat, UNK_ID)
        return tf.reshape(self._pieces(flat), tf.shape(ids))

    def pieces(self, strings: Any) -> tf.RaggedTensor:
        """The surface pieces of ``strings``, aligned one to one with :meth:`tokenize`.

        Unlike ``id_to_piece(tokenize(x))`` an out-of-vocabulary word stays itself
        instead of becoming ``<unk>`` -- what a copy mechanism needs.
        """
        return self._surface(normalize_strings(tf.convert_to_tensor(strings), self.normalization))

    def piece_to_id(self, pieces: Any) -> tf.Tensor:
        """Maps pieces (``tf.string``, any shape) to ids; unknown pieces → ``UNK_ID``."""
        pieces = tf.convert_to_tensor(pieces, tf.string)
        flat = self._piece_ids(tf.reshape(pieces, [-1]))
        return tf.reshape(tf.cast(flat, tf.int32), tf.shape(pieces))

    # -- Python-side helpers -------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of ids, reserved ones included."""
        raise NotImplementedError

    def vocabulary(self) -> list[str]:
        """All pieces, indexed by id."""
        raise NotImplementedError

    @property
    def meta(self) -> dict[str, Any]:
        """Training settings and what was obtained (written to ``{prefix}.json``)."""
        return json.loads(self._meta_json)

    def save(self, directory: str | Path, prefix: str = SINGLE_PREFIX) -> Path:
        """Writes ``{prefix}.json`` plus the vocabulary/model files into ``directory``.

        Returns:
            The path of ``{prefix}.json``; :func:`load_tokenizer` accepts it (or the
            directory when ``prefix`` is the default).
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = self._write_assets(directory, prefix)
        info = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "vocab_size": self.vocab_size,
            "normalization": dataclasses.asdict(self.normalization),
            "files": files,
            "training": self.meta,
        }
        path = directory / f"{prefix}.json"
        path.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    # -- what subclasses implement ---------------------------------------------------
    def _encode(self, normalized: tf.Tensor) -> tf.RaggedTensor:
        raise NotImplementedError

    def _decode(self, ids: tf.RaggedTensor) -> tf.Tensor:
        raise NotImplementedError

    def _pieces(self, flat_ids: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def _surface(self, normalized: tf.Tensor) -> tf.RaggedTensor:
        raise NotImplementedError

    def _piece_ids(self, flat_pieces: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def _write_assets(self, directory: Path, prefix: str) -> dict[str, str]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, {self.normalization})"


# --------------------------------------------------------------------------- SentencePiece


def _train_spm_proto(
    sentences: Sequence[str],
    vocab_size: int,
    model_type: str,
    byte_fallback: bool,
    character_coverage: float,
    hard_vocab_limit: bool,
) -> bytes:
    buffer = io.BytesIO()
    spm.set_random_generator_seed(1)  # training is deterministic anyway; belt and braces
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=buffer,
        model_type=model_type,
        vocab_size=vocab_size,
        hard_vocab_limit=hard_vocab_limit,
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=START_ID,
        eos_id=END_ID,
        pad_piece=RESERVED_PIECES[PAD_ID],
        unk_piece=RESERVED_PIECES[UNK_ID],
        bos_piece=RESERVED_PIECES[START_ID],
        eos_piece=RESERVED_PIECES[END_ID],
        byte_fallback=byte_fallback,
        # We normalize ourselves (in graph and in Python, identically); a built-in
        # rule (nmt_nfkc) would make SentencePiece's output differ from normalize().
        normalization_rule_name="identity",
        split_digits=True,
        character_coverage=character_coverage,
        # Use every sentence in the given order, on one thread: same input → same model.
        input_sentence_size=0,
        shuffle_input_sentence=False,
        num_threads=1,
        max_sentence_length=1 << 16,  # bytes; the default 4192 skips long articles
        minloglevel=2,
    )
    return buffer.getvalue()


_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_TOO_LOW = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


class _SharedSentencepieceResource(_tf_text_sp._SentencepieceModelResource):
    """tf_text's SentencePiece model resource, created with a ``shared_name``.

    Why: tensorflow-text 2.21 creates the model resource *private to the kernel* that
    made it (no shared_name), and that kernel deletes it when it is destroyed.  In
    eager mode the creating kernel can be dropped (an eager kernel-cache entry goes)
    while the tokenizer still holds the handle, and later calls fail with "Resource
    .../SentencepieceOp/... does not exist".  A shared name makes the resource
    outlive its kernel (TF's own eager lookup tables get unique shared names for the
    same reason).  The name is a hash of the model, so equal models share one
    resource; resources are never freed, which costs one model's memory per distinct
    model in the process.
    """

    def __init__(self, model: bytes) -> None:
        self._shared_name = "translator_sentencepiece_" + hashlib.sha256(model).hexdigest()[:32]
        super().__init__(model, None)

    def _create_resource(self) -> tf.Tensor:
        return _tf_text_sp.gen_sentencepiece_tokenizer.sentencepiece_op(
            model=self._model, shared_name=self._shared_name
        )


class SentencePieceTokenizer(Tokenizer):
    """Subword tokenizer: a SentencePiece model applied with tensorflow-text.

    Args:
        model_proto: the serialized SentencePiece ``ModelProto`` (``.model`` bytes);
            it must use pad=0, unk=1, bos=2, eos=3.
        normalization: applied before SentencePiece (whose own rule is ``identity``).
        meta: training settings kept for ``{prefix}.json``.
        name: module name.
    """

    kind = "sentencepiece"

    def __init__(
        self,
        model_proto: bytes,
        normalization: Normalization | None = None,
        meta: dict[str, Any] | None = None,
        name: str = "sentencepiece_tokenizer",
    ) -> None:
        super().__init__(normalization or Normalization(), meta or {}, name)
        self._model_proto = bytes(model_proto)
        processor = spm.SentencePieceProcessor(model_proto=self._model_proto)
        got = (processor.pad_id(), processor.unk_id(), processor.bos_id(), processor.eos_id())
        if got != (PAD_ID, UNK_ID, START_ID, END_ID):
            raise ValueError(f"SentencePiece model has pad/unk/bos/eos ids {got}, need 0/1/2/3")
        self._size = processor.vocab_size()
        self._pieces_list = tuple(processor.id_to_piece(i) for i in range(self._size))
        self._scores = tuple(processor.get_score(i) for i in range(self._size))
        # Trackable (tf_text's tokenizer is a tf.Module holding a TrackableResource),
        # so the model proto is serialized into any SavedModel that holds us.
        self._sp = tf_text.SentencepieceTokenizer(
            model=self._model_proto, add_bos=False, add_eos=False
        )
        self._sp._model_resource = _SharedSentencepieceResource(self._model_proto)

    @classmethod
    def train(
        cls,
        sentences: Sequence[str],
        vocab_size: int,
        model_type: str = "unigram",
        byte_fallback: bool = True,
        character_coverage: float = 0.9995,
        normalization: Normalization | None = None,
        name: str = "sentencepiece_tokenizer",
    ) -> SentencePieceTokenizer:
        """Trains a model in memory on ``sentences`` (normalized here first).

        If ``vocab_size`` is more than the corpus supports, retrains with the largest
        size SentencePiece reports as possible (then, failing that, with a soft
        limit) and logs the size obtained.

        Raises:
            ValueError: ``vocab_size`` is below the pieces SentencePiece must keep
                (4 reserved + 256 bytes with byte fallback + required characters).
        """
        norm = normalization or Normalization()
        text = _normalize_all(sentences, norm)
        if not text:
            raise ValueError("no non-empty sentences to train SentencePiece on")
        size, hard = vocab_size, True
        for _attempt in range(4):
            try:
                proto = _train_spm_proto(
                    text, size, model_type, byte_fallback, character_coverage, hard
                )
                break
            except RuntimeError as err:
                message = str(err)
                if low := _TOO_LOW.search(message):
                    raise ValueError(
                        f"tokenizer.vocab_size={vocab_size} is too small for this corpus: "
                        f"SentencePiece needs at least {low.group(2)} pieces (4 reserved"
                        f"{' + 256 byte pieces' if byte_fallback else ''} + the characters "
                        f"covering character_coverage={character_coverage}); raise "
                        "vocab_size, lower character_coverage or turn byte_fallback off"
                    ) from err
                high = _TOO_HIGH.search(message)
                if high and int(high.group(2)) < size:
                    size = int(high.group(2))
                elif hard:
                    hard = False  # let SentencePiece stop wherever the corpus runs out
                else:
                    raise
        else:
            raise RuntimeError(f"SentencePiece training failed for vocab_size={vocab_size}")
        meta = {
            "model_type": model_type,
            "requested_vocab_size": vocab_size,
            "byte_fallback": byte_fallback,
            "character_coverage": character_coverage,
            "train_sentences": len(text),
        }
        tokenizer = cls(proto, norm, meta, name)
        level = logging.WARNING if tokenizer.vocab_size != vocab_size else logging.INFO
        _LOG.log(
            level,
            "%s: SentencePiece %s model trained on %d sentences: asked for %d pieces, got %d",
            name,
            model_type,
            len(text),
            vocab_size,
            tokenizer.vocab_size,
        )
        return tokenizer

    @property
    def vocab_size(self) -> int:
        return self._size

    @property
    def model_proto(self) -> bytes:
        """The serialized SentencePiece model (what ``{prefix}.model`` holds)."""
        return self._model_proto

    def vocabulary(self) -> list[str]:
        return list(self._pieces_list)

    def _encode(self, normalized: tf.Tensor) -> tf.RaggedTensor:
        return self._sp.tokenize(normalized)

    def _decode(self, ids: tf.RaggedTensor) -> tf.Tensor:
        return self._sp.detokenize(ids)

    def _pieces(self, flat_ids: tf.Tensor) -> tf.Tensor:
        return self._sp.id_to_string(flat_ids)

    def _surface(self, normalized: tf.Tensor) -> tf.RaggedTensor:
        # Byte fallback leaves no unknown pieces: the surface is the pieces themselves.
        ids = self._sp.tokenize(normalized)
        return ids.with_flat_values(self._sp.id_to_string(ids.flat_values))

    def _piece_ids(self, flat_pieces: tf.Tensor) -> tf.Tensor:
        return self._sp.string_to_id(flat_pieces)

    def _write_assets(self, directory: Path, prefix: str) -> dict[str, str]:
        (directory / f"{prefix}.model").write_bytes(self._model_proto)
        lines = "".join(
            f"{p}\t{s:g}\n" for p, s in zip(self._pieces_list, self._scores, strict=True)
        )
        (directory / f"{prefix}.vocab").write_text(lines, encoding="utf-8", newline="\n")
        return {"model": f"{prefix}.model", "vocab": f"{prefix}.vocab"}


# --------------------------------------------------------------------------- char / word


class _VocabularyTokenizer(Tokenizer):
    """A fixed list of pieces looked up with a ``tf.lookup.StaticHashTable``."""

    separator: ClassVar[str] = ""

    def __init__(
        self,
        pieces: Sequence[str],
        normalization: Normalization | None,
        meta: dict[str, Any] | None,
        name: str,
    ) -> None:
        super().__init__(normalization or Normalization(), meta or {}, name)
        pieces = tuple(pieces)
        if pieces[: len(RESERVED_PIECES)] != RESERVED_PIECES:
            raise ValueError(f"a vocabulary must start with {RESERVED_PIECES}")
        if len(set(pieces)) != len(pieces):
            raise ValueError("vocabulary pieces must be unique")
        self._pieces_list = pieces
        keys = tf.constant(pieces[len(RESERVED_PIECES) :], tf.string)
        values = tf.range(len(RESERVED_PIECES), len(pieces), dtype=tf.int32)
        # Tracked resource: the table is saved with the module and restored on load.
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, values), default_value=UNK_ID
        )
        self._pieces_tensor = tf.constant(pieces, tf.string)

    @classmethod
    def _count(cls, sentences: Sequence[str], normalization: Normalization) -> collections.Counter:
        """Counts pieces with the same graph split that tokenize() uses."""
        counts: collections.Counter = collections.Counter()
        for start in range(0, len(sentences), _CHUNK):
            chunk = normalize_strings(list(sentences[start : start + _CHUNK]), normalization)
            pieces, _, n = tf.unique_with_counts(cls._split(chunk).flat_values)
            counts.update(
                dict(
                    zip(
                        (p.decode("utf-8") for p in pieces.numpy()), n.numpy().tolist(), strict=True
                    )
                )
            )
        return counts

    @classmethod
    def train(
        cls,
        sentences: Sequence[str],
        vocab_size: int,
        normalization: Normalization | None = None,
        name: str | None = None,
    ) -> Self:
        """Keeps the ``vocab_size - 4`` most frequent pieces (ties: codepoint order)."""
        norm = normalization or Normalization()
        counts = cls._count(sentences, norm)
        for reserved in RESERVED_PIECES:
            counts.pop(reserved, None)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        kept = [piece for piece, _ in ranked[: max(0, vocab_size - len(RESERVED_PIECES))]]
        meta = {
            "requested_vocab_size": vocab_size,
            "distinct_pieces": len(counts),
            "train_sentences": len(sentences),
        }
        tokenizer = cls(RESERVED_PIECES + tuple(kept), norm, meta, name or f"{cls.kind}_tokenizer")
        _LOG.info(
            "%s: %s vocabulary of %d ids (asked for %d; %d distinct pieces in %d sentences)",
            tokenizer.name,
            cls.kind,
            tokenizer.vocab_size,
            vocab_size,
            len(counts),
            len(sentences),
        )
        return tokenizer

    @staticmethod
    def _split(normalized: tf.Tensor) -> tf.RaggedTensor:
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        return len(self._pieces_list)

    def vocabulary(self) -> list[str]:
        return list(self._pieces_list)

    def _encode(self, normalized: tf.Tensor) -> tf.RaggedTensor:
        return tf.ragged.map_flat_values(self._table.lookup, self._split(normalized))

    def _decode(self, ids: tf.RaggedTensor) -> tf.Tensor:
        pieces = tf.ragged.map_flat_values(
            lambda flat: tf.where(
                tf.equal(flat, UNK_ID), UNK_TEXT, tf.gather(self._pieces_tensor, flat)
            ),
            ids,
        )
        return tf.strings.reduce_join(pieces, axis=1, separator=self.separator)

    def _pieces(self, flat_ids: tf.Tensor) -> tf.Tensor:
        return tf.gather(self._pieces_tensor, flat_ids)

    def _surface(self, normalized: tf.Tensor) -> tf.RaggedTensor:
        return self._split(normalized)

    def _piece_ids(self, flat_pieces: tf.Tensor) -> tf.Tensor:
        return self._table.lookup(flat_pieces)

    def _write_assets(self, directory: Path, prefix: str) -> dict[str, str]:
        # One piece per line; pieces never hold a newline (normalization removes them).
        text = "".join(piece + "\n" for piece in self._pieces_list)
        (directory / f"{prefix}.vocab.txt").write_text(text, encoding="utf-8", newline="\n")
        return {"vocab": f"{prefix}.vocab.txt"}


class CharTokenizer(_VocabularyTokenizer):
    """One id per Unicode character; unknown characters → ``UNK_ID``.

    Ids: reserved 0..3, then characters by decreasing training frequency (ties by
    codepoint).  ``detokenize`` joins characters with nothing in between, so text
    made of known characters round-trips exactly (spaces are characters too).
    """

    kind = "char"
    separator = ""

    def __init__(
        self,
        pieces: Sequence[str],
        normalization: Normalization | None = None,
        meta: dict[str, Any] | None = None,
        name: str = "char_tokenizer",
    ) -> None:
        super().__init__(pieces, normalization, meta, name)

    @staticmethod
    def _split(normalized: tf.Tensor) -> tf.RaggedTensor:
        return tf.strings.unicode_split(normalized, "UTF-8")


class WordTokenizer(_VocabularyTokenizer):
    """Words and single punctuation marks; out-of-vocabulary words → ``UNK_ID``.

    Split in graph: each punctuation/symbol character and each Han character is a
    token, runs of letters/digits/marks are words, whitespace separates.  Ids:
    reserved 0..3, then the most frequent tokens.  ``detokenize`` joins tokens with
    single spaces (``"Hola, mundo."`` → ``"Hola , mundo ."``), so tokenizing the
    detokenized text gives the same ids.
    """

    kind = "word"
    separator = " "

    def __init__(
        self,
        pieces: Sequence[str],
        normalization: Normalization | None = None,
        meta: dict[str, Any] | None = None,
        name: str = "word_tokenizer",
    ) -> None:
        super().__init__(pieces, normalization, meta, name)

    @staticmethod
    def _split(normalized: tf.Tensor) -> tf.RaggedTensor:
        spaced = tf.strings.regex_replace(normalized, _RE2_WORD_SPLIT, r" \1 ")
        return tf.strings.split(spaced)


# --------------------------------------------------------------------------- factory, I/O

_KINDS: dict[str, type[Tokenizer]] = {
    "sentencepiece": SentencePieceTokenizer,
    "char": CharTokenizer,
    "word": WordTokenizer,
}


def _subsample(sentences: list[str], cap: int) -> list[str]:
    """At most ``cap`` sentences, a fixed random subset kept in corpus order."""
    if len(sentences) <= cap:
        return sentences
    keep = sorted(random.Random(0).sample(range(len(sentences)), cap))
    return [sentences[i] for i in keep]


def train_tokenizer(config: TokenizerConfig, sentences: Sequence[str], name: str) -> Tokenizer:
    """Trains one tokenizer of ``config.kind`` on ``sentences`` (training split only).

    SentencePiece sees at most ``config.train_sentences`` sentences (a deterministic
    subsample); char/word vocabularies count every sentence (counting is cheap).
    """
    norm = Normalization.from_config(config)
    sentences = list(sentences)
    if config.kind == "sentencepiece":
        return SentencePieceTokenizer.train(
            _subsample(sentences, config.train_sentences),
            config.vocab_size,
            config.model_type,
            config.byte_fallback,
            config.character_coverage,
            norm,
            name=name,
        )
    if config.kind == "char":
        return CharTokenizer.train(sentences, config.vocab_size, norm, name=name)
    if config.kind == "word":
        return WordTokenizer.train(sentences, config.vocab_size, norm, name=name)
    raise ValueError(f"tokenizer.kind={config.kind!r}: choose one of {sorted(_KINDS)}")


def train_tokenizers(
    config: TokenizerConfig, pairs: Sequence[tuple[str, str]]
) -> tuple[Tokenizer, Tokenizer]:
    """Trains the source and target tokenizers on training pairs.

    Args:
        config: the tokenizer section of the run config.
        pairs: ``(source, target)`` training sentences (never the eval split).

    Returns:
        ``(source_tokenizer, target_tokenizer)``; the same object twice when
        ``config.joint`` (one model/vocabulary trained on both sides).
    """
    if not pairs:
        raise ValueError("train_tokenizers needs at least one (source, target) pair")
    sources = [source for source, _ in pairs]
    targets = [target for _, target in pairs]
    if config.joint:
        joint = train_tokenizer(config, sources + targets, "joint_tokenizer")
        return joint, joint
    return (
        train_tokenizer(config, sources, "source_tokenizer"),
        train_tokenizer(config, targets, "target_tokenizer"),
    )


def _resolve_prefix(path: Path) -> Path:
    if path.is_dir():
        if not (path / f"{SINGLE_PREFIX}.json").exists() and (path / PAIR_INDEX_FILE).exists():
            raise ValueError(
                f"{path} holds a source/target pair: use load_tokenizers({str(path)!r}) "
                f"or load_tokenizer({str(path / 'source')!r})"
            )
        return path / SINGLE_PREFIX
    if path.suffix == ".json":
        return path.with_suffix("")
    return path


def load_tokenizer(directory_or_prefix: str | Path) -> Tokenizer:
    """Restores a tokenizer written by :meth:`Tokenizer.save` (same ids exactly).

    Args:
        directory_or_prefix: a directory saved with the default prefix, a prefix such
            as ``run/tokenizers/source``, or the ``{prefix}.json`` path itself.
    """
    prefix = _resolve_prefix(Path(directory_or_prefix))
    info_path = prefix.parent / f"{prefix.name}.json"
    if not info_path.exists():
        raise FileNotFoundError(f"no tokenizer description at {info_path}")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    kind = info.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"{info_path}: unknown tokenizer kind {kind!r}")
    norm = Normalization(**info["normalization"])
    meta = info.get("training", {})
    name = f"{prefix.name}_tokenizer"
    files = info["files"]
    if kind == "sentencepiece":
        proto = (prefix.parent / files["model"]).read_bytes()
        tokenizer: Tokenizer = SentencePieceTokenizer(proto, norm, meta, name)
    else:
        text = (prefix.parent / files["vocab"]).read_text(encoding="utf-8")
        pieces = text.split("\n")[:-1]  # split on \n only: other line breaks are pieces
        tokenizer = _KINDS[kind](pieces, norm, meta, name)
    if tokenizer.vocab_size != info["vocab_size"]:
        raise ValueError(
            f"{info_path}: vocabulary has {tokenizer.vocab_size} ids, "
            f"description says {info['vocab_size']}"
        )
    return tokenizer


def save_tokenizers(source: Tokenizer, target: Tokenizer, directory: str | Path) -> None:
    """Writes both tokenizers (once as ``joint.*`` when they are the same object).

    Also writes ``tokenizers.json``: which prefix serves which side.
    """
    directory = Path(directory)
    if source is target:
        source.save(directory, "joint")
        index = {"joint": True, "source": "joint", "target": "joint"}
    else:
        source.save(directory, "source")
        target.save(directory, "target")
        index = {"joint": False, "source": "source", "target": "target"}
    (directory / PAIR_INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")


def load_tokenizers(directory: str | Path) -> tuple[Tokenizer, Tokenizer]:
    """Restores ``(source, target)`` saved by :func:`save_tokenizers` (one object if joint)."""
    directory = Path(directory)
    index = json.loads((directory / PAIR_INDEX_FILE).read_text(encoding="utf-8"))
    source = load_tokenizer(directory / index["source"])
    if index["target"] == index["source"]:
        return source, source
    return source, load_tokenizer(directory / index["target"])


def tokenize_all(
    strings: Iterable[str], tokenizer: Tokenizer, chunk: int = _CHUNK, pieces: bool = False
) -> tf.RaggedTensor:
    """Tokenizes many Python strings eagerly, in chunks → int32 [n, (tokens)].

    With ``pieces=True`` returns the surface pieces (``tf.string``, see
    :meth:`Tokenizer.pieces`) instead of the ids.
    """
    strings = list(strings)
    encode = tokenizer.pieces if pieces else tokenizer.tokenize
    parts = [
        encode(tf.constant(strings[i : i + chunk], tf.string))
        for i in range(0, len(strings), chunk)
    ]
    if not parts:
        dtype = tf.string if pieces else tf.int32
        return tf.RaggedTensor.from_row_lengths(tf.zeros([0], dtype), tf.zeros([0], tf.int64))
    return parts[0] if len(parts) == 1 else tf.concat(parts, axis=0)
