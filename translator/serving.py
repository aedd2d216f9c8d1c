"""The exported translator: a ``tf.Module`` holding tokenizers, weights and decoding.

:class:`TranslatorModule` is what :mod:`translator.export` saves.  Its two signatures
map raw strings to raw strings entirely in the TF graph (normalization,
tokenization, the encoder, the decoding loop, detokenization), so the SavedModel
runs with nothing but ``tensorflow`` and ``tensorflow_text``::

    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops; import it first)

    translator = tf.saved_model.load("exports/spa-en")
    out = translator.signatures["serving_default"](text=tf.constant(["Hola."]))
    out["translations"], out["scores"]

Signatures (batch B, n-best N, target steps T, source tokens S):

``serving_default(text: string [B])`` -> ``translations`` string [B], ``scores``
float32 [B]; decoding with the run config's defaults.  TensorFlow Serving's REST API
takes it as is: ``{"instances": ["Hola."]}``.

``translate(text: string [B], beam_size: int32 [], length_penalty: float32 [],
max_length: int32 [], n_best: int32 [], temperature: float32 [], top_k: int32 [],
seed: int32 [])`` with the strategy picked from the values: ``temperature > 0`` ->
sampling (``n_best`` samples, ``top_k`` 0 = no filter, ``seed``); else
``beam_size > 1`` -> beam search (``n_best`` <= ``beam_size`` hypotheses, GNMT
``length_penalty``); else greedy (N = 1).  ``max_length`` <= 0 means the model's
default cap (``data.max_target_length + 1``); the limit ``a * source_length + b``
(``decode.max_length_a/b``) always applies too.  Outputs:

- ``translations`` string [B, N], ``scores`` float32 [B, N] (beam: length-penalized,
  best first; otherwise log-probability), ``log_probs`` float32 [B, N];
- ``source_pieces`` string [B, S] ("" on padding) and ``source_lengths`` int32 [B];
- ``target_pieces`` string [B, N, T] ("" on padding; the last piece is ``</s>`` when
  the hypothesis ended) and ``target_lengths`` int32 [B, N] (END counted);
- ``attention`` float32 [B, N, T, S], zero outside the lengths (and everywhere for
  models without attention);
- ``truncated`` bool [B]: the source had more than ``max_source_length`` tokens and
  only the first ones were translated.

An empty or whitespace-only input gives an empty translation (score 0).
:func:`load_exported` wraps a loaded export for Python callers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from translator.config import DecodeConfig
from translator.copying import detokenize_extended, restore_pieces
from translator.decoding import beam_search, greedy_search, max_output_length, sample
from translator.pipeline import encode_copy_sources, encode_sources

METADATA_FILE = "metadata.json"
STRING_OUTPUTS = ("translations", "source_pieces", "target_pieces")

_TEXT = tf.TensorSpec([None], tf.string, name="text")
_TRANSLATE_SIGNATURE = [
    _TEXT,
    tf.TensorSpec([], tf.int32, name="beam_size"),
    tf.TensorSpec([], tf.float32, name="length_penalty"),
    tf.TensorSpec([], tf.int32, name="max_length"),
    tf.TensorSpec([], tf.int32, name="n_best"),
    tf.TensorSpec([], tf.float32, name="temperature"),
    tf.TensorSpec([], tf.int32, name="top_k"),
    tf.TensorSpec([], tf.int32, name="seed"),
]


class TranslatorModule(tf.Module):
    """Tokenizers + model weights + decoding, with ``tf.function`` signatures.

    The Keras model is not an attribute (SavedModel would try to serialize the Keras
    object); its variables are, so they are saved, and the functions call the model
    through a closure at trace time, which turns its layers into plain graph ops.

    Args:
        model: a built ``Seq2Seq``.
        source_tokenizer, target_tokenizer: the run's tokenizers (may be one object).
        max_source_length: longer inputs are truncated (and flagged).
        max_target_length: ``data.max_target_length``; the default output cap is one
            more (END).
        decode_config: defaults for ``serving_default`` and for :func:`load_exported`.
        metadata_file: a JSON file saved as ``assets/metadata.json``.
    """

    def __init__(
        self,
        model: Any,
        source_tokenizer: Any,
        target_tokenizer: Any,
        *,
        max_source_length: int,
        max_target_length: int,
        decode_config: DecodeConfig,
        metadata_file: str | Path | None = None,
    ) -> None:
        super().__init__(name="translator")
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.model_variables = list(model.variables)
        if metadata_file is not None:
            self.metadata_asset = tf.saved_model.Asset(str(metadata_file))
        max_source = int(max_source_length)
        default_cap = int(max_target_length) + 1
        cfg = decode_config
        pointer = bool(getattr(model.decoder, "pointer_generator", False))

        def encode(text: tf.Tensor) -> tuple:
            """-> (ids, lengths, truncated, unknown words [B, K] or None)."""
            if not pointer:
                return (*encode_sources(text, source_tokenizer, max_source), None)
            # Copy model: unknown source words get extended ids (translator.copying).
            return encode_copy_sources(text, target_tokenizer, max_source)

        def run(ids, cap, strategy, beam_size, alpha, n_best, temperature, top_k, seed):
            limits = max_output_length(ids, cfg.max_length_a, cfg.max_length_b, cap)
            block = cfg.block_ngram_repeat
            # Inside a tf.function the strategies trace inline into this graph.
            if strategy == "greedy":
                result = greedy_search(model, ids, limits, block_ngram_repeat=block)
            elif strategy == "beam":
                result = beam_search(
                    model, ids, limits, beam_size, alpha, n_best, block_ngram_repeat=block
                )
            else:
                result = sample(
                    model,
                    ids,
                    limits,
                    temperature,
                    top_k,
                    seed,
                    num_samples=n_best,
                    block_ngram_repeat=block,
                )
            return result.as_dict()

        def texts(result: dict, oov_words: tf.Tensor | None) -> tf.Tensor:
            ids = result["ids"]
            shape = tf.shape(ids)
            flat = tf.reshape(ids, [shape[0] * shape[1], shape[2]])  # no -1: B or T may be 0
            if oov_words is None:
                return tf.reshape(target_tokenizer.detokenize_dense(flat), shape[:2])
            words = tf.repeat(oov_words, shape[1], axis=0)
            return tf.reshape(detokenize_extended(flat, words, target_tokenizer), shape[:2])

        def pieces(ids: tf.Tensor, oov_words: tf.Tensor | None) -> tf.Tensor:
            """Target pieces of ids [B, ...]; copied words show as themselves."""
            if oov_words is None:
                return target_tokenizer.id_to_piece_dense(ids)
            return restore_pieces(ids, oov_words, target_tokenizer)

        @tf.function(input_signature=[_TEXT], autograph=False)
        def serve(text: tf.Tensor) -> dict[str, tf.Tensor]:
            ids, _, _, oov_words = encode(text)
            result = run(
                ids,
                default_cap,
                cfg.strategy,
                cfg.beam_size,
                cfg.length_penalty,
                1,
                cfg.temperature,
                cfg.top_k,
                0,
            )
            return {
                "translations": texts(result, oov_words)[:, 0],
                "scores": result["scores"][:, 0],
            }

        @tf.function(input_signature=_TRANSLATE_SIGNATURE, autograph=False)
        def translate(
            text: tf.Tensor,
            beam_size: tf.Tensor,
            length_penalty: tf.Tensor,
            max_length: tf.Tensor,
            n_best: tf.Tensor,
            temperature: tf.Tensor,
            top_k: tf.Tensor,
            seed: tf.Tensor,
        ) -> dict[str, tf.Tensor]:
            ids, source_lengths, truncated, oov_words = encode(text)
            cap = tf.where(max_length > 0, max_length, default_cap)
            n_best = tf.maximum(n_best, 1)
            args = (ids, cap)
            rest = (beam_size, length_penalty, n_best, temperature, top_k, seed)
            branch = tf.where(temperature > 0.0, 2, tf.where(beam_size > 1, 1, 0))
            result = tf.switch_case(
                branch,
                [
                    lambda: run(*args, "greedy", *rest),
                    lambda: run(*args, "beam", *rest),
                    lambda: run(*args, "sample", *rest),
                ],
            )
            lengths = result["lengths"]
            steps = tf.shape(result["ids"])[2]
            on_target = tf.range(steps)[tf.newaxis, tf.newaxis] < lengths[..., tf.newaxis]
            target_pieces = tf.where(on_target, pieces(result["ids"], oov_words), "")
            width = tf.shape(ids)[1]
            on_source = tf.range(width)[tf.newaxis] < source_lengths[:, tf.newaxis]
            source_pieces = tf.where(
                on_source,
                pieces(ids, oov_words) if pointer else source_tokenizer.id_to_piece_dense(ids),
                "",
            )
            return {
                "translations": texts(result, oov_words),
                "scores": result["scores"],
                "log_probs": result["log_probs"],
                "source_pieces": source_pieces,
                "source_lengths": source_lengths,
                "target_pieces": target_pieces,
                "target_lengths": lengths,
                "attention": result["attention"],
                "truncated": truncated,
            }

        self.serve = serve
        self.translate = translate

    def signatures(self) -> dict[str, Any]:
        """The ``signatures`` argument for ``tf.saved_model.save``."""
        return {"serving_default": self.serve, "translate": self.translate}


# --------------------------------------------------------------------------- loading


class ExportedTranslator:
    """A loaded export (see :func:`load_exported`).

    Attributes:
        module: what ``tf.saved_model.load`` returned.
        metadata: ``assets/metadata.json`` as a dict.
        path: the export folder.
    """

    def __init__(self, module: Any, metadata: dict[str, Any], path: Path) -> None:
        self.module = module
        self.metadata = metadata
        self.path = path
        self._translate = module.signatures["translate"]

    @property
    def decode_defaults(self) -> DecodeConfig:
        """The run's decoding settings (the defaults of :meth:`translate`)."""
        known = DecodeConfig.__dataclass_fields__
        return DecodeConfig(
            **{k: v for k, v in self.metadata.get("decode", {}).items() if k in known}
        )

    def translate(
        self,
        strings: Sequence[str] | str,
        *,
        beam_size: int | None = None,
        length_penalty: float | None = None,
        max_length: int = 0,
        n_best: int = 1,
        temperature: float | None = None,
        top_k: int | None = None,
        seed: int = 0,
    ) -> dict[str, np.ndarray]:
        """Translates a batch through the ``translate`` signature.

        Args:
            strings: the source texts (one str is treated as a batch of one).
            beam_size: 1 = greedy, > 1 = beam search; default: the run's decode
                settings (its beam size when its strategy is ``beam``, else 1).
            length_penalty: GNMT alpha (default: the run's).
            max_length: output cap in tokens (0: the model's default).
            n_best: hypotheses (beam) or samples (sampling) per input.
            temperature: > 0 samples (default: the run's when its strategy is
                ``sample``, else 0).
            top_k: sampling filter, 0 = none (default: the run's).
            seed: sampling seed.

        Returns:
            The signature's outputs as numpy arrays (see the module doc), with the
            string outputs (``translations``, ``source_pieces``, ``target_pieces``)
            decoded to ``str`` (object arrays).
        """
        if isinstance(strings, str):
            strings = [strings]
        defaults = self.decode_defaults
        if beam_size is None:
            beam_size = defaults.beam_size if defaults.strategy == "beam" else 1
        if temperature is None:
            temperature = defaults.temperature if defaults.strategy == "sample" else 0.0
        outputs = self._translate(
            text=tf.constant(_utf8(strings), tf.string),
            beam_size=tf.constant(int(beam_size), tf.int32),
            length_penalty=tf.constant(
                float(defaults.length_penalty if length_penalty is None else length_penalty),
                tf.float32,
            ),
            max_length=tf.constant(int(max_length), tf.int32),
            n_best=tf.constant(int(n_best), tf.int32),
            temperature=tf.constant(float(temperature), tf.float32),
            top_k=tf.constant(int(defaults.top_k if top_k is None else top_k), tf.int32),
            seed=tf.constant(int(seed), tf.int32),
        )
        result = {name: value.numpy() for name, value in outputs.items()}
        for name in STRING_OUTPUTS:
            result[name] = _decode_strings(result[name])
        return result

    def __call__(self, strings: Sequence[str] | str, **kwargs: Any) -> list[str]:
        """The best translation of each string."""
        return [row[0] for row in self.translate(strings, **kwargs)["translations"]]


