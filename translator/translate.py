"""Translate text with an exported model (``python -m translator.translate``).

    python -m translator.translate --model exports/<name> [--beam 5] < in.txt > out.txt
    python -m translator.translate --model exports/<name> --text "Hola."
    python -m translator.translate --model exports/<name> --input in.txt --output out.txt

One output line per input line, in order; an empty input line gives an empty output
line.  Lines are split on ``\\n`` only (a trailing ``\\r`` is dropped), so other
Unicode line breaks inside a line never shift the alignment, and line breaks in a
translation are written as spaces.

Streaming: the input is read a window at a time (4096 lines, or more with a large
``--batch-size``, and at most 32 MiB of text); each window is translated in batches of
similar lengths and its output written, in input order, before the next is read, so
memory stays bounded whatever the size of the input.  A line longer than 1 MiB keeps
only its first MiB (far beyond any model's source limit) and counts as ``truncated``.
With ``--output`` the file fills as the run goes; it may not be ``--input`` itself.

Bad lines are kept, never dropped: input must be UTF-8 (a leading byte-order mark is
ignored), and a line that is not valid UTF-8, that contains a NUL character (binary
data, or UTF-16 text), or that the model fails on gets an empty output line (with
``--json``, a record whose ``translation`` is empty, ``score``/``log_prob`` null, and an
``error`` field saying why; with the Moses n-best format, no hypotheses for its
index) and a one-line warning on stderr that names its line number (from 1); the
other lines are translated as usual.  A run that had bad lines ends with a summary
line on stderr and exit status 1; convert non-UTF-8 files first, e.g. with
``iconv -f latin1 -t utf-8``.

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

Exit status: 0 when every line was translated; 1 when the run finished but some lines
were bad (see above: their outputs are empty, every other line is translated); 2 on
an error (bad arguments, no model, an unreadable input, a model that fails on every
line), printed as one line on stderr — after an error the output may hold only the
lines finished before it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

EXIT_BAD_LINES = 1
EXIT_ERROR = 2

WINDOW_LINES = 4096  # lines read, sorted by length and translated together
WINDOW_BYTES = 32 << 20  # ... or fewer, once their text reaches this many characters
MAX_LINE_BYTES = 1 << 20  # a longer line keeps only its beginning

_BOM = b"\xef\xbb\xbf"


class UsageError(Exception):
    """A problem with the arguments or the input, reported as one line."""


# --------------------------------------------------------------------------- input


@dataclasses.dataclass(frozen=True)
class Line:
    """One input line.

    Attributes:
        number: its line number, from 1.
        text: the text (for a line that is not UTF-8: decoded with U+FFFD for the
            bytes that are not, to show in ``--json``'s ``source``).
        error: why it cannot be translated (``None``: it can).
        cut: it was longer than :data:`MAX_LINE_BYTES` and only its beginning was kept.
    """

    number: int
    text: str
    error: str | None = None
    cut: bool = False


def decode_line(raw: bytes, number: int, cut: bool = False) -> Line:
    """Bytes of one line (without its ``\\n``; a trailing ``\\r`` is dropped) -> a
    :class:`Line`, with ``error`` set when it is not valid UTF-8 or holds a NUL."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        error = f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at byte {err.start + 1})"
        return Line(number, raw.decode("utf-8", errors="replace"), error, cut)
    if "\x00" in text:
        error = (
            f"contains a NUL character (at character {text.index(chr(0)) + 1}; "
            "binary data, or UTF-16 text?)"
        )
        return Line(number, text, error, cut)
    return Line(number, text, None, cut)


def _whole_characters(raw: bytes) -> bytes:
    """``raw`` without a UTF-8 character cut in two at its end."""
    for back in range(1, min(4, len(raw)) + 1):
        byte = raw[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: the last character starts here
            size = 1 if byte < 0xC0 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return raw[:-back] if size > back else raw
    return raw


def read_lines(stream: BinaryIO) -> Iterator[Line]:
    """The lines of a binary stream, one at a time (``\\n``-separated; a final
    ``\\n`` ends the last line rather than starting a new one; a leading byte-order
    mark is dropped).  A line longer than :data:`MAX_LINE_BYTES` keeps its first
    :data:`MAX_LINE_BYTES` (whole characters) and the rest is skipped (never held in
    memory); invalid lines come with their ``error`` (see :func:`decode_line`)."""
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        cut = False
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        elif len(raw) > MAX_LINE_BYTES:
            cut = True
            raw = _whole_characters(raw[:MAX_LINE_BYTES])
            while True:  # skip the rest of the line
                rest = stream.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        yield decode_line(raw, number, cut)


def _count_lines(path: Path) -> int:
    """Lines in a file as :func:`read_lines` counts them (for the progress bar)."""
    count, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _text_line(text: str) -> Line:
    """``--text``: one line, whatever it holds (undecodable bytes of the command line
    come back as they were and are reported like any other invalid line)."""
    try:
        raw = text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", errors="surrogatepass")
    line = decode_line(raw, 1)
    return dataclasses.replace(line, text=line.text if line.error else text)


def _windows(lines: Iterable[Line], max_lines: int) -> Iterator[list[Line]]:
    """Consecutive lines, ``max_lines`` (or :data:`WINDOW_BYTES` of text) at a time."""
    window: list[Line] = []
    size = 0
    for line in lines:
        window.append(line)
        size += len(line.text)
        if len(window) >= max_lines or size >= WINDOW_BYTES:
            yield window
            window, size = [], 0
    if window:
        yield window


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
    cut: bool = False,
) -> list[str]:
    """The output line(s) for input line ``index`` (0-based), row ``i`` of the batch
    result ``out`` (from ``ExportedTranslator.translate``); ``cut``: the reader kept
    only the beginning of the line (reported as ``truncated``)."""
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
        "truncated": bool(out["truncated"][i]) or cut,
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


def format_error(
    source: str, error: str, *, nbest: int, as_json: bool, attention: bool, cut: bool = False
) -> list[str]:
    """The output line(s) for a line that could not be translated: an empty line (no
    lines in the Moses n-best format), or a JSON record with an empty translation and
    ``error``."""
    if not as_json:
        return [""] if nbest <= 1 else []
    record: dict[str, Any] = {
        "source": source,
        "translation": "",
        "score": None,
        "log_prob": None,
        "truncated": cut,
    }
    if attention:
        record.update(source_pieces=[], target_pieces=[], attention=[])
    if nbest > 1:
        record["nbest"] = []
    record["error"] = error
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
    else:
        if args.temperature is not None or args.top_k is not None:
            raise UsageError("--temperature and --top-k need --sample")
        if args.beam is not None and args.beam < 1:
            raise UsageError("--beam must be at least 1")
    decode = resolve_decode(
        defaults,
        strategy="sample" if args.sample else None,
        beam_size=args.beam,
        length_penalty=args.length_penalty,
        # Without --sample, temperature 0 turns a sampling default into a search.
        temperature=args.temperature if args.sample else 0.0,
        top_k=args.top_k,
    )
    widest = {"greedy": 1, "beam": decode.beam_size}.get(decode.strategy)
    if widest is not None and args.nbest > widest:
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


def _first_line(err: BaseException) -> str:
    message = str(err).strip()
    return (
        f"{type(err).__name__}: {message.splitlines()[0][:200]}" if message else type(err).__name__
    )


def translate_batch(
    translate: Callable[[list[str]], dict[str, Any]], texts: list[str]
) -> list[Any]:
    """``translate(texts)`` -> one entry per text: ``(out, row)`` (its row of a batch
    result) or, for a text the model fails on, the exception.  When the batch fails
    its texts are retried one by one, so one bad line never costs the others; when
    every one of them fails too, the model is at fault and the error is raised."""
    try:
        out = translate(texts)
    except Exception as err:
        if len(texts) == 1:
            return [err]
    else:
        if out["translations"].shape[0] != len(texts):  # never: the signature maps B -> B
            raise RuntimeError(f"{len(texts)} inputs gave {out['translations'].shape[0]} outputs")
        return [(out, row) for row in range(len(texts))]
    results: list[Any] = []
    for text in texts:
        try:
            results.append((translate([text]), 0))
        except Exception as err:
            results.append(err)
    if all(isinstance(r, Exception) for r in results):
        raise results[0]
    return results


def run(args: argparse.Namespace) -> int:
    """Translates the input; -> the number of lines that could not be translated."""
    model_dir = Path(args.model)
    if not (model_dir / "saved_model.pb").is_file():
        raise UsageError(
            f"no exported model at {model_dir}; export one with "
            f"`python -m translator.export --run runs/<name> --out {model_dir}`"
        )
    output = None if args.output is None else Path(args.output)
    if output is not None and not output.parent.is_dir():
        raise UsageError(f"the folder of --output {output} does not exist")
    source_path = None if args.input is None else Path(args.input)
    if source_path is not None:
        if not source_path.is_file():
            raise UsageError(f"input file {source_path} does not exist")
        if output is not None and output.exists() and output.samefile(source_path):
            raise UsageError("--output is the --input file; write the translations elsewhere")

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _native_stderr_silenced():
        import tensorflow  # noqa: F401  (its native start-up chatter goes to /dev/null)
        from tqdm import tqdm

        from translator.serving import load_exported

        translator = load_exported(model_dir)
    options = _decode_options(args, translator.decode_defaults)

    show_progress = args.text is None and not args.quiet
    with contextlib.ExitStack() as stack:
        if args.text is not None:
            name, lines = "--text", iter([_text_line(args.text)])
        elif source_path is not None:
            stream = stack.enter_context(source_path.open("rb"))
            name, lines = str(source_path), read_lines(stream)
        else:
            name, lines = "standard input", read_lines(sys.stdin.buffer)
        sink = sys.stdout.buffer if output is None else stack.enter_context(output.open("wb"))
        total = _count_lines(source_path) if show_progress and source_path else None
        bar = stack.enter_context(
            tqdm(total=total, unit="line", file=sys.stderr, disable=not show_progress)
        )

        def translate(texts: list[str]) -> dict[str, Any]:
            return translator.translate(texts, **options)

        style = {"nbest": args.nbest, "as_json": args.json, "attention": args.attention}
        first_bad: list[int] = []  # the first few bad line numbers, for the summary
        n_bad = not_utf8 = seen = 0
        for window in _windows(lines, max(WINDOW_LINES, 4 * args.batch_size)):
            seen += len(window)
            records: list[list[str]] = [[] for _ in window]
            errors: dict[int, str] = {}
            for pos, line in enumerate(window):
                if line.error is not None:
                    errors[pos] = line.error
                    not_utf8 += line.error.startswith("not valid UTF-8")
            # Similar lengths batch together (less padding, earlier stops); the window's
            # input order is restored when it is written.
            order = sorted(
                (pos for pos in range(len(window)) if pos not in errors),
                key=lambda pos: len(window[pos].text),
            )
            bar.update(len(errors))
            for start in range(0, len(order), args.batch_size):
                batch = order[start : start + args.batch_size]
                results = translate_batch(translate, [window[pos].text for pos in batch])
                for pos, result in zip(batch, results):
                    line = window[pos]
                    if isinstance(result, Exception):
                        errors[pos] = f"the model failed on it ({_first_line(result)})"
                        continue
                    out, row = result
                    records[pos] = format_record(
                        line.number - 1, line.text, out, row, cut=line.cut, **style
                    )
                bar.update(len(batch))
            for pos in sorted(errors):
                line = window[pos]
                records[pos] = format_error(line.text, errors[pos], cut=line.cut, **style)
                tqdm.write(
                    f"warning: {name}, line {line.number}: {errors[pos]}; not translated",
                    file=sys.stderr,
                )
                n_bad += 1
                if len(first_bad) < 10:
                    first_bad.append(line.number)
            sink.write("".join(text + "\n" for record in records for text in record).encode())
            sink.flush()
    if n_bad:
        shown = ", ".join(map(str, first_bad)) + (", ..." if n_bad > len(first_bad) else "")
        hint = (
            "; convert the input to UTF-8 first, e.g. with `iconv -f latin1 -t utf-8`"
            if not_utf8
            else ""
        )
        print(
            f"warning: {n_bad} of {seen} lines not translated "
            f"(line{'s' if n_bad > 1 else ''} {shown}): their outputs are empty{hint}",
            file=sys.stderr,
        )
    return n_bad


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0, :data:`EXIT_BAD_LINES` or
    :data:`EXIT_ERROR`)."""
    args = _parser().parse_args(argv)
    try:
        bad = run(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as err:  # one line, no stack trace, as for every other error
        print(f"error: {_first_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_BAD_LINES if bad else 0


if __name__ == "__main__":
    sys.exit(main())
