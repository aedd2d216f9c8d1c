"""The RNN encoder and the bridge from its final states to the decoder's first state."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from translator.cells import make_rnn, num_states
from translator.special_tokens import PAD_ID

_PACKAGE = "translator"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Encoder(keras.layers.Layer):
    """Embedding (masked on padding id 0) followed by ``num_layers`` stacked RNNs.

    The recurrent encoders of Sutskever et al. (2014), Cho et al. (2014) and, with
    ``bidirectional=True``, Bahdanau et al. (2015), sec. 3.2.

    Args:
        vocab_size: source vocabulary size (id 0 is padding).
        embedding_dim: size of the token embeddings.
        units: hidden size of each recurrent layer (per direction).
        cell: ``rnn``, ``lstm``, ``gru`` or ``peephole_lstm``.
        num_layers: stacked recurrent layers.
        bidirectional: run every layer forwards and backwards.
        merge_mode: ``concat`` (outputs ``2 * units`` wide) or ``sum`` (``units``).
        dropout: dropout on the embeddings and between layers.

    Call: ``source_ids`` ``[batch, src_len]`` int ->
    ``(outputs [batch, src_len, output_dim], states, mask [batch, src_len])`` where
    ``states[layer]`` is the list of final state tensors of that layer (h, and c for
    LSTMs), each ``[batch, state_dim]``; for bidirectional layers the forward and
    backward states are merged like the outputs.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        units: int,
        cell: str = "gru",
        num_layers: int = 1,
        bidirectional: bool = False,
        merge_mode: str = "concat",
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.cell = cell
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.merge_mode = merge_mode
        self.dropout = dropout
        self.embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, mask_zero=True, name="embedding"
        )
        self.rnns = []
        for i in range(num_layers):
            rnn = make_rnn(cell, units, name=f"{cell}_{i}")
            if bidirectional:
                rnn = keras.layers.Bidirectional(rnn, merge_mode=merge_mode, name=f"bi_{cell}_{i}")
            self.rnns.append(rnn)
        self.dropout_layer = keras.layers.Dropout(dropout)

    @property
    def output_dim(self) -> int:
        return self.units * (2 if self.bidirectional and self.merge_mode == "concat" else 1)

    def build(self, source_ids_shape: Any) -> None:
        # Every weight, without a call: `.keras` loading builds nested layers this way.
        self.embedding.build(source_ids_shape)
        shape = (*source_ids_shape, self.embedding_dim)
        for rnn in self.rnns:
            rnn.build(shape)
            shape = (*source_ids_shape, self.output_dim)
        self.built = True

    def call(self, source_ids: Any, training: bool = False) -> tuple[Any, list[list[Any]], Any]:
        mask = ops.not_equal(source_ids, PAD_ID)
        x = self.dropout_layer(self.embedding(source_ids), training=training)
        n = num_states(self.cell)
        states = []
        for i, rnn in enumerate(self.rnns):
            if i > 0:
                x = self.dropout_layer(x, training=training)
            x, *final = rnn(x, mask=mask, training=training)
            if self.bidirectional:
                forward, backward = final[:n], final[n:]
                if self.merge_mode == "concat":
                    final = [ops.concatenate([f, b], axis=-1) for f, b in zip(forward, backward)]
                else:
                    final = [f + b for f, b in zip(forward, backward)]
            states.append(list(final))
        return x, states, mask

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_dim=self.embedding_dim,
            units=self.units,
            cell=self.cell,
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            merge_mode=self.merge_mode,
            dropout=self.dropout,
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Bridge(keras.layers.Layer):
    """Maps the encoder's final states to the decoder's initial states.

    Decoder layer ``j`` starts from encoder layer ``j`` when both stacks are equally
    deep, else from the top encoder layer.  Each state tensor goes through a dense
    layer (``tanh`` for h, linear for an LSTM's c) when its size differs from the
    decoder's or ``always_project`` is set; otherwise it is passed on unchanged, as in
    Sutskever et al. (2014).  Bahdanau et al. (2015) initialise s_0 = tanh(W_s h_1<-),
    which the projected form covers.

    Args:
        units: decoder hidden size.
        num_layers: decoder layers.
        cell: decoder cell name (fixes how many state tensors there are).
        always_project: use the dense layers even when sizes agree.

    Call: ``states`` as returned by :class:`Encoder` -> a list (one entry per decoder
    layer) of lists of ``[batch, units]`` tensors.
    """

    def __init__(
        self, units: int, num_layers: int, cell: str, always_project: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.num_layers = num_layers
        self.cell = cell
        self.always_project = always_project

    def build(self, states_shape: Any) -> None:
        self.projections = []
        for j in range(self.num_layers):
            source = states_shape[j if len(states_shape) == self.num_layers else -1]
            layer_projections = []
            for k, shape in enumerate(source[: num_states(self.cell)]):
                if shape[-1] == self.units and not self.always_project:
                    layer_projections.append(None)
                    continue
                dense = keras.layers.Dense(
                    self.units, activation="tanh" if k == 0 else None, name=f"bridge_{j}_{k}"
                )
                dense.build(shape)
                layer_projections.append(dense)
            self.projections.append(layer_projections)
        self.built = True

    def call(self, states: list[list[Any]]) -> list[list[Any]]:
        out = []
        for j, layer_projections in enumerate(self.projections):
            source = states[j if len(states) == self.num_layers else -1]
            out.append(
                [
                    tensor if dense is None else dense(tensor)
                    for tensor, dense in zip(source, layer_projections)
                ]
            )
        return out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            units=self.units,
            num_layers=self.num_layers,
            cell=self.cell,
            always_project=self.always_project,
        )
        return config
