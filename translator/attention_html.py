"""The attention heatmap as an HTML table that the browser draws with its own fonts.

A matplotlib PNG can only show the glyphs of the fonts on the machine that drew it,
and many servers have no CJK font: Chinese labels turn into empty boxes.  Here every
label is text in the page, so the viewer's fonts draw Chinese, Arabic (``dir="auto"``)
and emoji.  Each cell is coloured by its weight (viridis, as the PNG) and hovering it
shows the source piece, the output piece and the weight (the ``title`` attribute; the
same values are in ``data-*`` attributes for scripts and tests).

Used by the Gradio demo; :mod:`translator.plotting` keeps the PNG for files and the
notebook.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps

from translator.plotting import MAX_SOURCE_PIECES, attended_window, label

_STYLE = """<style>
.attention-heatmap{overflow-x:auto;font-size:13px;line-height:1.2}
.attention-heatmap table{border-collapse:collapse;margin:4px 0}
.attention-heatmap td{width:22px;min-width:22px;height:22px;padding:0;border:1px solid #fff2}
.attention-heatmap th{font-weight:normal;padding:2px 4px;white-space:nowrap}
.attention-heatmap th.source{writing-mode:vertical-rl;vertical-align:bottom;text-align:left}
.attention-heatmap th.output{text-align:right}
.attention-heatmap td:hover{outline:2px solid #f33}
.attention-heatmap .legend{display:flex;align-items:center;gap:6px;font-size:12px}
.attention-heatmap .bar{width:160px;height:10px;background:linear-gradient(90deg,%s)}
</style>"""


def _colour(value: float, vmax: float) -> str:
    r, g, b, _ = colormaps["viridis"](min(max(value / vmax, 0.0), 1.0))
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def attention_html(
    source_pieces: Sequence[str],
    target_pieces: Sequence[str],
    weights: np.ndarray,
    title: str | None = None,
    max_source: int = MAX_SOURCE_PIECES,
) -> str:
    """``weights`` ``[len(target_pieces), len(source_pieces)]`` as an HTML heatmap.

    Outputs run down, source pieces across; sources longer than ``max_source`` pieces
    show their most attended window, and the title says which positions.
    """
    shown, weights, title = attended_window(
        source_pieces, target_pieces, weights, title, max_source
    )
    vmax = max(float(weights.max(initial=0.0)), 1e-6)
    esc = html.escape

    head = "".join(f'<th class="source" dir="auto">{esc(label(p))}</th>' for p in shown)
    rows = []
    for i, output in enumerate(target_pieces):
        cells = []
        for j, source in enumerate(shown):
            w = float(weights[i, j])
            tip = f"source: {label(source)}\noutput: {label(output)}\nweight: {w:.3f}"
            cells.append(
                f'<td style="background:{_colour(w, vmax)}" title="{esc(tip)}" '
                f'data-source="{esc(source)}" data-output="{esc(output)}" '
                f'data-weight="{w:.4f}"></td>'
            )
        rows.append(
            f'<tr><th class="output" dir="auto">{esc(label(output))}</th>{"".join(cells)}</tr>'
        )
    stops = ",".join(_colour(v, 1.0) for v in np.linspace(0, 1, 6))
    return "".join(
        [
            _STYLE % stops,
            f'<div class="attention-heatmap" data-rows="{len(target_pieces)}" '
            f'data-columns="{len(shown)}">',
            f'<div class="title">{esc(title)}</div>' if title else "",
            f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>",
            '<div class="legend"><span>attention weight 0</span><span class="bar"></span>'
            f"<span>{vmax:.2f}</span><span>· outputs down, source across</span></div>",
            "</div>",
        ]
    )
