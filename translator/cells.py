"""Recurrent cells and the one factory that turns a cell name into a Keras RNN layer.

``rnn`` (Elman's vanilla RNN), ``lstm`` and ``gru`` use Keras' fused layers (cuDNN on
a GPU, one graph loop on a CPU); ``peephole_lstm`` is a small custom cell, since
Keras 3 no longer ships one.  Encoders and decoders never name a cell class: they
ask :func:`make_rnn` and step the returned layer's ``.cell`` when they need to.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

_PACKAGE = "translator"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PeepholeLSTMCell(keras.layers.Layer):
    """LSTM cell with peephole connections, Gers & Schmidhuber (2000), "Recurrent
    Nets that Time and Count":

        i_t = sigmoid(W_i x_t + U_i h_{t-1} + p_i * c_{t-1} + b_i)
        f_t = sigmoid(W_f x_t + U_f h_{t-1} + p_f * c_{t-1} + b_f)
        c_t = f_t * c_{t-1} + i_t * tanh(W_c x_t + U_c h_{t-1} + b_c)
        o_t = sigmoid(W_o x_t + U_o h_{t-1} + p_o * c_t + b_o)
        h_t = o_t * tanh(c_t)

    Args:
        units: size of h and c.
    Shapes: ``inputs`` ``[batch, input_dim]``; ``states`` ``[h, c]`` each
    ``[batch, units]``; returns ``(h_t, [h_t, c_t])``.
    """

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape: Any) -> None:
        dim = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=(dim, 4 * self.units), initializer="glorot_uniform"
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(self.units, 4 * self.units), initializer="orthogonal"
        )
        # Forget-gate bias 1 (Jozefowicz et al. 2015), as Keras' LSTM does.
        self.bias = self.add_weight(
            name="bias",
            shape=(4 * self.units,),
            initializer=lambda shape, dtype=None: ops.concatenate(
                [
                    ops.zeros((self.units,)),
                    ops.ones((self.units,)),
                    ops.zeros((2 * self.units,)),
                ]
            ),
        )
        self.peepholes = self.add_weight(
            name="peepholes", shape=(3, self.units), initializer="zeros"
        )
        self.built = True

    def call(self, inputs: Any, states: Any, training: bool = False) -> tuple[Any, list[Any]]:
        h_prev, c_prev = states[0], states[1]
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
        z = z + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = ops.sigmoid(z_i + self.peepholes[0] * c_prev)
        f = ops.sigmoid(z_f + self.peepholes[1] * c_prev)
        c = f * c_prev + i * ops.tanh(z_c)
        o = ops.sigmoid(z_o + self.peepholes[2] * c)
        h = o * ops.tanh(c)
        return h, [h, c]

    def get_initial_state(self, batch_size: int | None = None) -> list[Any]:
        return [ops.zeros((batch_size, self.units)), ops.zeros((batch_size, self.units))]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(units=self.units)
        return config


def num_states(cell: str) -> int:
    """How many state tensors a cell carries (h for rnn/gru, h and c for LSTMs)."""
    return 2 if cell in ("lstm", "peephole_lstm") else 1


def make_rnn(
    cell: str,
    units: int,
    *,
    return_sequences: bool = True,
    return_state: bool = True,
    go_backwards: bool = False,
    name: str | None = None,
) -> keras.layers.RNN:
    """A Keras recurrent layer for ``cell`` (``rnn``, ``lstm``, ``gru``, ``peephole_lstm``).

    Its ``.cell`` steps one time step with the same weights, which is what makes
    step-by-step decoding equal to the layer run over a whole sequence.
    """
    kwargs = dict(
        return_sequences=return_sequences,
        return_state=return_state,
        go_backwards=go_backwards,
        name=name,
    )
    if cell == "rnn":
        return keras.layers.SimpleRNN(units, **kwargs)
    if cell == "lstm":
        return keras.layers.LSTM(units, **kwargs)
    if cell == "gru":
        return keras.layers.GRU(units, **kwargs)
    if cell == "peephole_lstm":
        return keras.layers.RNN(PeepholeLSTMCell(units), **kwargs)
    raise ValueError(f"unknown cell {cell!r}; choose one of rnn, lstm, gru, peephole_lstm")
