"""Command line: ``python -m translator.evaluate --run runs/<name> [--split test] [--beam N]``.

Decodes a split of a trained run, prints BLEU / chrF / TER with their sacrebleu
signatures (plus lower-cased scores with ``--lowercase``), teacher-forced perplexity
and BLEU by source length, and writes ``eval/<split>.json`` and the hypotheses,
references and plot next to it (see :mod:`translator.evaluation`).  With
``--phrasebook FILE`` it translates that file's sentences instead and counts the
right ones (see :mod:`translator.phrasebook`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The ``translator.evaluate`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m translator.evaluate",
        description="Decode and score a split of a trained run.",
    )
    parser.add_argument("--run", required=True, help="run folder written by translator.train")
    parser.add_argument(
        "--split", default="test", choices=("train", "validation", "test"), help="default: test"
    )
    parser.add_argument(
        "--beam", type=int, help="beam width (1 = greedy); default: the run's decode settings"
    )
    parser.add_argument(
        "--length-penalty",
        type=float,
        metavar="ALPHA",
        help="beam search's GNMT length penalty alpha (default: the run's decode settings)",
    )
    parser.add_argument("--limit", type=int, help="score N pairs spread over the split")
    parser.add_argument(
        "--phrasebook",
        metavar="FILE",
        help="check these sentences instead of a split (TSV: source, accepted | ...; "
        "e.g. tests/data/spa-en-everyday.tsv)",
    )
    parser.add_argument(
        "--lowercase", action="store_true", help="also report lower-cased BLEU / chrF / TER"
    )
    parser.add_argument(
        "--checkpoint", default="best", choices=("best", "final", "last"), help="default: best"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per decoding batch")
    parser.add_argument("--tag", help="name outputs eval/<split>.<tag>.* (e.g. beam5)")
    parser.add_argument("--download", action="store_true", help="allow fetching the corpus")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (0, or 2 for a usage error)."""
    args = build_parser().parse_args(argv)
    if args.beam is not None and args.beam < 1:
        print("error: --beam must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    if args.length_penalty is not None and args.length_penalty < 0:
        print("error: --length-penalty must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be >= 1", file=sys.stderr)
        return EXIT_USAGE

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no INFO spam
    from translator.config import ConfigError
    from translator.data import CorpusError
    from translator.evaluation import evaluate_phrasebook, evaluate_run, format_report
    from translator.phrasebook import format_phrasebook
    from translator.runs import RunError

    try:
        if args.phrasebook:
            results = evaluate_phrasebook(
                args.run,
                args.phrasebook,
                beam=args.beam,
                checkpoint=args.checkpoint,
                tag=args.tag,
                length_penalty=args.length_penalty,
            )
            print(format_phrasebook(results))
            return 0
        results = evaluate_run(
            args.run,
            split=args.split,
            beam=args.beam,
            limit=args.limit,
            lowercase=args.lowercase,
            checkpoint=args.checkpoint,
            batch_size=args.batch_size,
            tag=args.tag,
            progress=not args.no_progress,
            download=args.download,
            length_penalty=args.length_penalty,
        )
    except (ConfigError, CorpusError, RunError, ValueError) as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_USAGE
    print(format_report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
