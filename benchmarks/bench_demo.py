"""Load test of the Gradio demo: latency, throughput and correct answers at 1, 4 and 16 clients.

    python benchmarks/bench_demo.py [--model exports/<name>] [--clients 1 4 16] [--requests 48]

Launches the demo (:mod:`translator.demo`, queue concurrency 2) on a free 127.0.0.1
port with one export -- ``--model``, or by default a tiny char model trained for a few
seconds on "reverse the letters" in a temporary folder, so that every input has a known
answer -- then, for each number of clients in ``--clients``, sends ``--requests``
``/translate`` calls from that many concurrent ``gradio_client.Client`` objects (one
thread each, requests one after another, all starting together), alternating beam
search (width 4, 3-best) and greedy.

Known answers: the reversed input for the tiny model; the ISO date of the ``dates``
corpus' test split for a dates export (direction ``human-iso``); or ``--answers FILE``
(``input<TAB>answer`` lines) for any export.  Each answer is checked twice:

- *consistent*: the same best output and n-best list as the export called directly
  (``load_exported(...).translate``, same input and settings) -- the demo's own
  correctness;
- *correct*: the best output is the known answer -- the model's quality, through the
  demo (the tiny model reverses about a quarter to a half of its strings).

Prints, per number of clients: requests/s (answered requests over the wall time of the
level), latency p50/p95/p99/max of the answered requests, and the consistent and
correct shares; then failures and timeouts, and the cold first request (model load +
graph tracing).  Each request has a timeout (``--timeout``) and each level a deadline,
so nothing hangs.  Nothing is asserted: exit status 1 when a request failed, timed out
or was inconsistent with the export (a wrong model is not a failure of the demo).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing

BEAM = ("beam", 4, 1.0, 1.0, 3, 0)
GREEDY = ("greedy", 1, 1.0, 1.0, 1, 0)
ALPHABET = "abcdefgh"
INPUTS_PER_RUN = 16  # distinct inputs the requests cycle through


@dataclasses.dataclass(frozen=True)
class Case:
    """One input and its known answer (None when unknown)."""

    text: str
    answer: str | None


def reverse_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """Random letter strings (a space sometimes) and their reversal (as in the tests)."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        word = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(2, 7)))
        if rng.random() < 0.3:
            word = word[:2] + " " + word[2:]
        pairs.append((word, word[::-1]))
    return pairs


def build_tiny_export(out_dir: str | Path, *, train_size: int = 192, seed: int = 7) -> Path:
    """Trains a tiny char model on "reverse the letters" (a few seconds) and exports it.

    The recipe of the test suite's session model: a char tokenizer, a bi-GRU encoder
    with a Luong (general) decoder of 32 units, 8 epochs over ``train_size`` pairs;
    saved as a run folder (``config.yaml``, ``tokenizers/``, ``best.keras``) in a
    temporary folder and exported with :func:`translator.exporting.export_run`.

    Returns:
        ``out_dir``.
    """
    import keras
    import tensorflow as tf

    from translator.config import Config, DataConfig, DecodeConfig, ModelConfig, TokenizerConfig
    from translator.exporting import export_run
    from translator.model import build_model
    from translator.runs import RunPaths, save_weights_only, write_run_setup
    from translator.special_tokens import END_ID, START_ID
    from translator.tokenizer import CharTokenizer

    pairs = reverse_pairs(train_size, seed=0)
    tokenizer = CharTokenizer.train([s for s, _ in pairs] + [t for _, t in pairs], 64)
    config = Config(
        name="tiny-reverse",
        data=DataConfig(
            corpus="local", direction="letters-reversed", max_source_length=12, max_target_length=14
        ),
        tokenizer=TokenizerConfig(kind="char", vocab_size=64),
        model=ModelConfig(
            cell="gru",
            embedding_dim=16,
            units=32,
            decoder="luong",
            attention="general",
            source_vocab_size=tokenizer.vocab_size,
            target_vocab_size=tokenizer.vocab_size,
        ),
        decode=DecodeConfig(strategy="greedy", beam_size=3, length_penalty=0.6),
    )
    keras.utils.set_random_seed(seed)
    model = build_model(config)
    sources = tokenizer.tokenize(tf.constant([s for s, _ in pairs])).to_tensor().numpy()
    targets = tokenizer.tokenize(tf.constant([t for _, t in pairs]))
    start = tf.fill([targets.nrows(), 1], START_ID)
    end = tf.fill([targets.nrows(), 1], END_ID)
    decoder_in = tf.concat([start, targets], axis=1).to_tensor().numpy()
    labels = tf.concat([targets, end], axis=1).to_tensor().numpy()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
        jit_compile=False,
    )
    model.fit((sources, decoder_in), labels, batch_size=32, epochs=8, verbose=0, shuffle=True)
    with tempfile.TemporaryDirectory(prefix="tiny-run-") as run:
        paths = RunPaths(Path(run))
        write_run_setup(paths, config, tokenizer, tokenizer)
        save_weights_only(model, paths.best)
        return export_run(paths.root, out_dir, overwrite=True)


