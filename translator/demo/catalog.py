"""The model catalog: the exports the demo found, and how to describe them.

:func:`discover_models` lists the SavedModels under a folder (each subfolder holding a
``saved_model.pb``) from their ``assets/metadata.json`` alone, without loading them:
name, task, the dropdown label (direction, variant, score) and example inputs.
:class:`ModelCache` loads an export on first use (:func:`translator.serving.load_exported`)
and keeps it.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # TensorFlow is imported when a model is loaded
    from translator.serving import ExportedTranslator

#: The tasks the demo serves, and the title of each one's tab.
TASK_TABS = {"translation": "Translate", "summarization": "Summarize"}
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
    # Simplified and Traditional, full-width punctuation, as the cmn-eng corpus mixes them.
    "zh": ["你好。", "谢谢你！", "我饿了。", "火車站在哪裡？", "我今天很忙，明天再說吧。"],
    "summarization": [
        "The central bank raised its main interest rate by half a percentage point on "
        "Tuesday, the third increase this year, saying inflation was still too high and "
        "that further rises could follow if prices kept climbing.",
        "Shares of the carmaker fell sharply after it said quarterly profit dropped by a "
        "third because of higher steel costs and weaker sales in Europe.",
    ],
}


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
            return model.get("decoder") in ("bahdanau", "luong", "pointer")
        return True

    @property
    def extractive(self) -> bool:
        """A sentence extractor (:mod:`translator.extractive`)."""
        return (self.metadata.get("model") or {}).get("architecture") == "extractive"

    @property
    def source_unit(self) -> str:
        """What ``max_source_length`` counts: ``tokens``, or ``sentences``."""
        return str(self.metadata.get("source_unit") or "tokens")

    @property
    def max_source_length(self) -> int | None:
        """The longest input in tokens (longer ones are truncated), when recorded."""
        value = self.metadata.get("max_source_length")
        return int(value) if isinstance(value, int | float) else None

    @property
    def decode_defaults(self) -> dict[str, Any]:
        """The run's decode settings (``metadata["decode"]``) as a dict."""
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
    if model.get("architecture") == "extractive":
        bi = "bi-" if model.get("bidirectional") else ""
        return f"hierarchical {bi}{cell} + sentence pointer (extractive)"
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


def describe_model(info: ModelInfo) -> str:
    """Markdown about one model (shown under the dropdown): task, direction, variant,
    size, scores, input limit, and whether it has a heatmap."""
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
        book = evaluation.get("phrasebook")  # python -m translator.evaluate --phrasebook
        if isinstance(book, Mapping) and all(
            isinstance(book.get(key), int) for key in ("right", "total")
        ):
            parts.append(f"everyday phrases {book['right']}/{book['total']} right")
    if info.max_source_length:
        parts.append(f"inputs up to {info.max_source_length} tokens")
    if not info.has_attention:
        parts.append("no attention (no heatmap)")
    return " · ".join(parts)


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


__all__ = [
    "DEFAULT_EXAMPLES",
    "TASK_TABS",
    "ModelCache",
    "ModelInfo",
    "default_examples",
    "describe_model",
    "describe_variant",
    "direction_text",
    "discover_models",
    "model_label",
    "model_score",
    "read_metadata",
]
