"""End to end: the ``dates`` preset trains through the real CLI and is evaluated by the
real evaluate CLI; the written scores agree with sacrebleu on the written files."""

import json
import math
import shutil
import time

import pytest
import sacrebleu

from translator import evaluate as evaluate_cli
from translator import train as train_cli
from translator.config import load_config
from translator.runs import RunPaths, read_json

# The dates preset on 6,000 training pairs for 3 epochs (~300 steps): a real learning
# test that takes well under a minute of training on two CPU cores.
DATES_OVERRIDES = [
    "data.train_limit=6000",
    "data.eval_limit=500",
    "train.epochs=3",
    "train.validation_bleu_sample=64",
]


@pytest.fixture(scope="module")
def dates_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "dates"
    args = ["--config", "dates", "--output", str(run), "--quiet"]
    for item in DATES_OVERRIDES:
        args += ["--set", item]
    start = time.monotonic()
    assert train_cli.main(args) == 0
    train_seconds = time.monotonic() - start
    assert evaluate_cli.main(["--run", str(run), "--lowercase", "--no-progress"]) == 0
    results = read_json(RunPaths(run).eval_file("test"))
    print(
        f"\ndates: exact match {100 * results['exact_match']:.1f}% on {results['sentences']} "
        f"test pairs; train CLI {train_seconds:.0f} s"
    )
    return run, results


def read_lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_dates_learns_to_90_percent_exact_match(dates_run):
    run, results = dates_run
    summary = read_json(RunPaths(run).summary)
    assert summary["epochs"] == 3 and summary["corpus"] == "dates"
    rows = [json.loads(line) for line in RunPaths(run).history.read_text().splitlines()]
    assert rows[-1]["val_bleu"] > rows[0]["val_bleu"]  # greedy BLEU on 64 validation pairs
    assert results["sentences"] == 500 and results["split"] == "test"
    assert results["exact_match"] >= 0.90
    assert results["variant"] == "gru-luong-general"
    assert results["sentences_per_second"] > 0 and results["decode_seconds"] > 0


