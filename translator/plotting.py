"""Attention heatmaps: target pieces down, source pieces across, with a colour bar.

Used by the Gradio demo, the notebook and ``translate --plot``.  Figures are made
with matplotlib's object API (no pyplot state), so a caller that renders one and
drops it leaks nothing -- Gradio does not close figures for you.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

# Long sources (news articles) are cut to the span that gets the attention.
MAX_SOURCE_PIECES = 80


def label(piece: str) -> str:
    # SentencePiece marks word starts with U+2581; show it as a plain space.
    text = piece.replace("\u2581", " ").strip() or piece
    return text if len(text) <= 14 else text[:13] + "…"


def top_attended_span(weights: np.ndarray, width: int) -> tuple[int, int]:
    """The ``width``-long window of source positions that receives the most attention."""
    total = weights.sum(axis=0)
    if total.size <= width:
        return 0, total.size
    window = np.convolve(total, np.ones(width), mode="valid")
    start = int(window.argmax())
    return start, start + width


def attended_window(
    source_pieces: Sequence[str],
    target_pieces: Sequence[str],
    weights: np.ndarray,
    title: str | None,
    max_source: int = MAX_SOURCE_PIECES,
) -> tuple[list[str], np.ndarray, str | None]:
    """What a heatmap shows: ``(source pieces, weights [targets, shown], title)``.

    Sources longer than ``max_source`` pieces are cut to their most attended window,
    and the title says which positions are shown.
    """
    weights = np.asarray(weights, dtype=np.float32)
    weights = weights[: len(target_pieces), : len(source_pieces)]
    start, stop = top_attended_span(weights, max_source)
    if (start, stop) != (0, len(source_pieces)):
        note = f"source pieces {start + 1}-{stop} of {len(source_pieces)} (most attended)"
        title = f"{title} — {note}" if title else note
    return list(source_pieces[start:stop]), weights[:, start:stop], title


def attention_figure(
    source_pieces: Sequence[str],
    target_pieces: Sequence[str],
    weights: np.ndarray,
    title: str | None = None,
    max_source: int = MAX_SOURCE_PIECES,
) -> Figure:
    """Draws ``weights`` ``[len(target_pieces), len(source_pieces)]`` as a heatmap.

    Sources longer than ``max_source`` pieces are shown as their most attended
    window, and the title says which positions are shown.
    """
    shown, weights, title = attended_window(
        source_pieces, target_pieces, weights, title, max_source
    )

    x_labels = [label(p) for p in shown]
    y_labels = [label(p) for p in target_pieces]
    # Fixed margins sized from the labels: a constrained layout would draw twice.
    left = 0.5 + 0.075 * max((len(t) for t in y_labels), default=1)
    bottom = 0.6 + 0.075 * max((len(t) for t in x_labels), default=1)
    cells_w = 0.34 * max(len(shown), 1) + 1.2  # + colour bar
    cells_h = 0.3 * max(len(target_pieces), 1)
    # Quarter inches are exact in binary, so the PNG is exactly width * dpi pixels.
    width = min(math.ceil((left + cells_w + 0.8) * 4) / 4, 40)
    height = min(math.ceil((bottom + cells_h + 0.6) * 4) / 4, 30)
    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(
        left=left / width,
        bottom=bottom / height,
        right=1 - 0.8 / width,
        top=1 - 0.6 / height,
    )
    ax = fig.add_subplot()
    image = ax.imshow(
        weights, cmap="viridis", vmin=0.0, vmax=max(float(weights.max()), 1e-6), aspect="auto"
    )
    ax.set_xticks(range(len(shown)), x_labels, rotation=90, fontsize=9)
    ax.set_yticks(range(len(target_pieces)), y_labels, fontsize=9)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="attention weight")
    return fig


def save_attention_png(path: str, *args: object, **kwargs: object) -> None:
    """Writes :func:`attention_figure` to a PNG file."""
    fig = attention_figure(*args, **kwargs)  # type: ignore[arg-type]
    fig.savefig(path)
