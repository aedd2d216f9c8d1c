"""`python -m translator.translate` (subprocesses on the session's export)."""

from __future__ import annotations

import io
import json
import sys

import pytest
from helpers import artifacts, loaded, run_module  # noqa: F401

import translator.serving
from translator.translate import UsageError, main, split_lines

LINES = ["abc", "", "hgfe dc", "   ", "a" * 300, "dcba", ""]


def test_file_with_empty_lines_keeps_alignment(artifacts, tmp_path):  # noqa: F811
    source = tmp_path / "in.txt"
    source.write_bytes(("\n".join(LINES) + "\n").encode("utf-8"))
    target = tmp_path / "out.txt"
    proc = run_module(
        [
            "translator.translate",
            "--model",
            str(artifacts.export),
            "--input",
            str(source),
            "--output",
            str(target),
            "--batch-size",
            "3",
        ]
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    out = target.read_text(encoding="utf-8").split("\n")
    assert out[-1] == "" and len(out) - 1 == len(LINES)
    expected = loaded(artifacts.export)(LINES)  # greedy: the run's default
    assert out[:-1] == expected
    for i in (1, 3, 6):
        assert out[i] == ""
    assert out[0] and out[2]


def test_json_nbest_attention_from_stdin(artifacts, monkeypatch, capsysbinary):  # noqa: F811
    # In-process (the subprocess test above covers start-up); the session's loaded
    # export stands in for a fresh load.
    monkeypatch.setattr(translator.serving, "load_exported", loaded)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"abc\n\nhgfe\r\n")))
    args = ["--model", str(artifacts.export), "--beam", "3", "--nbest", "2", "--json"]
    assert main([*args, "--attention", "--quiet"]) == 0
    captured = capsysbinary.readouterr()
    assert captured.err == b""
    records = [json.loads(line) for line in captured.out.decode("utf-8").splitlines()]
    assert [r["source"] for r in records] == ["abc", "", "hgfe"]
    first = records[0]
    assert len(first["nbest"]) == 2
    assert first["nbest"][0]["translation"] == first["translation"]
    assert first["nbest"][0]["score"] >= first["nbest"][1]["score"]
    assert first["source_pieces"] == ["a", "b", "c"]
    assert len(first["attention"]) == len(first["target_pieces"])
    assert all(len(row) == 3 for row in first["attention"])
    assert records[1]["translation"] == "" and records[1]["score"] == 0.0
    assert records[1]["truncated"] is False


def test_errors_are_one_line_and_exit_2(artifacts, tmp_path):  # noqa: F811
    missing = run_module(["translator.translate", "--model", str(tmp_path / "nope"), "--text", "x"])
    assert missing.returncode == 2
    message = missing.stderr.decode().strip()
    assert len(message.splitlines()) == 1 and "translator.export" in message

    bad = tmp_path / "latin1.txt"
    bad.write_bytes("abc\ncañón\n".encode("latin-1"))
    proc = run_module(
        ["translator.translate", "--model", str(artifacts.export), "--input", str(bad)]
    )
    assert proc.returncode == 2
    message = proc.stderr.decode().strip()
    assert len(message.splitlines()) == 1 and "line 2" in message and "UTF-8" in message


def test_split_lines():
    assert split_lines(b"a\r\nb\n\nc", "x") == ["a", "b", "", "c"]
    assert split_lines("\ufeffa\u2028b\n".encode(), "x") == ["a\u2028b"]  # only \n splits
    assert split_lines(b"", "x") == []
    with pytest.raises(UsageError, match="line 3"):
        split_lines(b"a\nb\n\xff\n", "x")


def test_moses_nbest_and_sampling_options(artifacts, monkeypatch, capsysbinary):  # noqa: F811
    monkeypatch.setattr(translator.serving, "load_exported", loaded)
    base = ["--model", str(artifacts.export), "--text", "abc", "--quiet"]
    assert main([*base, "--beam", "3", "--nbest", "3"]) == 0
    lines = capsysbinary.readouterr().out.decode().splitlines()
    assert len(lines) == 3 and all(line.startswith("0 ||| ") for line in lines)
    sample = [*base, "--sample", "--temperature", "0.9", "--seed", "4", "--json"]
    assert main(sample) == 0
    first = capsysbinary.readouterr().out
    assert main(sample) == 0
    assert capsysbinary.readouterr().out == first  # seeded
    assert main([*base, "--nbest", "2"]) == 2  # greedy has one hypothesis
    assert b"--beam" in capsysbinary.readouterr().err
    assert main([*base, "--temperature", "0.5"]) == 2
    assert b"--sample" in capsysbinary.readouterr().err
