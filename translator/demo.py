"""The Gradio demo: translate or summarize with the exported SavedModels.

    python app.py [--models exports/] [--host 127.0.0.1] [--port 7860] [--share]

The demo serves what ships: the SavedModels written by ``python -m translator.export``
(each subfolder of ``--models`` holding a ``saved_model.pb``), loaded lazily with
:func:`translator.serving.load_exported` and cached in a :class:`ModelCache`.
Models whose metadata says ``task: summarization`` go to the *Summarize* tab, the
others to *Translate*.

Each tab has one named API endpoint (``/translate``, ``/summarize``), callable with
``gradio_client``::

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/", analytics_enabled=False)
    text, nbest, heatmap, notes = client.predict(
        "dates", "tuesday 3 march 1998", "beam", 5, 1.0, 1.0, 3, 0, api_name="/translate"
    )

Inputs, in order: ``model`` (a name listed by ``/models``), ``text``, ``strategy``
(``greedy`` | ``beam`` | ``sampling``), ``beam_size`` (1-16), ``length_penalty``
(GNMT alpha, 0-2), ``temperature`` (sampling, 0.05-2), ``n_best`` (1-10), ``seed``.
Outputs: the best output text; the n-best table ``{"headers": [...], "data":
[[rank, text, score, log_prob, tokens], ...]}``; the attention heatmap as
``{"type": "matplotlib", "plot": "data:image/png;base64,..."}`` (``None`` for
models without attention); notes (Markdown: truncation, timing, warnings).  Empty
input, an unknown model or no model at all raise an error whose message says what
to do (``gradio_client`` raises ``AppError`` with it).  ``/models`` lists the
models: name, task, label, examples.

The page never accepts a file-system path: the dropdowns offer only the names
found at startup, and requests naming anything else are refused.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # gradio and TensorFlow are imported when the app is built
    import gradio as gr

    from translator.serving import ExportedTranslator

_LOG = logging.getLogger(__name__)

#: Inputs longer than this (in characters) are cut before tokenization.
MAX_INPUT_CHARS = 20_000
MAX_BEAM = 16
MAX_N_BEST = 10
STRATEGIES = ("greedy", "beam", "sampling")
TASK_TABS = {"translation": "Translate", "summarization": "Summarize"}
API_NAMES = {"translation": "translate", "summarization": "summarize"}
NBEST_HEADERS = ["rank", "output", "score", "log-prob", "tokens"]
DEFAULT_CONCURRENCY = 2
METADATA_PATH = ("assets", "metadata.json")

CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU", "peephole_lstm": "peephole LSTM"}
DECODER_NAMES = {
    "sutskever": "Sutskever (no attention)",
    "cho": "Cho context vector (no attention)",
    "bahdanau": "Bahdanau",
    "luong": "Luong",
}

#: Examples when an export's metadata has none, by source language (and corpus).
DEFAULT_EXAMPLES = {
    "dates": [
        "tuesday 3 march 1998",
        "March 3rd 1998",
        "03.03.1998",
        "sat 1 jan 2000",
        "the 21st of december 2012",
    ],
    "es": [
        "Hola.",
        "Tengo hambre.",
        "¿Dónde está la estación de tren?",
        "Me gusta leer libros por la noche.",
        "Mañana vamos a visitar a mis abuelos.",
    ],
    "en": [
        "Hello.",
        "I am hungry.",
        "Where is the train station?",
        "I like reading books at night.",
        "Tomorrow we are going to visit my grandparents.",
    ],
    "de": [
        "Ein Mann fährt Fahrrad.",
        "Zwei Hunde spielen im Schnee.",
        "Eine Frau liest ein Buch im Park.",
    ],
    "fr": ["Bonjour.", "J'ai faim.", "Où est la gare ?", "J'aime lire des livres le soir."],
    "ar": ["مرحبا.", "أنا جائع."],
    "zh": ["你好。", "我饿了。", "火车站在哪里？"],
    "summarization": [
        "The central bank raised its main interest rate by half a percentage point on "
        "Tuesday, the third increase this year, saying inflation was still too high and "
        "that further rises could follow if prices kept climbing.",
        "Shares of the carmaker fell sharply after it said quarterly profit dropped by a "
        "third because of higher steel costs and weaker sales in Europe.",
    ],
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


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class ModelInfo:
    """An export found at startup (read from its metadata; the model is not loaded).

    Attributes:
        name: the folder name; what the page and the API use to pick the model.
        path: the export folder (never shown to, or taken from, the page).
        task: ``translation`` or ``summarization``.
        label: what the dropdown shows (direction, variant, score).
        examples: example inputs.
        metadata: ``assets/metadata.json``.
    """

    name: str
    path: Path
    task: str
    label: str
    examples: tuple[str, ...]
    metadata: Mapping[str, Any] = field(repr=False)

    @property
    def has_attention(self) -> bool:
        """False for the context-vector decoders (Sutskever, Cho): no heatmap."""
        model = self.metadata.get("model") or {}
        if "decoder" in model:
            return model.get("decoder") in ("bahdanau", "luong")
        return True

    @property
    def max_source_length(self) -> int | None:
        value = self.metadata.get("max_source_length")
        return int(value) if isinstance(value, int | float) else None

    @property
    def decode_defaults(self) -> dict[str, Any]:
        decode = self.metadata.get("decode")
        return dict(decode) if isinstance(decode, Mapping) else {}

    def public(self) -> dict[str, Any]:
        """What the ``/models`` endpoint returns (no paths)."""
        return {
            "name": self.name,
            "task": self.task,
            "label": self.label,
            "examples": list(self.examples),
            "max_source_length": self.max_source_length,
        }


def read_metadata(export_dir: str | Path) -> dict[str, Any]:
    """``assets/metadata.json`` of an export, or ``{}`` when missing or unreadable."""
    path = Path(export_dir).joinpath(*METADATA_PATH)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe_variant(metadata: Mapping[str, Any]) -> str:
    """``bi-GRU + Bahdanau``, ``2-layer LSTM + Luong (general)``, ... from metadata."""
    model = metadata.get("model")
    if not isinstance(model, Mapping):
        return "seq2seq"
    cell = CELL_NAMES.get(str(model.get("cell")), str(model.get("cell", "RNN")))
    layers = model.get("encoder_layers") or 1
    encoder = ("bi-" if model.get("bidirectional") else "") + cell
    if isinstance(layers, int) and layers > 1:
        encoder = f"{layers}-layer {encoder}"
    decoder_name = str(model.get("decoder", ""))
    decoder = DECODER_NAMES.get(decoder_name, decoder_name or "decoder")
    if decoder_name == "luong" and model.get("attention"):
        decoder += f" ({model['attention']})"
    extras = [name for name in ("coverage", "pointer_generator") if model.get(name)]
    config_model = (metadata.get("config") or {}).get("model") or {}
    if config_model.get("pointer_generator") and "pointer_generator" not in extras:
        extras.append("pointer_generator")
    if extras:
        decoder += " + " + " + ".join(e.replace("_", "-") for e in extras)
    return f"{encoder} + {decoder}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if isinstance(value, Mapping):
        return _number(value.get("score"))
    return None


def _find_metric(data: Any, keys: Sequence[str], depth: int = 0) -> float | None:
    """The first numeric value under one of ``keys`` (depth-first, a few levels)."""
    if depth > 4 or not isinstance(data, Mapping):
        return None
    for key in keys:
        if key in data and (value := _number(data[key])) is not None:
            return value
    for value in data.values():
        if (found := _find_metric(value, keys, depth + 1)) is not None:
            return found
    return None


def model_score(metadata: Mapping[str, Any]) -> str | None:
    """``BLEU 23.4`` / ``ROUGE-L 31.2`` from the evaluation results, test split first."""
    task = metadata.get("task")
    if task == "summarization":
        keys, name = ("rougeL_f1", "rougeL", "rouge_l", "rouge-l"), "ROUGE-L"
    else:
        keys, name = ("bleu", "BLEU", "sacrebleu"), "BLEU"
    evaluation = metadata.get("evaluation")
    sources: list[Any] = []
    if isinstance(evaluation, Mapping):
        ordered = sorted(evaluation, key=lambda k: (0 if "test" in str(k) else 1, str(k)))
        sources.extend(evaluation[k] for k in ordered)
    sources.extend([metadata.get("scores"), metadata.get("training")])
    for source in sources:
        value = _find_metric(source, keys)
        if value is not None:
            return f"{name} {value:.1f}"
    return None


def direction_text(metadata: Mapping[str, Any]) -> str:
    """``spa-en (es → en)`` or just the direction name."""
    direction = metadata.get("direction") or (metadata.get("training_data") or {}).get("direction")
    source, target = metadata.get("source_lang"), metadata.get("target_lang")
    parts = [str(direction)] if direction else []
    if source and target and source != target:
        parts.append(f"({source} → {target})")
    return " ".join(parts)


def model_label(name: str, metadata: Mapping[str, Any]) -> str:
    """The dropdown label: name, direction, variant and score."""
    parts = [direction_text(metadata), describe_variant(metadata), model_score(metadata)]
    return " · ".join([name] + [p for p in parts if p])


def default_examples(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    """The export's own examples (``metadata["examples"]``), else defaults for its language."""
    given = metadata.get("examples")
    if isinstance(given, Sequence) and not isinstance(given, str):
        examples = []
        for item in given:
            text = item.get("source") if isinstance(item, Mapping) else item
            if isinstance(text, str) and text.strip():
                examples.append(text)
        if examples:
            return tuple(examples[:8])
    corpus = str((metadata.get("training_data") or {}).get("corpus") or "")
    if corpus == "dates" or metadata.get("direction") == "human-iso":
        return tuple(DEFAULT_EXAMPLES["dates"])
    if metadata.get("task") == "summarization":
        return tuple(DEFAULT_EXAMPLES["summarization"])
    language = str(metadata.get("source_lang") or "en")
    return tuple(DEFAULT_EXAMPLES.get(language, DEFAULT_EXAMPLES["en"]))


