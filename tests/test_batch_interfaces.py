"""Batch interfaces keep every line (issue #15, "Nothing lost").

- ``python -m translator.translate`` streams 100,000 lines with bad ones scattered
  through them: one output line per input line, in order, the bad lines flagged on
  stderr by number (exit status 1), peak memory the same as for 10,000 lines;
- ``serving_default`` and ``ExportedTranslator.translate`` answer 10,000 mixed strings,
  hostile ones included, with exactly 10,000 outputs in order.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from helpers import ALPHABET, artifacts, clean_env, loaded  # noqa: F401

import translator.serving
from translator.translate import EXIT_BAD_LINES, EXIT_ERROR, MAX_LINE_BYTES, main

N_LINES = 100_000
N_SMALL = 10_000  # the comparison run: the first 10,000 lines of the same input
REPEATED = "abcdefg"  # at many positions: the same output everywhere
LONG_AT = 5_003  # 0-based index of a line longer than MAX_LINE_BYTES (cut by the reader)

# Lines the reader flags: not UTF-8 (Latin-1, a CESU/surrogate, an overlong form, a
# character cut short, a stray continuation byte) or holding a NUL.
BAD = [
    b"ab\xffc",
    "cañón".encode("latin-1"),
    b"ab\xed\xa0\x80",
    b"\xc0\xaf",
    b"abc\xe2\x82",
    b"\x80",
    b"ab\x00c",
    b"\x00",
    b"hgfe\x00",
]
# Valid lines that are hostile all the same: (bytes of the line, the text translated).
ODD = [
    (b"", ""),
    (b"   ", "   "),
    (b"\t", "\t"),
    (b"ab\r", "ab"),  # CRLF
    (b"a\rb", "a\rb"),
    (b"\x01\x1b[31mab\x7f", "\x01\x1b[31mab\x7f"),
    ("\u202eabc\u200b\u200f".encode(), "\u202eabc\u200b\u200f"),  # RTL override, zero-width
    ("😀 abc 👍🏽".encode(), "😀 abc 👍🏽"),
    ("a\u2028b\x85c\x0bd\x0ce".encode(), "a\u2028b\x85c\x0bd\x0ce"),  # not line breaks here
    ("\ufeffab".encode(), "\ufeffab"),  # a BOM that does not start the input is text
    (b"a" * 5000, "a" * 5000),
]


def make_input(n: int) -> tuple[bytes, list[str | None]]:
    """-> (the file: ``n`` lines, a BOM first, no final newline; the text each line
    gives the model, ``None`` for the lines that must be flagged).  Line ``i`` does not
    depend on ``n``, so a shorter input is a prefix of a longer one."""
    rng = random.Random(0)  # drawn in line order: line i does not depend on n
    raws: list[bytes] = []
    texts: list[str | None] = []
    for i in range(n):
        if i == LONG_AT:
            text = "ab" * MAX_LINE_BYTES  # 2 MiB; the model truncates long before 1 MiB
            raw = text.encode()
        elif i % 1000 == 17:
            raw, text = REPEATED.encode(), REPEATED
        elif i % 997 == 5:
            raw, text = BAD[(i // 997) % len(BAD)], None
        elif i % 503 == 11:
            raw, text = ODD[(i // 503) % len(ODD)]
        else:  # words of the letters the model reverses; a quarter are 60-120 chars
            length = rng.randint(60, 120) if i % 4 == 0 else rng.randint(2, 7)
            text = "".join(rng.choices(ALPHABET + " ", k=length)).strip() or "ab"
            raw = text.encode()
        raws.append(raw)
        texts.append(text)
    return b"\xef\xbb\xbf" + b"\n".join(raws), texts


def _start(export: Path, source: Path, *extra: str) -> subprocess.Popen:
    """The translate CLI on ``source`` -> ``<source>.out``, stderr in ``<source>.err``."""
    args = ["--model", str(export), "--input", str(source), "--batch-size", "1024", *extra]
    with source.with_suffix(".err").open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "translator.translate", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=clean_env(),
        )


class _Waiter(threading.Thread):
    """Reaps one child: its exit status, peak resident memory, wall and CPU seconds."""

    def __init__(self, proc: subprocess.Popen) -> None:
        super().__init__(daemon=True)
        self.proc, self.started = proc, time.monotonic()
        self.start()

    def run(self) -> None:
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.seconds = time.monotonic() - self.started
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.peak_mb = usage.ru_maxrss / 1024  # KiB on Linux
        self.cpu = usage.ru_utime + usage.ru_stime

    def finish(self, timeout: float) -> int:
        self.join(timeout)
        if self.is_alive():
            self.proc.kill()
            self.join()
        return self.proc.returncode


def test_translate_cli_streams_100k_lines_and_keeps_the_bad_ones(artifacts, tmp_path):  # noqa: F811
    data, texts = make_input(N_LINES)
    assert data.count(b"\n") + 1 == N_LINES
    big, small = tmp_path / "big.txt", tmp_path / "small.txt"
    big.write_bytes(data)
    small.write_bytes(b"\n".join(data.split(b"\n")[:N_SMALL]))
    # Both runs at once (they share the start-up time); peak memory is per process.
    runs = {
        "100k": _Waiter(_start(artifacts.export, big, "--output", str(tmp_path / "big.out"))),
        "10k": _Waiter(
            _start(artifacts.export, small, "--output", str(tmp_path / "small.out"), "--quiet")
        ),
    }

    # Meanwhile, the model's own translations of a sample of the lines.
    rng = random.Random(1)
    good = [i for i, text in enumerate(texts) if text is not None]
    sample = sorted({0, LONG_AT, *rng.sample(good, 300), *(i for i in good if i % 503 == 11)})
    expected = loaded(artifacts.export)([texts[i] for i in sample])
    (repeated_expected,) = loaded(artifacts.export)([REPEATED])

    status = runs["100k"].finish(timeout=400)
    status_small = runs["10k"].finish(timeout=60)
    stderr = (tmp_path / "big.err").read_text("utf-8", errors="replace")
    assert status == EXIT_BAD_LINES, stderr[-3000:]
    assert status_small == EXIT_BAD_LINES

    out = (tmp_path / "big.out").read_text("utf-8").split("\n")
    assert out.pop() == "" and len(out) == N_LINES  # one line per input line
    bad = [i for i, text in enumerate(texts) if text is None]
    named = [int(n) for n in re.findall(r"warning: \S+, line (\d+): ", stderr)]
    assert named == [i + 1 for i in bad]  # every bad line, by its number, in order
    assert f"{len(bad)} of {N_LINES} lines not translated" in stderr
    assert all(out[i] == "" for i in bad)
    assert [out[i] for i in sample] == expected
    assert {out[i] for i in range(17, N_LINES, 1000)} == {repeated_expected}
    small_out = (tmp_path / "small.out").read_text("utf-8").split("\n")
    assert small_out[:-1] == out[:N_SMALL]

    # Bounded memory: 10x the lines, the same peak.  Measured (2 shared CPUs, batch
    # 1024): 1158 MB for both runs on this input (difference < 1 MB; up to +6 MB on
    # other inputs); the code before streaming (everything read, then written at the
    # end) peaked at 1084 MB for 10k and 1122 MB (+38 MB) for 100k of these lines.
    for name, r in runs.items():
        print(f"{name} lines: {r.seconds:.0f} s ({r.cpu:.0f} s CPU), peak {r.peak_mb:.0f} MB")
    growth_mb = runs["100k"].peak_mb - runs["10k"].peak_mb
    assert growth_mb < 20, f"peak memory grew by {growth_mb:.0f} MB from 10k to 100k lines"


# --------------------------------------------------------------------------- in process


def _with_failing_model(monkeypatch, artifacts, fails) -> None:  # noqa: F811
    """``load_exported`` -> the session's export, failing on the texts ``fails`` picks."""

    class Failing:
        def __init__(self, inner):
            self.inner = inner
            self.decode_defaults = inner.decode_defaults

        def translate(self, texts, **options):
            if any(fails(t) for t in texts):
                raise tf.errors.InvalidArgumentError(None, None, "cannot take this\nat all")
            return self.inner.translate(texts, **options)

    monkeypatch.setattr(translator.serving, "load_exported", lambda p: Failing(loaded(p)))


