"""The HTML attention heatmap: labels as text (any script), weights on hover."""

from __future__ import annotations

import numpy as np
from heatmap_cells import HeatmapCells

from translator.attention_html import attention_html
from translator.plotting import MAX_SOURCE_PIECES


def test_cells_carry_pieces_and_weights_in_order() -> None:
    source = ["▁我", "愛", "你", "。"]
    target = ["▁I", "▁love", "▁you", "."]
    weights = np.eye(4, dtype=np.float32) * 0.7 + 0.075
    page = HeatmapCells(attention_html(source, target, weights, title="cmn-en <model>"))
    assert page.columns == ["我", "愛", "你", "。"]  # text, not pixels; ▁ shown as a space
    assert page.rows == ["I", "love", "you", "."]
    assert page.title == "cmn-en <model>"  # escaped in the markup, text again here
    assert len(page.cells) == 16
    grid = np.array([float(c["data-weight"]) for c in page.cells]).reshape(4, 4)
    np.testing.assert_allclose(grid, weights, atol=1e-4)
    third = page.cells[1 * 4 + 2]  # output "love", source "你"
    assert third["data-output"] == "▁love" and third["data-source"] == "你"
    assert third["title"] == "source: 你\noutput: love\nweight: 0.075"
    # the strongest weight gets viridis' yellow end, zero its purple end
    assert page.cells[0]["style"] == "background:#fde725"


def test_arabic_emoji_and_markup_are_text() -> None:
    source = ["▁مرحبا", "▁😀", "<b>&"]
    page = HeatmapCells(attention_html(source, ["x"], np.array([[0.2, 0.3, 0.5]])))
    assert page.columns == ["مرحبا", "😀", "<b>&"]
    markup = attention_html(source, ["x"], np.array([[0.2, 0.3, 0.5]]))
    assert "<b>&" not in markup and 'dir="auto"' in markup


def test_long_sources_show_the_most_attended_window() -> None:
    n = MAX_SOURCE_PIECES + 40
    weights = np.zeros((2, n), np.float32)
    weights[:, n - 5] = 1.0
    page = HeatmapCells(attention_html([f"w{i}" for i in range(n)], ["a", "b"], weights))
    assert len(page.columns) == MAX_SOURCE_PIECES and f"w{n - 5}" in page.columns
    assert "(most attended)" in page.title and f"of {n}" in page.title