def discover_models(root: str | Path) -> dict[str, ModelInfo]:
    """Exports under ``root``: each subfolder with a ``saved_model.pb`` (or ``root`` itself).

    Hidden folders (the export's half-written staging folders start with a dot) are
    skipped.  Returns name -> :class:`ModelInfo`, sorted by name.
    """
    root = Path(root)
    if not root.is_dir():
        return {}
    candidates = [root] if (root / "saved_model.pb").is_file() else []
    candidates += sorted(
        child
        for child in root.iterdir()
        if child.is_dir()
        and not child.name.startswith(".")
        and (child / "saved_model.pb").is_file()
    )
    found: dict[str, ModelInfo] = {}
    for path in candidates:
        metadata = read_metadata(path)
        name = path.resolve().name if path == root else path.name
        task = metadata.get("task") if metadata.get("task") in TASK_TABS else "translation"
        found[name] = ModelInfo(
            name=name,
            path=path,
            task=str(task),
            label=model_label(name, metadata),
            examples=default_examples({**metadata, "task": task}),
            metadata=metadata,
        )
    return found


class ModelCache:
    """Loads exports on first use and keeps them (thread-safe).

    Args:
        models: name -> :class:`ModelInfo` (what :func:`discover_models` found).
        loader: loads an export folder (default :func:`translator.serving.load_exported`).
    """

    def __init__(
        self,
        models: Mapping[str, ModelInfo],
        loader: Callable[[Path], ExportedTranslator] | None = None,
    ) -> None:
        self.models = dict(models)
        self._loader = loader
        self._loaded: dict[str, ExportedTranslator] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> ExportedTranslator:
        """The loaded export called ``name``; ``KeyError`` for names not found at startup."""
        info = self.models[name]
        loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded
        with self._lock:  # one load at a time; a second caller waits and reuses it
            loaded = self._loaded.get(name)
            if loaded is None:
                loader = self._loader
                if loader is None:
                    from translator.serving import load_exported

                    loader = load_exported
                loaded = loader(info.path)
                self._loaded[name] = loaded
        return loaded

    def loaded(self) -> list[str]:
        """Names of the models loaded so far."""
        return sorted(self._loaded)


