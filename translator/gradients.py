"""Command line: ``python -m translator.gradients``: vanishing and exploding gradients, measured.

For each cell it builds the config's model with a one-layer forward encoder (see
:mod:`translator.gradient_flow`), measures ``||dL/dh_t||`` at every encoder position
on a probe batch at initialization, trains ``--steps`` steps recording the global
gradient norm before clipping, and measures again.  It writes into ``--output``:

* ``gradients.csv``: ``cell,series,x,value`` rows -- ``init`` / ``trained`` (x = source
  position, value = mean norm), ``global_norm`` / ``loss`` (x = training step);
* ``summary.json``: first-to-last ratios, clipped steps, losses, the settings;
* ``positions.png`` (norm against position, log scale) and ``steps.png`` (pre-clip
  norm against step, with the ``train.clipnorm`` threshold).

Examples::

    python -m translator.gradients --output runs/gradients          # reverse task, 4 cells
    python -m translator.gradients --config spa-en --cells rnn,gru --output runs/grad-spa
    python -m translator.gradients --run runs/spa-en --steps 200 --output runs/grad-run
    python -m translator.gradients --set train.clipnorm=null --output runs/no-clip

Batches are drawn at random (seeded) from the whole training split; the probe batch
from the validation split, among sources at least ``--probe-min-length`` tokens long.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_USAGE = 2
CELLS = ("rnn", "lstm", "gru", "peephole_lstm")  # as translator.config (no TF import here)


def build_parser() -> argparse.ArgumentParser:
    """The ``translator.gradients`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m translator.gradients",
        description="Measure gradient flow through time for several recurrent cells.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", default="reverse", help="preset or YAML (default: reverse)")
    source.add_argument(
        "--run", help="a run folder: its config and tokenizers (the cells start fresh)"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--cells", default=",".join(CELLS), help="comma-separated cells")
    parser.add_argument("--steps", type=int, default=400, help="training steps per cell")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--probe-min-length",
        type=int,
        default=0,
        help="probe only sources of at least this many tokens (default: any)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the batch draw")
    parser.add_argument("--output", required=True, help="folder for the CSV, JSON and plots")
    parser.add_argument("--download", action="store_true", help="allow fetching the corpus")
    return parser


def _csv_text(reports: Sequence) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["cell", "series", "x", "value"])
    for report in reports:
        series = {
            "init": report.init_positions,
            "trained": report.trained_positions,
            "global_norm": report.global_norm,
            "loss": report.loss,
        }
        for name, values in series.items():
            writer.writerows([report.cell, name, i + 1, f"{v:.6g}"] for i, v in enumerate(values))
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns 0, or 2 on a usage or configuration error."""
    args = build_parser().parse_args(argv)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    unknown = [c for c in cells if c not in CELLS]
    if unknown or not cells:
        print(f"error: --cells: unknown {unknown}; choose from {list(CELLS)}", file=sys.stderr)
        return EXIT_USAGE
    if args.steps < 0 or args.batch_size < 1:
        print("error: --steps must be >= 0 and --batch-size >= 1", file=sys.stderr)
        return EXIT_USAGE
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from translator import charts, gradient_flow
    from translator.config import ConfigError, load_config
    from translator.data import CorpusError, load_splits_from_config
    from translator.runs import (
        RunError,
        atomic_write_text,
        fill_vocab_sizes,
        load_run_setup,
        write_json,
    )
    from translator.tokenizer import train_tokenizers

    try:
        if args.run:
            config, source_tok, target_tok = load_run_setup(args.run)
            config = config.override(args.overrides)
        else:
            config = load_config(args.config, args.overrides)
        splits = load_splits_from_config(config, download=args.download)
        if not args.run:
            source_tok, target_tok = train_tokenizers(config.tokenizer, splits.train)
            config = fill_vocab_sizes(config, source_tok, target_tok)
        train_batches = gradient_flow.sample_batches(
            splits.train, source_tok, target_tok, config, args.batch_size, max(args.steps, 1),
            args.seed,
        )  # fmt: skip
        lengths = source_tok.tokenize([source for source, _ in splits.validation]).row_lengths()
        long = [p for p, n in zip(splits.validation, lengths.numpy()) if n >= args.probe_min_length]
        if not long:
            raise ConfigError(f"no validation source has {args.probe_min_length}+ tokens")
        probe = gradient_flow.sample_batches(
            long, source_tok, target_tok, config, args.batch_size, 1, args.seed + 1
        )[0]
        reports = gradient_flow.measure_cells(config, cells, train_batches, probe, args.steps)
    except (ConfigError, CorpusError, RunError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    clipnorm = config.train.clipnorm
    atomic_write_text(out / "gradients.csv", _csv_text(reports))
    summary = {
        "config": config.name,
        "corpus": splits.info.get("corpus"),
        "direction": splits.info.get("direction"),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "probe_shape": list(probe[0][0].shape),
        "clipnorm": clipnorm,
        "learning_rate": config.train.learning_rate,
        "units": config.model.units,
        "decoder": config.model.decoder,
        "cells": [r.summary(clipnorm) for r in reports],
        "command": " ".join(["python -m translator.gradients", *(argv or sys.argv[1:])]),
    }
    write_json(out / "summary.json", summary)
    task = f"{config.name}, {args.steps} steps"
    charts.save(charts.gradient_positions_figure(reports, task), out / "positions.png")
    charts.save(charts.gradient_steps_figure(reports, clipnorm), out / "steps.png")
    print("| cell | first/last at init | first/last trained | max pre-clip norm | clipped steps |")
    print("|:---|---:|---:|---:|---:|")
    for row in summary["cells"]:
        print(
            f"| {row['cell']} | {row['first_to_last_init']:.2e} | "
            f"{row['first_to_last_trained']:.2e} | {row['max_global_norm']:.3g} | "
            f"{row['steps_clipped']} |"
        )
    print(f"wrote {out}/gradients.csv, summary.json, positions.png, steps.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