def _utf8(strings: Sequence[str | bytes]) -> list[bytes]:
    """UTF-8 bytes of each input; text that has no UTF-8 form gets a clear error."""
    out = []
    for i, text in enumerate(strings):
        if isinstance(text, bytes):
            out.append(text)
            continue
        try:
            out.append(text.encode("utf-8"))
        except UnicodeEncodeError as err:
            raise ValueError(
                f"input {i} is not valid Unicode text: {err.reason} at character "
                f"{err.start} ({text[err.start : err.end]!r})"
            ) from None
    return out


def _decode_strings(array: np.ndarray) -> np.ndarray:
    out = np.empty(array.shape, dtype=object)
    flat = out.reshape(-1)
    for i, value in enumerate(array.reshape(-1)):
        flat[i] = value.decode("utf-8", errors="replace")
    return out


def load_exported(path: str | Path) -> ExportedTranslator:
    """Loads an export written by ``python -m translator.export``.

    Imports ``tensorflow_text`` first (it registers the tokenizer ops).  Raises
    ``FileNotFoundError`` when ``path`` is not an export.
    """
    import tensorflow_text  # noqa: F401  (registers ops the SavedModel needs)

    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(
            f"no exported model at {path}; export a trained run with "
            f"`python -m translator.export --run runs/<name> --out {path}`"
        )
    module = tf.saved_model.load(str(path))
    meta_path = path / "assets" / METADATA_FILE
    metadata = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    return ExportedTranslator(module, metadata, path)


__all__ = [
    "METADATA_FILE",
    "ExportedTranslator",
    "TranslatorModule",
    "load_exported",
]
