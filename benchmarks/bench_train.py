"""Training throughput of the main variants at one size, in target tokens per second.

Real spa-en pairs (a seeded random sample of ``--train-limit`` training pairs) go
through the real pipeline (SentencePiece 5,000 per side, bucketing on, batch 64); the
batches are drawn at random from the whole epoch (every length bucket as often as
training meets it), and every variant (embedding 256, units 256, bidirectional
encoder) trains on the same batches: ``--warmup`` steps first (tracing, caches), then
``--steps`` timed steps.  Tokens are label tokens (target + END), padding excluded.
``tf-tutorial-unbucketed`` is the tutorial's model on batches as its own pipeline
makes them (shuffled, each padded to its longest pair, 64 pairs whatever
``--batch-size`` says), so ``--batch-size 128`` compares a larger batch against the
tutorial as published.
A variant name may carry config overrides after a colon (``;`` between several), so
one run can time a setting beside the variant as shipped.
Prints a Markdown table; nothing is asserted.

    TRANSLATOR_DATA_DIR=/work/shared/data python benchmarks/bench_train.py --steps 30
    python benchmarks/bench_train.py --variants bahdanau-gru,tf-tutorial-unbucketed
    python benchmarks/bench_train.py \
        --variants bahdanau-gru,bahdanau-gru:model.encoder_units=128,tf-tutorial-unbucketed
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

#: name -> (cell, decoder, luong attention, input feeding)
VARIANTS = {
    "sutskever-gru": ("gru", "sutskever", "general", False),
    "sutskever-lstm": ("lstm", "sutskever", "general", False),
    "cho-gru": ("gru", "cho", "general", False),
    "bahdanau-gru": ("gru", "bahdanau", "general", False),
    "bahdanau-lstm": ("lstm", "bahdanau", "general", False),
    "luong-general-gru": ("gru", "luong", "general", False),
    "luong-general-lstm": ("lstm", "luong", "general", False),
    "luong-feed-gru": ("gru", "luong", "general", True),
}
#: Reference rows that are not this package's models (built here): the tutorial's
#: model on our bucketed batches, and on batches as its own pipeline makes them
#: (shuffled, each padded to its longest pair, no length buckets).
REFERENCES = ("tf-tutorial", "tf-tutorial-unbucketed")
#: The tutorial's BATCH_SIZE: its own batching keeps it whatever ``--batch-size`` says.
TUTORIAL_BATCH_SIZE = 64


def tutorial_model(source_vocab: int, target_vocab: int, units: int) -> object:
    """The TensorFlow "NMT with attention" tutorial's model, rebuilt in Keras 3.

    Its architecture as published: embeddings of ``units`` (source masked), a
    bidirectional GRU encoder with summed directions, a GRU decoder from a zero state,
    one-head ``MultiHeadAttention`` cross-attention with a residual connection and
    layer normalization, and a dense output layer.  It compiles as the tutorial does:
    Adam, its masked loss, and its masked accuracy and loss as metrics.  Timing it on
    the same batches and machine as our variants gives a same-run ratio instead of a
    remembered figure.
    """
    import keras

    source = keras.Input((None,), dtype="int32")
    target_in = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(source_vocab, units, mask_zero=True)(source)
    context = keras.layers.Bidirectional(
        keras.layers.GRU(units, return_sequences=True), merge_mode="sum"
    )(x)
    y = keras.layers.Embedding(target_vocab, units, mask_zero=True)(target_in)
    y = keras.layers.GRU(units, return_sequences=True)(y)
    attended = keras.layers.MultiHeadAttention(num_heads=1, key_dim=units)(query=y, value=context)
    y = keras.layers.LayerNormalization()(keras.layers.Add()([y, attended]))
    logits = keras.layers.Dense(target_vocab)(y)
    return keras.Model((source, target_in), logits, name="tf_tutorial")


def tutorial_masked_loss(y_true: object, y_pred: object) -> object:
    """The tutorial's loss: sparse cross-entropy from logits, mean over real tokens."""
    import tensorflow as tf

    losses = tf.keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
    mask = tf.cast(y_true != 0, losses.dtype)
    return tf.reduce_sum(losses * mask) / tf.reduce_sum(mask)


