"""Exporting a trained run as a self-contained TensorFlow SavedModel.

:func:`export_run` is what ``python -m translator.export`` runs.  It reads a run folder
(:mod:`translator.runs`: ``config.yaml``, ``tokenizers/``, ``best.keras`` or
``final.keras``, and ``summary.json`` / ``eval/*.json`` when present) and writes the
tokenizers, the weights and the decoding loop as TF graphs (signatures
``serving_default`` and ``translate``, see :mod:`translator.serving`) plus
``assets/metadata.json`` (task, languages, model variant and sizes, vocabularies,
training data, evaluation scores, maximum source length, decoding defaults, package
versions).

Loading needs only TensorFlow and tensorflow-text, and ``tensorflow_text`` must be
imported before loading, because importing it registers the tokenizer ops::

    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    model = tf.saved_model.load("exports/<name>")
    model.signatures["serving_default"](text=tf.constant(["Hola."]))

or, from Python with this package, :func:`load_exported`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import tensorflow as tf

from translator.inference import Inference
from translator.runs import RunError, RunPaths, find_checkpoint, load_run, read_json, versions
from translator.serving import METADATA_FILE, ExportedTranslator, TranslatorModule, load_exported

FORMAT_VERSION = 1

__all__ = [
    "ExportError",
    "ExportedTranslator",
    "build_metadata",
    "export_model",
    "export_run",
    "load_exported",
]


class ExportError(RuntimeError):
    """The run folder is incomplete or the output folder is in the way."""


def _languages(config: Any) -> dict[str, Any]:
    """Direction and language codes of the run's corpus (when it is a registered one)."""
    try:
        from translator.data import get_corpus

        corpus = get_corpus(config.data.corpus)
        direction = corpus.direction(config.data.direction)
        return {
            "direction": direction.name,
            "source_lang": direction.source_lang,
            "target_lang": direction.target_lang,
            "description": direction.description,
        }
    except Exception:  # a local file or an unknown corpus: keep what the config says
        return {"direction": config.data.direction, "source_lang": None, "target_lang": None}


