"""The Gradio demo (translator.demo / app.py) over a tiny real export, through gradio_client.

The export is the session's tiny trained model from ``helpers.artifacts`` (a char
"reverse the letters" model, also used by the export tests), linked into a models
folder of its own so that only it is discovered.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from heatmap_cells import HeatmapCells
from helpers import (  # noqa: F401  (the session's tiny exports)
    COPY_MAX_SOURCE,
    MAX_SOURCE,
    artifacts,
    copy_artifacts,
)

from translator import demo as demo_module
from translator.config import DecodeConfig
from translator.demo import (
    EMPTY_MESSAGE,
    MAX_INPUT_CHARS,
    DecodeSettings,
    DemoApp,
    DemoError,
    clean_input,
    default_examples,
    discover_models,
)

TIMEOUT = 120  # seconds for one API call (the first one loads the model)
SENTENCE = "abc defg"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_export(artifacts, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """The session export, linked into a models folder of its own as ``reverse``."""
    link = tmp_path_factory.mktemp("models") / "reverse"
    link.symlink_to(artifacts.export, target_is_directory=True)
    return link


class Served:
    """A launched demo and a gradio_client connected to it."""

    def __init__(self, models_dir: Path) -> None:
        from gradio_client import Client

        self.app = DemoApp(models_dir)
        self.blocks = self.app.build()
        self.blocks.launch(
            prevent_thread_lock=True,
            server_name="127.0.0.1",
            server_port=free_port(),
            quiet=True,
        )
        self.client = Client(self.blocks.local_url, verbose=False, analytics_enabled=False)

    def call(self, *args: object, api_name: str = "/translate") -> tuple:
        return self.client.submit(*args, api_name=api_name).result(timeout=TIMEOUT)

    def close(self) -> None:
        self.client.close()
        self.blocks.close()


@pytest.fixture(scope="module")
def served(tiny_export: Path):
    server = Served(tiny_export.parent)
    yield server
    server.close()


# --------------------------------------------------------------------------- no server


def test_chinese_models_offer_simplified_and_traditional_examples() -> None:
    examples = default_examples({"source_lang": "zh", "task": "translation"})
    assert "你好。" in examples and "火車站在哪裡？" in examples  # Simplified, Traditional
    assert default_examples({"source_lang": "en"})[0] == "Hello."


def fake_export(root: Path, name: str, metadata: dict) -> Path:
    folder = root / name
    (folder / "assets").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    (folder / "assets" / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return folder


def test_discovery_labels_tasks_and_examples(tmp_path: Path) -> None:
    fake_export(
        tmp_path,
        "spa-en",
        {
            "task": "translation",
            "direction": "spa-en",
            "source_lang": "es",
            "target_lang": "en",
            "model": {"cell": "gru", "decoder": "bahdanau", "bidirectional": True},
            "evaluation": {
                "valid": {"bleu": {"score": 11.0}},
                "test": {"bleu": {"score": 23.44}, "exact_match": 0.5},
                "phrasebook": {"right": 30, "total": 39, "rows": []},
            },
            "examples": ["Hola.", {"source": "Buenos días."}],
        },
    )
    fake_export(
        tmp_path,
        "news",
        {
            "task": "summarization",
            "model": {"cell": "lstm", "decoder": "luong", "attention": "general"},
            "evaluation": {"test": {"rouge": {"rougeL_f1": 31.25}}},
        },
    )
    fake_export(tmp_path, ".news.staging", {"task": "translation"})  # export's staging dir
    (tmp_path / "not-an-export").mkdir()

    models = discover_models(tmp_path)
    assert list(models) == ["news", "spa-en"]
    spa = models["spa-en"]
    assert spa.task == "translation"
    assert spa.label == "spa-en · spa-en (es → en) · bi-GRU + Bahdanau · BLEU 23.4"
    assert spa.examples == ("Hola.", "Buenos días.")
    news = models["news"]
    assert news.task == "summarization"
    assert "LSTM + Luong (general)" in news.label and "ROUGE-L 31.2" in news.label
    assert news.examples  # defaults for summarization
    app = DemoApp(tmp_path)
    assert [m.name for m in app.models_for("summarization")] == ["news"]
    assert "exact match 50.0%" in app.describe("spa-en")
    assert "everyday phrases 30/39 right" in app.describe("spa-en")
    assert "everyday phrases" not in app.describe("news")
    assert all("path" not in entry for entry in app.list_models())
    with pytest.raises(DemoError, match="Unknown translation model"):
        app.resolve("translation", "../../etc")
    with pytest.raises(DemoError, match="Unknown translation model"):
        app.resolve("translation", "news")  # a summarization model


def test_clean_input_and_settings() -> None:
    assert clean_input("hola") == ("hola", [])
    text, notes = clean_input("a\ud800b")  # lone surrogate, as a JSON escape can give
    assert text == "a?b" and "invalid Unicode" in notes[0]
    text, notes = clean_input(b"caf\xe9")
    assert text == "caf\ufffd" and "UTF-8" in notes[0]
    text, notes = clean_input("x" * (MAX_INPUT_CHARS + 5))
    assert len(text) == MAX_INPUT_CHARS and f"{MAX_INPUT_CHARS:,}" in notes[0]
    assert clean_input(None) == ("", [])

    settings = DecodeSettings.from_request("beam", 99, -1, "nan", 0, -3)
    assert (settings.beam_size, settings.length_penalty, settings.n_best, settings.seed) == (
        16,
        0.0,
        1,
        0,
    )
    assert settings.temperature == 1.0
    with pytest.raises(DemoError, match="strategy"):
        DecodeSettings.from_request("astar", 1, 1, 1, 1, 0)


def test_settings_become_the_models_decode_config() -> None:
    defaults = DecodeConfig(strategy="beam", beam_size=4, length_penalty=0.6, top_k=5)
    sample = DecodeSettings.from_request("sample", 1, 1, 0.5, 2, 7)
    assert sample == DecodeSettings.from_request("sampling", 1, 1, 0.5, 2, 7)  # the page's label
    assert sample.strategy == "sample" and (sample.outputs, sample.seed) == (2, 7)
    assert sample.decode_config(defaults) == replace(defaults, strategy="sample", temperature=0.5)

    beam = DecodeSettings.from_request("beam", 8, 0.2, 1, 10, 3)
    assert beam.decode_config(defaults) == replace(defaults, beam_size=8, length_penalty=0.2)
    assert beam.outputs == 8  # n-best cut to the beam width
    narrow = DecodeSettings("beam", beam_size=1, length_penalty=0.2).decode_config(defaults)
    assert narrow == replace(defaults, strategy="greedy", length_penalty=0.2)  # width 1: greedy

    greedy = DecodeSettings.from_request("greedy", 8, 0.2, 0.5, 10, 3)
    assert greedy.decode_config(defaults) == replace(defaults, strategy="greedy")
    assert greedy.outputs == 1


# --------------------------------------------------------------------------- served


def test_translate_endpoint_matches_the_export(served: Served, tiny_export: Path) -> None:
    text, table, plot, notes = served.call(
        tiny_export.name, SENTENCE, "beam", 4, 1.0, 1.0, 3, 0, api_name="/translate"
    )
    exported = served.app.cache.get(tiny_export.name)  # what load_exported returned
    assert type(exported).__name__ == "ExportedTranslator"
    expected = exported.translate(
        [SENTENCE], beam_size=4, length_penalty=1.0, n_best=3, temperature=0.0
    )
    assert text == expected["translations"][0, 0] and text
    assert table["headers"] == ["rank", "output", "score", "log-prob", "tokens"]
    assert [row[0] for row in table["data"]] == [1, 2, 3]
    assert [row[1] for row in table["data"]] == list(expected["translations"][0])
    np.testing.assert_allclose(
        [row[2] for row in table["data"]], expected["scores"][0], rtol=1e-3, atol=1e-3
    )
    assert [row[4] for row in table["data"]] == list(expected["target_lengths"][0])
    assert f"{tiny_export.name} · beam 4" in notes

    # The heatmap: an HTML table of these pieces (target down, source across) and weights.
    source = list(expected["source_pieces"][0, : expected["source_lengths"][0]])
    target = list(expected["target_pieces"][0, 0, : expected["target_lengths"][0, 0]])
    assert len(source) == len(SENTENCE)  # one piece per character
    page = HeatmapCells(plot)
    assert len(page.columns) == len(source) and len(page.rows) == len(target)
    assert [c["data-source"] for c in page.cells[: len(source)]] == source
    weights = np.array([float(c["data-weight"]) for c in page.cells])
    np.testing.assert_allclose(
        weights.reshape(len(target), len(source)),
        expected["attention"][0, 0][: len(target), : len(source)],
        atol=2e-4,
    )


def test_greedy_sampling_and_limits(served: Served, tiny_export: Path) -> None:
    name = tiny_export.name
    _, table, _, notes = served.call(name, SENTENCE, "greedy", 4, 1.0, 1.0, 3, 0)
    assert len(table["data"]) == 1 and "greedy" in notes  # greedy: one output

    first = served.call(name, SENTENCE, "sampling", 1, 1.0, 0.8, 4, 11)  # the page's label
    again = served.call(name, SENTENCE, "sample", 1, 1.0, 0.8, 4, 11)  # the canonical name
    assert len(first[1]["data"]) == 4 and first[:2] == again[:2]  # seeded
    scores = [row[2] for row in first[1]["data"]]
    assert scores == sorted(scores, reverse=True) and first[0] == first[1]["data"][0][1]

    long_input = "abcdefgh" * 3  # 24 characters > max_source_length
    _, _, plot, notes = served.call(name, long_input, "greedy", 1, 1.0, 1.0, 1, 0)
    assert "truncated" in notes and f"{MAX_SOURCE} tokens" in notes and plot is not None

    huge = "a" * (MAX_INPUT_CHARS + 1000)
    _, _, _, notes = served.call(name, huge, "greedy", 1, 1.0, 1.0, 1, 0)
    assert "only the first 20,000 were used" in notes

    models = served.client.predict(api_name="/models")
    assert models[0]["name"] == name and models[0]["task"] == "translation"
    assert models[0]["label"].endswith("bi-GRU + Luong (general) · BLEU 42.0")


def test_empty_input_and_bad_model_give_clear_messages(served: Served, tiny_export: Path) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="The input is empty"):
        served.call(tiny_export.name, "   ", "beam", 4, 1.0, 1.0, 3, 0)
    assert EMPTY_MESSAGE.startswith("The input is empty")
    with pytest.raises(AppError, match="not in the list of choices"):
        served.call("/etc/passwd", SENTENCE, "beam", 4, 1.0, 1.0, 3, 0)
    with pytest.raises(AppError, match="No summarization model found"):
        served.call(None, "Some news.", "beam", 4, 1.0, 1.0, 3, 0, api_name="/summarize")


def test_no_models_folder_gives_the_command(tmp_path: Path) -> None:
    from gradio_client.exceptions import AppError

    server = Served(tmp_path / "missing")
    try:
        with pytest.raises(AppError, match="No exported model found") as info:
            server.call(None, SENTENCE, "beam", 4, 1.0, 1.0, 3, 0)
        assert "python -m translator.export --run runs/dates" in str(info.value)
        assert server.client.predict(api_name="/models") == []
    finally:
        server.close()


def test_page_shows_sampling_and_accepts_both_names(tmp_path: Path) -> None:
    blocks = DemoApp(tmp_path).build()
    radios = [b for b in blocks.blocks.values() if b.get_block_name() == "radio"]
    assert len(radios) == 2  # one per tab
    for radio in radios:
        assert [tuple(c) for c in radio.choices] == [
            ("greedy", "greedy"),
            ("beam", "beam"),
            ("sampling", "sample"),  # (label, value): shown as "sampling"
        ]
        assert radio.preprocess("sampling") == radio.preprocess("sample") == "sample"


def test_main_reports_port_in_use(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = demo_module.main(["--models", str(tmp_path), "--port", str(port)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "No exported model" in err


# --------------------------------------------------------------------------- summarizer


@pytest.fixture(scope="module")
def summarizer(copy_artifacts, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """The copy-task pointer-generator, exported with ``task: summarization``, served."""
    root = tmp_path_factory.mktemp("summarizers")
    (root / "names").symlink_to(copy_artifacts.export, target_is_directory=True)
    server = Served(root)
    yield server, copy_artifacts
    server.close()


def test_summarize_tab_copies_and_shows_the_most_attended_span(summarizer) -> None:
    from translator.plotting import MAX_SOURCE_PIECES

    server, copy = summarizer
    assert [m["task"] for m in server.client.predict(api_name="/models")] == ["summarization"]

    source, name = copy.test[0]
    article = f"{source} " + " ".join(["hello"] * 100)  # ~105 words: longer than the plot
    text, table, plot, notes = server.call(
        "names", article, "greedy", 1, 1.0, 1.0, 1, 0, api_name="/summarize"
    )
    exported = server.app.cache.get("names")
    expected = exported.translate([article], beam_size=1, temperature=0.0, n_best=1)
    assert text == expected["translations"][0, 0] == name  # an unseen word, copied
    assert [row[1] for row in table["data"]] == [name]
    assert "truncated" not in notes

    # Long sources: the heatmap shows the most attended window, and says so.
    pieces = list(expected["source_pieces"][0, : expected["source_lengths"][0]])
    target = list(expected["target_pieces"][0, 0, : expected["target_lengths"][0, 0]])
    assert len(pieces) > MAX_SOURCE_PIECES
    page = HeatmapCells(plot)
    assert "(most attended)" in page.title and len(page.columns) == MAX_SOURCE_PIECES
    assert len(page.rows) == len(target)

    # Longer than the model's limit: summarized from the first tokens, and reported.
    _, _, _, notes = server.call(
        "names", article * 2, "beam", 3, 1.0, 1.0, 2, 0, api_name="/summarize"
    )
    assert f"limit of {COPY_MAX_SOURCE} tokens" in notes and "summarized" in notes
