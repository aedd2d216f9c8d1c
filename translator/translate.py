"""Translate text with an exported model (``python -m translator.translate``).

    python -m translator.translate --model exports/<name> [--beam 5] < in.txt > out.txt
    python -m translator.translate --model exports/<name> --text "Hola."
    python -m translator.translate --model exports/<name> --input in.txt --output out.txt

One output line per input line, in order; an empty input line gives an empty output
line.  Lines are split on ``\\n`` only (a trailing ``\\r`` is dropped), so other
Unicode line breaks inside a line never shift the alignment, and line breaks in a
translation are written as spaces.

Input must be UTF-8 (a leading byte-order mark is ignored).  A line that is not valid
UTF-8 stops the run before anything is translated, with an error that names the line
(exit status 2); convert such files first, e.g. ``iconv -f latin1 -t utf-8``.

Decoding: by default the settings the model was trained with (its ``decode``
config).  ``--beam K`` (1 = greedy) with ``--length-penalty`` and ``--nbest N``;
``--sample`` with ``--temperature``, ``--top-k``, ``--seed`` (``--nbest N`` then
draws N samples); ``--max-length`` caps output tokens.

Output: plain text, or with ``--json`` one JSON object per line: ``source``,
``translation``, ``score``, ``log_prob``, ``truncated`` (the input was longer than
the model's limit and was cut), ``nbest`` (with ``--nbest`` > 1: a list of
``{translation, score, log_prob}``), and with ``--attention`` the ``source_pieces``,
``target_pieces`` and ``attention`` matrix (target x source) of each hypothesis.
Without ``--json``, ``--nbest N`` writes the Moses n-best format,
``index ||| translation ||| score`` (N lines per input, index from 0).  Scores that
do not exist (fewer hypotheses than asked) are ``null`` in JSON and are omitted.

Errors print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

EXIT_ERROR = 2


class UsageError(Exception):
    """A problem with the arguments or the input, reported as one line."""


# --------------------------------------------------------------------------- input


def split_lines(data: bytes, name: str) -> list[str]:
    """Bytes -> lines (``\\n``-separated, trailing ``\\r`` dropped), strictly UTF-8.

    Raises:
        UsageError: naming the first line that is not valid UTF-8.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    raw = data.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()  # the final newline ends the last line; it does not start a new one
    lines = []
    for number, line in enumerate(raw, start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise UsageError(
                f"{name}, line {number}: not valid UTF-8 (byte 0x{line[err.start]:02x} at "
                f"byte {err.start + 1}); convert the input to UTF-8 first, "
                "e.g. with `iconv -f latin1 -t utf-8`"
            ) from None
    return lines


def _read_input(args: argparse.Namespace) -> tuple[list[str], bool]:
    """-> (lines, whether they come from a file/stream, i.e. show progress)."""
    if args.text is not None:
        return [args.text], False
    if args.input is not None:
        path = Path(args.input)
        if not path.is_file():
            raise UsageError(f"input file {path} does not exist")
        return split_lines(path.read_bytes(), str(path)), True
    return split_lines(sys.stdin.buffer.read(), "standard input"), True


# --------------------------------------------------------------------------- output


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def _hypothesis(out: dict[str, Any], i: int, n: int, attention: bool) -> dict[str, Any]:
    hyp: dict[str, Any] = {
        "translation": _one_line(out["translations"][i, n]),
        "score": _finite(out["scores"][i, n]),
        "log_prob": _finite(out["log_probs"][i, n]),
    }
    if attention:
        t_len = int(out["target_lengths"][i, n])
        s_len = int(out["source_lengths"][i])
        hyp["target_pieces"] = list(out["target_pieces"][i, n, :t_len])
        hyp["attention"] = [
            [round(float(w), 4) for w in row] for row in out["attention"][i, n, :t_len, :s_len]
        ]
    return hyp


def format_record(
    index: int,
    source: str,
    out: dict[str, Any],
    i: int,
    *,
    nbest: int,
    as_json: bool,
    attention: bool,
) -> list[str]:
    """The output line(s) for input line ``index`` (0-based), row ``i`` of the batch
    result ``out`` (from ``ExportedTranslator.translate``)."""
    n_out = out["translations"].shape[1]
    if not as_json:
        if nbest <= 1:
            return [_one_line(out["translations"][i, 0])]
        return [
            f"{index} ||| {_one_line(out['translations'][i, n])} ||| "
            f"{float(out['scores'][i, n]):.6f}"
            for n in range(n_out)
            if math.isfinite(float(out["scores"][i, n]))
        ]
    best = _hypothesis(out, i, 0, attention)
    record: dict[str, Any] = {
        "source": source,
        "translation": best["translation"],
        "score": best["score"],
        "log_prob": best["log_prob"],
        "truncated": bool(out["truncated"][i]),
    }
    if attention:
        s_len = int(out["source_lengths"][i])
        record["source_pieces"] = list(out["source_pieces"][i, :s_len])
        record["target_pieces"] = best["target_pieces"]
        record["attention"] = best["attention"]
    if nbest > 1:
        record["nbest"] = [
            _hypothesis(out, i, n, attention)
            for n in range(n_out)
            if math.isfinite(float(out["scores"][i, n]))
        ]
    return [json.dumps(record, ensure_ascii=False)]


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m translator.translate",
        description="Translate lines of text with an exported model "
        "(python -m translator.export). One output line per input line.",
    )
    p.add_argument("--model", required=True, help="export folder (exports/<name>)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text", help="translate this text (instead of standard input)")
    src.add_argument("--input", help="UTF-8 text file, one sentence per line (default: stdin)")
    p.add_argument("--output", help="write here (default: standard output)")
    p.add_argument("--batch-size", type=int, default=32, help="lines per batch (default 32)")
    p.add_argument("--beam", type=int, help="beam width; 1 = greedy (default: the model's)")
    p.add_argument("--length-penalty", type=float, help="GNMT alpha (default: the model's)")
    p.add_argument("--nbest", type=int, default=1, help="hypotheses (or samples) per line")
    p.add_argument("--max-length", type=int, default=0, help="cap on output tokens (0: model's)")
    p.add_argument("--sample", action="store_true", help="sample instead of searching")
    p.add_argument("--temperature", type=float, help="sampling temperature (with --sample)")
    p.add_argument("--top-k", type=int, help="sample from the k most likely (0: all)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--attention", action="store_true", help="with --json: pieces + attention")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _decode_options(args: argparse.Namespace, defaults: Any) -> dict[str, Any]:
    """Checks the decoding flags; -> keyword arguments of ``ExportedTranslator.translate``
    (the decode settings resolved by :func:`translator.inference.resolve_decode`)."""
    from translator.inference import resolve_decode

    if args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if args.nbest < 1:
        raise UsageError("--nbest must be at least 1")
    if args.attention and not args.json:
        raise UsageError("--attention needs --json")
    if args.sample:
        if args.beam is not None:
            raise UsageError("--sample and --beam exclude each other")
        if args.temperature is not None and args.temperature <= 0:
            raise UsageError("--temperature must be > 0")
        if args.top_k is not None and args.top_k < 0:
            raise UsageError("--top-k must be >= 0")
        strategy = "sample"
    else:
        if args.temperature is not None or args.top_k is not None:
            raise UsageError("--temperature and --top-k need --sample")
        if args.beam is not None and args.beam < 1:
            raise UsageError("--beam must be at least 1")
        strategy = None if args.beam is not None or defaults.strategy != "sample" else "greedy"
    decode = resolve_decode(
        defaults,
        strategy=strategy,
        beam_size=args.beam,
        length_penalty=args.length_penalty,
        temperature=args.temperature,
        top_k=args.top_k,
    )
    if decode.strategy == "greedy" and args.nbest > 1:
        raise UsageError(
            f"--nbest {args.nbest} needs a beam at least as wide (--beam {args.nbest}) or --sample"
        )
    if decode.strategy == "beam" and args.nbest > decode.beam_size:
        raise UsageError(
            f"--nbest {args.nbest} needs a beam at least as wide (--beam {args.nbest}) or --sample"
        )
    return {
        "decode": decode,
        "n_best": args.nbest,
        "seed": args.seed,
        "max_length": args.max_length,
    }


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Hides what TensorFlow's C++ runtime prints to fd 2 while it loads (CUDA probes
    and the like), so that stderr holds only our messages."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _batches(order: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(order), size):
        yield list(order[start : start + size])


