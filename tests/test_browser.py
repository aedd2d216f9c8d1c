"""The demo page in a real browser: Debian's headless chromium driven by Playwright.

Nothing is downloaded: Playwright's own browsers are never installed; the test uses
``/usr/bin/chromium`` (CI installs it with apt) and skips with a reason without it.
Set ``DEMO_SCREENSHOT_DIR`` to keep the screenshot somewhere other than tmp_path.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from helpers import artifacts  # noqa: F401  (the session's tiny trained export)

from translator.demo import DemoApp

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


def test_translate_in_the_browser(artifacts, tmp_path: Path) -> None:  # noqa: F811
    sync_api = pytest.importorskip("playwright.sync_api")
    models = tmp_path / "models"
    models.mkdir()
    (models / "reverse").symlink_to(artifacts.export, target_is_directory=True)
    blocks = DemoApp(models).build()
    blocks.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True
    )
    shots = Path(os.environ.get("DEMO_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
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
                box = page.locator("#translation-input textarea")
                box.fill(SENTENCE)
                page.locator("#translation-button").click()
                output = page.locator("#translation-output textarea")
                page.wait_for_function(
                    "() => { const t = document.querySelector('#translation-output textarea');"
                    " return t && t.value.length > 0; }"
                )
                heatmap = page.locator("#translation-heatmap img")
                heatmap.wait_for(state="visible")
                text = output.input_value()
                assert text  # what the model says; test_app checks it against the export
                assert heatmap.evaluate("img => img.naturalWidth") > 300
                assert page.locator("#translation-nbest").get_by_text(text).count() >= 1
                assert "reverse" in page.locator("#translation-notes").inner_text()
                page.screenshot(path=str(shots / "demo.png"), full_page=True)
            finally:
                browser.close()
    finally:
        blocks.close()
    assert (shots / "demo.png").stat().st_size > 10_000
