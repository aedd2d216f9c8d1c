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

An extractive summarizer (:mod:`translator.extractive`) reads sentences, not tokens:
``translations`` are the picked sentences joined in pick order, ``source_pieces`` the
article's sentences (S = sentences, at most ``data.max_sentences``; ``truncated``
when it had more), ``target_pieces`` the picked sentences, ``attention`` the pointer
distribution of each step over the sentences, and two more outputs give the picks:
``sentence_indices`` int32 [B, N, T] (-1 for the end and padding) and
``sentence_scores`` float32 [B, N, T] (the pointer probability of each pick).

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
from translator.inference import Inference, resolve_decode, sentence_picks, signature_inputs

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
_SETTING_DTYPES = {spec.name: spec.dtype for spec in _TRANSLATE_SIGNATURE[1:]}


class TranslatorModule(tf.Module):
    """Tokenizers + model weights + decoding, with ``tf.function`` signatures.

    The Keras model is not an attribute (SavedModel would try to serialize the Keras
    object); its variables are, so they are saved, and the functions call the model
    through a closure (:class:`~translator.inference.Inference`) at trace time, which
    turns its layers into plain graph ops.

    Args:
        inference: the model with its tokenizers, length limits and default decode
            settings (those of ``serving_default`` and of :func:`load_exported`).
        metadata_file: a JSON file saved as ``assets/metadata.json``.
    """

    def __init__(self, inference: Inference, metadata_file: str | Path | None = None) -> None:
        super().__init__(name="translator")
        self.source_tokenizer = inference.source_tokenizer
        self.target_tokenizer = inference.target_tokenizer
        self.model_variables = list(inference.model.variables)
        if metadata_file is not None:
            self.metadata_asset = tf.saved_model.Asset(str(metadata_file))

        @tf.function(input_signature=[_TEXT], autograph=False)
        def serve(text: tf.Tensor) -> dict[str, tf.Tensor]:
            encoded = inference.encode(text)
            result = inference.decode(encoded)
            return {
                "translations": inference.texts(result.ids, encoded)[:, 0],
                "scores": result.scores[:, 0],
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
            encoded = inference.encode(text)
            result = inference.decode_by_value(
                encoded,
                beam_size=beam_size,
                length_penalty=length_penalty,
                max_length=max_length,
                n_best=n_best,
                temperature=temperature,
                top_k=top_k,
                seed=seed,
            )
            outputs = {
                "translations": inference.texts(result.ids, encoded),
                "scores": result.scores,
                "log_probs": result.log_probs,
                "source_pieces": inference.source_pieces(encoded),
                "source_lengths": encoded.lengths,
                "target_pieces": inference.target_pieces(result, encoded),
                "target_lengths": result.lengths,
                "attention": result.attention,
                "truncated": encoded.truncated,
            }
            if inference.extractive:
                indices, probabilities = sentence_picks(result)
                outputs.update(sentence_indices=indices, sentence_scores=probabilities)
            return outputs

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
        decode: DecodeConfig | None = None,
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
            decode: the decode settings (default: the run's,
                :attr:`decode_defaults`); the keywords below change them as
                :func:`~translator.inference.resolve_decode` says.
            beam_size: 1 = greedy, > 1 = beam search.
            length_penalty: GNMT alpha.
            max_length: output cap in tokens (0: the model's default).
            n_best: hypotheses (beam) or samples (sampling) per input.
            temperature: > 0 samples, 0 searches.
            top_k: sampling filter, 0 = none.
            seed: sampling seed.

        Returns:
            The signature's outputs as numpy arrays (see the module doc), with the
            string outputs (``translations``, ``source_pieces``, ``target_pieces``)
            decoded to ``str`` (object arrays), and ``replaced`` bool [B]: the input
            had text with no UTF-8 form, which was replaced before translating (see
            below).  One row per input, in order, always: an input that has no UTF-8
            form never fails the batch.  A ``str`` with lone surrogates (``"\\ud800"``,
            e.g. from a bad UTF-16 decode) has each replaced by U+FFFD (a valid
            surrogate pair becomes its character); ``bytes`` that are not valid UTF-8
            are decoded with U+FFFD for the bad bytes.  Other text, control characters
            and NUL included, is translated as it is.

        Raises:
            TypeError: an input that is neither ``str`` nor ``bytes`` (naming its index).
        """
        if isinstance(strings, str):
            strings = [strings]
        settings = resolve_decode(
            decode or self.decode_defaults,
            beam_size=beam_size,
            length_penalty=length_penalty,
            temperature=temperature,
            top_k=top_k,
        )
        inputs = signature_inputs(settings, n_best=n_best, seed=seed, max_length=max_length)
        texts, replaced = _utf8(strings)
        outputs = self._translate(
            text=tf.constant(texts, tf.string, shape=[len(texts)]),
            **{name: tf.constant(value, _SETTING_DTYPES[name]) for name, value in inputs.items()},
        )
        result = {name: value.numpy() for name, value in outputs.items()}
        for name in STRING_OUTPUTS:
            result[name] = _decode_strings(result[name])
        result["replaced"] = np.asarray(replaced, dtype=bool).reshape([len(texts)])
        return result

    def __call__(self, strings: Sequence[str] | str, **kwargs: Any) -> list[str]:
        """The best translation of each string."""
        return [row[0] for row in self.translate(strings, **kwargs)["translations"]]


def _utf8(strings: Sequence[str | bytes]) -> tuple[list[bytes], list[bool]]:
    """-> (the UTF-8 bytes of each input, whether it had to be repaired to have them).

    Every input gives one entry: lone surrogates in a ``str`` become U+FFFD (valid
    surrogate pairs are joined into their character), and ``bytes`` that are not UTF-8
    are decoded with U+FFFD for the bad bytes.
    """
    out, replaced = [], []
    for i, text in enumerate(strings):
        if isinstance(text, bytes | np.bytes_):
            data = bytes(text)
            try:
                data.decode("utf-8")
                out.append(data)
                replaced.append(False)
            except UnicodeDecodeError:
                out.append(data.decode("utf-8", errors="replace").encode("utf-8"))
                replaced.append(True)
            continue
        if not isinstance(text, str):
            raise TypeError(f"input {i} is a {type(text).__name__}, not text (str or bytes)")
        try:
            out.append(text.encode("utf-8"))
            replaced.append(False)
        except UnicodeEncodeError:
            # UTF-16 round trip: pairs join, each lone surrogate becomes U+FFFD.
            fixed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
            out.append(fixed.encode("utf-8"))
            replaced.append(True)
    return out, replaced


def _decode_strings(array: np.ndarray) -> np.ndarray:
    out = np.empty(array.shape, dtype=object)
    flat = out.reshape(-1)
    for i, value in enumerate(array.reshape(-1)):
        flat[i] = value.decode("utf-8", errors="replace")
    return out


class CorruptExportError(ValueError):
    """An export folder whose files cannot be read (the message names the folder)."""


def load_exported(path: str | Path) -> ExportedTranslator:
    """Loads an export written by ``python -m translator.export``.

    Imports ``tensorflow_text`` first (it registers the tokenizer ops).  Raises
    ``FileNotFoundError`` when ``path`` is not an export and
    :class:`CorruptExportError` when its files cannot be read.
    """
    import tensorflow_text  # noqa: F401  (registers ops the SavedModel needs)

    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(
            f"no exported model at {path}; export a trained run with "
            f"`python -m translator.export --run runs/<name> --out {path}`"
        )
    meta_path = path / "assets" / METADATA_FILE
    try:
        module = tf.saved_model.load(str(path))
        metadata = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    except Exception as err:  # protobuf, TF and JSON errors alike: one clear message
        reason = " ".join(str(err).split())[:300] or type(err).__name__
        raise CorruptExportError(
            f"the export at {path} is truncated or corrupt ({reason}); export the run again"
        ) from err
    return ExportedTranslator(module, metadata, path)


__all__ = [
    "METADATA_FILE",
    "ExportedTranslator",
    "TranslatorModule",
    "load_exported",
]
