"""``python -m translator.gradients``: the CSV, the summary and the two plots."""

from __future__ import annotations

import csv

from helpers import artifacts  # noqa: F401

from translator import gradients
from translator.runs import read_json


def test_writes_csv_summary_and_plots(tmp_path, capsys):
    out = tmp_path / "grad"
    args = ["--cells", "rnn,gru", "--steps", "3", "--batch-size", "4", "--output", str(out)]
    args += ["--set", "model.units=8", "--set", "model.embedding_dim=8"]
    assert gradients.main(args) == 0
    rows = list(csv.DictReader((out / "gradients.csv").open(encoding="utf-8")))
    series = {(r["cell"], r["series"]) for r in rows}
    assert series == {
        (c, s) for c in ("rnn", "gru") for s in ("init", "trained", "global_norm", "loss")
    }
    steps = [r for r in rows if r["cell"] == "gru" and r["series"] == "global_norm"]
    assert [int(r["x"]) for r in steps] == [1, 2, 3] and all(float(r["value"]) > 0 for r in steps)
    positions = [r for r in rows if r["cell"] == "rnn" and r["series"] == "init"]
    assert len(positions) >= 50  # the reverse preset's sources are 50-60 letters
    summary = read_json(out / "summary.json")
    assert [c["cell"] for c in summary["cells"]] == ["rnn", "gru"]
    assert summary["clipnorm"] == 1.0 and summary["steps"] == 3
    for name in ("positions.png", "steps.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    assert "| rnn |" in capsys.readouterr().out


def test_unknown_cell_is_a_usage_error(tmp_path, capsys):
    assert gradients.main(["--cells", "rnn,transformer", "--output", str(tmp_path)]) == 2
    assert "transformer" in capsys.readouterr().err


def test_a_run_folder_lends_its_config_and_tokenizers(artifacts, tmp_path):  # noqa: F811
    out = tmp_path / "from-run"
    args = ["--run", str(artifacts.run), "--cells", "lstm", "--steps", "2", "--batch-size", "4"]
    assert gradients.main([*args, "--output", str(out)]) == 0
    summary = read_json(out / "summary.json")
    assert summary["config"] == artifacts.config.name and summary["units"] == 32
    assert gradients.main(["--run", str(tmp_path / "nope"), "--output", str(out)]) == 2