def test_a_line_the_model_fails_on_is_flagged_and_the_rest_translated(
    artifacts,  # noqa: F811
    monkeypatch,
    capsysbinary,
):
    _with_failing_model(monkeypatch, artifacts, lambda text: "dcba" in text)
    source = b"abc\ndcba\nhgfe\n\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(source)))
    base = ["--model", str(artifacts.export), "--quiet", "--batch-size", "8"]
    assert main(base) == EXIT_BAD_LINES
    captured = capsysbinary.readouterr()
    first, third = loaded(artifacts.export)(["abc", "hgfe"])
    assert captured.out.decode() == f"{first}\n\n{third}\n\n"
    err = captured.err.decode().splitlines()
    assert err[0] == (
        "warning: standard input, line 2: the model failed on it "
        "(InvalidArgumentError: cannot take this); not translated"
    )
    assert "1 of 4 lines not translated (line 2)" in err[1] and "iconv" not in err[1]

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(source)))
    assert main([*base, "--json", "--beam", "3", "--nbest", "2", "--attention"]) == 1
    records = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    assert [r["source"] for r in records] == ["abc", "dcba", "hgfe", ""]
    assert ["error" in r for r in records] == [False, True, False, False]
    assert records[1]["error"].startswith("the model failed on it")
    assert records[1]["translation"] == "" and records[1]["nbest"] == []
    assert records[1]["score"] is None and records[1]["attention"] == []
    assert set(records[1]) - {"error"} == set(records[0])  # the same fields otherwise

    # Moses n-best: the bad line has no hypotheses; the indices keep their lines.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(source)))
    assert main([*base, "--beam", "3", "--nbest", "2"]) == 1
    indices = [line.split(b" ||| ")[0] for line in capsysbinary.readouterr().out.splitlines()]
    assert set(indices) == {b"0", b"2", b"3"} and indices == sorted(indices)