def build_metadata(
    config: Any,
    model: Any,
    source_tokenizer: Any,
    target_tokenizer: Any,
    run_dir: str | Path | None = None,
    checkpoint: str | None = None,
) -> dict[str, Any]:
    """What ``assets/metadata.json`` holds (plain JSON data)."""
    paths = RunPaths(Path(run_dir)) if run_dir is not None else None
    evaluation = paths.evaluations() if paths is not None else {}
    summary = read_json(paths.summary) if paths is not None else None
    model_config = config.model

    def describe(tokenizer: Any) -> dict[str, Any]:
        return {
            "kind": tokenizer.kind,
            "vocab_size": tokenizer.vocab_size,
            "normalization": {
                "form": tokenizer.normalization.form,
                "lowercase": tokenizer.normalization.lowercase,
                "strip_accents": tokenizer.normalization.strip_accents,
            },
        }

    return {
        "format_version": FORMAT_VERSION,
        "name": config.name,
        "task": config.task,
        **_languages(config),
        "model": {
            "architecture": model_config.architecture,
            "cell": model_config.cell,
            "decoder": "pointer" if model_config.extractive else model_config.decoder,
            "attention": "pointer" if model_config.extractive else model_config.attention_name,
            "bidirectional": model_config.bidirectional,
            "embedding_dim": model_config.embedding_dim,
            "units": model_config.units,
            "encoder_layers": model_config.encoder_layers,
            "decoder_layers": model_config.decoder_layers,
            "input_feeding": model_config.input_feeding,
            "coverage": model_config.coverage,
            "tie_embeddings": model_config.tie_embeddings,
            "parameters": int(model.count_params()),
        },
        "vocab_sizes": {
            "source": source_tokenizer.vocab_size,
            "target": target_tokenizer.vocab_size,
        },
        "tokenizers": {
            "joint": source_tokenizer is target_tokenizer,
            "source": describe(source_tokenizer),
            "target": describe(target_tokenizer),
        },
        "training_data": {
            "corpus": config.data.corpus,
            "direction": config.data.direction,
            "train_limit": config.data.train_limit,
            "max_source_length": config.data.max_source_length,
            "max_target_length": config.data.max_target_length,
            **(
                {
                    "max_sentences": config.data.max_sentences,
                    "sentence_words": config.data.sentence_words,
                }
                if model_config.extractive
                else {}
            ),
        },
        "training": summary,
        "evaluation": evaluation,
        "max_source_length": (
            config.data.max_sentences if model_config.extractive else config.data.max_source_length
        ),
        "source_unit": "sentences" if model_config.extractive else "tokens",
        "default_max_length": config.data.max_target_length + 1,
        "decode": dataclasses.asdict(config.decode),
        "checkpoint": checkpoint,
        "signatures": {
            "serving_default": {
                "inputs": {"text": "string [B]"},
                "outputs": {"translations": "string [B]", "scores": "float32 [B]"},
            },
            "translate": {
                "inputs": {
                    "text": "string [B]",
                    "beam_size": "int32 []",
                    "length_penalty": "float32 []",
                    "max_length": "int32 [] (<= 0: default_max_length)",
                    "n_best": "int32 []",
                    "temperature": "float32 [] (> 0: sampling)",
                    "top_k": "int32 [] (0: off)",
                    "seed": "int32 []",
                },
                "outputs": {
                    "translations": "string [B, N]",
                    "scores": "float32 [B, N]",
                    "log_probs": "float32 [B, N]",
                    "source_pieces": "string [B, S]",
                    "source_lengths": "int32 [B]",
                    "target_pieces": "string [B, N, T]",
                    "target_lengths": "int32 [B, N]",
                    "attention": "float32 [B, N, T, S]",
                    "truncated": "bool [B]",
                    **(
                        {
                            "sentence_indices": "int32 [B, N, T] (-1: end, padding)",
                            "sentence_scores": "float32 [B, N, T]",
                        }
                        if model_config.extractive
                        else {}
                    ),
                },
            },
        },
        "versions": versions(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
    }


def export_model(
    model: Any,
    source_tokenizer: Any,
    target_tokenizer: Any,
    config: Any,
    out_dir: str | Path,
    *,
    metadata: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Saves ``model`` + tokenizers + decoding as a SavedModel at ``out_dir``.

    Args:
        model: a built ``Seq2Seq``.
        source_tokenizer, target_tokenizer: the run's tokenizers.
        config: the run's :class:`~translator.config.Config` (data lengths, decode
            defaults, metadata).
        out_dir: the export folder (must not exist, or be empty, unless ``overwrite``).
        metadata: ``assets/metadata.json`` (default: :func:`build_metadata`).
        overwrite: replace an existing export.

    Returns:
        ``out_dir``.  The folder is written next to its final place and renamed
        into it, so a failed export leaves no half-written folder behind.
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"{out} already exists and is not empty; pass --force to replace it")
    if metadata is None:
        metadata = build_metadata(config, model, source_tokenizer, target_tokenizer)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with tempfile.TemporaryDirectory() as scratch:
            meta_path = Path(scratch) / METADATA_FILE
            meta_path.write_text(
                json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            inference = Inference.from_config(model, source_tokenizer, target_tokenizer, config)
            module = TranslatorModule(inference, metadata_file=meta_path)
            target = staging / "model"
            tf.saved_model.save(module, str(target), signatures=module.signatures())
        if out.exists():
            shutil.rmtree(out)
        target.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def export_run(
    run_dir: str | Path, out_dir: str | Path, *, checkpoint: str = "best", overwrite: bool = False
) -> Path:
    """Exports a run folder (see the module doc); ``checkpoint``: ``best`` or ``final``
    (the other is used when the chosen one is missing)."""
    try:
        path = find_checkpoint(run_dir, checkpoint, fallback=True)
        config, model, source_tokenizer, target_tokenizer = load_run(run_dir, path.stem)
    except RunError as err:
        raise ExportError(str(err)) from err
    metadata = build_metadata(
        config, model, source_tokenizer, target_tokenizer, run_dir=run_dir, checkpoint=path.name
    )
    return export_model(
        model,
        source_tokenizer,
        target_tokenizer,
        config,
        out_dir,
        metadata=metadata,
        overwrite=overwrite,
    )
