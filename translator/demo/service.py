"""The request service: validating a request and answering it with an exported model.

:class:`DecodeSettings` checks and clamps what the page or an API client sent (an
unknown strategy is refused; out-of-range numbers are clamped, unreadable ones take the
default, and the notes say so) and turns it into the model's
:class:`~translator.config.DecodeConfig` with :func:`translator.inference.resolve_decode`,
the one mapping from user choices to decode settings.  :class:`DemoService` finds the
model a request names (only names found at startup, never a path), runs it and returns
a :class:`DemoResult`: the best output, the n-best rows, the attention heatmap as
HTML (:func:`translator.attention_html.attention_html`: the browser's fonts draw every
script; for an extractive model the article with its picked sentences highlighted,
:func:`translator.extract_html.extract_html`), and notes.  Errors the user can fix
raise :class:`DemoError` with a message that says what to do.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from translator.attention_html import attention_html
from translator.config import STRATEGIES, DecodeConfig
from translator.demo.catalog import ModelCache, ModelInfo, describe_model, discover_models
from translator.extract_html import extract_html

_LOG = logging.getLogger(__name__)

#: Inputs longer than this (in characters) are cut before tokenization.
MAX_INPUT_CHARS = 20_000
MAX_BEAM = 16
MAX_N_BEST = 10
#: What the page shows for each strategy (:data:`translator.config.STRATEGIES`).
STRATEGY_LABELS = {"greedy": "greedy", "beam": "beam", "sample": "sampling"}
#: Other names requests may use: the page's label, as older API clients send it.
STRATEGY_ALIASES = {"sampling": "sample"}
NBEST_HEADERS = ["rank", "output", "score", "log-prob", "tokens"]
#: The settings each strategy uses (the others are ignored, and not reported when wrong).
STRATEGY_SETTINGS = {
    "greedy": frozenset(),
    "beam": frozenset({"beam_size", "length_penalty", "n_best"}),
    "sample": frozenset({"temperature", "n_best", "seed"}),
}
#: How the notes name each setting.
SETTING_LABELS = {
    "beam_size": "Beam width",
    "length_penalty": "Length penalty",
    "temperature": "Temperature",
    "n_best": "n-best",
    "seed": "Seed",
}

#: What to run when there is no export (``{root}``: the models folder).
MAKE_MODEL_COMMANDS = (
    "python -m translator.train --config dates --output runs/dates",
    "python -m translator.export --run runs/dates --out {root}/dates",
    "python app.py --models {root}",
)
NO_MODEL_MESSAGE = (
    "No exported model found under {root}. Train and export one, then restart the demo:"
)
NO_MODEL_HINT = "make dates-demo does all three; make demo trains the Spanish-English model."
NO_TASK_MESSAGE = (
    "No {task} model found under {root}. Export a run whose config has task: {task} "
    "(python -m translator.export --run runs/<name> --out {root}/<name>) and restart the demo."
)
EMPTY_MESSAGE = "The input is empty: type or paste some text first (or click an example)."
NOT_UTF8_NOTE = "The input was not valid UTF-8; undecodable bytes were replaced by �."


def canonical_strategy(name: Any, default: str = "beam") -> str | None:
    """``name`` as one of :data:`STRATEGIES` (``sampling`` -> ``sample``; empty ->
    ``default``), or None when it names no strategy."""
    strategy = str(name or default).strip().lower()
    strategy = STRATEGY_ALIASES.get(strategy, strategy)
    return strategy if strategy in STRATEGIES else None


def _number(value: float) -> str:
    """``16``, ``0.05``, ``2147483647``, ``1e+308``: a number for a message."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}"