# --------------------------------------------------------------------------- requests


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
            notes.append("The input was not valid UTF-8; undecodable bytes were replaced by �.")
        text = decoded
    text = str(text)
    valid = text.encode("utf-8", errors="replace").decode("utf-8")
    if valid != text:  # lone surrogates from JSON escapes
        notes.append("The input held invalid Unicode characters; they were replaced by ?.")
        text = valid
    if len(text) > limit:
        notes.append(f"The input had {len(text):,} characters; only the first {limit:,} were used.")
        text = text[:limit]
    return text, notes


@dataclass(frozen=True)
class DecodeSettings:
    """Decoding options checked and clamped to the ranges the page offers."""

    strategy: str = "beam"
    beam_size: int = 5
    length_penalty: float = 1.0
    temperature: float = 1.0
    n_best: int = 3
    seed: int = 0

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
        """Validates raw values (from the page or an API client)."""
        strategy = str(strategy or "beam").strip().lower()
        if strategy == "sample":
            strategy = "sampling"
        if strategy not in STRATEGIES:
            raise DemoError(f"Unknown decoding strategy {strategy!r}: choose one of {STRATEGIES}.")

        def number(value: Any, default: float, lo: float, hi: float) -> float:
            try:
                value = float(value)
            except (TypeError, ValueError):
                return default
            return default if not math.isfinite(value) else min(max(value, lo), hi)

        return cls(
            strategy=strategy,
            beam_size=int(number(beam_size, 5, 1, MAX_BEAM)),
            length_penalty=number(length_penalty, 1.0, 0.0, 2.0),
            temperature=number(temperature, 1.0, 0.05, 2.0),
            n_best=int(number(n_best, 1, 1, MAX_N_BEST)),
            seed=int(number(seed, 0, 0, 2**31 - 1)),
        )

    def translate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`ExportedTranslator.translate`."""
        if self.strategy == "greedy":
            return {"beam_size": 1, "temperature": 0.0, "n_best": 1}
        if self.strategy == "beam":
            return {
                "beam_size": self.beam_size,
                "length_penalty": self.length_penalty,
                "temperature": 0.0,
                "n_best": min(self.n_best, self.beam_size),
            }
        return {
            "beam_size": 1,
            "temperature": self.temperature,
            "n_best": self.n_best,
            "seed": self.seed,
        }

    def describe(self) -> str:
        if self.strategy == "greedy":
            return "greedy"
        if self.strategy == "beam":
            return f"beam {self.beam_size}, length penalty {self.length_penalty:g}"
        return f"sampling, temperature {self.temperature:g}, seed {self.seed}"


@dataclass
class DemoResult:
    """One request's outputs (JSON-friendly apart from the PNG bytes)."""

    text: str
    rows: list[list[Any]]
    heatmap_png: bytes | None
    notes: list[str]

    def heatmap_data_url(self) -> str | None:
        if self.heatmap_png is None:
            return None
        return "data:image/png;base64," + base64.b64encode(self.heatmap_png).decode("ascii")


