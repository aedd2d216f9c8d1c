"""Summaries against their baselines: BBC article -> summary and Reuters body -> title.

Trains each summarizer preset for a stated wall-clock budget (a fresh process each,
one after another; the budget counts from the command's start: corpus loading,
tokenizer training and oracle labels included, and the printed minutes are the whole
command's), evaluates it on the test split with its preset's decoding, and prints
ROUGE-1/2/L F1 beside the baselines that ``evaluate`` computes on the same pairs: the
Lead chosen without the test set (Lead-k sentences / Lead-x% picked on validation;
Lead-N words for headlines, N from the training titles) and, for BBC, the greedy
extractive oracle (the ceiling).  Nothing is asserted.

    TRANSLATOR_DATA_DIR=/work/shared/data python benchmarks/bench_summarize.py \\
        --bbc-minutes 30 --reuters-minutes 60 --output runs/summaries
    python benchmarks/bench_summarize.py --rows bbc-extractive --bbc-minutes 2 \\
        --set data.train_limit=200                                   # a smoke run

``--reuse`` takes run folders already in ``--output`` (and their test evaluation,
when there is one) instead of training and decoding again, e.g. to print the table
after adding a row; their wall time then reads "reused" (``summary.json`` has it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

#: (corpus label, preset, what the row is) in table order.
ROWS = (
    ("BBC article -> summary", "bbc-summary-attention", "plain attention"),
    ("BBC article -> summary", "bbc-summary", "copy + coverage"),
    ("BBC article -> summary", "bbc-extractive", "extractive (sentence pointer)"),
    ("Reuters body -> title", "reuters-headlines-attention", "plain attention"),
    ("Reuters body -> title", "reuters-headlines", "copy + coverage"),
)


def _rouge(scores: dict) -> str:
    return " / ".join(f"{scores[k]:.2f}" for k in ("rouge1_f1", "rouge2_f1", "rougeL_f1"))


def _train(preset: str, run: Path, minutes: float, overrides: list[str], env: dict) -> float:
    command = [sys.executable, "-m", "translator.train", "--config", preset]
    command += ["--output", str(run), "--quiet", "--time-budget", str(minutes)]
    for item in overrides:
        command += ["--set", item]
    print("$", " ".join(command), flush=True)
    start = time.monotonic()
    subprocess.run(command, env=env, check=True)
    return (time.monotonic() - start) / 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bbc-minutes", type=float, default=30.0, help="budget per BBC model")
    parser.add_argument(
        "--reuters-minutes", type=float, default=60.0, help="budget per Reuters model"
    )
    parser.add_argument(
        "--rows", default=",".join(p for _, p, _ in ROWS), help="comma-separated presets"
    )
    parser.add_argument("--output", default="runs/summaries", help="folder for the run folders")
    parser.add_argument("--reuse", action="store_true", help="score existing run folders")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    chosen = args.rows.split(",")
    unknown = sorted(set(chosen) - {p for _, p, _ in ROWS})
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {[p for _, p, _ in ROWS]}")
    table: dict[str, list[str]] = {}  # corpus -> Markdown rows
    sizes: dict[str, int] = {}  # corpus -> test pairs scored
    for corpus, preset, what in ROWS:
        if preset not in chosen:
            continue
        run = Path(args.output) / preset
        minutes = args.bbc_minutes if corpus.startswith("BBC") else args.reuters_minutes
        wall = None
        if not (args.reuse and (run / "summary.json").is_file()):
            wall = _train(preset, run, minutes, args.overrides, env)
        scores = run / "eval" / "test.json"
        if not (args.reuse and wall is None and scores.is_file()):
            evaluate = [sys.executable, "-m", "translator.evaluate", "--run", str(run)]
            print("$", " ".join([*evaluate, "--no-progress"]), flush=True)
            subprocess.run([*evaluate, "--no-progress"], env=env, check=True)
        result = json.loads(scores.read_text(encoding="utf-8"))
        summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
        rows = table.setdefault(corpus, [])
        if not rows:
            lead = result["lead"]
            rows.append(f"| {lead['baseline']} (validated Lead) | | {_rouge(lead['rouge'])} |")
            if "oracle" in result:
                rows.append(
                    f"| extractive oracle (ceiling) | | {_rouge(result['oracle']['rouge'])} |"
                )
        took = f"{wall:.1f} min" if wall is not None else "reused"
        rouge = _rouge(result["rouge"])
        rows.append(f"| {what} (`{preset}`) | {took}, {summary['steps']} steps | {rouge} |")
        sizes[corpus] = result["sentences"]

    print()
    for corpus, rows in table.items():
        print(f"{corpus} ({sizes[corpus]} test pairs)\n")
        print("| system | wall time (whole command), steps | ROUGE-1 / 2 / L F1 |")
        print("|---|---|---|")
        print("\n".join(rows), end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
