"""Command line: ``python -m translator.compare runs/a runs/b ...``: runs side by side.

Prints a Markdown table with, per run, the variant, parameter count, training time,
epochs, validation and test perplexity, test BLEU and chrF, ROUGE-1/2/L F1 for
summarizers (extractive or abstractive), and training throughput
(target tokens per second, padding excluded), read from ``summary.json`` and
``eval/<split>[.<tag>].json``.  Missing numbers show as ``-``.

With ``--plot DIR`` it also writes ``DIR/learning_curves.png`` (validation perplexity
against wall-clock minutes and steps, validation BLEU where logged) and
``DIR/bleu_by_length.png`` (test BLEU per source-length bucket, one line per run;
Bahdanau et al. 2015, Figure 2), and prints the BLEU-by-length table.  The bucket
edges are the quartiles and the 90th and 97th percentiles of the first run's source
lengths in words: every point rests on a fair share of the split (at least 3 %), and
the long tail still gets points of its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from translator.runs import RunPaths, read_history, read_json

LENGTH_QUANTILES = (0.25, 0.5, 0.75, 0.9, 0.97)

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
    "ROUGE-1/2/L",
    "tokens/s",
)


def _rouge(evaluation: dict[str, Any]) -> str:
    scores = evaluation.get("rouge")
    if not scores:
        return "-"
    return " / ".join(f"{scores[k]:.2f}" for k in ("rouge1_f1", "rouge2_f1", "rougeL_f1"))


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
                _rouge(evaluation),
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


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def quantile_edges(
    sources: Sequence[str], quantiles: Sequence[float] = LENGTH_QUANTILES
) -> list[int]:
    """Word-count bucket edges at the ``quantiles`` of the sources' lengths."""
    import numpy as np

    from translator.scoring import word_count

    lengths = np.array([word_count(s) for s in sources])
    inner = np.quantile(lengths, quantiles, method="higher")
    return sorted({0, *(int(e) for e in inner if e > 0)})


def bleu_by_length_rows(
    runs: Sequence[str | Path], split: str = "test", tag: str | None = None
) -> tuple[list[int], dict[str, list[dict[str, Any]]]]:
    """``(edges, {run name: bleu_by_length rows})`` from each run's saved hypotheses."""
    from translator.scoring import bleu_by_length

    texts = {}
    for run in runs:
        paths = RunPaths(Path(run))
        evaluation = read_json(paths.eval_file(split, tag)) or {}
        if not paths.eval_file(split, tag, ".hyp.txt").is_file():
            continue
        texts[paths.root.name] = (
            [
                _read_lines(paths.eval_file(split, tag, s))
                for s in (".src.txt", ".hyp.txt", ".ref.txt")
            ],
            evaluation.get("bleu_tokenize", "13a"),
        )
    if not texts:
        return [], {}
    edges = quantile_edges(next(iter(texts.values()))[0][0])
    rows = {
        name: bleu_by_length(*files, tokenize=tokenize, edges=edges)
        for name, (files, tokenize) in texts.items()
    }
    return edges, rows


def length_table(rows: dict[str, list[dict[str, Any]]]) -> str:
    """BLEU by source length as a Markdown table: one row per run, one column per bucket."""
    first = next(iter(rows.values()))
    columns = ["run", *(f"{r['bucket']} (n={r['sentences']})" for r in first)]
    body = [
        [name, *("-" if r["bleu"] is None else f"{r['bleu']:.1f}" for r in run_rows)]
        for name, run_rows in rows.items()
    ]
    return markdown_table(body, columns)


def plot_comparison(
    runs: Sequence[str | Path], folder: str | Path, split: str = "test", tag: str | None = None
) -> tuple[list[Path], str]:
    """Writes the learning-curve and BLEU-by-length PNGs into ``folder``; returns their
    paths and the BLEU-by-length Markdown table ("" when no run has hypotheses)."""
    from translator import charts

    folder = Path(folder)
    histories = {Path(run).name: read_history(RunPaths(Path(run))) for run in runs}
    written = [
        charts.save(charts.learning_curves_figure(histories), folder / "learning_curves.png")
    ]
    _, rows = bleu_by_length_rows(runs, split, tag)
    if not rows:
        return written, ""
    title = f"{split} BLEU by source length (edges: quartiles, 90th, 97th percentile)"
    written.append(
        charts.save(charts.bleu_by_length_figure(rows, title), folder / "bleu_by_length.png")
    )
    return written, length_table(rows)


def build_parser() -> argparse.ArgumentParser:
    """The ``translator.compare`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m translator.compare", description="Compare trained runs side by side."
    )
    parser.add_argument("runs", nargs="+", help="run folders")
    parser.add_argument("--split", default="test", help="which eval/<split>.json to read")
    parser.add_argument("--tag", help="read eval/<split>.<tag>.json instead")
    parser.add_argument(
        "--plot", metavar="DIR", help="also draw learning curves and BLEU by length into DIR"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the table; exit status 2 when a folder is not a run."""
    args = build_parser().parse_args(argv)
    missing = [r for r in args.runs if not RunPaths(Path(r)).summary.is_file()]
    if missing:
        print(f"error: not a finished run folder (no summary.json): {missing[0]}", file=sys.stderr)
        return EXIT_USAGE
    print(markdown_table(compare_rows(args.runs, args.split, args.tag)))
    if args.plot:
        written, table = plot_comparison(args.runs, args.plot, args.split, args.tag)
        if table:
            print(f"\nBLEU by source length ({args.split}):\n\n{table}")
        print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
