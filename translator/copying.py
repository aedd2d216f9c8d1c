"""The extended vocabulary of the pointer-generator (See, Liu & Manning 2017, sec. 2.2).

Source words the target vocabulary lacks get temporary ids ``vocab_size + j``, where
``j`` numbers the distinct unknown words of *that* source text in order of first
appearance.  The model can then copy them (its output distribution covers the
extended ids), targets that contain them are labelled with the same ids during
training, and decoded ids at or above ``vocab_size`` are turned back into the words.
All of it is TensorFlow ops, so it runs in the input pipeline and in the exported
SavedModel alike.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from translator.special_tokens import END_ID, PAD_ID, START_ID, UNK_ID, UNK_TEXT
from translator.tokenizer import Tokenizer


def extend_source(
    source_pieces: tf.RaggedTensor, target_tokenizer: Tokenizer
) -> tuple[tf.RaggedTensor, tf.Tensor]:
    """Source ids in the extended target vocabulary, and the words behind the extension.

    Args:
        source_pieces: ``tf.string`` ragged ``[batch, (src_len)]`` from
            ``source_tokenizer.pieces(texts)`` (unknown words kept as themselves).
        target_tokenizer: the vocabulary the decoder generates from.

    Returns:
        ``(extended_ids, oov_words)``: int32 ragged ``[batch, (src_len)]`` where known
        pieces have their target id and unknown ones ``vocab_size + j``; and
        ``tf.string`` ``[batch, max_oov]`` with word ``j`` of each row ("" padding).
    """
    vocab_size = target_tokenizer.vocab_size
    flat = source_pieces.flat_values
    rows = tf.cast(source_pieces.value_rowids(), tf.int32)
    batch = tf.cast(source_pieces.nrows(), tf.int32)
    ids = target_tokenizer.piece_to_id(flat)
    is_oov = tf.equal(ids, UNK_ID)
    positions = tf.cast(tf.where(is_oov)[:, 0], tf.int32)
    oov_rows = tf.gather(rows, positions)
    # The row goes into the key so that equal words in two rows stay distinct.
    keys = tf.strings.join([tf.strings.as_string(oov_rows), tf.gather(flat, positions)], "\x1f")
    unique_keys, index = tf.unique(keys)  # numbered in order of first appearance
    num_unique = tf.size(unique_keys)
    unique_rows = tf.math.unsorted_segment_max(oov_rows, index, num_unique)
    first_in_row = tf.math.unsorted_segment_min(tf.range(num_unique), unique_rows, batch)
    local = index - tf.gather(first_in_row, oov_rows)
    extended = tf.tensor_scatter_nd_update(ids, positions[:, None], vocab_size + local)

    unique_local = tf.range(num_unique) - tf.gather(first_in_row, unique_rows)
    first_position = tf.math.unsorted_segment_min(positions, index, num_unique)
    words = tf.gather(flat, first_position)
    width = tf.reduce_max(tf.concat([unique_local + 1, [0]], axis=0))
    oov_words = tf.scatter_nd(
        tf.stack([unique_rows, unique_local], axis=1), words, tf.stack([batch, width])
    )
    return source_pieces.with_flat_values(extended), oov_words


def extend_target(
    target_pieces: tf.RaggedTensor,
    target_ids: tf.RaggedTensor,
    oov_words: tf.Tensor,
    vocab_size: int,
) -> tf.RaggedTensor:
    """Target ids where unknown words found in the row's source take their copy id.

    Args:
        target_pieces: ``tf.string`` ragged ``[batch, (tgt_len)]`` (surface pieces).
        target_ids: int32 ragged ``[batch, (tgt_len)]`` from the target tokenizer.
        oov_words: ``[batch, max_oov]`` from :func:`extend_source`.
        vocab_size: the target vocabulary size.

    Returns:
        int32 ragged ``[batch, (tgt_len)]``; unknown words absent from the source
        stay ``UNK_ID`` (the model cannot produce them either way).
    """
    rows = target_ids.value_rowids()
    flat_ids = target_ids.flat_values
    candidates = tf.gather(oov_words, rows)  # [n, max_oov]
    matches = tf.equal(candidates, target_pieces.flat_values[:, None]) & tf.not_equal(
        candidates, ""
    )
    found = tf.reduce_any(matches, axis=1)
    copy_ids = vocab_size + tf.cast(tf.argmax(tf.cast(matches, tf.int32), axis=1), tf.int32)
    extended = tf.where(tf.equal(flat_ids, UNK_ID) & found, copy_ids, flat_ids)
    return target_ids.with_flat_values(extended)


def restore_pieces(ids: Any, oov_words: tf.Tensor, target_tokenizer: Tokenizer) -> tf.Tensor:
    """Pieces of decoded ids ``[batch, ..., len]``; copy ids become their source words."""
    ids = tf.convert_to_tensor(ids, tf.int32)
    vocab_size = target_tokenizer.vocab_size
    pieces = target_tokenizer.id_to_piece(tf.minimum(ids, vocab_size - 1))
    flat_rows = tf.repeat(tf.range(tf.shape(ids)[0]), tf.reduce_prod(tf.shape(ids)[1:]), axis=0)
    flat_ids = tf.reshape(ids, [-1])
    slot = tf.clip_by_value(flat_ids - vocab_size, 0, tf.maximum(tf.shape(oov_words)[1] - 1, 0))
    padded = tf.pad(oov_words, [[0, 0], [0, 1]])  # a column even when no word was unknown
    copied = tf.gather_nd(padded, tf.stack([flat_rows, slot], axis=1))
    own = tf.where(tf.equal(flat_ids, UNK_ID), UNK_TEXT, tf.reshape(pieces, [-1]))
    restored = tf.where(flat_ids >= vocab_size, copied, own)
    return tf.reshape(restored, tf.shape(ids))


def detokenize_extended(ids: Any, oov_words: tf.Tensor, target_tokenizer: Tokenizer) -> tf.Tensor:
    """Text of decoded ids ``[batch, len]`` that may hold copy ids.

    Rows without copy ids go through the tokenizer's own ``detokenize``; rows with
    them are joined from their pieces with the tokenizer's separator (word: space,
    char: nothing).  Everything from the first END on, PAD and START are dropped.
    """
    ids = tf.convert_to_tensor(ids, tf.int32)
    plain = target_tokenizer.detokenize(tf.minimum(ids, target_tokenizer.vocab_size - 1))
    if target_tokenizer.kind == "sentencepiece":
        return plain  # joint SentencePiece vocabularies never extend (byte fallback)
    separator = " " if target_tokenizer.kind == "word" else ""
    after_end = tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=1) > 0
    keep = ~after_end & tf.not_equal(ids, PAD_ID) & tf.not_equal(ids, START_ID)
    pieces = tf.ragged.boolean_mask(restore_pieces(ids, oov_words, target_tokenizer), keep)
    joined = tf.strings.reduce_join(pieces, axis=1, separator=separator)
    has_copy = tf.reduce_any((ids >= target_tokenizer.vocab_size) & keep, axis=1)
    return tf.where(has_copy, joined, plain)
