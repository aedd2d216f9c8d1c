"""Line charts of measurements: learning curves, BLEU by length, gradient norms.

Used by ``python -m translator.compare --plot`` and ``python -m translator.gradients``.
Figures use matplotlib's object API (no pyplot state) and are written as PNGs with
:func:`save`.  The attention heatmap lives in :mod:`translator.plotting`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure


def save(fig: Figure, path: str | Path) -> Path:
    """Writes ``fig`` as a PNG (parents created) and returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _validation_points(history: Sequence[dict[str, Any]], key: str) -> tuple[list, list, list]:
    rows = [row for row in history if row.get(key) is not None]
    return (
        [row["wall_seconds"] / 60.0 for row in rows],
        [row["step"] for row in rows],
        [row[key] for row in rows],
    )


def learning_curves_figure(histories: Mapping[str, Sequence[dict[str, Any]]]) -> Figure:
    """Validation perplexity against wall-clock minutes and against steps, one line per
    run (``metrics.jsonl`` rows, interim points included); a third panel shows
    validation BLEU where any run logged it."""
    with_bleu = any(row.get("val_bleu") is not None for h in histories.values() for row in h)
    panels = 3 if with_bleu else 2
    fig = Figure(figsize=(5.2 * panels, 4.2))
    axes = fig.subplots(1, panels)
    for name, history in histories.items():
        minutes, steps, ppl = _validation_points(history, "val_perplexity")
        axes[0].plot(minutes, ppl, marker=".", label=name)
        axes[1].plot(steps, ppl, marker=".", label=name)
        if with_bleu:
            minutes, _, scores = _validation_points(history, "val_bleu")
            axes[2].plot(minutes, scores, marker="o", label=name)
    for ax, xlabel in zip(axes, ("wall-clock minutes", "training steps")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("validation perplexity")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    if with_bleu:
        axes[2].set_xlabel("wall-clock minutes")
        axes[2].set_ylabel("validation BLEU (greedy sample)")
        axes[2].grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Learning curves")
    fig.tight_layout()
    return fig


def bleu_by_length_figure(
    runs: Mapping[str, Sequence[dict[str, Any]]], title: str = "BLEU by source length"
) -> Figure:
    """Test BLEU per source-length bucket, one line per run (:func:`translator.scoring.
    bleu_by_length` rows, the same buckets for every run); Bahdanau et al. (2015),
    Figure 2.  Empty buckets are gaps."""
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    for name, rows in runs.items():
        scores = [np.nan if row["bleu"] is None else row["bleu"] for row in rows]
        ax.plot(range(len(rows)), scores, marker="o", label=name)
    labels = [row["bucket"] for row in next(iter(runs.values()), [])]  # shared buckets
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel("source length (words)")
    ax.set_ylabel("BLEU")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def gradient_positions_figure(reports: Sequence[Any], task: str = "") -> Figure:
    """Mean ``||dL/dh_t||`` against source position on a log scale, one colour per cell:
    solid after training, dashed at initialization.

    ``reports``: :class:`~translator.gradient_flow.CellReport` objects.
    """
    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.add_subplot()
    for i, report in enumerate(reports):
        colour = f"C{i}"
        positions = np.arange(1, len(report.trained_positions) + 1)
        ax.plot(positions, report.trained_positions, color=colour, label=f"{report.cell} trained")
        ax.plot(positions, report.init_positions, color=colour, linestyle="--", alpha=0.7,
                label=f"{report.cell} at init")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("encoder position t")
    ax.set_ylabel("mean ||dL/dh_t||")
    ax.set_title(f"Gradient reaching each encoder position{' — ' + task if task else ''}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def gradient_steps_figure(reports: Sequence[Any], clipnorm: float | None) -> Figure:
    """The global gradient norm before clipping at every training step, one line per
    cell, with the clipping threshold drawn."""
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    for report in reports:
        ax.plot(np.arange(1, len(report.global_norm) + 1), report.global_norm, lw=1,
                label=report.cell)  # fmt: skip
    if clipnorm is not None:
        ax.axhline(clipnorm, color="black", linestyle=":", label=f"clipnorm {clipnorm:g}")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("global gradient norm (before clipping)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
