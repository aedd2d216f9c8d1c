"""An extractive summary as HTML: the article with the picked sentences highlighted.

The demo's Summarize tab shows an extractive model's output this way: every sentence
of the article in order, the picked ones marked with their pick order and pointer
probability (``data-rank`` / ``data-score`` attributes for scripts and tests), then
the pointer attention as a heatmap (:func:`translator.attention_html.attention_html`)
with one row per pick and one column per sentence (``S1``, ``S2``, ... hover a cell
for the sentence's opening words).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

from translator.attention_html import attention_html

_STYLE = """<style>
.extractive-summary p{margin:4px 0;line-height:1.45}
.extractive-summary mark{background:#ffe58a;padding:1px 2px;border-radius:3px}
.extractive-summary .rank{font-size:11px;font-weight:bold;background:#444;color:#fff;
 border-radius:8px;padding:0 5px;margin-right:3px}
.extractive-summary .score{font-size:11px;color:#555;margin-left:3px}
</style>"""


def extract_html(
    sentences: Sequence[str],
    picks: Sequence[int],
    scores: Sequence[float],
    weights: np.ndarray,
    title: str | None = None,
) -> str:
    """The article's ``sentences`` with ``picks`` (indices, in pick order) highlighted.

    Args:
        sentences: the sentences the model read.
        picks: the picked sentence indices, in the order they were picked.
        scores: the pointer probability of each pick.
        weights: ``[steps, len(sentences)]`` pointer distributions, one row per step
            (the picks, then the end when the summary ended).
        title: shown above the heatmap.
    """
    esc = html.escape
    rank = {index: (i + 1, score) for i, (index, score) in enumerate(zip(picks, scores))}
    parts = []
    for j, sentence in enumerate(sentences):
        if j in rank:
            order, score = rank[j]
            parts.append(
                f'<mark data-sentence="{j}" data-rank="{order}" data-score="{score:.4f}">'
                f'<span class="rank">{order}</span>{esc(sentence)}'
                f'<span class="score">p={score:.2f}</span></mark>'
            )
        else:
            parts.append(f'<span data-sentence="{j}">{esc(sentence)}</span>')
    article = (
        f'<div class="extractive-summary" data-picks="{len(picks)}"><p>{" ".join(parts)}</p></div>'
    )
    rows = [f"S{j + 1}" for j in picks]
    steps = min(len(weights), len(rows) + 1)
    rows = [*rows, "</s>"][:steps]
    columns = [f"S{j + 1}" for j in range(len(sentences))]
    heatmap = attention_html(columns, rows, np.asarray(weights)[:steps], title=title)
    return _STYLE + article + heatmap
