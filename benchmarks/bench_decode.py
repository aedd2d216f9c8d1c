"""Decoding speed of an exported model, through its SavedModel signatures.

    python benchmarks/bench_decode.py --model exports/<name> [--data-dir DIR]
    python benchmarks/bench_decode.py --random-model [--data-dir DIR]

Prints, for the spa-en test split of ``spa-eng`` (2,386 sentences):

- sentences/s of batched greedy and beam-5 decoding (``translate`` signature,
  batches of ``--batch-size``), in length-sorted batches as the ``translate``
  command makes them, and in file order;
- single-sentence latency, p50/p95 in ms, of ``serving_default`` (the model's default
  decoding) and of beam 5 through ``translate``.

``--random-model`` builds an untrained model of the spa-en size (embeddings 256,
units 256, 5,000-piece SentencePiece vocabularies trained on the training split,
bi-GRU encoder, Bahdanau decoder), exports it to a temporary folder and measures
that, so figures exist before training ends.  An untrained model rarely emits END,
so nearly every output runs to its length limit (1.5 * source + 10 tokens): a
pessimistic figure.  It is therefore also measured with each batch capped at its
longest reference translation (+ END), about where a trained model's outputs stop.
Nothing is asserted; it only prints.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing


def _test_pairs(data_dir: str | None, limit: int | None) -> tuple[list[tuple[str, str]], object]:
    from translator.data import MissingDataError, load_splits

    try:
        splits = load_splits("spa-eng", "spa-en", data_dir=data_dir)
    except MissingDataError as err:
        sys.exit(f"error: {err}\n(pass --data-dir with spa-eng/spa.txt inside)")
    pairs = list(splits.test)
    if limit and limit < len(pairs):  # a seeded random sample: the file is length-sorted
        chosen = sorted(random.Random(0).sample(range(len(pairs)), limit))
        pairs = [pairs[i] for i in chosen]
    return pairs, splits


def build_random_export(out: Path, splits: object, train_sentences: int) -> Path:
    """Exports an untrained spa-en-sized model with real SentencePiece tokenizers."""
    import keras

    from translator.config import Config, DataConfig, DecodeConfig, ModelConfig, TokenizerConfig
    from translator.export import export_model
    from translator.model import build_model
    from translator.tokenizer import train_tokenizers

    keras.utils.set_random_seed(0)
    tokenizer_config = TokenizerConfig(vocab_size=5000, train_sentences=train_sentences)
    started = time.perf_counter()
    source_tok, target_tok = train_tokenizers(tokenizer_config, splits.train)
    print(
        f"tokenizers: {source_tok.vocab_size} / {target_tok.vocab_size} pieces "
        f"({time.perf_counter() - started:.1f} s)"
    )
    config = Config(
        name="random-spa-en",
        data=DataConfig(corpus="spa-eng", direction="spa-en"),
        tokenizer=tokenizer_config,
        model=ModelConfig(
            cell="gru",
            embedding_dim=256,
            units=256,
            bidirectional=True,
            decoder="bahdanau",
            source_vocab_size=source_tok.vocab_size,
            target_vocab_size=target_tok.vocab_size,
        ),
        decode=DecodeConfig(strategy="greedy", beam_size=5),
    )
    model = build_model(config)
    started = time.perf_counter()
    export_model(model, source_tok, target_tok, config, out, overwrite=True)
    print(f"exported an untrained model to {out} ({time.perf_counter() - started:.1f} s)")
    return out


def _batched(
    translator, sentences: list[str], batch_size: int, beam: int, caps: list[int] | None = None
) -> tuple[float, dict]:
    """Decodes every batch; ``caps``: a max_length per batch (else the model's)."""
    lengths, at_limit = [], 0
    started, cpu = time.perf_counter(), time.process_time()
    for i, start in enumerate(range(0, len(sentences), batch_size)):
        out = translator.translate(
            sentences[start : start + batch_size],
            beam_size=beam,
            length_penalty=1.0,
            max_length=caps[i] if caps else 0,
        )
        lengths.extend(out["target_lengths"][:, 0].tolist())
        ended = np.array(
            [p[n - 1] == "</s>" if n else True for p, n in zip(out["target_pieces"][:, 0],
                                                              out["target_lengths"][:, 0])]
        )  # fmt: skip
        at_limit += int((~ended).sum())
    elapsed = time.perf_counter() - started
    return len(sentences) / elapsed, {
        "cpu_seconds": time.process_time() - cpu,
        "mean_output_tokens": float(np.mean(lengths)),
        "cut_at_limit": at_limit,
        "seconds": elapsed,
    }


def _reference_caps(translator, references: list[str], batch_size: int) -> list[int]:
    """Per batch: the longest reference in target tokens, plus END.  A trained model
    stops about there; an untrained one never does, so capping it there estimates a
    trained model's speed."""
    import tensorflow as tf

    tokens = translator.module.target_tokenizer.tokenize(tf.constant(references))
    lengths = tokens.row_lengths().numpy()
    return [
        int(lengths[start : start + batch_size].max()) + 1
        for start in range(0, len(references), batch_size)
    ]


def _latency(call, sentences: list[str], runs: int) -> tuple[float, float]:
    times = []
    for i in range(runs):
        sentence = sentences[i % len(sentences)]
        started = time.perf_counter()
        call(sentence)
        times.append((time.perf_counter() - started) * 1000.0)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="export folder")
    which.add_argument("--random-model", action="store_true", help="untrained spa-en-sized")
    parser.add_argument("--data-dir", default=os.environ.get("TRANSLATOR_DATA_DIR"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--limit", type=int, help="a seeded random sample of N test sentences")
    parser.add_argument("--latency-runs", type=int, default=100)
    parser.add_argument("--train-sentences", type=int, default=50_000, help="for tokenizers")
    parser.add_argument("--keep", help="with --random-model: export here and keep it")
    parser.add_argument(
        "--reference-lengths",
        action="store_true",
        help="also decode with each batch capped at its longest reference (always on "
        "with --random-model: estimates a trained model's speed)",
    )
    args = parser.parse_args(argv)

    import tensorflow as tf

    from translator.serving import load_exported

    pairs, splits = _test_pairs(args.data_dir, args.limit)
    sentences = [source for source, _ in pairs]
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(args.model) if args.model else Path(args.keep or Path(scratch) / "random")
        if args.random_model:
            build_random_export(path, splits, args.train_sentences)
        translator = load_exported(path)
        print(
            f"model: {path} ({translator.metadata.get('name')}), {len(sentences)} sentences, "
            f"batch {args.batch_size}, {tf.config.threading.get_intra_op_parallelism_threads()}"
            f" intra-op threads (0 = all), {os.cpu_count()} CPUs"
        )
        started = time.perf_counter()
        translator.translate(sentences[: args.batch_size], beam_size=1)  # warm-up
        translator.translate(sentences[: args.batch_size], beam_size=args.beam)
        print(f"warm-up (first calls): {time.perf_counter() - started:.1f} s")

        # (name, beam, per-batch caps, sentences): file order, then length-sorted
        # batches as the `translate` command makes them (order restored after).
        by_length = sorted(sentences, key=len)
        sorted_label = "length-sorted batches (as `translate` does)"
        runs = [
            ("greedy", 1, None, sentences),
            (f"beam-{args.beam}", args.beam, None, sentences),
            (f"greedy, {sorted_label}", 1, None, by_length),
            (f"beam-{args.beam}, {sorted_label}", args.beam, None, by_length),
        ]
        if args.random_model or args.reference_lengths:
            caps = _reference_caps(translator, [t for _, t in pairs], args.batch_size)
            label = "cut at reference length"
            runs += [
                (f"greedy, {label}", 1, caps, sentences),
                (f"beam-{args.beam}, {label}", args.beam, caps, sentences),
            ]
        for name, beam, caps, batch_source in runs:
            rate, info = _batched(translator, batch_source, args.batch_size, beam, caps)
            print(
                f"{name}: {rate:.1f} sentences/s  ({info['seconds']:.1f} s, "
                f"{info['cpu_seconds']:.1f} CPU-s; "
                f"mean output {info['mean_output_tokens']:.1f} tokens, "
                f"{info['cut_at_limit']} cut at the length limit)"
            )

        serve = translator.module.signatures["serving_default"]
        single = sentences[: max(1, args.latency_runs)]
        p50, p95 = _latency(lambda s: serve(text=tf.constant([s])), single, args.latency_runs)
        print(f"single sentence, serving_default: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        p50, p95 = _latency(
            lambda s: translator.translate([s], beam_size=args.beam), single, args.latency_runs
        )
        print(f"single sentence, beam-{args.beam} translate: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