def _shown(value: Any) -> str:
    """A request value for a message: its repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class DemoError(ValueError):
    """A request the demo cannot serve; the message says what to do."""


def clean_input(text: Any, limit: int = MAX_INPUT_CHARS) -> tuple[str, list[str]]:
    """Makes page/API input safe to tokenize: valid UTF-8 and at most ``limit`` characters.

    Returns:
        ``(text, notes)``; notes say what was changed.
    """
    notes: list[str] = []
    if text is None:
        text = ""
    if isinstance(text, bytes):
        decoded = text.decode("utf-8", errors="replace")
        if decoded.encode("utf-8") != text:
            notes.append(NOT_UTF8_NOTE)
        text = decoded
    text = str(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:  # undecodable bytes as U+DC80-U+DCFF (surrogateescape; the HTTP guard's escapes)
            raw = text.encode("utf-8", errors="surrogateescape")
        except UnicodeEncodeError:  # other lone surrogates, from JSON escapes
            notes.append("The input held invalid Unicode characters; they were replaced by ?.")
            text = text.encode("utf-8", errors="replace").decode("utf-8")
        else:
            notes.append(NOT_UTF8_NOTE)
            text = raw.decode("utf-8", errors="replace")
    if len(text) > limit:
        notes.append(f"The input had {len(text):,} characters; only the first {limit:,} were used.")
        text = text[:limit]
    return text, notes


@dataclass(frozen=True)
class DecodeSettings:
    """Decoding options checked and clamped to the ranges the page offers.

    ``strategy`` is one of :data:`translator.config.STRATEGIES` (``sample``, not the
    page's label ``sampling``).
    """

    strategy: str = "beam"
    beam_size: int = 5
    length_penalty: float = 1.0
    temperature: float = 1.0
    n_best: int = 3
    seed: int = 0
    #: What :meth:`from_request` changed (out-of-range or unreadable values), for the notes.
    notes: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def from_request(
        cls,
        strategy: Any,
        beam_size: Any,
        length_penalty: Any,
        temperature: Any,
        n_best: Any,
        seed: Any,
    ) -> DecodeSettings:
        """Validates raw values (from the page or an API client).

        Out-of-range numbers are clamped and unreadable ones (text, NaN, infinity)
        take the default; for the settings the strategy uses, :attr:`notes` says so.
        Missing values (None, "") take the default silently.
        """
        name = canonical_strategy(strategy)
        if name is None:
            shown = str(strategy or "beam").strip().lower()[:40]
            choices = tuple(STRATEGY_LABELS.values())
            raise DemoError(f"Unknown decoding strategy {shown!r}: choose one of {choices}.")
        used = STRATEGY_SETTINGS[name]
        notes: list[str] = []

        def number(key: str, value: Any, default: float, lo: float, hi: float) -> float:
            if value is None or (isinstance(value, str) and not value.strip()):
                return default
            label = SETTING_LABELS[key]
            try:
                read = float(value)
            except (TypeError, ValueError, OverflowError):
                read = math.nan
            if not math.isfinite(read):
                if key in used:
                    shown = _shown(value)
                    notes.append(f"{label} {shown} is not a number: {default:g} was used.")
                return default
            clamped = min(max(read, lo), hi)
            if clamped != read and key in used:
                span = f"{_number(lo)}-{_number(hi)}"
                notes.append(
                    f"{label} {_number(read)} is outside {span}: {_number(clamped)} was used."
                )
            return clamped

        return cls(
            strategy=name,
            beam_size=int(number("beam_size", beam_size, 5, 1, MAX_BEAM)),
            length_penalty=number("length_penalty", length_penalty, 1.0, 0.0, 2.0),
            temperature=number("temperature", temperature, 1.0, 0.05, 2.0),
            n_best=int(number("n_best", n_best, 1, 1, MAX_N_BEST)),
            seed=int(number("seed", seed, 0, 0, 2**31 - 1)),
            notes=tuple(notes),
        )

    def decode_config(self, defaults: DecodeConfig) -> DecodeConfig:
        """The model's decode settings ``defaults`` with this request's choices applied
        by :func:`translator.inference.resolve_decode` (a beam of width 1 is greedy)."""
        from translator.inference import resolve_decode  # imports TensorFlow

        if self.strategy == "sample":
            return resolve_decode(defaults, strategy="sample", temperature=self.temperature)
        if self.strategy == "beam":
            return resolve_decode(
                defaults,
                strategy="beam",
                beam_size=self.beam_size,
                length_penalty=self.length_penalty,
            )
        return resolve_decode(defaults, strategy="greedy")

    @property
    def outputs(self) -> int:
        """The ``n_best`` to ask for: 1 (greedy), at most the beam width (beam), or
        ``n_best`` samples."""
        if self.strategy == "greedy":
            return 1
        if self.strategy == "beam":
            return min(self.n_best, self.beam_size)
        return self.n_best

    def describe(self) -> str:
        """The settings in words (the notes' last line)."""
        if self.strategy == "greedy":
            return "greedy"
        if self.strategy == "beam":
            return f"beam {self.beam_size}, length penalty {self.length_penalty:g}"
        return f"sampling, temperature {self.temperature:g}, seed {self.seed}"


@dataclass
class DemoResult:
    """One request's outputs (JSON-friendly)."""

    text: str
    rows: list[list[Any]]
    heatmap_html: str | None
    notes: list[str]


def _piece_list(row: np.ndarray, length: int) -> list[str]:
    return [str(p) for p in row[: max(int(length), 0)]]


class DemoService:
    """The demo's state (discovered models, the model cache) and its request handler.

    Args:
        models_dir: where the exports are (``exports/``); read once, here.
        cache: a :class:`~translator.demo.catalog.ModelCache` to use (default: one
            over the discovered models).
    """

    def __init__(self, models_dir: str | Path = "exports", cache: ModelCache | None = None) -> None:
        self.models_dir = Path(models_dir)
        self.cache = cache if cache is not None else ModelCache(discover_models(self.models_dir))

    @property
    def models(self) -> dict[str, ModelInfo]:
        """Every model found at startup, by name."""
        return self.cache.models

    def models_for(self, task: str) -> list[ModelInfo]:
        """The models of one task (``translation`` or ``summarization``)."""
        return [info for info in self.models.values() if info.task == task]

    def no_model_message(self, task: str | None = None, markdown: bool = False) -> str:
        """What to do when there is no model (for ``task``): the commands that make one.

        Plain text (error toasts, API errors, the console) unless ``markdown``.
        """
        root = str(self.models_dir).rstrip("/") or "."
        if self.models and task is not None:
            return NO_TASK_MESSAGE.format(task=task, root=root)
        commands = [c.format(root=root) for c in MAKE_MODEL_COMMANDS]
        head = NO_MODEL_MESSAGE.format(root=root)
        if markdown:
            block = "\n".join(commands)
            return f"**{head}**\n\n```\n{block}\n```\n\n{NO_MODEL_HINT}"
        return f"{head} {'; then '.join(commands)}. ({NO_MODEL_HINT})"

    def describe(self, name: str | None) -> str:
        """Markdown about one model (shown under the dropdown); "" for unknown names."""
        info = self.models.get(name or "")
        return "" if info is None else describe_model(info)

    def resolve(self, task: str, name: str | None) -> ModelInfo:
        """The model a request names (only names found at startup; never a path)."""
        choices = self.models_for(task)
        if not choices:
            raise DemoError(self.no_model_message(task))
        if not name:
            return choices[0]
        info = self.models.get(str(name))
        if info is None or info.task != task:
            known = ", ".join(i.name for i in choices)
            raise DemoError(f"Unknown {task} model {str(name)[:80]!r}; choose one of: {known}.")
        return info

    def run(
        self,
        task: str,
        model: str | None,
        text: Any,
        settings: DecodeSettings,
    ) -> DemoResult:
        """Translates or summarizes ``text`` with ``model``; raises :class:`DemoError`."""
        info = self.resolve(task, model)
        text, notes = clean_input(text)
        if not text.strip():
            raise DemoError(EMPTY_MESSAGE)
        notes.extend(settings.notes)
        if settings.strategy == "beam" and settings.n_best > settings.beam_size:
            notes.append(f"Beam search keeps {settings.beam_size} hypotheses: n-best cut to that.")
        translator = self.cache.get(info.name)
        decode = settings.decode_config(translator.decode_defaults)
        start = time.perf_counter()
        out = translator.translate(
            [text], decode=decode, n_best=settings.outputs, seed=settings.seed
        )
        elapsed = time.perf_counter() - start

        order = list(range(len(out["translations"][0])))
        if settings.strategy == "sample":  # samples come unordered: best first
            order.sort(key=lambda i: -float(out["scores"][0, i]))
        best = order[0]
        best_text = str(out["translations"][0, best])
        if bool(out["truncated"][0]):
            verb = "summarized" if task == "summarization" else "translated"
            limit = info.max_source_length or int(out["source_lengths"][0])
            unit = info.source_unit
            notes.append(
                f"The input is longer than this model's limit of {limit} {unit}: it was "
                f"truncated, and only the first {limit} were {verb}."
            )
        if not best_text.strip():
            notes.append("The model produced an empty output for this input.")
        heatmap = None
        if "sentence_indices" in out:
            heatmap = _extract(info.name, out, best)
        elif info.has_attention:
            heatmap = _heatmap(info.name, out, best)
        else:
            notes.append(
                "This model has no attention (a context-vector decoder), so there is no heatmap."
            )
        notes.append(f"{info.name} · {settings.describe()} · {elapsed:.2f} s")
        return DemoResult(best_text, _nbest_rows(out, order), heatmap, notes)

    def endpoint(self, task: str) -> Callable[..., tuple[str, list[list[Any]], Any, str]]:
        """The function behind ``/translate`` or ``/summarize`` (errors -> ``gr.Error``)."""
        import gradio as gr

        def handler(
            model: str | None,
            text: str,
            strategy: str,
            beam_size: float,
            length_penalty: float,
            temperature: float,
            n_best: float,
            seed: float,
        ) -> tuple[str, list[list[Any]], Any, str]:
            try:
                settings = DecodeSettings.from_request(
                    strategy, beam_size, length_penalty, temperature, n_best, seed
                )
                result = self.run(task, model, text, settings)
            except DemoError as err:
                raise gr.Error(str(err), title="Cannot run", print_exception=False) from None
            except Exception as err:  # the page gets a message; the log gets the traceback
                _LOG.exception("%s request failed", task)
                raise gr.Error(
                    f"The model failed on this input ({type(err).__name__}); "
                    "the server log has the details.",
                    print_exception=False,
                ) from None
            notes = "\n".join(f"- {note}" for note in result.notes)
            return result.text, result.rows, result.heatmap_html or "", notes

        noun = "Summarizes" if task == "summarization" else "Translates"
        handler.__doc__ = (
            f"{noun} text with an exported model. Returns the best output, the n-best "
            "table (rank, output, score, log-prob, tokens), the attention heatmap (an "
            "HTML table; empty without attention) and notes."
        )
        return handler

    def list_models(self) -> list[dict[str, Any]]:
        """The ``/models`` endpoint: every model found at startup."""
        return [info.public() for info in self.models.values()]


def _nbest_rows(out: dict[str, np.ndarray], order: Sequence[int]) -> list[list[Any]]:
    """The n-best table's rows (:data:`NBEST_HEADERS`), in ``order``."""
    rows = []
    for rank, i in enumerate(order, 1):
        rows.append(
            [
                rank,
                str(out["translations"][0, i]),
                round(float(out["scores"][0, i]), 4),
                round(float(out["log_probs"][0, i]), 4) if "log_probs" in out else None,
                int(out["target_lengths"][0, i]),
            ]
        )
    return rows


def _heatmap(name: str, out: dict[str, np.ndarray], best: int) -> str | None:
    """The best output's attention as an HTML heatmap (None when either side is empty)."""
    source = _piece_list(out["source_pieces"][0], out["source_lengths"][0])
    target = _piece_list(out["target_pieces"][0, best], out["target_lengths"][0, best])
    weights = np.asarray(out["attention"][0, best])[: len(target), : len(source)]
    if not (source and target):
        return None
    title = f"{name}: output 1 (score {float(out['scores'][0, best]):.2f})"
    return attention_html(source, target, weights, title=title)


def _extract(name: str, out: dict[str, np.ndarray], best: int) -> str | None:
    """An extractive model's output: the article with its picks highlighted, and the
    pointer heatmap (None when the article had no sentence)."""
    sentences = _piece_list(out["source_pieces"][0], out["source_lengths"][0])
    if not sentences:
        return None
    length = int(out["target_lengths"][0, best])
    indices = out["sentence_indices"][0, best, :length]
    picks = [int(i) for i in indices if i >= 0]
    scores = [float(p) for p, i in zip(out["sentence_scores"][0, best, :length], indices) if i >= 0]
    weights = np.asarray(out["attention"][0, best])[:length, : len(sentences)]
    title = f"{name}: pointer attention, picks down, sentences across"
    return extract_html(sentences, picks, scores, weights, title=title)


__all__ = [
    "EMPTY_MESSAGE",
    "MAX_BEAM",
    "MAX_INPUT_CHARS",
    "MAX_N_BEST",
    "NBEST_HEADERS",
    "NOT_UTF8_NOTE",
    "STRATEGIES",
    "STRATEGY_LABELS",
    "DecodeSettings",
    "DemoError",
    "DemoResult",
    "DemoService",
    "canonical_strategy",
    "clean_input",
]