def render_heatmap(
    source_pieces: Sequence[str],
    target_pieces: Sequence[str],
    weights: np.ndarray,
    title: str | None = None,
) -> bytes:
    """The attention heatmap as PNG bytes (the matplotlib figure is freed afterwards)."""
    from translator.plotting import attention_figure

    fig = attention_figure(source_pieces, target_pieces, weights, title=title)
    try:
        with io.BytesIO() as buffer:
            fig.savefig(buffer, format="png")
            return buffer.getvalue()
    finally:
        fig.clear()  # made without pyplot: nothing else holds it once this returns


def _piece_list(row: np.ndarray, length: int) -> list[str]:
    return [str(p) for p in row[: max(int(length), 0)]]


class DemoApp:
    """The demo's state (discovered models, the model cache) and its request handler.

    Args:
        models_dir: where the exports are (``exports/``); read once, here.
        cache: a :class:`ModelCache` to use (default: one over the discovered models).
    """

    def __init__(self, models_dir: str | Path = "exports", cache: ModelCache | None = None) -> None:
        self.models_dir = Path(models_dir)
        self.cache = cache if cache is not None else ModelCache(discover_models(self.models_dir))

    @property
    def models(self) -> dict[str, ModelInfo]:
        return self.cache.models

    def models_for(self, task: str) -> list[ModelInfo]:
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
        """Markdown about one model (shown under the dropdown)."""
        info = self.models.get(name or "")
        if info is None:
            return ""
        meta = info.metadata
        parts = [f"**{info.name}**: {info.task}"]
        if direction := direction_text(meta):
            parts.append(direction)
        parts.append(describe_variant(meta))
        params = (meta.get("model") or {}).get("parameters")
        if isinstance(params, int):
            parts.append(f"{params:,} parameters")
        if score := model_score(meta):
            parts.append(score)
        evaluation = meta.get("evaluation")
        if isinstance(evaluation, Mapping):
            tests = [v for k, v in sorted(evaluation.items()) if "test" in str(k)]
            exact = _find_metric(tests[0] if tests else {}, ("exact_match",))
            if exact is not None and 0.0 <= exact <= 1.0:
                parts.append(f"exact match {exact:.1%}")
        if info.max_source_length:
            parts.append(f"inputs up to {info.max_source_length} tokens")
        if not info.has_attention:
            parts.append("no attention (no heatmap)")
        return " · ".join(parts)

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
        kwargs = settings.translate_kwargs()
        if settings.strategy == "beam" and settings.n_best > settings.beam_size:
            notes.append(f"Beam search keeps {settings.beam_size} hypotheses: n-best cut to that.")
        translator = self.cache.get(info.name)
        start = time.perf_counter()
        out = translator.translate([text], **kwargs)
        elapsed = time.perf_counter() - start

        count = len(out["translations"][0])
        order = list(range(count))
        if settings.strategy == "sampling":  # samples come unordered: best first
            order.sort(key=lambda i: -float(out["scores"][0, i]))
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
        best = order[0]
        best_text = str(out["translations"][0, best])
        if bool(out["truncated"][0]):
            verb = "summarized" if task == "summarization" else "translated"
            limit = info.max_source_length or int(out["source_lengths"][0])
            notes.append(
                f"The input is longer than this model's limit of {limit} tokens: it was "
                f"truncated, and only the first {limit} were {verb}."
            )
        if not best_text.strip():
            notes.append("The model produced an empty output for this input.")

        heatmap = None
        if info.has_attention:
            source = _piece_list(out["source_pieces"][0], out["source_lengths"][0])
            target = _piece_list(out["target_pieces"][0, best], out["target_lengths"][0, best])
            weights = np.asarray(out["attention"][0, best])[: len(target), : len(source)]
            if source and target:
                title = f"{info.name}: output 1 (score {float(out['scores'][0, best]):.2f})"
                heatmap = render_heatmap(source, target, weights, title=title)
        else:
            notes.append(
                "This model has no attention (a context-vector decoder), so there is no heatmap."
            )
        notes.append(f"{info.name} · {settings.describe()} · {elapsed:.2f} s")
        return DemoResult(best_text, rows, heatmap, notes)

    # ------------------------------------------------------------------ gradio

    def endpoint(self, task: str) -> Callable[..., tuple[str, list[list[Any]], Any, str]]:
        """The function behind ``/translate`` or ``/summarize`` (errors -> ``gr.Error``)."""
        import gradio as gr
        from gradio.components.plot import PlotData

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
            url = result.heatmap_data_url()
            plot = PlotData(type="matplotlib", plot=url) if url else None
            notes = "\n".join(f"- {note}" for note in result.notes)
            return result.text, result.rows, plot, notes

        noun = "Summarizes" if task == "summarization" else "Translates"
        handler.__doc__ = (
            f"{noun} text with an exported model. Returns the best output, the n-best "
            "table (rank, output, score, log-prob, tokens), the attention heatmap (PNG "
            "data URL; None without attention) and notes."
        )
        return handler

    def list_models(self) -> list[dict[str, Any]]:
        """The ``/models`` endpoint: every model found at startup."""
        return [info.public() for info in self.models.values()]

    def _task_tab(self, task: str) -> None:
        """The components and events of one tab (inside a ``gr.Blocks`` context)."""
        import gradio as gr

        models = self.models_for(task)
        first = models[0] if models else None
        defaults = first.decode_defaults if first else {}
        noun = "Summary" if task == "summarization" else "Translation"
        verb = TASK_TABS[task]
        if not models and self.models:  # with no model at all, the page banner says it
            gr.Markdown(self.no_model_message(task, markdown=True), elem_classes=["no-model"])
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                dropdown = gr.Dropdown(
                    choices=[(info.label, info.name) for info in models],
                    value=first.name if first else None,
                    label="Model",
                    interactive=True,
                    elem_id=f"{task}-model",
                )
                about = gr.Markdown(self.describe(first.name if first else None))
                source = gr.Textbox(
                    label="Input",
                    placeholder="Type or paste text…",
                    lines=6 if task == "summarization" else 3,
                    max_lines=20,
                    elem_id=f"{task}-input",
                )
                examples = gr.Dataset(
                    components=[source],
                    samples=[[e] for e in (first.examples if first else ())],
                    label="Examples",
                    type="values",
                )
                with gr.Accordion("Decoding", open=True):
                    initial = _ui_strategy(defaults)
                    strategy = gr.Radio(list(STRATEGIES), value=initial, label="Strategy")
                    beam_size = gr.Slider(
                        1,
                        MAX_BEAM,
                        value=int(defaults.get("beam_size", 5)),
                        step=1,
                        label="Beam width",
                        visible=initial == "beam",
                    )
                    length_penalty = gr.Slider(
                        0.0,
                        2.0,
                        value=float(defaults.get("length_penalty", 1.0)),
                        step=0.1,
                        label="Length penalty (GNMT α)",
                        visible=initial == "beam",
                    )
                    temperature = gr.Slider(
                        0.05,
                        2.0,
                        value=float(defaults.get("temperature", 1.0)),
                        step=0.05,
                        label="Temperature (sampling)",
                        visible=initial == "sampling",
                    )
                    n_best = gr.Slider(
                        1, MAX_N_BEST, value=3, step=1, label="n-best", visible=initial != "greedy"
                    )
                    seed = gr.Number(
                        value=0,
                        precision=0,
                        minimum=0,
                        label="Seed (sampling)",
                        visible=initial == "sampling",
                    )
                button = gr.Button(verb, variant="primary", elem_id=f"{task}-button")
            with gr.Column(scale=3, min_width=400):
                output = gr.Textbox(
                    label=noun,
                    lines=2,
                    interactive=False,
                    buttons=["copy"],
                    elem_id=f"{task}-output",
                )
                notes = gr.Markdown(elem_id=f"{task}-notes")
                table = gr.Dataframe(
                    headers=NBEST_HEADERS,
                    datatype=["number", "str", "number", "number", "number"],
                    label="n-best (beam: length-normalized score; otherwise log-probability)",
                    interactive=False,
                    wrap=True,
                    elem_id=f"{task}-nbest",
                )

        # Full width below both columns: the heatmap's labels stay readable.
        heatmap = gr.Plot(
            label="Attention (outputs down, source across)",
            show_label=False,
            elem_id=f"{task}-heatmap",
        )
        inputs = [dropdown, source, strategy, beam_size, length_penalty, temperature, n_best, seed]
        outputs = [output, table, heatmap, notes]
        button.click(
            self.endpoint(task),
            inputs,
            outputs,
            api_name=API_NAMES[task],
            api_description=f"{verb} text with an exported model (see translator.demo).",
        )
        source.submit(self.endpoint(task), inputs, outputs, api_visibility="private")
        examples.click(
            lambda sample: sample[0] if sample else "",
            examples,
            source,
            api_visibility="private",
            queue=False,
        )

        def on_model(name: str | None) -> tuple[Any, ...]:
            info = self.models.get(name or "")
            decode = info.decode_defaults if info else {}
            return (
                self.describe(name),
                gr.Dataset(samples=[[e] for e in (info.examples if info else ())]),
                gr.Radio(value=_ui_strategy(decode)),
                gr.Slider(value=int(decode.get("beam_size", 5))),
                gr.Slider(value=float(decode.get("length_penalty", 1.0))),
            )

        def on_strategy(choice: str) -> tuple[Any, ...]:
            beam, sampling = choice == "beam", choice == "sampling"
            return (
                gr.Slider(visible=beam),
                gr.Slider(visible=beam),
                gr.Slider(visible=sampling),
                gr.Number(visible=sampling),
                gr.Slider(visible=choice != "greedy"),
            )

        strategy.change(
            on_strategy,
            strategy,
            [beam_size, length_penalty, temperature, seed, n_best],
            api_visibility="private",
            queue=False,
        )
        dropdown.change(
            on_model,
            dropdown,
            [about, examples, strategy, beam_size, length_penalty],
            api_visibility="private",
            queue=False,
        )

    def build(self) -> gr.Blocks:
        """The ``gr.Blocks`` app (queue set: at most ``DEFAULT_CONCURRENCY`` jobs at once)."""
        import gradio as gr

        with gr.Blocks(title="RNN translator demo", analytics_enabled=False) as demo:
            gr.Markdown(
                "# RNN encoder–decoder demo\n"
                "Exported SavedModels from `exports/`: pick a model, type a sentence, "
                "and see the output, the n-best list and where the decoder attended."
            )
            if not self.models:
                gr.Markdown(self.no_model_message(markdown=True), elem_id="no-model")
            for task, title in TASK_TABS.items():
                with gr.Tab(title, id=task):
                    self._task_tab(task)
            gr.api(self.list_models, api_name="models")
        demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=256)
        return demo


