"""Command line: ``python -m translator.train --config dates --output runs/dates``.

Examples::

    python -m translator.train --config spa-en-quick --output runs/spa-en-quick
    python -m translator.train --config spa-en --set train.epochs=20 --output runs/spa-en
    python -m translator.train --resume --output runs/spa-en          # continue a run
    python -m translator.train --config spa-en --time-budget 20 --output runs/spa-en-20m
    python -m translator.train --config spa-en --distribute mirrored --output runs/m

Configuration problems (unknown preset or key, bad value, missing corpus, a run
folder already in use) print one ``error:`` line and exit with status 2 before any
training starts.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Sequence

EXIT_USAGE = 2
DISTRIBUTE_CHOICES = ("mirrored", "multiworker")  # as translator.training (no TF import here)


def build_parser() -> argparse.ArgumentParser:
    """The ``translator.train`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m translator.train",
        description="Train an RNN encoder-decoder into a run folder.",
    )
    parser.add_argument(
        "--config",
        help="preset name (see translator/presets) or path to a YAML config; "
        "optional with --resume (the run's config.yaml is used)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set model.cell=lstm (repeatable)",
    )
    parser.add_argument("--output", required=True, help="run folder, e.g. runs/dates")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --output from its last checkpoint",
    )
    parser.add_argument(
        "--distribute",
        choices=DISTRIBUTE_CHOICES,
        help="train under tf.distribute: mirrored (all local GPUs, else logical CPUs) "
        "or multiworker (MultiWorkerMirroredStrategy, configured by TF_CONFIG)",
    )
    parser.add_argument(
        "--mixed-precision",
        action="store_true",
        help="float16 compute with float32 weights, logits and loss (for GPUs)",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        metavar="MINUTES",
        help="stop cleanly (checkpoint + summary) when this much wall-clock time is spent, "
        "counted from the command's start (default: the config's train.time_budget_minutes)",
    )
    parser.add_argument(
        "--download", action="store_true", help="allow downloading a missing corpus"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="one line per epoch instead of a progress bar"
    )
    return parser


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (0, or 2 for a usage error)."""
    started = time.monotonic()  # --time-budget counts from here (before TF loads)
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no INFO spam
    command = shlex.join(["python", "-m", "translator.train", *(argv or sys.argv[1:])])

    # Imported here so `--help` and usage errors stay fast.
    from pathlib import Path

    from translator.config import ConfigError, load_config
    from translator.data import CorpusError
    from translator.distribution import is_chief
    from translator.runs import RunError, RunPaths, check_output
    from translator.training import TrainOptions, train

    try:
        paths = RunPaths(Path(args.output))
        check_output(paths, args.resume, is_chief(args.distribute))
        if args.resume:
            # The run's own config (vocabulary sizes included); --set may extend it.
            config = load_config(paths.config, args.overrides)
            if args.config:
                print(
                    f"note: --resume uses {paths.config}; --config {args.config} is ignored",
                    file=sys.stderr,
                )
        elif not args.config:
            return _fail("--config is required (a preset name or a .yaml path)")
        else:
            config = load_config(args.config, args.overrides)
        options = TrainOptions(
            resume=args.resume,
            distribute=args.distribute,
            mixed_precision=args.mixed_precision,
            time_budget_minutes=args.time_budget,
            download=args.download,
            verbose=2 if args.quiet else 1,
            command=command,
            started_at=started,
        )
        summary = train(config, args.output, options)
    except (ConfigError, RunError, CorpusError) as err:
        return _fail(" ".join(str(err).split()) or repr(err))
    print(
        f"trained {summary['variant']} for {summary['epochs']} epochs "
        f"({summary['steps']} steps, {summary['train_seconds']:.0f} s); "
        f"best val loss {summary['best_val_loss']}, "
        f"perplexity {summary['best_val_perplexity']}; run folder {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
