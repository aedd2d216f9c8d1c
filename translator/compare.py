"""Command line: ``python -m translator.compare runs/a runs/b ...``: runs side by side.

Prints a Markdown table with, per run, the variant, parameter count, training time,
epochs, validation and test perplexity, test BLEU and chrF, and training throughput
(target tokens per second, padding excluded), read from ``summary.json`` and
``eval/<split>[.<tag>].json``.  Missing numbers show as ``-``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from translator.runs import RunPaths, read_json

EXIT_USAGE = 2
COLUMNS = (
    "run",
    "variant",
    "params",
    "train time",
    "epochs",
    "val ppl",
    "test ppl",
    "BLEU",
    "chrF",
    "tokens/s",
)


def _number(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def compare_rows(runs: Sequence[str | Path], split: str = "test", tag: str | None = None) -> list:
    """One row (a list of cell strings, see :data:`COLUMNS`) per run folder."""
    rows = []
    for run in runs:
        paths = RunPaths(Path(run))
        summary = read_json(paths.summary) or {}
        evaluation = read_json(paths.eval_file(split, tag)) or {}
        params = summary.get("parameters")
        epochs = summary.get("epochs")
        if epochs is not None and summary.get("partial_last_epoch"):
            epochs = f"{epochs} (partial)"
        rows.append(
            [
                paths.root.name,
                summary.get("variant") or evaluation.get("variant") or "-",
                "-" if params is None else f"{params / 1e6:.2f}M",
                _duration(summary.get("train_seconds")),
                "-" if epochs is None else str(epochs),
                _number(summary.get("best_val_perplexity"), ".2f"),
                _number(evaluation.get("perplexity"), ".2f"),
                _number((evaluation.get("bleu") or {}).get("score"), ".2f"),
                _number((evaluation.get("chrf") or {}).get("score"), ".2f"),
                _number(summary.get("tokens_per_second"), ",.0f"),
            ]
        )
    return rows


def markdown_table(rows: Sequence[Sequence[str]], columns: Sequence[str] = COLUMNS) -> str:
    """A Markdown table; numeric columns right-aligned."""
    left = {"run", "variant"}
    lines = ["| " + " | ".join(columns) + " |"]
    lines.append("|" + "|".join(":---" if c in left else "---:" for c in columns) + "|")
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The ``translator.compare`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m translator.compare", description="Compare trained runs side by side."
    )
    parser.add_argument("runs", nargs="+", help="run folders")
    parser.add_argument("--split", default="test", help="which eval/<split>.json to read")
    parser.add_argument("--tag", help="read eval/<split>.<tag>.json instead")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the table; exit status 2 when a folder is not a run."""
    args = build_parser().parse_args(argv)
    missing = [r for r in args.runs if not RunPaths(Path(r)).summary.is_file()]
    if missing:
        print(f"error: not a finished run folder (no summary.json): {missing[0]}", file=sys.stderr)
        return EXIT_USAGE
    print(markdown_table(compare_rows(args.runs, args.split, args.tag)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
