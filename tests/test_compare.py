"""``translator.compare`` prints a Markdown table of runs side by side."""

import json

from translator import compare
from translator.runs import RunPaths, write_json


def fake_run(root, name, variant, bleu, seconds, with_eval=True):
    paths = RunPaths(root / name)
    summary = {
        "variant": variant,
        "parameters": 5_160_000,
        "train_seconds": seconds,
        "epochs": 4,
        "partial_last_epoch": False,
        "best_val_perplexity": 7.345,
        "tokens_per_second": 1234.5,
    }
    write_json(paths.summary, summary)
    if with_eval:
        evaluation = {"perplexity": 8.0, "bleu": {"score": bleu}, "chrf": {"score": 50.0}}
        write_json(paths.eval_file("test"), evaluation)
    return paths.root


def test_compare_prints_a_markdown_table(tmp_path, capsys):
    a = fake_run(tmp_path, "gru-bahdanau", "gru-bahdanau", 31.234, 3725)
    b = fake_run(tmp_path, "lstm-sutskever", "lstm-sutskever", 18.5, 95, with_eval=False)
    assert compare.main([str(a), str(b)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| run | variant | params | train time | epochs")
    assert lines[1].startswith("|:---|:---|---:")
    assert lines[2] == (
        "| gru-bahdanau | gru-bahdanau | 5.16M | 1h02m | 4 | 7.34 | 8.00 | 31.23 | 50.00 | - "
        "| 1,234 |"
    )
    assert lines[3].startswith("| lstm-sutskever | lstm-sutskever | 5.16M | 1m35s | 4 |")
    assert lines[3].endswith("| - | - | - | - | 1,234 |")  # not evaluated yet


def test_compare_shows_rouge_for_summarizers(tmp_path, capsys):
    run = fake_run(tmp_path, "bbc-extractive", "gru-extractive", 40.0, 60)
    evaluation = RunPaths(run).eval_file("test")
    scores = {"rouge1_f1": 70.123, "rouge2_f1": 60.0, "rougeL_f1": 45.678}
    write_json(evaluation, {**json.loads(evaluation.read_text()), "rouge": scores})
    assert compare.main([str(run)]) == 0
    assert "| 70.12 / 60.00 / 45.68 | 1,234 |" in capsys.readouterr().out


def test_compare_rejects_a_folder_without_summary(tmp_path, capsys):
    assert compare.main([str(tmp_path)]) == 2
    assert "summary.json" in capsys.readouterr().err


def write_outputs(root, name, sources, hypotheses, references, history):
    """A run folder with saved test outputs and a learning-curve history."""
    paths = RunPaths(root / name)
    paths.eval.mkdir(parents=True, exist_ok=True)
    for suffix, lines in (
        (".src.txt", sources),
        (".hyp.txt", hypotheses),
        (".ref.txt", references),
    ):
        path = paths.eval_file("test", None, suffix)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    write_json(paths.eval_file("test"), {"bleu": {"score": 50.0}, "bleu_tokenize": "13a"})
    paths.history.write_text("".join(json.dumps(row) + "\n" for row in history), encoding="utf-8")
    return paths.root


def test_plot_draws_curves_and_bleu_by_length_with_known_scores(tmp_path, capsys):
    # 40 sentences of 2..41 words; run "short" gets the short half exactly right and
    # the long half wrong, run "all" gets everything right.
    sources = [" ".join(f"w{i}" for i in range(n)) for n in range(2, 42)]
    references = [f"the answer number {n} is here" for n in range(40)]
    wrong = ["zzz qqq"] * 40
    short = references[:20] + wrong[20:]
    history = [
        {"epoch": 0.5, "step": 10, "wall_seconds": 30.0, "val_perplexity": 20.0, "interim": True},
        {"epoch": 1, "step": 20, "wall_seconds": 60.0, "val_perplexity": 9.0, "loss": 3.0},
    ]
    fake_run(tmp_path, "short", "gru-cho", 50.0, 60)
    fake_run(tmp_path, "all", "gru-bahdanau", 50.0, 60)
    a = write_outputs(tmp_path, "short", sources, short, references, history)
    b = write_outputs(tmp_path, "all", sources, references, references, history[1:])

    assert compare.main([str(a), str(b), "--plot", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    # quartiles and the 90th/97th percentiles of 2..41 words: 12, 22, 32, 38, 41
    assert "| run | 0-12 (n=10) | 12-22 (n=10) | 22-32 (n=10) | 32-38 (n=6) |" in out
    assert "| short | 100.0 | 100.0 | 0.0 | 0.0 | 0.0 | 0.0 |" in out
    assert "| all | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 |" in out
    from PIL import Image

    for name in ("learning_curves.png", "bleu_by_length.png"):
        with Image.open(tmp_path / "plots" / name) as image:
            assert image.format == "PNG" and image.size[0] > 500


def test_quantile_edges_follow_the_length_distribution():
    sources = ["a"] * 50 + ["a b c d e"] * 40 + [" ".join("x" * 30)] * 10
    assert compare.quantile_edges(sources) == [0, 1, 5, 30]
