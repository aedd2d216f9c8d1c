"""``translator.compare`` prints a Markdown table of runs side by side."""

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
        "| gru-bahdanau | gru-bahdanau | 5.16M | 1h02m | 4 | 7.34 | 8.00 | 31.23 | 50.00 | 1,234 |"
    )
    assert lines[3].startswith("| lstm-sutskever | lstm-sutskever | 5.16M | 1m35s | 4 |")
    assert lines[3].endswith("| - | - | - | 1,234 |")  # not evaluated yet


def test_compare_rejects_a_folder_without_summary(tmp_path, capsys):
    assert compare.main([str(tmp_path)]) == 2
    assert "summary.json" in capsys.readouterr().err
