"""Budget-matched spa-en benchmark: train the ``spa-en`` preset for a fixed wall-clock
budget, then evaluate on the hash test split (2,386 pairs) with greedy search and
beam 5.  Prints cased and lower-cased BLEU, chrF, perplexity, training time and epochs
as a Markdown row (nothing is asserted).

    TRANSLATOR_DATA_DIR=/work/shared/data python benchmarks/bench_spa_en.py --minutes 20
    python benchmarks/bench_spa_en.py --minutes 1 --limit 200      # a quick smoke run
    python benchmarks/bench_spa_en.py --preset spa-en-lstm-luong --set model.dropout=0.1
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HEADER = (
    "| preset | variant | budget | train time | epochs | steps | val ppl | test ppl "
    "| BLEU greedy | BLEU greedy lc | chrF greedy | BLEU beam5 | BLEU beam5 lc | chrF beam5 "
    "| tokens/s |"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget")
    parser.add_argument("--preset", default="spa-en")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--output", help="run folder (default: runs/bench-<preset>-<time>)")
    parser.add_argument("--limit", type=int, help="evaluate on N test pairs only")
    parser.add_argument("--beam", type=int, default=5)
    args = parser.parse_args(argv)

    # Only the training CLI before training: its --time-budget clock starts before
    # TensorFlow loads, so importing the evaluator first would leave that load uncounted.
    from translator import train as train_cli

    output = Path(args.output or f"runs/bench-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}")
    train_args = ["--config", args.preset, "--output", str(output), "--quiet"]
    train_args += ["--time-budget", str(args.minutes)]
    for item in args.overrides:
        train_args += ["--set", item]
    status = train_cli.main(train_args)
    if status:
        return status

    from translator import evaluate as evaluate_cli
    from translator.runs import RunPaths, read_json

    evaluations = {}
    for tag, beam in (("greedy", 1), (f"beam{args.beam}", args.beam)):
        eval_args = ["--run", str(output), "--beam", str(beam), "--tag", tag, "--lowercase"]
        if args.limit:
            eval_args += ["--limit", str(args.limit)]
        status = evaluate_cli.main([*eval_args, "--no-progress"])
        if status:
            return status
        evaluations[tag] = read_json(RunPaths(output).eval_file("test", tag))

    summary = read_json(RunPaths(output).summary)
    greedy, beam = evaluations["greedy"], evaluations[f"beam{args.beam}"]

    def cell(value: float | None, fmt: str = ".2f") -> str:
        return "-" if value is None else format(value, fmt)

    row = [
        args.preset,
        summary["variant"],
        f"{args.minutes:g} min",
        f"{summary['train_seconds'] / 60:.1f} min",
        f"{summary['epochs']}" + (" (partial)" if summary["partial_last_epoch"] else ""),
        str(summary["steps"]),
        cell(summary["best_val_perplexity"]),
        cell(greedy["perplexity"]),
        cell(greedy["bleu"]["score"]),
        cell(greedy["lowercase"]["bleu"]["score"]),
        cell(greedy["chrf"]["score"]),
        cell(beam["bleu"]["score"]),
        cell(beam["lowercase"]["bleu"]["score"]),
        cell(beam["chrf"]["score"]),
        cell(summary["tokens_per_second"], ",.0f"),
    ]
    print()
    print(f"test pairs: {greedy['sentences']}; BLEU signature: {greedy['bleu']['signature']}")
    print(HEADER)
    print("|" + "|".join(":---" if i < 2 else "---:" for i in range(len(row))) + "|")
    print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