def known_answers(export: Path, answers: str | None, tiny: bool) -> tuple[list[Case], str]:
    """The inputs and their known answers, and where the answers come from."""
    from translator.demo import discover_models

    if answers:
        cases = []
        for line in Path(answers).read_text(encoding="utf-8").splitlines():
            if "\t" in line:
                text, answer = line.split("\t", 1)
                cases.append(Case(text, answer))
        return cases[:INPUTS_PER_RUN], f"{answers} (input<TAB>answer)"
    if tiny:  # half seen in training, half new
        pairs = reverse_pairs(INPUTS_PER_RUN // 2, seed=0) + reverse_pairs(INPUTS_PER_RUN, seed=9)
        unique = list(dict.fromkeys(pairs))[:INPUTS_PER_RUN]
        return [Case(s, t) for s, t in unique], "the reversed input"
    info = next(iter(discover_models(export).values()))
    metadata = info.metadata
    corpus = str((metadata.get("training_data") or {}).get("corpus") or "")
    if corpus == "dates" or metadata.get("direction") == "human-iso":
        from translator.data import load_splits

        test = load_splits("dates", train_size=10).test[:INPUTS_PER_RUN]
        return [Case(s, t) for s, t in test], "the ISO dates of the dates test split"
    return [Case(text, None) for text in info.examples], "none (pass --answers FILE)"


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_for(i: int) -> tuple:
    return BEAM if i % 2 == 0 else GREEDY


def expected_outputs(export: Path, cases: list[Case]) -> dict[tuple[str, tuple], list[str]]:
    """(input, settings) -> the n-best texts of the export called directly, one input at
    a time (as the demo runs it)."""
    from translator.demo import DecodeSettings
    from translator.serving import load_exported

    model = load_exported(export)
    expected = {}
    for settings in (BEAM, GREEDY):
        chosen = DecodeSettings.from_request(*settings)
        decode = chosen.decode_config(model.decode_defaults)
        for case in cases:
            out = model.translate(
                [case.text], decode=decode, n_best=chosen.outputs, seed=chosen.seed
            )
            expected[case.text, settings] = [str(t) for t in out["translations"][0]]
    return expected


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


@dataclasses.dataclass
class Outcome:
    """One request: ``status`` ok (answered, consistent), inconsistent, timeout or
    ``error: ...``; ``correct`` against the known answer (None: unknown)."""

    status: str
    seconds: float
    correct: bool | None = None


@dataclasses.dataclass
class Level:
    """The figures of one number of clients."""

    clients: int
    requests: int
    wall: float
    outcomes: list[Outcome]
    hung: int

    @property
    def answered(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in ("ok", "inconsistent")]

    def row(self) -> str:
        latencies = [o.seconds * 1000 for o in self.answered]
        consistent = sum(o.status == "ok" for o in self.outcomes)
        judged = [o for o in self.answered if o.correct is not None]
        correct = sum(bool(o.correct) for o in judged)
        share = f"{correct}/{len(judged)} ({correct / len(judged):.0%})" if judged else "n/a"
        return (
            f"{self.clients:>7} {self.requests:>8} {len(self.answered) / self.wall:>6.2f} "
            f"{percentile(latencies, 50):>7.0f} {percentile(latencies, 95):>7.0f} "
            f"{percentile(latencies, 99):>7.0f} {max(latencies, default=float('nan')):>7.0f} "
            f"{consistent:>5}/{self.requests:<5} {share:>12}"
        )


HEADER = "clients requests  req/s  p50 ms  p95 ms  p99 ms  max ms  consistent  correct (known)"


def run(args: argparse.Namespace) -> int:
    from gradio_client import Client

    from translator.demo import DemoApp

    with tempfile.TemporaryDirectory(prefix="bench-demo-") as scratch:
        if args.model:
            export = Path(args.model)
        else:
            start = time.perf_counter()
            export = build_tiny_export(Path(scratch) / "tiny-reverse")
            print(
                f"trained and exported a tiny reverse model in {time.perf_counter() - start:.1f} s"
            )
        cases, source = known_answers(export, args.answers, tiny=not args.model)
        if not cases:
            print("error: no inputs (is --answers empty?)", file=sys.stderr)
            return 2
        expected = expected_outputs(export, cases)
        app = DemoApp(export)  # an export folder works as a models folder of one
        name = next(iter(app.models))
        blocks = app.build()
        blocks.launch(
            prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True
        )
        url = blocks.local_url
        print(f"serving {app.models[name].label} at {url}")
        print(f"{len(cases)} inputs; known answers: {source}")
        try:
            warm = Client(url, verbose=False, analytics_enabled=False)
            start = time.perf_counter()
            warm.submit(name, cases[0].text, *BEAM, api_name="/translate").result(timeout=300)
            cold = time.perf_counter() - start
            warm.close()
            levels = [
                load_level(args, url, name, cases, expected, clients, Client)
                for clients in args.clients
            ]
        finally:
            blocks.close()
    return report(args, levels, cold)


def load_level(
    args: argparse.Namespace,
    url: str,
    name: str,
    cases: list[Case],
    expected: dict,
    clients: int,
    client_cls: Any,
) -> Level:
    """``args.requests`` requests from ``clients`` concurrent clients."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    per_client = [range(c, args.requests, clients) for c in range(clients)]
    connected = [client_cls(url, verbose=False, analytics_enabled=False) for _ in per_client]
    barrier = threading.Barrier(clients + 1, timeout=60)

    def worker(client: Any, indices: range) -> None:
        barrier.wait()
        for i in indices:
            case, settings = cases[i % len(cases)], settings_for(i)
            start = time.perf_counter()
            correct = None
            try:
                job = client.submit(name, case.text, *settings, api_name="/translate")
                best, table, _plot, _notes = job.result(timeout=args.timeout)
                got = [row[1] for row in table["data"]]
                want = expected[case.text, settings]
                status = "ok" if (best, got) == (want[0], want) else "inconsistent"
                correct = None if case.answer is None else best == case.answer
            except TimeoutError:
                status = "timeout"
            except Exception as err:  # report every failure kind, keep going
                status = f"error: {type(err).__name__}: {err}"[:200]
            with lock:
                outcomes.append(Outcome(status, time.perf_counter() - start, correct))

    threads = [
        threading.Thread(target=worker, args=(c, r), daemon=True)
        for c, r in zip(connected, per_client)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    deadline = start + args.timeout * (args.requests // clients + 2)
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.perf_counter()))
    wall = time.perf_counter() - start
    for client in connected:
        client.close()
    return Level(clients, args.requests, wall, outcomes, sum(t.is_alive() for t in threads))


def report(args: argparse.Namespace, levels: list[Level], cold: float) -> int:
    print(
        f"/translate, beam 4 / 3-best and greedy alternating; queue concurrency 2; "
        f"latency of answered requests; cold first request (load + trace) {cold:.2f} s"
    )
    print(HEADER)
    failed = False
    for level in levels:
        print(level.row())
    for level in levels:
        bad = [o.status for o in level.outcomes if o.status != "ok"]
        missing = level.requests - len(level.outcomes)
        if bad or missing or level.hung:
            failed = True
            print(
                f"{level.clients} clients: {len(bad)} failed or inconsistent, "
                f"{missing} unanswered, {level.hung} hung clients"
            )
            for status in sorted(set(bad)):
                print(f"  {bad.count(status)} x {status}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="an export folder (default: train a tiny one)")
    parser.add_argument(
        "--answers", help="known answers for --model: a file of input<TAB>answer lines"
    )
    parser.add_argument(
        "--clients",
        type=int,
        nargs="+",
        default=[1, 4, 16],
        help="numbers of concurrent clients, one level each (default: 1 4 16)",
    )
    parser.add_argument("--requests", type=int, default=48, help="requests per level")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    args = parser.parse_args(argv)
    if args.requests < 1 or min(args.clients) < 1:
        parser.error("--requests and --clients must be at least 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
