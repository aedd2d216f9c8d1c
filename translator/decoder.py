"""One RNN decoder family: context-vector (Sutskever, Cho) and attention (Bahdanau, Luong).

The decoder is written once as a *step*: given the previous target token and the
recurrent state, return the pre-output vector, the new state and the attention
weights.  Teacher-forced training runs the step's recurrent part (:meth:`_recur`)
inside one graph loop (:func:`time_loop`) and its readout, which reads no state, once
over all positions after it; on the fast path -- Sutskever, Cho and Luong without
input feeding or coverage -- the recurrent layers run fused over the whole target
sequence and attention is computed for all positions at once.  Step-wise decoding
(greedy, beam, sampling, export) calls the same recurrence and readout, which is why
it reproduces the teacher-forced logits exactly.
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
    # Read through a TensorArray, not by slicing the captured tensor: a slice's
    # gradient is a whole [time, batch, dim] tensor per step, summed over the steps.
    xs = tf.TensorArray(inputs.dtype, size=steps).unstack(tf.transpose(inputs, [1, 0, 2]))
    arrays = tuple(tf.TensorArray(inputs.dtype, size=steps) for _ in range(num_outputs))

    def loop_body(t: Any, carry: Any, arrays: Any) -> Any:
        carry, ys = body(carry, xs.read(t))
        return t + 1, carry, tuple(a.write(t, y) for a, y in zip(arrays, ys))

    # maximum_iterations lets XLA (jit_compile) size the gradient accumulators.
    _, _, arrays = tf.while_loop(
        lambda t, *_: t < steps,
        loop_body,
        (tf.constant(0), carry, arrays),
        maximum_iterations=steps,
    )
    return tuple(tf.transpose(a.stack(), [1, 0, 2]) for a in arrays)


def copy_distribution(weights: Any, extended_ids: Any, size: Any) -> Any:
    """Scatters attention onto the extended vocabulary (See et al. 2017, eq. 9).

    ``weights`` ``[batch, (tgt_len,) src_len]``, ``extended_ids`` ``[batch, src_len]``
    -> ``[batch, (tgt_len,) size]`` where entry w sums the weights of the source
    positions holding w.  Padding (id 0) gets zero attention, so it adds nothing.
    """
    single_step = len(weights.shape) == 2
    if single_step:
        weights = weights[:, None, :]
    batch, steps, src = tf.shape(weights)[0], tf.shape(weights)[1], tf.shape(weights)[2]
    ids = tf.broadcast_to(tf.cast(extended_ids, tf.int32)[:, None, :], [batch, steps, src])
    rows = tf.range(batch * steps)[:, None]
    segments = tf.reshape(rows * size + tf.reshape(ids, [batch * steps, src]), [-1])
    flat = tf.math.unsorted_segment_sum(
        tf.reshape(weights, [-1]), segments, num_segments=batch * steps * size
    )
    dist = tf.reshape(flat, [batch, steps, size])
    return dist[:, 0] if single_step else dist


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
        deep_output: Luong's readout also reads ``E y_{t-1}``,
            ``o_t = tanh(W_c [c_t; h_t; E y_{t-1}])``, as Bahdanau's does.
        scale_scores: ``dot``/``general`` scores divided by ``sqrt(units)`` (the
            unscaled scores saturate the softmax early in training; see the README's
            Luong ablation).  Other scores ignore it.
        coverage: See et al. (2017) coverage vector fed to the attention scores.
        pointer_generator: See et al. (2017) copy mechanism: the output mixes the
            vocabulary distribution with the attention over the source,
            ``P(w) = p_gen P_vocab(w) + (1 - p_gen) sum_{i: x_i = w} a_i`` with
            ``p_gen = sigmoid(w_c c_t + w_s s_t + w_x x_t + b)``, over an extended
            vocabulary where source words unknown to the target vocabulary get
            temporary ids ``vocab_size + j``.  The outputs are then
            log-probabilities rather than logits (``log_softmax`` leaves them as
            they are, so losses and decoders need not care); ids at or above
            ``vocab_size`` fed back as inputs read as the unknown token.
        dropout: on embeddings, between layers and before the output layer.
        tie_embeddings: output layer reuses the embedding matrix (needs
            ``units == embedding_dim``), Press & Wolf (2017).
        output_bfloat16: in training, the output layer multiplies in bfloat16
            (float32 weights cast to bfloat16, logits cast back to float32): its
            matmuls ~1.8x faster on CPUs with AVX-512 BF16 or AMX, slower elsewhere.
            Inference stays float32, so decoding still reproduces the teacher-forced
            logits exactly.  Not with ``tie_embeddings``.

    Shapes: :meth:`call` maps ``decoder_input_ids`` ``[batch, tgt_len]`` and a state
    from :meth:`initial_state` to ``logits [batch, tgt_len, vocab]`` (``vocab`` is the
    extended size with ``pointer_generator``) and attention
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
        deep_output: bool = False,
        scale_scores: bool = False,
        coverage: bool = False,
        pointer_generator: bool = False,
        dropout: float = 0.0,
        tie_embeddings: bool = False,
        output_bfloat16: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"unknown decoder variant {variant!r}; choose one of {VARIANTS}")
        if tie_embeddings and units != embedding_dim:
            raise ValueError(
                f"tie_embeddings needs units == embedding_dim, got {units} and {embedding_dim}"
            )
        if tie_embeddings and output_bfloat16:
            raise ValueError("output_bfloat16 needs an untied output layer (tie_embeddings=False)")
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
        self.deep_output = deep_output and variant == "luong"
        self.scale_scores = scale_scores and variant == "luong" and attention in ("dot", "general")
        self.coverage = coverage and self.has_attention
        self.pointer_generator = pointer_generator and self.has_attention
        self.dropout = dropout
        self.tie_embeddings = tie_embeddings
        self.output_bfloat16 = output_bfloat16
        # XLA cannot size the step loop's gradient buffers once Keras relaxes the
        # traced shapes (varying batch/target lengths); Keras reads this flag.
        self.supports_jit = self.fused

        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        self.rnns = [make_rnn(cell, units, name=f"{cell}_{i}") for i in range(num_layers)]
        self.dropout_layer = keras.layers.Dropout(dropout)
        if self.has_attention:
            name = "bahdanau" if variant == "bahdanau" else attention
            extra = {"scale": True} if self.scale_scores else {}
            self.attention = get_attention(
                name,
                units=self.attention_units,
                use_coverage=self.coverage,
                name="attention",
                **extra,
            )
        if variant == "luong":
            self.readout = keras.layers.Dense(units, activation="tanh", use_bias=False, name="w_c")
        elif variant in ("cho", "bahdanau"):
            self.readout = keras.layers.Dense(units, activation="tanh", name="readout")
        if tie_embeddings:
            self.output_bias = None
        else:
            self.output_layer = keras.layers.Dense(vocab_size, name="output")
        if self.pointer_generator:
            self.p_gen_layer = keras.layers.Dense(1, activation="sigmoid", name="p_gen")

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
            deep = self.embedding_dim if self.deep_output else 0
            self.readout.build((None, self.memory_dim + self.units + deep))
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
        if self.pointer_generator:
            self.p_gen_layer.build((None, self.memory_dim + self.units + self.embedding_dim))
        self.built = True

    # -- state -----------------------------------------------------------------------

    def initial_state(
        self,
        memory: Any,
        mask: Any,
        rnn_states: list[list[Any]],
        context: Any | None = None,
        extended_ids: Any | None = None,
    ) -> dict[str, Any]:
        """The decoding state before the first target token.

        Args:
            memory: encoder outputs ``[batch, src_len, memory_dim]``.
            mask: ``[batch, src_len]`` bool, False on source padding.
            rnn_states: per decoder layer, the list of initial state tensors.
            context: Cho's context vector ``[batch, context_dim]``.
            extended_ids: pointer-generator source ids in the extended vocabulary
                ``[batch, src_len]`` (default: ids are not extended).

        Returns a flat dict of batch-major tensors (so a beam search can reorder every
        entry with ``tf.gather``): ``memory``, ``mask`` and, per variant, ``keys``
        (precomputed attention projection), ``context``, ``feed`` (h~_{t-1}),
        ``coverage``, ``extended_ids`` and ``rnn_<layer>_<k>``.
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
        if self.pointer_generator:
            if extended_ids is None:
                raise ValueError("a pointer-generator decoder needs the extended source ids")
            state["extended_ids"] = ops.cast(extended_ids, "int32")
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
    ) -> tuple[Any, dict[str, Any], Any, Any]:
        """``embedded`` ``[batch, embedding_dim]`` -> (o_t ``[batch, units]``, state,
        weights ``[batch, src_len]``, p_gen ``[batch, 1]`` or None)."""
        h, context, new_state, weights = self._recur(embedded, state, training)
        out, p_gen = self._outputs(h, context, embedded, new_state.get("feed"))
        return out, new_state, weights, p_gen

    def _recur(
        self, embedded: Any, state: dict[str, Any], training: bool
    ) -> tuple[Any, Any, dict[str, Any], Any]:
        """The recurrent part of one step: (h_t ``[batch, units]``, the context
        ``[batch, memory_dim]`` (Cho's fixed one, or this step's attention), the new
        state, weights ``[batch, src_len]``).  The readout is left out: it reads no
        state, so teacher forcing applies it to all steps at once after the loop."""
        memory, mask = state["memory"], state["mask"]
        keys, coverage = state.get("keys"), state.get("coverage")
        new_state = dict(state)
        weights, context = None, state.get("context")
        x = embedded
        if self.variant == "cho":
            x = ops.concatenate([x, context], axis=-1)
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

        if self.variant == "luong":
            context, weights = self.attention(h, memory, mask, keys=keys, coverage=coverage)
            if self.input_feeding:
                new_state["feed"] = self._readout(h, context, embedded)
        if weights is None:
            weights = ops.zeros(ops.shape(mask), dtype=h.dtype)
        elif self.coverage:
            new_state["coverage"] = coverage + weights
        return h, context, new_state, weights

    def _readout(self, h: Any, context: Any, embedded: Any) -> Any:
        """o_t from h_t, the context and E y_{t-1}; any leading shape (``[batch, d]`` or
        ``[batch, tgt_len, d]``), Cho's ``[batch, d]`` context broadcast over time."""
        if self.variant == "sutskever":
            return h
        if self.variant == "luong":
            parts = [context, h, embedded] if self.deep_output else [context, h]
            return self.readout(ops.concatenate(parts, axis=-1))
        if self.variant == "cho" and len(h.shape) == 3:
            context = ops.repeat(ops.expand_dims(context, 1), ops.shape(h)[1], axis=1)
        return self.readout(ops.concatenate([h, context, embedded], axis=-1))

    def _outputs(self, h: Any, context: Any, embedded: Any, feed: Any = None) -> tuple[Any, Any]:
        """(o_t, p_gen or None) for one step or all steps at once; with input feeding
        o_t is the ``feed`` the recurrence already computed."""
        out = feed if self.input_feeding else self._readout(h, context, embedded)
        p_gen = self._p_gen(context, h, embedded) if self.pointer_generator else None
        return out, p_gen

    def _p_gen(self, context: Any, h: Any, embedded: Any) -> Any:
        return self.p_gen_layer(ops.concatenate([context, h, embedded], axis=-1))

    def _input_ids(self, token_ids: Any) -> Any:
        # Copied words carry temporary ids >= vocab_size; as inputs they are unknown.
        if not self.pointer_generator:
            return token_ids
        return ops.where(token_ids >= self.vocab_size, ops.ones_like(token_ids), token_ids)

    def project(
        self,
        outputs: Any,
        weights: Any = None,
        p_gen: Any = None,
        extended_ids: Any = None,
        training: bool = False,
    ) -> Any:
        """Output layer: ``[..., units]`` -> logits ``[..., vocab]``; with the pointer
        generator, log-probabilities over the extended vocabulary."""
        if self.tie_embeddings:
            logits = ops.matmul(outputs, ops.transpose(self.embedding.embeddings))
            logits = logits + self.output_bias
        elif self.output_bfloat16 and training:
            # CPUs have no kernel for bfloat16 inputs with a float32 product, so the
            # logits are rounded to bfloat16 too: fine for the loss, not for scoring.
            layer = self.output_layer
            logits = ops.matmul(ops.cast(outputs, "bfloat16"), ops.cast(layer.kernel, "bfloat16"))
            logits = ops.cast(logits, "float32") + layer.bias
        else:
            logits = self.output_layer(outputs)
        if p_gen is None:
            return logits
        size = tf.maximum(self.vocab_size, tf.reduce_max(extended_ids) + 1)
        vocab = tf.nn.softmax(tf.cast(logits, "float32"), axis=-1)
        pad = tf.concat([tf.zeros(tf.rank(vocab) - 1, tf.int32), [size - self.vocab_size]], axis=0)
        vocab = tf.pad(vocab, tf.stack([tf.zeros_like(pad), pad], axis=1))
        copy = copy_distribution(tf.cast(weights, "float32"), extended_ids, size)
        p_gen = tf.cast(p_gen, "float32")
        # The floor keeps log finite for words neither generated nor copied.
        return tf.math.log(p_gen * vocab + (1.0 - p_gen) * copy + 1e-12)

    def step(
        self, token_ids: Any, state: dict[str, Any], training: bool = False
    ) -> tuple[Any, dict[str, Any], Any]:
        """One decoding step: ``token_ids`` ``[batch]`` -> (logits ``[batch, vocab]``,
        new state, attention weights ``[batch, src_len]``)."""
        embedded = self.dropout_layer(self.embedding(self._input_ids(token_ids)), training=training)
        out, new_state, weights, p_gen = self._step(embedded, state, training=training)
        logits = self.project(
            self.dropout_layer(out, training=training),
            weights,
            p_gen,
            state.get("extended_ids"),
            training=training,
        )
        return logits, new_state, weights

    # -- whole sequences (teacher forcing) -----------------------------------------------

    def call(
        self, decoder_input_ids: Any, state: dict[str, Any], training: bool = False
    ) -> tuple[Any, Any]:
        embedded = self.dropout_layer(
            self.embedding(self._input_ids(decoder_input_ids)), training=training
        )
        if self.fused:
            outputs, weights, p_gen = self._run_fused(embedded, state, training)
        else:
            outputs, weights, p_gen = self._run_steps(embedded, state, training)
        logits = self.project(
            self.dropout_layer(outputs, training=training),
            weights,
            p_gen,
            state.get("extended_ids"),
            training=training,
        )
        return logits, weights

    def _run_fused(
        self, embedded: Any, state: dict[str, Any], training: bool
    ) -> tuple[Any, Any, Any]:
        memory, mask = state["memory"], state["mask"]
        x, context = embedded, state.get("context")
        if self.variant == "cho":
            steps = ops.shape(embedded)[1]
            x = ops.concatenate([x, ops.repeat(ops.expand_dims(context, 1), steps, axis=1)], -1)
        for j, (rnn, layer_states) in enumerate(zip(self.rnns, self._rnn_states(state))):
            if j > 0:
                x = self.dropout_layer(x, training=training)
            x, *_ = rnn(x, initial_state=layer_states, training=training)
        h = x
        if self.has_attention:
            context, weights = self.attention(h, memory, mask, keys=state["keys"])
        else:
            weights = ops.zeros((ops.shape(h)[0], ops.shape(h)[1], ops.shape(mask)[1]))
        out, p_gen = self._outputs(h, context, embedded)
        return out, weights, p_gen

    def _run_steps(
        self, embedded: Any, state: dict[str, Any], training: bool
    ) -> tuple[Any, Any, Any]:
        constant_keys = ("memory", "mask", "keys", "context", "extended_ids")
        constant = {k: state[k] for k in constant_keys if k in state}
        carry = {k: v for k, v in state.items() if k not in constant}

        def body(carry: dict[str, Any], x_t: Any) -> tuple[dict[str, Any], tuple[Any, ...]]:
            h, context, new_state, weights = self._recur(x_t, {**carry, **constant}, training)
            feed = (new_state["feed"],) if self.input_feeding else ()
            return {k: new_state[k] for k in carry}, (h, context, weights, *feed)

        # The loop carries only the recurrence; readout and p_gen (which read no
        # state) run once over all steps: fewer, larger ops per training step.
        h, context, weights, *feed = time_loop(
            body, carry, embedded, num_outputs=4 if self.input_feeding else 3
        )
        out, p_gen = self._outputs(h, context, embedded, *feed)
        return out, weights, p_gen

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
            deep_output=self.deep_output,
            scale_scores=self.scale_scores,
            coverage=self.coverage,
            pointer_generator=self.pointer_generator,
            dropout=self.dropout,
            tie_embeddings=self.tie_embeddings,
            output_bfloat16=self.output_bfloat16,
        )
        return config
