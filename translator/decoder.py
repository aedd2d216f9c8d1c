"""One RNN decoder family: context-vector (Sutskever, Cho) and attention (Bahdanau, Luong).

The decoder is written once as a *step*: given the previous target token and the
recurrent state, return the pre-output vector, the new state and the attention
weights.  Teacher-forced training runs that step inside one graph loop
(``keras.ops.scan``), except on the fast path -- Sutskever, Cho and Luong without
input feeding or coverage -- where the recurrent layers run fused over the whole
target sequence and attention is computed for all positions at once.  Step-wise
decoding (greedy, beam, sampling, export) calls the same step, which is why it
reproduces the teacher-forced logits exactly.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops

from translator.attention import get_attention
from translator.cells import make_rnn, num_states

_PACKAGE = "translator"
VARIANTS = ("sutskever", "cho", "bahdanau", "luong")


def time_loop(body: Any, carry: Any, inputs: Any, num_outputs: int) -> tuple[Any, ...]:
    """Runs ``carry, ys = body(carry, inputs[:, t])`` for every t in one ``tf.while_loop``.

    ``inputs`` is batch-major ``[batch, time, dim]``; ``ys`` is a tuple of
    ``num_outputs`` ``[batch, d]`` tensors of the inputs' dtype, stacked batch-major.  Unlike
    ``keras.ops.scan`` the outputs may differ in shape from the carry, and nothing
    but the outputs is accumulated.
    """
    steps = tf.shape(inputs)[1]
    time_major = tf.transpose(inputs, [1, 0, 2])
    arrays = tuple(tf.TensorArray(inputs.dtype, size=steps) for _ in range(num_outputs))

    def loop_body(t: Any, carry: Any, arrays: Any) -> Any:
        carry, ys = body(carry, time_major[t])
        return t + 1, carry, tuple(a.write(t, y) for a, y in zip(arrays, ys))

    # maximum_iterations lets XLA (jit_compile) size the gradient accumulators.
    _, _, arrays = tf.while_loop(
        lambda t, *_: t < steps,
        loop_body,
        (tf.constant(0), carry, arrays),
        maximum_iterations=steps,
    )
    return tuple(tf.transpose(a.stack(), [1, 0, 2]) for a in arrays)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Decoder(keras.layers.Layer):
    """RNN decoder with a choice of conditioning on the source.

    Variants (``variant``):

    - ``sutskever`` -- Sutskever, Vinyals & Le (2014): only the initial state carries
      the source; ``o_t = s_t``.
    - ``cho`` -- Cho et al. (2014), "Learning Phrase Representations using RNN
      Encoder-Decoder": the context vector ``c`` (the encoder's final top-layer state)
      joins every RNN input and the output: ``o_t = tanh(W_o [s_t; c; E y_{t-1}])``.
    - ``bahdanau`` -- Bahdanau et al. (2015): ``c_t = attend(s_{t-1}, h)`` with additive
      scores; the RNN reads ``[E y_{t-1}; c_t]``; ``o_t = tanh(W_o [s_t; c_t; E y_{t-1}])``
      (a one-layer deep output, tanh instead of maxout).
    - ``luong`` -- Luong et al. (2015): ``h_t = RNN(E y_{t-1} [; h~_{t-1}])``,
      ``c_t = attend(h_t, h)`` with ``dot``/``general``/``concat`` scores,
      ``o_t = h~_t = tanh(W_c [c_t; h_t])``; ``input_feeding`` adds h~_{t-1} to the input.

    Args:
        vocab_size: target vocabulary size.
        embedding_dim: target embedding size.
        units: hidden size of every recurrent layer.
        memory_dim: size of the encoder outputs (attention values).
        context_dim: size of the Cho context vector (encoder top-layer final h).
        cell: ``rnn``, ``lstm``, ``gru`` or ``peephole_lstm``.
        num_layers: stacked recurrent layers.
        variant: one of :data:`VARIANTS`.
        attention: Luong score name (``dot``, ``general``, ``concat``).
        attention_units: hidden size of additive / concat scores (default ``units``).
        input_feeding: Luong input feeding.
        coverage: See et al. (2017) coverage vector fed to the attention scores.
        dropout: on embeddings, between layers and before the output layer.
        tie_embeddings: output layer reuses the embedding matrix (needs
            ``units == embedding_dim``), Press & Wolf (2017).

    Shapes: :meth:`call` maps ``decoder_input_ids`` ``[batch, tgt_len]`` and a state
    from :meth:`initial_state` to ``logits [batch, tgt_len, vocab]`` and attention
    ``weights [batch, tgt_len, src_len]`` (zeros for the context-vector variants);
    :meth:`step` does the same for one ``[batch]`` vector of token ids.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        units: int,
        memory_dim: int,
        context_dim: int | None = None,
        cell: str = "gru",
        num_layers: int = 1,
        variant: str = "bahdanau",
        attention: str = "general",
        attention_units: int | None = None,
        input_feeding: bool = False,
        coverage: bool = False,
        dropout: float = 0.0,
        tie_embeddings: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"unknown decoder variant {variant!r}; choose one of {VARIANTS}")
        if tie_embeddings and units != embedding_dim:
            raise ValueError(
                f"tie_embeddings needs units == embedding_dim, got {units} and {embedding_dim}"
            )
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.memory_dim = memory_dim
        self.context_dim = context_dim if context_dim is not None else memory_dim
        self.cell = cell
        self.num_layers = num_layers
        self.variant = variant
        self.attention_name = attention
        self.attention_units = attention_units or units
        self.input_feeding = input_feeding and variant == "luong"
        self.coverage = coverage and self.has_attention
        self.dropout = dropout
        self.tie_embeddings = tie_embeddings
        # XLA cannot size the step loop's gradient buffers once Keras relaxes the
        # traced shapes (varying batch/target lengths); Keras reads this flag.
        self.supports_jit = self.fused

        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        self.rnns = [make_rnn(cell, units, name=f"{cell}_{i}") for i in range(num_layers)]
        self.dropout_layer = keras.layers.Dropout(dropout)
        if self.has_attention:
            name = "bahdanau" if variant == "bahdanau" else attention
            self.attention = get_attention(
                name, units=self.attention_units, use_coverage=self.coverage, name="attention"
            )
        if variant == "luong":
            self.readout = keras.layers.Dense(units, activation="tanh", use_bias=False, name="w_c")
        elif variant in ("cho", "bahdanau"):
            self.readout = keras.layers.Dense(units, activation="tanh", name="readout")
        if tie_embeddings:
            self.output_bias = None
        else:
            self.output_layer = keras.layers.Dense(vocab_size, name="output")

    # -- structure -------------------------------------------------------------------

    @property
    def has_attention(self) -> bool:
        return self.variant in ("bahdanau", "luong")

    @property
    def fused(self) -> bool:
        """Whether teacher forcing runs the fused RNN layers (no step loop)."""
        return self.variant in ("sutskever", "cho") or (
            self.variant == "luong" and not self.input_feeding and not self.coverage
        )

    def _rnn_input_dim(self) -> int:
        extra = {
            "sutskever": 0,
            "cho": self.context_dim,
            "bahdanau": self.memory_dim,
            "luong": self.units if self.input_feeding else 0,
        }[self.variant]
        return self.embedding_dim + extra

    def build(self, *args: Any, **kwargs: Any) -> None:
        self.embedding.build((None, None))
        dim = self._rnn_input_dim()
        for rnn in self.rnns:
            rnn.build((None, None, dim))
            dim = self.units
        if self.has_attention:
            query_dim = self.units
            self.attention.build((None, None, query_dim), (None, None, self.memory_dim))
        if self.variant == "luong":
            self.readout.build((None, self.memory_dim + self.units))
        elif self.variant == "cho":
            self.readout.build((None, self.units + self.context_dim + self.embedding_dim))
        elif self.variant == "bahdanau":
            self.readout.build((None, self.units + self.memory_dim + self.embedding_dim))
        if self.tie_embeddings:
            self.output_bias = self.add_weight(
                name="output_bias", shape=(self.vocab_size,), initializer="zeros"
            )
        else:
            self.output_layer.build((None, self.units))
        self.built = True

    # -- state -----------------------------------------------------------------------

    def initial_state(
        self,
        memory: Any,
        mask: Any,
        rnn_states: list[list[Any]],
        context: Any | None = None,
    ) -> dict[str, Any]:
        """The decoding state before the first target token.

        Args:
            memory: encoder outputs ``[batch, src_len, memory_dim]``.
            mask: ``[batch, src_len]`` bool, False on source padding.
            rnn_states: per decoder layer, the list of initial state tensors.
            context: Cho's context vector ``[batch, context_dim]``.

        Returns a flat dict of batch-major tensors (so a beam search can reorder every
        entry with ``tf.gather``): ``memory``, ``mask`` and, per variant, ``keys``
        (precomputed attention projection), ``context``, ``feed`` (h~_{t-1}),
        ``coverage`` and ``rnn_<layer>_<k>``.
        """
        state: dict[str, Any] = {"memory": memory, "mask": mask}
        batch = ops.shape(memory)[0]
        if self.has_attention:
            state["keys"] = self.attention.precompute(memory)
        if self.variant == "cho":
            state["context"] = context
        if self.input_feeding:
            state["feed"] = ops.zeros((batch, self.units), dtype=memory.dtype)
        if self.coverage:
            state["coverage"] = ops.zeros(ops.shape(mask), dtype=memory.dtype)
        for j, layer_states in enumerate(rnn_states):
            for k, tensor in enumerate(layer_states):
                state[f"rnn_{j}_{k}"] = tensor
        return state

    def _rnn_states(self, state: dict[str, Any]) -> list[list[Any]]:
        n = num_states(self.cell)
        return [[state[f"rnn_{j}_{k}"] for k in range(n)] for j in range(self.num_layers)]

    # -- one step --------------------------------------------------------------------

    def _step(
        self, embedded: Any, state: dict[str, Any], training: bool = False
    ) -> tuple[Any, dict[str, Any], Any]:
        """``embedded`` ``[batch, embedding_dim]`` -> (o_t ``[batch, units]``, state, weights)."""
        memory, mask = state["memory"], state["mask"]
        keys, coverage = state.get("keys"), state.get("coverage")
        new_state = dict(state)
        weights = None
        x = embedded
        if self.variant == "cho":
            x = ops.concatenate([x, state["context"]], axis=-1)
        elif self.variant == "bahdanau":
            query = state[f"rnn_{self.num_layers - 1}_0"]  # s_{t-1}, top layer
            context, weights = self.attention(query, memory, mask, keys=keys, coverage=coverage)
            x = ops.concatenate([x, context], axis=-1)
        elif self.input_feeding:
            x = ops.concatenate([x, state["feed"]], axis=-1)

        for j, (rnn, layer_states) in enumerate(zip(self.rnns, self._rnn_states(state))):
            if j > 0:
                x = self.dropout_layer(x, training=training)
            x, new_layer_states = rnn.cell(x, layer_states, training=training)
            for k, tensor in enumerate(new_layer_states):
                new_state[f"rnn_{j}_{k}"] = tensor
        h = x

        if self.variant == "sutskever":
            out = h
        elif self.variant == "cho":
            out = self.readout(ops.concatenate([h, state["context"], embedded], axis=-1))
        elif self.variant == "bahdanau":
            out = self.readout(ops.concatenate([h, context, embedded], axis=-1))
        else:
            context, weights = self.attention(h, memory, mask, keys=keys, coverage=coverage)
            out = self.readout(ops.concatenate([context, h], axis=-1))
            if self.input_feeding:
                new_state["feed"] = out
        if weights is None:
            weights = ops.zeros(ops.shape(mask), dtype=h.dtype)
        elif self.coverage:
            new_state["coverage"] = coverage + weights
        return out, new_state, weights

    def project(self, outputs: Any) -> Any:
        """Output layer: ``[..., units]`` -> logits ``[..., vocab]``."""
        if self.tie_embeddings:
            return ops.matmul(outputs, ops.transpose(self.embedding.embeddings)) + self.output_bias
        return self.output_layer(outputs)

    def step(
        self, token_ids: Any, state: dict[str, Any], training: bool = False
    ) -> tuple[Any, dict[str, Any], Any]:
        """One decoding step: ``token_ids`` ``[batch]`` -> (logits ``[batch, vocab]``,
        new state, attention weights ``[batch, src_len]``)."""
        embedded = self.dropout_layer(self.embedding(token_ids), training=training)
        out, new_state, weights = self._step(embedded, state, training=training)
        logits = self.project(self.dropout_layer(out, training=training))
        return logits, new_state, weights

    # -- whole sequences (teacher forcing) -----------------------------------------------

    def call(
        self, decoder_input_ids: Any, state: dict[str, Any], training: bool = False
    ) -> tuple[Any, Any]:
        embedded = self.dropout_layer(self.embedding(decoder_input_ids), training=training)
        if self.fused:
            outputs, weights = self._run_fused(embedded, state, training)
        else:
            outputs, weights = self._run_steps(embedded, state, training)
        logits = self.project(self.dropout_layer(outputs, training=training))
        return logits, weights

    def _run_fused(self, embedded: Any, state: dict[str, Any], training: bool) -> tuple[Any, Any]:
        memory, mask = state["memory"], state["mask"]
        x = embedded
        if self.variant == "cho":
            steps = ops.shape(embedded)[1]
            tiled = ops.repeat(ops.expand_dims(state["context"], 1), steps, axis=1)
            x = ops.concatenate([x, tiled], axis=-1)
        for j, (rnn, layer_states) in enumerate(zip(self.rnns, self._rnn_states(state))):
            if j > 0:
                x = self.dropout_layer(x, training=training)
            x, *_ = rnn(x, initial_state=layer_states, training=training)
        h = x
        if self.variant == "sutskever":
            return h, ops.zeros((ops.shape(h)[0], ops.shape(h)[1], ops.shape(mask)[1]))
        if self.variant == "cho":
            return self.readout(ops.concatenate([h, tiled, embedded], axis=-1)), ops.zeros(
                (ops.shape(h)[0], ops.shape(h)[1], ops.shape(mask)[1])
            )
        context, weights = self.attention(h, memory, mask, keys=state["keys"])
        return self.readout(ops.concatenate([context, h], axis=-1)), weights

    def _run_steps(self, embedded: Any, state: dict[str, Any], training: bool) -> tuple[Any, Any]:
        constant = {k: state[k] for k in ("memory", "mask", "keys", "context") if k in state}
        carry = {k: v for k, v in state.items() if k not in constant}

        def body(carry: dict[str, Any], x_t: Any) -> tuple[dict[str, Any], tuple[Any, Any]]:
            out, new_state, weights = self._step(x_t, {**carry, **constant}, training=training)
            return {k: new_state[k] for k in carry}, (out, weights)

        outputs, weights = time_loop(body, carry, embedded, num_outputs=2)
        return outputs, weights

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_dim=self.embedding_dim,
            units=self.units,
            memory_dim=self.memory_dim,
            context_dim=self.context_dim,
            cell=self.cell,
            num_layers=self.num_layers,
            variant=self.variant,
            attention=self.attention_name,
            attention_units=self.attention_units,
            input_feeding=self.input_feeding,
            coverage=self.coverage,
            dropout=self.dropout,
            tie_embeddings=self.tie_embeddings,
        )
        return config
