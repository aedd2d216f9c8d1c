"""Inference: raw strings -> ids -> decoding -> raw strings, the one path every caller uses.

:class:`Inference` holds a model with its tokenizers and length limits.  Evaluation,
the ``val_bleu`` callback, the exported ``tf.Module`` (:mod:`translator.serving`) and
through it the translate CLI, the demo and the notebook all go through it:

* :meth:`Inference.encode`: strings -> source ids (truncated to
  ``max_source_length``; a pointer-generator's unknown source words get extended ids,
  :mod:`translator.copying`);
* :meth:`Inference.decode`: ids -> :class:`~translator.decoding.DecodeResult` with the
  strategy picked by name (:func:`translator.decoding.decode`), or by value in the
  graph (:meth:`Inference.decode_by_value`);
* :meth:`Inference.texts` / :meth:`Inference.target_pieces`: ids -> strings, copied
  words restored;
* :meth:`Inference.translate`: all of it eagerly, for lists of Python strings.

Decode settings travel as one :class:`~translator.config.DecodeConfig`:
:func:`resolve_decode` applies what a user chose (``--beam``, the demo's radio
buttons, ...) to a run's defaults, and :func:`signature_inputs` maps the result to the
exported ``translate`` signature, whose graph maps it back with
:func:`strategy_index`.  That is the only place where settings become arguments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from translator.config import STRATEGIES, Config, DecodeConfig
from translator.copying import detokenize_extended, extend_source, restore_pieces
from translator.decoding import DecodeResult, decode
from translator.extractive import FIRST_SENTENCE_ID
from translator.sentences import pack_sentences
from translator.special_tokens import END_ID, PAD_ID, RESERVED_PIECES
from translator.tokenizer import Tokenizer

# --------------------------------------------------------------------------- settings


def resolve_decode(
    defaults: DecodeConfig,
    *,
    strategy: str | None = None,
    beam_size: int | None = None,
    length_penalty: float | None = None,
    temperature: float | None = None,
    top_k: int | None = None,
) -> DecodeConfig:
    """The decode settings after a user's choices (None keeps the default).

    The strategy is ``strategy`` when given; else ``temperature > 0`` samples; else
    ``beam_size > 1`` is beam search and ``beam_size == 1`` greedy search; else
    ``temperature == 0`` turns a sampling default into greedy search; else the
    default strategy stays.

    Raises:
        ValueError: an unknown strategy name.
    """
    if strategy is None:
        if temperature is not None and temperature > 0:
            strategy = "sample"
        elif beam_size is not None:
            strategy = "beam" if beam_size > 1 else "greedy"
        elif temperature is not None and defaults.strategy == "sample":
            strategy = "greedy"  # sampling turned off, and no beam asked for
        else:
            strategy = defaults.strategy
    if strategy == "beam" and beam_size is not None and beam_size <= 1:
        strategy = "greedy"  # a beam of one is greedy search
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown decoding strategy {strategy!r}; choose one of {STRATEGIES}")
    changes: dict[str, Any] = {"strategy": strategy}
    if beam_size is not None and beam_size > 1:
        changes["beam_size"] = int(beam_size)
    if length_penalty is not None:
        changes["length_penalty"] = float(length_penalty)
    if temperature is not None and temperature > 0:
        changes["temperature"] = float(temperature)
    if top_k is not None:
        changes["top_k"] = int(top_k)
    return dataclasses.replace(defaults, **changes)


def signature_inputs(
    decode_config: DecodeConfig, *, n_best: int = 1, seed: int = 0, max_length: int = 0
) -> dict[str, Any]:
    """Keyword arguments of the exported ``translate`` signature (Python values).

    The signature has no strategy input: ``temperature > 0`` means sampling and
    ``beam_size > 1`` beam search (:func:`strategy_index`), so greedy search sends
    ``beam_size=1, temperature=0`` and beam search ``temperature=0``.
    """
    strategy = decode_config.strategy
    return {
        "beam_size": decode_config.beam_size if strategy == "beam" else 1,
        "length_penalty": decode_config.length_penalty,
        "max_length": int(max_length),
        "n_best": 1 if strategy == "greedy" else int(n_best),
        "temperature": decode_config.temperature if strategy == "sample" else 0.0,
        "top_k": decode_config.top_k,
        "seed": int(seed),
    }


def strategy_index(beam_size: Any, temperature: Any) -> tf.Tensor:
    """Index into :data:`STRATEGIES` of the signature's values (the inverse of
    :func:`signature_inputs`): sampling when ``temperature > 0``, else beam search
    when ``beam_size > 1``, else greedy."""
    by_name = {name: i for i, name in enumerate(STRATEGIES)}
    beam_or_greedy = tf.where(beam_size > 1, by_name["beam"], by_name["greedy"])
    return tf.where(temperature > 0.0, by_name["sample"], beam_or_greedy)


# --------------------------------------------------------------------------- strings -> ids


def _cut(tokens: tf.RaggedTensor, max_length: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Ragged ids -> (dense ids cut to ``max_length``, lengths after the cut, was cut)."""
    full = tokens.row_lengths()
    ids = tokens[:, :max_length].to_tensor(default_value=PAD_ID)
    lengths = tf.cast(tf.minimum(full, max_length), tf.int32)
    return ids, lengths, full > max_length


