"""`python -m translator.translate` (subprocesses on the session's export)."""

from __future__ import annotations

import io
import json
import sys

from helpers import artifacts, loaded, reverse_pairs, run_module  # noqa: F401

import translator.serving
from translator.translate import MAX_LINE_BYTES, main, read_lines

WORDS = reverse_pairs(192)[:64]  # some of what the session's tiny model learned to reverse
LINES = ["abc", "", "hgfe dc", "   ", "a" * 300, "dcba", "", *(s for s, _ in WORDS)]


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
    # Measured on WORDS: 26 of 64 (40.6 %) exactly reversed, 59 (92.2 %) starting
    # with the input's last letter; the thresholds sit a bit below.
    words_out = out[7:-1]
    assert sum(o == t for o, (_, t) in zip(words_out, WORDS)) / len(WORDS) >= 0.35
    assert sum(o[:1] == t[:1] for o, (_, t) in zip(words_out, WORDS)) / len(WORDS) >= 0.85


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

    # A line that is not UTF-8 is flagged (empty output, a warning naming it, exit 1);
    # the lines around it are translated.
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("abc\ncañón\ndcba\n".encode("latin-1"))
    proc = run_module(
        ["translator.translate", "--model", str(artifacts.export), "--input", str(bad)]
    )
    assert proc.returncode == 1, proc.stderr.decode()[-3000:]
    first, third = loaded(artifacts.export)(["abc", "dcba"])
    assert proc.stdout.decode("utf-8") == f"{first}\n\n{third}\n"
    stderr = proc.stderr.decode().replace("\r", "\n").split("\n")  # and the progress bar
    assert f"warning: {bad}, line 2: not valid UTF-8 (byte 0xf1 at byte 3); not translated" in (
        stderr
    )
    assert "1 of 3 lines" in stderr[-2] and "iconv" in stderr[-2]

    args = ["--model", str(artifacts.export), "--input", str(bad), "--output", str(bad)]
    same = run_module(["translator.translate", *args])
    assert same.returncode == 2 and b"--output is the --input file" in same.stderr


def _read(data: bytes) -> list:
    return list(read_lines(io.BytesIO(data)))


def test_read_lines():
    texts = [line.text for line in _read(b"a\r\nb\n\nc")]
    assert texts == ["a", "b", "", "c"]
    assert [line.text for line in _read("\ufeffa\u2028b\n".encode())] == ["a\u2028b"]  # \n only
    assert _read(b"") == []
    assert _read(b"a\n\xef\xbb\xbfb")[1].text == "\ufeffb"  # a BOM only starts the input
    lines = _read(b"a\nb\n\xff\nab\x00c\nd")
    assert [line.number for line in lines] == [1, 2, 3, 4, 5]
    assert [line.error is None for line in lines] == [True, True, False, False, True]
    assert lines[2].error == "not valid UTF-8 (byte 0xff at byte 1)"
    assert "NUL" in lines[3].error and lines[3].text == "ab\x00c"
    # An over-long line keeps its first MAX_LINE_BYTES (whole characters only), and the
    # next line is still the next line.
    long = ("xé" + "é" * MAX_LINE_BYTES).encode()  # the byte limit falls inside an "é"
    cut, after = _read(long + b"\nnext\n")
    assert cut.cut and cut.error is None and cut.text == "x" + "é" * (MAX_LINE_BYTES // 2 - 1)
    assert (after.number, after.text, after.cut) == (2, "next", False)


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


def test_chinese_trains_exports_and_translates_mixed_scripts(data_dir, tmp_path):
    """cmn-en end to end on the real corpus (tiny): Simplified and Traditional mixed,
    full-width punctuation, no spaces, a character the tokenizer never saw."""
    from translator import export as export_cli
    from translator import train as train_cli
    from translator.runs import RunPaths, read_json

    run, out = tmp_path / "cmn-en", tmp_path / "export"
    settings = ["data.train_limit=400", "data.eval_limit=16", "model.units=16",
                "model.embedding_dim=16", "train.epochs=1",
                "tokenizer.vocab_size=1500"]  # fmt: skip
    args = ["--config", "cmn-en", "--output", str(run), "--quiet"]
    assert train_cli.main([*args, *(f"--set={s}" for s in settings)]) == 0
    assert read_json(RunPaths(run).summary)["source_lang"] == "zh"
    assert export_cli.main(["--run", str(run), "--out", str(out)]) == 0
    lines = ["我爱你。", "我愛你，你呢？", "火車站在哪裡", "😀龘", "ＡＢＣ１２３"]
    proc = run_module(
        ["translator.translate", "--model", str(out)], stdin="\n".join(lines).encode()
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(proc.stdout.decode("utf-8").split("\n")) == len(lines) + 1  # one line each