def tutorial_masked_acc(y_true: object, y_pred: object) -> object:
    """The tutorial's metric: arg-max accuracy over real tokens."""
    import tensorflow as tf

    predicted = tf.cast(tf.argmax(y_pred, axis=-1), y_true.dtype)
    mask = tf.cast(y_true != 0, tf.float32)
    hits = tf.cast(y_true == predicted, tf.float32) * mask
    return tf.reduce_sum(hits) / tf.reduce_sum(mask)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="batches per timed pass")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes per variant")
    parser.add_argument(
        "--variants",
        default=",".join([*VARIANTS, *REFERENCES]),
        help=f"comma list of {[*VARIANTS, *REFERENCES]}, each optionally with "
        "':KEY=VALUE;KEY=VALUE' config overrides",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--embedding", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=5000)
    parser.add_argument("--train-limit", type=int, default=30000, help="pairs to tokenize")
    args = parser.parse_args(argv)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v.partition(":")[0] not in VARIANTS and v not in REFERENCES]
    if unknown:
        print(f"error: unknown variant {unknown[0]!r}; choose from {[*VARIANTS, *REFERENCES]}")
        return 2

    import keras
    import tensorflow as tf

    from translator.config import load_config
    from translator.data import load_splits_from_config
    from translator.model import build_model
    from translator.pipeline import TrainingData
    from translator.tokenizer import train_tokenizers
    from translator.training import compile_model

    config = load_config(
        "spa-en",
        [
            f"tokenizer.vocab_size={args.vocab}",
            f"train.batch_size={args.batch_size}",
            f"data.train_limit={args.train_limit}",
            "model.dropout=0.0",
        ],
    )
    splits = load_splits_from_config(config)
    source_tok, target_tok = train_tokenizers(config.tokenizer, splits.train)
    # The trainer's own batches (epoch 0), and the same pairs without length buckets.
    data = TrainingData(splits.train, source_tok, target_tok, config)
    stats = data.stats
    batches = _random_batches(data.epoch_dataset(0), args.steps)
    plain = config.override(["train.bucket=false", f"train.batch_size={TUTORIAL_BATCH_SIZE}"])
    unbucketed = TrainingData(splits.train, source_tok, target_tok, plain).epoch_dataset(0)
    plain_batches = _random_batches(unbucketed, args.steps)
    print(
        f"spa-en: {stats}; batch {args.batch_size}, {args.steps} batches x {args.rounds} "
        f"rounds; label tokens per padded target position: bucketed {_density(batches):.2f}, "
        f"unbucketed {_density(plain_batches):.2f}; TF {tf.__version__}, "
        f"Keras {keras.__version__}, {os.cpu_count()} CPUs, "
        f"GPU: {bool(tf.config.list_physical_devices('GPU'))}",
        flush=True,
    )

    timers = []
    for name in names:
        keras.utils.set_random_seed(0)
        if name in REFERENCES:
            model = tutorial_model(source_tok.vocab_size, target_tok.vocab_size, args.units)
            jit = "auto" if config.train.jit_compile else False  # as compile_model does
            model.compile(
                optimizer="adam",
                loss=tutorial_masked_loss,
                metrics=[tutorial_masked_acc, tutorial_masked_loss],
                jit_compile=jit,
            )
            own = plain_batches if name == "tf-tutorial-unbucketed" else batches
            timers.append(Timer(name, model, own, fused=True))
            continue
        variant, _, overrides = name.partition(":")
        cell, decoder, attention, feed = VARIANTS[variant]
        base = config.override([o for o in overrides.split(";") if o]) if overrides else config
        model_config = dataclasses.replace(
            base.model,
            cell=cell,
            decoder=decoder,
            attention=attention,
            input_feeding=feed,
            embedding_dim=args.embedding,
            units=args.units,
            source_vocab_size=source_tok.vocab_size,
            target_vocab_size=target_tok.vocab_size,
        )
        variant_config = base.replace(model=model_config)
        model = build_model(variant_config)
        compile_model(model, variant_config, total_steps=(args.rounds + 1) * len(batches))
        timers.append(Timer(name, model, batches, model.decoder.fused))
    for timer in timers:
        timer.first_pass()
    for _ in range(args.rounds):
        for timer in timers:
            timer.timed_pass()

    reference = next((t for t in timers if t.name == "tf-tutorial-unbucketed"), None)
    print()
    print("| variant | params | fused | ms/step | target tokens/s | vs tutorial | first pass |")
    print("|:---|---:|:---:|---:|---:|---:|---:|")
    for timer in timers:
        ratio = "-"
        if reference:
            ratio = f"{timer.tokens_per_second / reference.tokens_per_second:.2f}x"
        print("| " + " | ".join([*timer.row(), ratio, f"{timer.first_seconds:.0f} s"]) + " |")
    return 0


def _random_batches(dataset, count: int, seed: int = 0) -> list:
    """``count`` batches drawn at random (seeded) from a whole epoch, so every length
    bucket is represented as often as training meets it -- not the epoch's first."""
    import random

    epoch = list(dataset.as_numpy_iterator())
    chosen = random.Random(seed).sample(range(len(epoch)), min(count, len(epoch)))
    return [epoch[i] for i in chosen]


def _density(batches: list) -> float:
    """Label tokens per target position (1.0 = no padding)."""
    return sum((y != 0).sum() for _, y in batches) / sum(y.size for _, y in batches)


class Timer:
    """One model, its batches and its timed passes (seconds each)."""

    def __init__(self, name: str, model: object, batches: list, fused: bool) -> None:
        self.name, self.model, self.batches, self.fused = name, model, batches, fused
        self.tokens = int(sum((labels != 0).sum() for _, labels in batches))
        self.first_seconds = 0.0
        self.passes: list[float] = []

    def _pass(self) -> float:
        start = time.perf_counter()
        for x, y in self.batches:
            loss = self.model.train_on_batch(x, y)
        np.asarray(loss)  # wait for the last step
        return time.perf_counter() - start

    def first_pass(self) -> None:
        """Untimed for the table: traces every batch shape."""
        self.first_seconds = self._pass()

    def timed_pass(self) -> None:
        self.passes.append(self._pass())
        print(f"  {self.name}: {self.tokens / self.passes[-1]:,.0f} tokens/s", file=sys.stderr)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / statistics.median(self.passes)

    def row(self) -> list[str]:
        seconds = statistics.median(self.passes)
        return [
            self.name,
            f"{self.model.count_params() / 1e6:.2f}M",
            "yes" if self.fused else "no",
            f"{1000 * seconds / len(self.batches):.0f}",
            f"{self.tokens_per_second:,.0f}",
        ]


if __name__ == "__main__":
    sys.exit(main())
