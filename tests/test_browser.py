"""The demo page in a real browser: Debian's headless chromium driven by Playwright.

Nothing is downloaded: Playwright's own browsers are never installed; the test uses
``/usr/bin/chromium`` (CI installs it with apt) and skips with a reason without it.
Set ``DEMO_SCREENSHOT_DIR`` to keep the screenshot somewhere other than tmp_path.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from helpers import (  # noqa: F401  (the session's tiny exports)
    artifacts,
    chinese_artifacts,
    extractive_artifacts,
    marker_pairs,
)

from translator.demo import DemoApp
from translator.demo.catalog import TASK_TABS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SENTENCE = "abc defg"  # the tiny model reverses letters

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason=f"{CHROMIUM} is absent (apt install chromium)"
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def browser_page(export: Path, name: str, tmp_path: Path):
    """The demo serving ``export`` as ``name``, open in headless chromium."""
    sync_api = pytest.importorskip("playwright.sync_api")
    models = tmp_path / "models"
    models.mkdir()
    (models / name).symlink_to(export, target_is_directory=True)
    blocks = DemoApp(models).build()
    blocks.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True
    )
    try:
        with sync_api.sync_playwright() as p:
            # A persistent context gets the fresh profile folder (Playwright refuses
            # --user-data-dir in args).
            browser = p.chromium.launch_persistent_context(
                str(tmp_path / "profile"),
                executable_path=str(CHROMIUM),
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": 1400, "height": 1300},
                timeout=60_000,
            )
            try:
                page = browser.new_page()
                page.set_default_timeout(60_000)
                page.goto(blocks.local_url, wait_until="domcontentloaded")
                yield page
            finally:
                browser.close()
    finally:
        blocks.close()


def translate(page, sentence: str) -> str:
    """Types ``sentence``, presses the button, waits for the output and the heatmap."""
    page.locator("#translation-input textarea").fill(sentence)
    page.locator("#translation-button").click()
    page.wait_for_function(
        "() => { const t = document.querySelector('#translation-output textarea');"
        " return t && t.value.length > 0; }"
    )
    page.locator("#translation-heatmap .attention-heatmap").wait_for(state="visible")
    return page.locator("#translation-output textarea").input_value()


def screenshots(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("DEMO_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def test_translate_in_the_browser(artifacts, tmp_path: Path) -> None:  # noqa: F811
    shots = screenshots(tmp_path)
    with browser_page(artifacts.export, "reverse", tmp_path) as page:
        text = translate(page, SENTENCE)
        assert text  # what the model says; test_app checks it against the export
        heatmap = page.locator("#translation-heatmap .attention-heatmap")
        assert heatmap.locator("th.source").count() == len(SENTENCE)
        assert heatmap.locator("td").count() >= len(SENTENCE)
        assert page.locator("#translation-nbest").get_by_text(text).count() >= 1
        assert "reverse" in page.locator("#translation-notes").inner_text()
        page.screenshot(path=str(shots / "demo.png"), full_page=True)
    assert (shots / "demo.png").stat().st_size > 10_000


def test_chinese_heatmap_labels_are_text(chinese_artifacts, tmp_path: Path) -> None:  # noqa: F811
    """Chinese input (Simplified and Traditional, full-width punctuation, no spaces):
    the heatmap's labels arrive as text the browser draws, and hovering a cell names
    its source piece, output piece and weight."""
    shots = screenshots(tmp_path)
    sentence = "我爱你，愛國。"
    with browser_page(chinese_artifacts.export, "reverse-zh", tmp_path) as page:
        text = translate(page, sentence)
        heatmap = page.locator("#translation-heatmap .attention-heatmap")
        assert heatmap.locator("img, canvas, svg").count() == 0  # not a picture
        columns = heatmap.locator("th.source").all_inner_texts()
        assert [c.strip() for c in columns] == list(sentence)
        rows = [r.strip() for r in heatmap.locator("th.output").all_inner_texts()]
        assert "".join(rows[:-1]) == text.replace(" ", "") and rows[-1] == "</s>"
        cell = heatmap.locator("td").first
        cell.hover()
        tip = cell.get_attribute("title")
        assert tip.startswith(f"source: {sentence[0]}\noutput: {rows[0]}\nweight: ")
        page.screenshot(path=str(shots / "demo-zh.png"), full_page=True)
    assert (shots / "demo-zh.png").stat().st_size > 10_000


def test_summarize_tab_highlights_the_extracted_sentences(extractive_artifacts, tmp_path: Path):  # noqa: F811
    """An extractive export in the Summarize tab: the article with the picked sentences
    highlighted in pick order with their scores, and the pointer heatmap."""
    shots = screenshots(tmp_path)
    article, summary = marker_pairs(1, 123)[0]
    with browser_page(extractive_artifacts.export, "marker-extractive", tmp_path) as page:
        page.get_by_role("tab", name=TASK_TABS["summarization"]).click()
        page.locator("#summarization-input textarea").fill(article)
        page.locator("#summarization-button").click()
        page.locator("#summarization-heatmap .extractive-summary").wait_for(state="visible")
        text = page.locator("#summarization-output textarea").input_value()
        assert text == summary  # the marker sentences: the model learned the task
        marks = page.locator("#summarization-heatmap .extractive-summary mark")
        picked = [m.get_attribute("data-rank") for m in marks.all()]
        assert sorted(picked) == [str(i) for i in range(1, len(picked) + 1)]
        for mark in marks.all():
            assert "zebra" in mark.inner_text().lower()
            assert 0 < float(mark.get_attribute("data-score")) <= 1
        sentences = page.locator("#summarization-heatmap .extractive-summary [data-sentence]")
        assert sentences.count() == article.count(".")
        heatmap = page.locator("#summarization-heatmap .attention-heatmap")
        assert heatmap.locator("th.source").count() == sentences.count()
        assert heatmap.locator("th.output").count() == len(picked) + 1  # picks, then </s>
        page.screenshot(path=str(shots / "demo-extractive.png"), full_page=True)
    assert (shots / "demo-extractive.png").stat().st_size > 10_000