def encode_sources(
    strings: Any, source_tokenizer: Tokenizer, max_length: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Tokenizes raw source strings for inference (TF ops: eager or in a tf.function).

    Args:
        strings: ``tf.string`` [B] (or a list of str).
        source_tokenizer: the source tokenizer.
        max_length: longest source kept, in tokens; longer ones are truncated.

    Returns:
        ``(ids, lengths, truncated)``: int32 ``[B, L]`` padded with 0 where
        ``L = max(lengths)`` (no START/END, as in training), int32 ``[B]`` token
        counts after truncation, and bool ``[B]`` (was the source cut).
    """
    tokens = source_tokenizer.tokenize(tf.convert_to_tensor(strings, tf.string))
    return _cut(tokens, max_length)


def encode_copy_sources(
    strings: Any, tokenizer: Tokenizer, max_length: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """:func:`encode_sources` for a pointer-generator's joint vocabulary.

    Unknown source words get extended ids (:func:`translator.copying.extend_source`);
    returns ``(ids, lengths, truncated, oov_words)``, the last ``tf.string`` ``[B, K]``.
    """
    pieces = tokenizer.pieces(tf.convert_to_tensor(strings, tf.string))
    extended, oov_words = extend_source(pieces, tokenizer)
    return (*_cut(extended, max_length), oov_words)


@dataclasses.dataclass(frozen=True)
class Encoded:
    """Sources ready for the model.

    Attributes:
        ids: int32 ``[B, S]`` padded with 0 (extended ids for a pointer-generator).
        lengths: int32 ``[B]`` tokens after truncation.
        truncated: bool ``[B]``, the source was longer than ``max_source_length``.
        oov_words: ``tf.string`` ``[B, K]``, the words behind the extended ids
            (pointer-generator), else None.
        sentences: ``tf.string`` ``[B, S]``, the sentences an extractive model read
            ("" on padding), else None.  For such a model ``ids`` are
            sentence-packed (:func:`translator.sentences.pack_sentences`),
            ``lengths`` count sentences and ``truncated`` says the article had more
            than ``max_sentences``.
    """

    ids: tf.Tensor
    lengths: tf.Tensor
    truncated: tf.Tensor
    oov_words: tf.Tensor | None = None
    sentences: tf.Tensor | None = None


def picked_sentences(ids: tf.Tensor, sentences: tf.Tensor) -> tf.Tensor:
    """An extractive model's output ids ``[B, N, T]`` -> the sentences they pick
    (``tf.string`` ``[B, N, T]``, "" for END and padding); ``sentences`` ``[B, S]``."""
    batch = tf.shape(sentences)[0]
    table = tf.concat([sentences, tf.fill([batch, 1], "")], axis=1)  # S may be 0
    blank = tf.shape(table)[1] - 1
    index = ids - FIRST_SENTENCE_ID
    index = tf.where((index >= 0) & (index < blank), index, blank)
    flat = tf.reshape(index, [batch, -1])
    return tf.reshape(tf.gather(table, flat, batch_dims=1), tf.shape(ids))


def sentence_picks(result: DecodeResult) -> tuple[tf.Tensor, tf.Tensor]:
    """An extractive model's picks: (sentence indices int32 ``[B, N, T]``, -1 for END
    and padding; the pointer probability of each pick, float32 ``[B, N, T]``, 0 there)."""
    index = result.ids - FIRST_SENTENCE_ID
    valid = index >= 0
    width = tf.shape(result.attention)[-1]
    attention = tf.pad(result.attention, [[0, 0], [0, 0], [0, 0], [0, 1]])  # S may be 0
    probability = tf.gather(attention, tf.clip_by_value(index, 0, width), batch_dims=3)
    return tf.where(valid, index, -1), tf.where(valid, probability, 0.0)


# --------------------------------------------------------------------------- the path


class Inference:
    """A model with its tokenizers: strings in, strings out (eager or in a graph).

    Args:
        model: a built ``Seq2Seq``.
        source_tokenizer, target_tokenizer: the run's tokenizers (may be one object).
        max_source_length: longer sources are truncated (and flagged).
        max_target_length: ``data.max_target_length``; the default output cap is one
            more (END).
        decode_config: the default decode settings (and ``max_length_a/b``,
            ``block_ngram_repeat``, which always apply).
        max_sentences, sentence_words: an extractive model's ``data`` limits.
    """

    def __init__(
        self,
        model: Any,
        source_tokenizer: Tokenizer,
        target_tokenizer: Tokenizer,
        *,
        max_source_length: int,
        max_target_length: int,
        decode_config: DecodeConfig,
        max_sentences: int = 0,
        sentence_words: int = 0,
    ) -> None:
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.max_source_length = int(max_source_length)
        self.default_cap = int(max_target_length) + 1
        self.decode_config = decode_config
        self.extractive = bool(getattr(model, "extractive", False))
        self.pointer = not self.extractive and bool(model.decoder.pointer_generator)
        self.max_sentences = int(max_sentences)
        self.sentence_words = int(sentence_words)

    @classmethod
    def from_config(
        cls, model: Any, source_tokenizer: Tokenizer, target_tokenizer: Tokenizer, config: Config
    ) -> Inference:
        """With the lengths and decode settings of a run's config."""
        return cls(
            model,
            source_tokenizer,
            target_tokenizer,
            max_source_length=config.data.max_source_length,
            max_target_length=config.data.max_target_length,
            decode_config=config.decode,
            max_sentences=config.data.max_sentences,
            sentence_words=config.data.sentence_words,
        )

    # strings -> ids ---------------------------------------------------------------------
    def encode(self, strings: Any) -> Encoded:
        """Raw strings ``[B]`` -> :class:`Encoded`."""
        if self.extractive:
            ids, sentences, counts, truncated = pack_sentences(
                strings, self.source_tokenizer, self.max_sentences, self.sentence_words
            )
            return Encoded(ids, counts, truncated, sentences=sentences)
        if self.pointer:
            # Copy model: unknown source words get extended ids (translator.copying).
            return Encoded(
                *encode_copy_sources(strings, self.target_tokenizer, self.max_source_length)
            )
        return Encoded(*encode_sources(strings, self.source_tokenizer, self.max_source_length))

    def source_pieces(self, encoded: Encoded) -> tf.Tensor:
        """``tf.string`` ``[B, S]``: the pieces the model read, "" on padding (an
        extractive model's sentences)."""
        if encoded.sentences is not None:
            return encoded.sentences
        if self.pointer:
            pieces = restore_pieces(encoded.ids, encoded.oov_words, self.target_tokenizer)
        else:
            pieces = self.source_tokenizer.id_to_piece_dense(encoded.ids)
        width = tf.shape(encoded.ids)[1]
        on_source = tf.range(width)[tf.newaxis] < encoded.lengths[:, tf.newaxis]
        return tf.where(on_source, pieces, "")

    # ids -> ids -------------------------------------------------------------------------
    def decode(
        self,
        encoded: Encoded,
        decode_config: DecodeConfig | None = None,
        *,
        max_length: Any = None,
        n_best: Any = 1,
        seed: Any = 0,
        **values: Any,
    ) -> DecodeResult:
        """Decodes with the strategy named by ``decode_config`` (default: the run's).

        ``max_length`` caps the output (default: ``max_target_length + 1``); ``values``
        (``beam_size``, ``length_penalty``, ``temperature``, ``top_k``) may be tensors
        and replace the config's numbers (see :func:`translator.decoding.decode`).
        """
        return decode(
            self.model,
            encoded.ids,
            decode_config or self.decode_config,
            max_length=self.default_cap if max_length is None else max_length,
            n_best=n_best,
            seed=seed,
            **values,
        )

    def decode_by_value(
        self,
        encoded: Encoded,
        *,
        beam_size: tf.Tensor,
        length_penalty: tf.Tensor,
        max_length: tf.Tensor,
        n_best: tf.Tensor,
        temperature: tf.Tensor,
        top_k: tf.Tensor,
        seed: tf.Tensor,
    ) -> DecodeResult:
        """Decodes with the strategy chosen in the graph by :func:`strategy_index`
        (the exported ``translate`` signature's inputs; ``max_length <= 0`` is the
        default cap)."""
        cap = tf.where(max_length > 0, max_length, self.default_cap)
        values = {
            "max_length": cap,
            "n_best": tf.maximum(n_best, 1),
            "seed": seed,
            "beam_size": beam_size,
            "length_penalty": length_penalty,
            "temperature": temperature,
            "top_k": top_k,
        }

        def branch(strategy: str) -> Callable[[], dict[str, tf.Tensor]]:
            config = dataclasses.replace(self.decode_config, strategy=strategy)
            return lambda: self.decode(encoded, config, **values).as_dict()

        outputs = tf.switch_case(
            strategy_index(beam_size, temperature), [branch(name) for name in STRATEGIES]
        )
        return DecodeResult(**outputs)

    # ids -> strings ---------------------------------------------------------------------
    def texts(self, ids: tf.Tensor, encoded: Encoded) -> tf.Tensor:
        """Output ids int32 ``[B, N, T]`` -> ``tf.string`` ``[B, N]``, copies restored
        (an extractive model's picked sentences, joined by spaces in pick order)."""
        if encoded.sentences is not None:
            picked = picked_sentences(ids, encoded.sentences)
            spaced = tf.where(ids >= FIRST_SENTENCE_ID, picked + " ", "")
            return tf.strings.strip(tf.strings.reduce_join(spaced, axis=-1))
        shape = tf.shape(ids)
        flat = tf.reshape(ids, [shape[0] * shape[1], shape[2]])  # no -1: B or T may be 0
        if encoded.oov_words is None:
            return tf.reshape(self.target_tokenizer.detokenize_dense(flat), shape[:2])
        words = tf.repeat(encoded.oov_words, shape[1], axis=0)
        return tf.reshape(detokenize_extended(flat, words, self.target_tokenizer), shape[:2])

    def target_pieces(self, result: DecodeResult, encoded: Encoded) -> tf.Tensor:
        """``tf.string`` ``[B, N, T]``: each output token's piece, "" past its length
        (an extractive model: each picked sentence, then ``</s>``)."""
        if encoded.sentences is not None:
            pieces = picked_sentences(result.ids, encoded.sentences)
            pieces = tf.where(tf.equal(result.ids, END_ID), RESERVED_PIECES[END_ID], pieces)
        elif encoded.oov_words is None:
            pieces = self.target_tokenizer.id_to_piece_dense(result.ids)
        else:
            pieces = restore_pieces(result.ids, encoded.oov_words, self.target_tokenizer)
        steps = tf.shape(result.ids)[2]
        on_target = tf.range(steps)[tf.newaxis, tf.newaxis] < result.lengths[..., tf.newaxis]
        return tf.where(on_target, pieces, "")

    # all of it, eagerly -------------------------------------------------------------------
    def translate(
        self,
        sources: Sequence[str],
        decode_config: DecodeConfig | None = None,
        *,
        batch_size: int = 64,
        seed: int = 0,
        progress: Callable[[int], None] | None = None,
    ) -> list[str]:
        """The best output for each string, in order; long sources are truncated,
        never skipped.

        Sentences are decoded in batches of similar length (sorted by length, then put
        back in the original order), which wastes less time on padding.
        ``progress(n)`` is called after each batch with its number of sentences.
        """
        outputs: list[str] = [""] * len(sources)
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            encoded = self.encode(tf.constant([sources[i] for i in chunk], tf.string))
            result = self.decode(encoded, decode_config, seed=seed)
            texts = self.texts(result.ids, encoded)[:, 0].numpy()
            for i, text in zip(chunk, texts):
                outputs[i] = text.decode("utf-8")
            if progress is not None:
                progress(len(chunk))
        return outputs
