"""The extractive summarizer: a hierarchical encoder and a decoder that points at sentences.

Cheng & Lapata (2016), "Neural Summarization by Extracting Sentences and Words", built
as the encoder-decoder its extractor is: a bidirectional RNN over each sentence's
words gives a sentence vector, a second bidirectional RNN over the sentence vectors
gives the document memory, and an RNN decoder picks one sentence per step with the
pointer of Vinyals et al. (2015), "Pointer Networks": additive attention scores over
the sentences *are* the output distribution.  One extra learned memory row is the
end of the summary.  It is trained with teacher forcing on the greedy oracle's
labels (:func:`translator.baselines.oracle_indices`, in article order) and decoded by
the same greedy / beam loops as every other model (:mod:`translator.decoding`).

Why a pointer decoder rather than SummaRuNNer's per-sentence classifier (Nallapati et
al. 2017): it decides how many sentences to take (the end row) and conditions each
pick on the earlier ones, so it needs no threshold or top-k tuned per corpus, and it
stays one encoder-decoder family with the translators (same training loop, decoders,
exports).

Ids: the decoder's vocabulary is positional.  Ids 0-2 (PAD, UNK, START) are never
output, ``END_ID`` (3) ends the summary, and id ``FIRST_SENTENCE_ID + j`` is sentence
``j``.  A sentence already picked cannot be picked again (masked in teacher forcing
and decoding alike), and padded sentences get zero probability.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from translator.attention import get_attention
from translator.cells import make_rnn, num_states
from translator.encoder import Bridge, Encoder
from translator.special_tokens import END_ID, PAD_ID, START_ID

_PACKAGE = "translator"
FIRST_SENTENCE_ID = END_ID + 1  # sentence j is id FIRST_SENTENCE_ID + j
# Masked outputs: finite in training (the loss never sees -inf), -inf when decoding
# (a beam with too few sentences left must end, not fill up with impossible picks).
_MASKED = -1e9


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ExtractiveSummarizer(keras.Model):
    """Hierarchical RNN encoder + pointer decoder over sentences (see the module doc).

    Args:
        vocab_size: word vocabulary size (id 0 is padding).
        sentence_words: W, the fixed slot width of each sentence in the source ids.
        cell: ``rnn``, ``lstm``, ``gru`` or ``peephole_lstm`` (all three RNNs).
        embedding_dim: word embedding size.
        units: hidden size of every RNN (per direction for the encoders).
        bidirectional: run both encoders in both directions.
        dropout: on word embeddings, sentence vectors and decoder inputs.
        attention_units: hidden size of the additive pointer scores (default: units).

    - ``call((source_ids, decoder_input_ids))``: ``source_ids`` int ``[B, S * W]``
      (from :func:`translator.sentences.pack_sentences`: sentence ``j`` in columns
      ``j*W .. j*W+W-1``), ``decoder_input_ids`` ``[B, T]`` (START, then the previous
      picks' ids) -> logits ``[B, T, FIRST_SENTENCE_ID + S]``; with
      ``return_attention=True`` also the pointer probabilities ``[B, T, S]``.
    - ``encode(source_ids)`` -> state; ``decode_step(token_ids [B], state)`` ->
      (logits ``[B, FIRST_SENTENCE_ID + S]``, -inf where masked; state;
      probabilities ``[B, S]``), the interface of :class:`translator.model.Seq2Seq`
      that the decoders drive.  ``call`` masks with -1e9 instead (a finite loss).
    """

    extractive = True

    def __init__(
        self,
        vocab_size: int,
        sentence_words: int,
        cell: str = "gru",
        embedding_dim: int = 128,
        units: int = 256,
        bidirectional: bool = True,
        dropout: float = 0.0,
        attention_units: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_args = dict(
            vocab_size=vocab_size,
            sentence_words=sentence_words,
            cell=cell,
            embedding_dim=embedding_dim,
            units=units,
            bidirectional=bidirectional,
            dropout=dropout,
            attention_units=attention_units,
        )
        self.sentence_words = sentence_words
        self.cell = cell
        self.units = units
        self.sentence_encoder = Encoder(
            vocab_size,
            embedding_dim,
            units,
            cell=cell,
            bidirectional=bidirectional,
            dropout=dropout,
            name="sentence_encoder",
        )
        document = make_rnn(cell, units, name=f"document_{cell}")
        if bidirectional:
            document = keras.layers.Bidirectional(document, name=f"bi_document_{cell}")
        self.document_encoder = document
        self.memory_dim = self.sentence_encoder.output_dim
        self.bridge = Bridge(units, 1, cell, always_project=True, name="bridge")
        self.decoder_rnn = make_rnn(cell, units, name=f"decoder_{cell}")
        self.pointer = get_attention("bahdanau", attention_units or units, name="pointer")
        self.dropout_layer = keras.layers.Dropout(dropout)

    def build(self, input_shape: Any = None) -> None:
        self.start_vector = self.add_weight(
            name="start", shape=(self.memory_dim,), initializer="random_normal"
        )
        self.end_vector = self.add_weight(
            name="end", shape=(self.memory_dim,), initializer="random_normal"
        )
        self.pointer.build((None, None, self.units), (None, None, self.memory_dim))
        self.built = True
        source = ops.ones((1, 2 * self.sentence_words), dtype="int32")
        self.call((source, ops.convert_to_tensor([[START_ID, FIRST_SENTENCE_ID]], "int32")))

    # --------------------------------------------------------------------- encoder
    def encode(self, source_ids: Any, training: bool = False) -> dict[str, Any]:
        """Sentence-packed ids ``[B, S * W]`` -> the decoder's initial state."""
        ids = ops.cast(source_ids, "int32")
        width, words = ops.shape(ids)[1], self.sentence_words
        ids = ops.pad(ids, [[0, 0], [0, (words - width % words) % words]])
        batch = ops.shape(ids)[0]
        sentences = ops.reshape(ids, (-1, words))  # [B * S, W]
        _, states, _ = self.sentence_encoder(sentences, training=training)
        vectors = ops.reshape(states[-1][0], (batch, -1, self.memory_dim))
        vectors = self.dropout_layer(vectors, training=training)
        exists = ops.reshape(ops.any(ops.not_equal(sentences, PAD_ID), axis=-1), (batch, -1))
        memory, *final = self.document_encoder(vectors, mask=exists, training=training)
        n = num_states(self.cell)
        if len(final) > n:  # bidirectional: merge the directions like the word encoder
            final = [ops.concatenate([f, b], axis=-1) for f, b in zip(final[:n], final[n:])]
        initial = self.bridge([final])[0]
        end = ops.broadcast_to(self.end_vector, (batch, 1, self.memory_dim))
        keys = self.pointer.precompute(ops.concatenate([ops.cast(end, memory.dtype), memory], 1))
        reserved = ops.broadcast_to(
            ops.convert_to_tensor([False] * END_ID + [True]), (batch, FIRST_SENTENCE_ID)
        )
        allowed = ops.concatenate([reserved, exists], axis=1)  # [B, FIRST_SENTENCE_ID + S]
        state = {"memory": memory, "keys": keys, "allowed": allowed}
        state.update({f"s{k}": tensor for k, tensor in enumerate(initial)})
        state["chosen"] = ops.zeros_like(ops.cast(allowed, "float32"))
        return state

    # --------------------------------------------------------------------- decoder
    def _inputs(self, token_ids: Any, memory: Any) -> Any:
        """The decoder's input for each previous pick: that sentence's memory row, or
        the learned start vector for START.  ``token_ids`` ``[B]`` or ``[B, T]``."""
        token_ids = ops.cast(token_ids, "int32")
        flat = ops.reshape(token_ids, (ops.shape(token_ids)[0], -1))
        last = ops.shape(memory)[1] - 1
        index = ops.clip(flat - FIRST_SENTENCE_ID, 0, last)
        rows = ops.take_along_axis(memory, ops.expand_dims(index, -1), axis=1)
        start = ops.cast(ops.reshape(self.start_vector, (1, 1, -1)), memory.dtype)
        picked = ops.expand_dims(ops.greater_equal(flat, FIRST_SENTENCE_ID), -1)
        inputs = ops.where(picked, rows, start)
        return inputs if len(token_ids.shape) == 2 else inputs[:, 0]

    def _logits(self, outputs: Any, keys: Any, allowed: Any, fill: float = _MASKED) -> Any:
        """Decoder outputs ``[B, T, units]`` -> logits ``[B, T, FIRST_SENTENCE_ID + S]``,
        ``fill`` where not ``allowed``."""
        scores = ops.cast(self.pointer.score(outputs, keys, None), "float32")  # [B, T, 1 + S]
        reserved = ops.zeros_like(scores[..., :END_ID])
        logits = ops.concatenate([reserved, scores], axis=-1)
        return ops.where(allowed, logits, fill)

    def _recurrent_state(self, state: dict[str, Any]) -> list[Any]:
        return [state[f"s{k}"] for k in range(num_states(self.cell))]

    def decode_step(
        self, token_ids: Any, state: dict[str, Any], training: bool = False
    ) -> tuple[Any, dict[str, Any], Any]:
        """One pick: the previous pick ``token_ids`` ``[B]`` -> (logits, state, probs)."""
        inputs = self.dropout_layer(self._inputs(token_ids, state["memory"]), training=training)
        output, new = self.decoder_rnn.cell(inputs, self._recurrent_state(state), training=training)
        width = ops.shape(state["chosen"])[1]
        chosen = state["chosen"] + ops.one_hot(ops.cast(token_ids, "int32"), width)
        allowed = ops.logical_and(state["allowed"], ops.less(chosen, 0.5))
        query = ops.expand_dims(output, 1)
        logits = self._logits(query, state["keys"], allowed[:, None], float("-inf"))[:, 0]
        new_state = dict(state, chosen=chosen)
        new_state.update({f"s{k}": tensor for k, tensor in enumerate(new)})
        return logits, new_state, ops.softmax(logits, axis=-1)[:, FIRST_SENTENCE_ID:]

    def call(
        self, inputs: Any, training: bool | None = None, return_attention: bool = False
    ) -> Any:
        source_ids, decoder_input_ids = inputs[0], inputs[1]
        training = bool(training)
        state = self.encode(source_ids, training=training)
        x = self.dropout_layer(self._inputs(decoder_input_ids, state["memory"]), training=training)
        outputs = self.decoder_rnn(
            x, initial_state=self._recurrent_state(state), training=training
        )[0]
        width = ops.shape(state["allowed"])[1]
        picked = ops.cumsum(ops.one_hot(ops.cast(decoder_input_ids, "int32"), width), axis=1)
        allowed = ops.logical_and(state["allowed"][:, None], ops.less(picked, 0.5))
        logits = self._logits(outputs, state["keys"], allowed)
        if return_attention:
            return logits, ops.softmax(logits, axis=-1)[..., FIRST_SENTENCE_ID:]
        return logits

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(self.model_args)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ExtractiveSummarizer:
        return cls(**config)