def run(args: argparse.Namespace) -> None:
    model_dir = Path(args.model)
    if not (model_dir / "saved_model.pb").is_file():
        raise UsageError(
            f"no exported model at {model_dir}; export one with "
            f"`python -m translator.export --run runs/<name> --out {model_dir}`"
        )
    if args.output is not None and not Path(args.output).parent.is_dir():
        raise UsageError(f"the folder of --output {args.output} does not exist")
    lines, show_progress = _read_input(args)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _native_stderr_silenced():
        import tensorflow  # noqa: F401  (its native start-up chatter goes to /dev/null)
        from tqdm import tqdm

        from translator.serving import load_exported

        translator = load_exported(model_dir)
    options = _decode_options(args, translator.decode_defaults)

    # Similar lengths batch together (less padding, earlier stops); order restored after.
    order = sorted(range(len(lines)), key=lambda i: len(lines[i]))
    results: list[list[str] | None] = [None] * len(lines)
    bar = tqdm(
        total=len(lines),
        unit="line",
        file=sys.stderr,
        disable=args.quiet or not show_progress,
    )
    with bar:
        for batch in _batches(order, args.batch_size):
            out = translator.translate([lines[i] for i in batch], **options)
            for row, index in enumerate(batch):
                results[index] = format_record(
                    index,
                    lines[index],
                    out,
                    row,
                    nbest=args.nbest,
                    as_json=args.json,
                    attention=args.attention,
                )
            bar.update(len(batch))

    text = "".join(line + "\n" for record in results for line in record or [])
    data = text.encode("utf-8")
    if args.output is not None:
        Path(args.output).write_bytes(data)
    else:
        _write_stdout(data)


def _write_stdout(data: bytes, stream: BinaryIO | None = None) -> None:
    stream = stream or sys.stdout.buffer
    stream.write(data)
    stream.flush()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        run(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # one line, no stack trace, as for every other error
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(f"error: {type(err).__name__}: {message}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
