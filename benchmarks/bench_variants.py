"""The classic comparison at equal budget: Sutskever, Cho, Bahdanau and Luong on spa-en.

Trains each variant preset for the same wall-clock budget (each in a fresh process,
one after another), evaluates it greedily on the hash test split (2,386 pairs), and
prints ``translator.compare``'s table; with ``--plot DIR`` also the learning curves
and BLEU by source length (Bahdanau et al. 2015, Figure 2).  Nothing is asserted.

    TRANSLATOR_DATA_DIR=/work/shared/data python benchmarks/bench_variants.py \\
        --minutes 10 --output runs/classic --plot docs/classic
    python benchmarks/bench_variants.py --minutes 0.5 --presets spa-en-gru-bahdanau \\
        --set data.train_limit=2000                                # a smoke run
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

PRESETS = (
    "spa-en-rnn-sutskever",
    "spa-en-lstm-sutskever",
    "spa-en-gru-sutskever",
    "spa-en-gru-cho",
    "spa-en-gru-bahdanau",
    "spa-en-lstm-bahdanau",
    "spa-en-gru-luong",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per run")
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets")
    parser.add_argument("--output", default="runs/classic", help="folder for the run folders")
    parser.add_argument("--plot", metavar="DIR", help="write compare's plots here")
    parser.add_argument(
        "--validate-every", type=int, default=250, help="batches between validation points"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    runs = []
    for preset in args.presets.split(","):
        run = Path(args.output) / preset
        train = [sys.executable, "-m", "translator.train", "--config", preset]
        train += ["--output", str(run), "--quiet", "--time-budget", str(args.minutes)]
        train += ["--set", f"train.validate_every_steps={args.validate_every}"]
        for item in args.overrides:
            train += ["--set", item]
        evaluate = [sys.executable, "-m", "translator.evaluate", "--run", str(run)]
        for command in (train, [*evaluate, "--beam", "1", "--no-progress"]):
            print("$", " ".join(command), flush=True)
            status = subprocess.run(command, env=env).returncode
            if status:
                return status
        runs.append(str(run))

    compare = [sys.executable, "-m", "translator.compare", *runs]
    if args.plot:
        compare += ["--plot", args.plot]
    print("$", " ".join(compare), flush=True)
    return subprocess.run(compare, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
