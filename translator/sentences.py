"""Sentence splitting: one rule, in Python and in the TensorFlow graph.

A sentence ends at ``.``, ``!`` or ``?`` (optionally followed by one closing quote or
bracket) followed by whitespace; a line break always ends one.  Text without
sentence punctuation is one sentence; empty text has none.  The rule is a regular
expression *replacement* (boundary -> newline, then split on newlines), because the
graph's RE2 engine has no look-behind; :func:`split_sentences` (Python) and
:func:`split_sentences_graph` (TF ops, exported with the model) apply the same
pattern, so the Lead baselines, the oracle labels, training, evaluation and the
SavedModel all see the same sentences.

:func:`pack_sentences` turns articles into what the extractive summarizer
(:mod:`translator.extractive`) reads: every sentence's word ids in a fixed-width slot,
``[B, S * W]``.
"""

from __future__ import annotations

import re
from typing import Any

import tensorflow as tf

from translator.special_tokens import PAD_ID

# Whitespace as both engines define it (Python's \s is wider than RE2's on Unicode).
_SPACE = "\t\n\f\r "
SENTENCE_RULE = rf"([.!?][\"'”’)\]]?)[{_SPACE}]+|[\t\f\r ]*\n[{_SPACE}]*"
_PYTHON_RULE = re.compile(SENTENCE_RULE)


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` by the rule above, stripped, none empty."""
    marked = _PYTHON_RULE.sub(lambda m: (m.group(1) or "") + "\n", text)
    return [s for s in (part.strip(_SPACE) for part in marked.split("\n")) if s]


def split_sentences_graph(strings: Any) -> tf.RaggedTensor:
    """:func:`split_sentences` in the graph: ``tf.string`` ``[B]`` -> ``[B, (S)]``."""
    strings = tf.convert_to_tensor(strings, tf.string)
    marked = tf.strings.regex_replace(strings, SENTENCE_RULE, "\\1\n")
    parts = tf.strings.split(marked, "\n")
    parts = tf.strings.regex_replace(parts, f"^[{_SPACE}]+|[{_SPACE}]+$", "")
    return tf.ragged.boolean_mask(parts, tf.strings.length(parts) > 0)


def pack_sentences(
    strings: Any, tokenizer: Any, max_sentences: int, sentence_words: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Articles -> sentence-packed word ids (TF ops: eager or inside a tf.function).

    Args:
        strings: ``tf.string`` ``[B]``.
        tokenizer: a :class:`~translator.tokenizer.Tokenizer`.
        max_sentences: sentences kept per article (the first ones).
        sentence_words: W, tokens kept per sentence (the first ones).

    Returns:
        ``(ids, sentences, counts, truncated)``: int32 ``[B, S * W]`` (sentence ``j``'s
        ids in columns ``j*W .. j*W+W-1``, padded with 0; S the batch's most
        sentences), ``tf.string`` ``[B, S]`` (the sentences, "" on padding), int32
        ``[B]`` sentences kept, bool ``[B]`` (the article had more than
        ``max_sentences`` sentences).
    """
    split = split_sentences_graph(strings)
    total = split.row_lengths()
    split = split[:, :max_sentences]
    tokens = tokenizer.tokenize(split.flat_values)[:, :sentence_words]
    slots = tokens.to_tensor(default_value=PAD_ID, shape=[None, sentence_words])
    packed = tf.RaggedTensor.from_row_splits(slots, split.row_splits).to_tensor(PAD_ID)
    batch = tf.shape(packed)[0]
    ids = tf.reshape(packed, [batch, -1])
    sentences = split.to_tensor(default_value="")
    counts = tf.cast(split.row_lengths(), tf.int32)
    return ids, sentences, counts, total > max_sentences