def test_scores_equal_sacrebleu_on_the_written_files(dates_run):
    run, results = dates_run
    hyps = read_lines(RunPaths(run).eval_file("test", suffix=".hyp.txt"))
    refs = read_lines(RunPaths(run).eval_file("test", suffix=".ref.txt"))
    assert len(hyps) == len(refs) == results["sentences"]
    assert results["bleu"]["score"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert results["chrf"]["score"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    ter = sacrebleu.metrics.TER(case_sensitive=True).corpus_score(hyps, [refs]).score
    assert results["ter"]["score"] == pytest.approx(ter)
    assert "case:mixed" in results["bleu"]["signature"]
    assert "case:lc" in results["lowercase"]["bleu"]["signature"]
    exact = sum(h == r for h, r in zip(hyps, refs)) / len(refs)
    assert results["exact_match"] == pytest.approx(exact)
    # Perplexity is exp of the mean token NLL of the teacher-forced references.
    forced = results["teacher_forced"]
    assert forced["perplexity"] == pytest.approx(math.exp(forced["mean_nll"]), rel=1e-5)
    assert forced["pairs"] == 500 and forced["tokens"] == 500 * 11  # 10 chars + END
    buckets = results["bleu_by_length"]
    assert sum(b["sentences"] for b in buckets) == 500
    png = RunPaths(run).eval / results["files"]["bleu_by_length_plot"]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_overlong_sources_are_truncated_not_dropped_and_beam_search(dates_run, tmp_path):
    run, _ = dates_run
    copy = tmp_path / "short-sources"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("eval", "logs"))
    config = load_config(RunPaths(copy).config, ["data.max_source_length=14"])
    config.save(RunPaths(copy).config)
    args = ["--run", str(copy), "--limit", "60", "--beam", "3", "--tag", "beam3"]
    args += ["--length-penalty", "0.6"]
    assert evaluate_cli.main([*args, "--checkpoint", "final", "--no-progress"]) == 0
    results = read_json(RunPaths(copy).eval_file("test", "beam3"))
    assert results["decoding"]["strategy"] == "beam" and results["decoding"]["beam_size"] == 3
    assert results["decoding"]["length_penalty"] == 0.6
    hyps = read_lines(RunPaths(copy).eval_file("test", "beam3", ".hyp.txt"))
    sources = read_lines(RunPaths(copy).eval_file("test", "beam3", ".src.txt"))
    assert len(hyps) == len(sources) == results["sentences"] == 60
    assert results["truncated_sources"] > 0
    assert results["teacher_forced"]["skipped_pairs"] > 0  # perplexity: trained-length pairs


def test_evaluate_usage_errors_exit_2(tmp_path, capsys):
    assert evaluate_cli.main(["--run", str(tmp_path / "missing")]) == 2
    assert "missing does not exist" in capsys.readouterr().err
    assert evaluate_cli.main(["--run", str(tmp_path)]) == 2
    assert "not a run folder (no config.yaml)" in capsys.readouterr().err
    assert evaluate_cli.main(["--run", str(tmp_path), "--beam", "0"]) == 2
    assert evaluate_cli.main(["--run", str(tmp_path), "--length-penalty", "-1"]) == 2
    assert "--length-penalty must be >= 0" in capsys.readouterr().err


def test_summaries_are_scored_beside_the_validated_lead_and_the_oracle(data_dir, tmp_path, capsys):
    """A tiny bbc-summary run: evaluate reports ROUGE, the Lead chosen on validation
    and the extractive oracle on the same test pairs."""
    from translator import evaluate as evaluate_cli
    from translator import train as train_cli
    from translator.runs import RunPaths, read_json

    run = tmp_path / "bbc"
    settings = ["data.train_limit=64", "data.max_source_length=60", "data.max_target_length=20",
                "model.units=16", "model.embedding_dim=16", "model.attention_units=16",
                "train.epochs=1", "tokenizer.vocab_size=2000",
                "decode.max_length_b=20", "decode.beam_size=2"]  # fmt: skip
    args = ["--config", "bbc-summary", "--output", str(run), "--quiet"]
    assert train_cli.main([*args, *(f"--set={s}" for s in settings)]) == 0
    assert evaluate_cli.main(["--run", str(run), "--limit", "12", "--no-progress"]) == 0
    results = read_json(RunPaths(run).eval_file("test"))
    assert results["sentences"] == 12 and set(results["rouge"]) == {
        "rouge1_f1",
        "rouge2_f1",
        "rougeL_f1",
    }
    assert results["lead"]["chosen_on"] == "validation"
    assert results["lead"]["baseline"] == "lead-60%"
    assert results["oracle"]["rouge"]["rouge1_f1"] > results["lead"]["rouge"]["rouge1_f1"]
    assert "ter" not in results and "bleu" in results  # TER: minutes on long summaries
    out = capsys.readouterr().out
    assert "baseline lead-60% (chosen on validation)" in out and "extractive oracle" in out


def test_phrasebook_counts_the_right_translations(dates_run, tmp_path, capsys):
    """A phrasebook of 20 test dates with their known answers (and one with a wrong
    answer): the count agrees with the test split's own greedy outputs."""
    run, _ = dates_run
    sources = read_lines(RunPaths(run).eval_file("test", suffix=".src.txt"))[:20]
    refs = read_lines(RunPaths(run).eval_file("test", suffix=".ref.txt"))[:20]
    hyps = read_lines(RunPaths(run).eval_file("test", suffix=".hyp.txt"))[:20]
    lines = [f"{s}\t{r}" for s, r in zip(sources, refs)] + [f"{sources[0]}\t1999-99-99"]
    book = tmp_path / "dates.tsv"
    book.write_text("# known answers\n" + "\n".join(lines) + "\n", "utf-8")
    args = ["--run", str(run), "--phrasebook", str(book), "--beam", "1"]
    assert evaluate_cli.main(args) == 0
    printed = capsys.readouterr().out
    results = read_json(RunPaths(run).eval_file("phrasebook"))
    expected = sum(h == r for h, r in zip(hyps, refs))
    assert expected >= 16  # the model is right on most dates
    assert (results["right"], results["total"]) == (expected, 21)
    assert [row["output"] for row in results["rows"]] == [*hyps, hyps[0]]
    assert results["rows"][-1]["right"] is False
    assert printed.splitlines()[-1] == f"{expected}/21 right"
    bad = tmp_path / "bad.tsv"
    bad.write_text("no tab here\n", "utf-8")
    assert evaluate_cli.main(["--run", str(run), "--phrasebook", str(bad)]) == 2
    assert f"{bad}:1: expected" in capsys.readouterr().err