def test_a_model_that_fails_on_everything_is_an_error(artifacts, monkeypatch, capsysbinary):  # noqa: F811
    _with_failing_model(monkeypatch, artifacts, lambda text: True)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"abc\ndcba\n")))
    assert main(["--model", str(artifacts.export), "--quiet"]) == EXIT_ERROR
    err = capsysbinary.readouterr().err.decode().strip()
    assert err == "error: InvalidArgumentError: cannot take this"


def test_text_flag_reports_an_undecodable_argument(artifacts, monkeypatch, capsysbinary):  # noqa: F811
    monkeypatch.setattr(translator.serving, "load_exported", loaded)
    # What Python makes of the argument bytes b"ab\xff" (surrogateescape).
    assert main(["--model", str(artifacts.export), "--text", "ab\udcff"]) == EXIT_BAD_LINES
    captured = capsysbinary.readouterr()
    assert captured.out == b"\n"
    assert b"--text, line 1: not valid UTF-8 (byte 0xff at byte 3)" in captured.err


def mixed_batch(n: int) -> tuple[list[str | bytes], set[int]]:
    """``n`` inputs for the Python wrapper, hostile ones every few: -> (inputs, the
    indices whose text has no UTF-8 form: lone surrogates, bytes that are not UTF-8)."""
    hostile: list[str | bytes] = [
        "",
        " ",
        "\t\n\r",
        "a\x00b",
        "\x00",
        "\x01\x02\x1b[0m\x7f",
        "\u202eabc\u200b\u200d\ufeff",
        "😀👍🏽🇪🇸",
        "ab\ud800c",  # lone surrogates: no UTF-8 form
        "\udfff",
        "\ud83d\ude00 abc",  # a surrogate pair, as a UTF-16 decode gone wrong leaves it
        b"ab\xffc",  # bytes that are not UTF-8
        b"abc",
    ]
    long = {1: "a" * 100_000, n // 2: "abc " * 20_000, n - 2: "ab" * 500_000}  # a few: slow
    rng = random.Random(0)
    inputs: list[str | bytes] = []
    for i in range(n):
        if i in long:
            inputs.append(long[i])
        elif i % 7 == 3:
            inputs.append(hostile[(i // 7) % len(hostile)])
        else:
            inputs.append("".join(rng.choices(ALPHABET, k=rng.randint(1, 9))))
    unencodable = {
        i
        for i, x in enumerate(inputs)
        if x == b"ab\xffc" or (isinstance(x, str) and re.search("[\ud800-\udfff]", x))
    }
    return inputs, unencodable


def test_serving_default_and_the_wrapper_answer_10k_mixed_strings(artifacts):  # noqa: F811
    translator_ = loaded(artifacts.export)
    inputs, unencodable = mixed_batch(10_000)
    assert len(unencodable) > 300

    # The SavedModel takes bytes as they come (lone surrogates as their 3 bytes).
    raw = [x if isinstance(x, bytes) else x.encode("utf-8", "surrogatepass") for x in inputs]
    served = translator_.module.signatures["serving_default"](text=tf.constant(raw))
    assert served["translations"].shape == (10_000,) and served["scores"].shape == (10_000,)
    served_texts = [t.decode("utf-8", errors="replace") for t in served["translations"].numpy()]

    out = translator_.translate(inputs)  # greedy: the run's default, as serving_default
    assert out["translations"].shape == (10_000, 1)
    assert all(len(out[name]) == 10_000 for name in out)
    assert set(np.flatnonzero(out["replaced"]).tolist()) == unencodable
    best = out["translations"][:, 0].tolist()
    # In order: where both got the same text, both gave the same translation ...
    kept = [i for i in range(10_000) if i not in unencodable]
    assert [served_texts[i] for i in kept] == [best[i] for i in kept]
    # ... and the same input gives the same output wherever it is in the batch.
    by_input: dict[str | bytes, set[str]] = {}
    for x, y in zip(inputs, best):
        by_input.setdefault(x, set()).add(y)
    assert all(len(outputs) == 1 for outputs in by_input.values())
    # A repaired input is translated as its repaired text; a surrogate pair joins.
    assert translator_(["ab\ufffdc"]) == [best[inputs.index("ab\ud800c")]]
    assert translator_(["\ud83d\ude00 abc"]) == translator_(["😀 abc"])
    assert translator_([b"ab\xffc"]) == translator_(["ab\ufffdc"])