def _ui_strategy(decode: Mapping[str, Any]) -> str:
    strategy = str(decode.get("strategy", "beam"))
    return {"sample": "sampling"}.get(strategy, strategy if strategy in STRATEGIES else "beam")


def build_demo(models_dir: str | Path = "exports") -> gr.Blocks:
    """The demo over the exports in ``models_dir`` (see the module doc)."""
    return DemoApp(models_dir).build()


def main(argv: list[str] | None = None) -> int:
    """``python app.py``: see the module doc."""
    parser = argparse.ArgumentParser(
        prog="python app.py",
        description="Gradio demo of the exported translation/summarization models.",
    )
    parser.add_argument("--models", default="exports", help="folder of exports (default: exports)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    args = parser.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    app = DemoApp(args.models)
    if app.models:
        print("Models: " + "; ".join(info.label for info in app.models.values()))
    else:
        print(app.no_model_message(), file=sys.stderr)
    demo = app.build()
    try:
        demo.launch(server_name=args.host, server_port=args.port, share=args.share)
    except OSError as err:
        print(
            f"error: cannot listen on {args.host}:{args.port} ({err}); "
            "pick another port with --port",
            file=sys.stderr,
        )
        return 2
    return 0


__all__ = [
    "DecodeSettings",
    "DemoApp",
    "DemoError",
    "ModelCache",
    "ModelInfo",
    "build_demo",
    "clean_input",
    "discover_models",
    "main",
    "render_heatmap",
]
