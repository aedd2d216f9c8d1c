"""Load test of the Gradio demo: concurrent gradio_client requests against app.py's app.

    python benchmarks/bench_demo.py [--model exports/<name>] [--requests 50] [--clients 10]

Launches the demo (:mod:`translator.demo`, queue concurrency 2) on a free local port
with one exported model -- ``--model``, or a tiny untrained ``dates`` export built in a
temporary folder in a few seconds -- then sends ``--requests`` ``/translate`` calls
from ``--clients`` concurrent ``gradio_client.Client`` objects (each in its own thread,
requests one after another), alternating beam search (width 4, 3-best) and greedy.
Every answer is checked against the export called directly
(``load_exported(...).translate``) with the same input and settings.

Prints how many were answered correctly, failures and timeouts, the cold first
request (model load + graph tracing), and p50/p95/max latency and throughput of the
rest.  Each request has a timeout (``--timeout``), so nothing hangs.  Nothing is
asserted: it only prints (exit status 1 when a request failed or was wrong).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
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

INPUTS = [
    "tuesday 3 march 1998",
    "March 3rd 1998",
    "03.03.1998",
    "sat 1 jan 2000",
    "the 21st of december 2012",
    "Friday, November 24, 1989",
    "1 August 1909",
    "dec 25, 2024",
]
BEAM = ("beam", 4, 1.0, 1.0, 3, 0)
GREEDY = ("greedy", 1, 1.0, 1.0, 1, 0)


def build_tiny_export(
    out_dir: str | Path,
    *,
    decoder: str = "luong",
    train_size: int = 200,
    seed: int = 0,
    name: str = "tiny-dates",
) -> Path:
    """Writes an *untrained* tiny ``dates`` model as a real export, in seconds.

    So the benchmark runs without a trained model: char tokenizers
    fitted on ``train_size`` generated dates, a ~10k-parameter bi-GRU encoder with
    ``decoder``, saved as a run folder (``config.yaml``, ``tokenizers/``,
    ``best.keras``) in a temporary folder and exported with
    :func:`translator.export.export_run`.  The END logit is biased down so outputs
    are never empty (they are gibberish of the maximum length, 11 characters).

    Returns:
        ``out_dir``.
    """
    import keras

    from translator.config import Config, DataConfig, DecodeConfig, ModelConfig, TokenizerConfig
    from translator.data import load_splits
    from translator.exporting import export_run
    from translator.model import build_model
    from translator.runs import RunPaths, save_weights_only, write_run_setup
    from translator.special_tokens import END_ID
    from translator.tokenizer import train_tokenizers

    keras.utils.set_random_seed(seed)
    splits = load_splits("dates", train_size=train_size)
    config = Config(
        name=name,
        task="translation",
        data=DataConfig(corpus="dates", max_source_length=40, max_target_length=12),
        tokenizer=TokenizerConfig(kind="char", vocab_size=100, lowercase=True),
        model=ModelConfig(cell="gru", embedding_dim=8, units=16, decoder=decoder),
        decode=DecodeConfig(strategy="beam", beam_size=4, max_length_a=0.0, max_length_b=11),
    )
    source, target = train_tokenizers(config.tokenizer, splits.train)
    config = config.replace(
        model=dataclasses.replace(
            config.model, source_vocab_size=source.vocab_size, target_vocab_size=target.vocab_size
        )
    )
    model = build_model(config)
    output = getattr(model.decoder, "output_layer", None)
    if output is not None and getattr(output, "bias", None) is not None:
        bias = np.array(output.bias.numpy())
        bias[END_ID] -= 8.0
        output.bias.assign(bias)
    with tempfile.TemporaryDirectory(prefix="tiny-run-") as run:
        paths = RunPaths(Path(run))
        write_run_setup(paths, config, source, target)
        save_weights_only(model, paths.best)
        return export_run(paths.root, out_dir, overwrite=True)


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_for(i: int) -> tuple:
    return BEAM if i % 2 == 0 else GREEDY


def expected_outputs(export: Path) -> dict[tuple[str, tuple], tuple[str, list[str]]]:
    """(input, settings) -> (best text, n-best texts) from the export called directly."""
    from translator.demo import DecodeSettings
    from translator.serving import load_exported

    model = load_exported(export)
    expected = {}
    for settings in (BEAM, GREEDY):
        chosen = DecodeSettings.from_request(*settings)
        decode = chosen.decode_config(model.decode_defaults)
        out = model.translate(INPUTS, decode=decode, n_best=chosen.outputs, seed=chosen.seed)
        for text, row in zip(INPUTS, out["translations"]):
            expected[text, settings] = (str(row[0]), [str(t) for t in row])
    return expected


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run(args: argparse.Namespace) -> int:
    from gradio_client import Client

    from translator.demo import DemoApp

    with tempfile.TemporaryDirectory(prefix="bench-demo-") as scratch:
        if args.model:
            export = Path(args.model)
        else:
            start = time.perf_counter()
            export = build_tiny_export(Path(scratch) / "tiny-dates")
            print(f"built a tiny untrained dates export in {time.perf_counter() - start:.1f} s")
        expected = expected_outputs(export)
        app = DemoApp(export)  # an export folder works as a models folder of one
        name = next(iter(app.models))
        blocks = app.build()
        blocks.launch(
            prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True
        )
        url = blocks.local_url
        print(f"serving {app.models[name].label} at {url}")
        try:
            warm = Client(url, verbose=False, analytics_enabled=False)
            start = time.perf_counter()
            warm.submit(name, INPUTS[0], *BEAM, api_name="/translate").result(timeout=300)
            cold = time.perf_counter() - start
            warm.close()
            return _load_test(args, url, name, expected, cold, Client)
        finally:
            blocks.close()


def _load_test(
    args: argparse.Namespace, url: str, name: str, expected: dict, cold: float, client_cls: Any
) -> int:
    results: list[tuple[str, float]] = []  # (outcome, seconds)
    lock = threading.Lock()
    per_client = [range(c, args.requests, args.clients) for c in range(args.clients)]

    def worker(indices: range) -> None:
        client = client_cls(url, verbose=False, analytics_enabled=False)
        try:
            for i in indices:
                text, settings = INPUTS[i % len(INPUTS)], settings_for(i)
                start = time.perf_counter()
                try:
                    job = client.submit(name, text, *settings, api_name="/translate")
                    best, table, _plot, _notes = job.result(timeout=args.timeout)
                    want_best, want_rows = expected[text, settings]
                    got_rows = [row[1] for row in table["data"]]
                    outcome = "ok" if (best, got_rows) == (want_best, want_rows) else "wrong"
                except TimeoutError:
                    outcome = "timeout"
                except Exception as err:  # report every failure kind, keep going
                    outcome = f"error: {type(err).__name__}: {err}"[:200]
                with lock:
                    results.append((outcome, time.perf_counter() - start))
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(r,), daemon=True) for r in per_client]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    deadline = start + args.timeout * (args.requests // args.clients + 2)
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.perf_counter()))
    wall = time.perf_counter() - start
    hung = sum(thread.is_alive() for thread in threads)

    latencies = [seconds for outcome, seconds in results if outcome == "ok"]
    ok = len(latencies)
    failures = [outcome for outcome, _ in results if outcome != "ok"]
    print(
        f"{args.requests} requests from {args.clients} concurrent clients "
        f"(queue concurrency 2; beam 4 / 3-best and greedy alternating)"
    )
    print(
        f"answered correctly: {ok}/{args.requests}; failed or wrong: {len(failures)}; "
        f"unanswered: {args.requests - len(results)}; hung clients: {hung}"
    )
    for outcome in sorted(set(failures)):
        print(f"  {failures.count(outcome)} x {outcome}")
    print(f"cold first request (load + trace): {cold:.2f} s")
    print(
        f"latency p50 {percentile(latencies, 50) * 1000:.0f} ms, "
        f"p95 {percentile(latencies, 95) * 1000:.0f} ms, "
        f"max {max(latencies, default=float('nan')) * 1000:.0f} ms; "
        f"wall {wall:.1f} s, {ok / wall:.1f} requests/s"
    )
    return 0 if ok == args.requests else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="an export folder (default: build a tiny one)")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
