"""The phrasebook: file format, errors that name file and line, matching, and the
project's spa-en list checked against the real corpus."""

from pathlib import Path

import pytest

from translator.phrasebook import (
    Phrase,
    PhrasebookError,
    format_phrasebook,
    normalize,
    read_phrasebook,
    score_phrasebook,
)

EVERYDAY = Path(__file__).parent / "data" / "spa-en-everyday.tsv"


def test_normalize_ignores_case_spaces_and_end_punctuation():
    assert normalize("  Hello! ") == normalize("hello.") == "hello"
    assert normalize("¿Qué  hora es?") == "qué hora es"
    assert normalize("I'm sorry.") != normalize("I am sorry.")  # words still count


def test_read_splits_corpus_and_added_translations(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("# greetings\n\nHola.\tHi. | Hello! + Hello there.\nSí.\tYes.\n", "utf-8")
    phrases = read_phrasebook(path)
    assert phrases == [
        Phrase("Hola.", ("Hi.", "Hello!"), ("Hello there.",)),
        Phrase("Sí.", ("Yes.",)),
    ]
    assert phrases[0].matches("hello.") and phrases[0].matches("Hello there!")
    assert not phrases[0].matches("You're coming.")


@pytest.mark.parametrize(
    "text, message",
    [
        ("Hola.\tHi.\nBroken line without a tab\n", ":2: expected"),
        ("Hola.\t + \n", ":1: no accepted translation"),
        ("\tHi.\n", ":1: expected"),
        ("# only a comment\n", "no phrases"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text, "utf-8")
    with pytest.raises(PhrasebookError, match=message) as err:
        read_phrasebook(path)
    assert str(path) in str(err.value)


def test_non_utf8_and_missing_files_are_clear_errors(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("Adiós.\tGoodbye.\n".encode("latin-1"))
    with pytest.raises(PhrasebookError, match="not UTF-8"):
        read_phrasebook(path)
    with pytest.raises(PhrasebookError, match="no such phrasebook"):
        read_phrasebook(tmp_path / "missing.tsv")


def test_score_counts_and_formats():
    phrases = [Phrase("Hola.", ("Hi.",)), Phrase("Gracias.", ("Thanks.", "Thank you."))]
    result = score_phrasebook(phrases, ["hi", "You're coming."])
    assert (result["right"], result["total"]) == (1, 2)
    assert [row["right"] for row in result["rows"]] == [True, False]
    assert format_phrasebook(result).splitlines()[-1] == "1/2 right"
    with pytest.raises(ValueError):
        score_phrasebook(phrases, ["hi"])  # one output per phrase


def test_everyday_list_is_in_the_training_split_with_its_corpus_references(data_dir):
    """Every sentence of the project's list is in spa-en's training split, and every
    translation before '+' is one the corpus gives for it."""
    from translator.config import load_config
    from translator.data import load_splits_from_config

    phrases = read_phrasebook(EVERYDAY)
    assert len(phrases) >= 35
    splits = load_splits_from_config(load_config("spa-en"))
    references: dict[str, set] = {}
    for source, target in splits.train:
        references.setdefault(source, set()).add(target)
    for phrase in phrases:
        assert phrase.source in references, phrase.source
        assert set(phrase.accepted) <= references[phrase.source], phrase.source


@pytest.mark.slow
def test_quick_demo_model_on_the_everyday_sentences(data_dir, tmp_path):
    """make demo's model as make demo trains it (spa-en-quick within its own 9.5-minute
    budget) reaches issue #14's 40 test BLEU (greedy) and, decoding as the demo does
    (the preset's beam search), gets most everyday sentences right.

    On 2026-12-04's idle 2-core AVX-512 machine it took 9,532-9,725 steps to 47.4-48.1
    BLEU and 27-29/39 with beam search; with short pairs twice per epoch (the preset
    since 2026-12-05) 47.1 BLEU and 35/39, and with the half-width encoder and bfloat16
    output layer 14,151 steps, 48.0 BLEU and 35/39 (this test: 14,428, 48.6, 36/39;
    README, Short everyday sentences, and Half-width encoder directions).  A budget
    measures the machine too: a slow 2-core AVX2 machine fits ~3,900 steps (35.8 BLEU),
    so below 6,000 steps (a guess between the two) the test reports an expected
    failure, not a defect.
    """
    from translator import evaluate as evaluate_cli
    from translator import train as train_cli
    from translator.runs import RunPaths, read_json

    run = tmp_path / "quick"
    assert train_cli.main(["--config", "spa-en-quick", "--output", str(run), "--quiet"]) == 0
    summary = read_json(RunPaths(run).summary)
    budget = 60 * summary["time_budget_minutes"]  # the preset's own
    assert summary["stopped_by"] == "time_budget"
    assert summary["session_seconds"] < budget + 30  # the final checkpoint's seconds
    assert evaluate_cli.main(["--run", str(run), "--phrasebook", str(EVERYDAY)]) == 0
    book = read_json(RunPaths(run).eval_file("phrasebook"))
    assert evaluate_cli.main(["--run", str(run), "--beam", "1", "--no-progress"]) == 0
    bleu = read_json(RunPaths(run).eval_file("test"))["bleu"]["score"]
    assert book["decoding"]["strategy"] == "beam"  # the preset's, as in the demo
    steps = summary["steps"]
    right = f"{book['right']}/{book['total']}"
    print(f"\nspa-en-quick: {steps} steps, {right} everyday sentences, BLEU {bleu:.1f}")
    if steps < 6000:
        pytest.xfail(f"{steps} steps in {budget:.0f} s: too slow a machine for 40 BLEU (README)")
    assert book["right"] >= 30  # 27-29 without the repeated short pairs
    assert bleu >= 40.0
