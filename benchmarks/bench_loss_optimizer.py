"""The training step's loss and optimizer, each against the formulation it replaced.

- **Loss**: the masked, label-smoothed cross-entropy of ``translator.metrics`` (the
  fused softmax cross-entropy kernel on a dense smoothed target) against the earlier
  form, ``logsumexp(logits) - logit_y`` with the label's logit picked by a gather
  (whose gradient scatters over all of ``[batch, time, vocab]``); forward and backward,
  on random logits of ``--batch x --time x --vocab``.
- **Optimizer**: ``FusedAdam`` (one ``ResourceApplyAdam`` kernel per variable) against
  ``keras.optimizers.Adam``, both with global-norm clipping 1.0, on variables shaped
  like the ``spa-en`` fast path's (embeddings and output layer of 5,000 x 256, a
  bidirectional GRU encoder and a GRU decoder of 256 units).

Rounds alternate between the two forms; each row gives the median ms per call, and
the two forms' results are compared so a speed-up cannot hide a different answer.
Prints a Markdown table; nothing is asserted.

    python benchmarks/bench_loss_optimizer.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

#: The spa-en fast path's trainable shapes (embedding 256, units 256, 5,000 pieces).
FAST_PATH_SHAPES = [
    (5000, 256),  # source embedding
    (5000, 256),  # target embedding
    (256, 5000),  # output layer
    (5000,),
    *[(256, 768), (256, 768), (2, 768)] * 3,  # encoder forward, backward; decoder GRU
    (512, 256),  # attention W_a
    (768, 256),  # readout W_c
    (256,),
    (512, 256),  # bridge
    (256,),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--time", type=int, default=13, help="target positions")
    parser.add_argument("--vocab", type=int, default=5000)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--calls", type=int, default=20, help="calls per timed round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf
    from keras import ops

    from translator.metrics import MaskedCrossEntropy
    from translator.optimizer import FusedAdam

    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=(args.batch, args.time, args.vocab)), tf.float32)
    labels = rng.integers(1, args.vocab, size=(args.batch, args.time)).astype("int32")
    labels[:, -3:] = 0  # some padding
    labels = tf.constant(labels)
    eps = args.label_smoothing

    def gather_loss(y: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        """The earlier form: logsumexp minus a gathered logit, smoothing by the mean."""
        mask = ops.cast(ops.not_equal(y, 0), "float32")
        lse = ops.logsumexp(x, axis=-1)
        picked = ops.squeeze(ops.take_along_axis(x, ops.expand_dims(y, -1), axis=-1), -1)
        loss = (1 - eps) * (lse - picked) + eps * (lse - ops.mean(x, axis=-1))
        return ops.sum(loss * mask) / ops.sum(mask)

    def loss_step(loss_fn: object) -> object:
        @tf.function
        def step() -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                tape.watch(logits)
                loss = loss_fn(labels, logits)
            return loss, tape.gradient(loss, logits)

        return step

    rows = []
    fused = loss_step(MaskedCrossEntropy(label_smoothing=eps))
    gather = loss_step(gather_loss)
    times = _alternate({"fused": fused, "gather": gather}, args.calls, args.rounds)
    (loss_a, grad_a), (loss_b, grad_b) = fused(), gather()
    agree = f"loss {float(loss_a):.6f} vs {float(loss_b):.6f}, max |gradient diff| " + (
        f"{float(tf.reduce_max(tf.abs(grad_a - grad_b))):.1e}"
    )
    shape = f"{args.batch} x {args.time} x {args.vocab}"
    rows.append(
        (f"loss, forward + backward ({shape}, smoothing {eps})", times, ("fused", "gather"), agree)
    )

    gradients = [tf.constant(rng.normal(size=s), tf.float32) for s in FAST_PATH_SHAPES]
    initial = [rng.normal(size=s).astype("float32") * 0.1 for s in FAST_PATH_SHAPES]
    steps, variables = {}, {}
    for name, cls in (("fused", FusedAdam), ("keras", keras.optimizers.Adam)):
        weights = [keras.Variable(w) for w in initial]
        optimizer = cls(learning_rate=1e-3, global_clipnorm=1.0)
        optimizer.build(weights)
        steps[name] = _update_function(optimizer, weights, gradients)
        variables[name] = weights
    times = _alternate(steps, args.calls, args.rounds)
    diff = max(
        float(np.max(np.abs(a.numpy() - b.numpy())))
        for a, b in zip(variables["fused"], variables["keras"])
    )
    params = sum(int(np.prod(s)) for s in FAST_PATH_SHAPES)
    rows.append(
        (
            f"Adam update, {params / 1e6:.2f}M parameters, global-norm clipping",
            times,
            ("fused", "keras"),
            f"max |weight diff| after {1 + args.rounds * args.calls} updates {diff:.1e}",
        )
    )

    print(f"TF {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs")
    print()
    print("| what | new ms | old ms | old / new | same answer |")
    print("|:---|---:|---:|---:|:---|")
    for what, times, (new, old), agree in rows:
        new_ms, old_ms = (1000 * statistics.median(times[k]) for k in (new, old))
        print(f"| {what} | {new_ms:.1f} | {old_ms:.1f} | {old_ms / new_ms:.2f}x | {agree} |")
    return 0


def _alternate(functions: dict, calls: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each function: one untimed call (tracing), then ``rounds``
    timed rounds that go round the functions in turn."""
    for function in functions.values():
        _wait(function())
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            for _ in range(calls):
                result = function()
            _wait(result)
            times[name].append((time.perf_counter() - start) / calls)
    return times


def _update_function(optimizer: object, weights: list, gradients: list) -> object:
    """A ``tf.function`` applying ``gradients`` to ``weights`` (closed over, not
    arguments: tf.function would trace the variables as tensors)."""
    import tensorflow as tf

    @tf.function
    def update() -> tf.Tensor:
        optimizer.apply(gradients, weights)
        return tf.identity(optimizer.iterations.value)  # read after the update

    return update


def _wait(result: object) -> None:
    import tensorflow as tf

    for tensor in tf.nest.flatten(result):
        if hasattr(tensor, "numpy"):
            tensor.numpy()


if __name__ == "__main__":
    sys.exit(main())
