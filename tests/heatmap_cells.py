"""Reads an :func:`translator.attention_html.attention_html` table back (tests only)."""

from __future__ import annotations

from html.parser import HTMLParser


class HeatmapCells(HTMLParser):
    """Collects the title, the column and row labels and the cells' data attributes."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.columns: list[str] = []
        self.rows: list[str] = []
        self.cells: list[dict[str, str]] = []
        self.title = ""
        self._into: list[str] | None = None
        self._in_title = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "th" and attrs.get("class") in ("source", "output"):
            self._into = self.columns if attrs["class"] == "source" else self.rows
            self._into.append("")
        elif tag == "td":
            self.cells.append(attrs)
        elif tag == "div" and attrs.get("class") == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        self._into = None if tag == "th" else self._into
        self._in_title = False if tag == "div" else self._in_title

    def handle_data(self, data: str) -> None:
        if self._into is not None:
            self._into[-1] += data
        elif self._in_title:
            self.title += data
