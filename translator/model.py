"""The encoder-decoder model and its single factory, :func:`build_model`."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
from keras import ops

from translator.attention import coverage_loss
from translator.config import Config, ConfigError, ModelConfig
from translator.decoder import Decoder
from translator.encoder import Bridge, Encoder
from translator.extractive import ExtractiveSummarizer
from translator.hardware import resolve_bfloat16
from translator.special_tokens import PAD_ID

_PACKAGE = "translator"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Seq2Seq(keras.Model):
    """RNN encoder-decoder: :class:`Encoder` -> :class:`Bridge` -> :class:`Decoder`.

    Args: the fields of :class:`translator.config.ModelConfig` (vocabulary sizes
    filled in), and ``coverage_loss_weight`` (See et al. 2017's lambda).

    - ``call((source_ids, decoder_input_ids))``: teacher forcing; ``source_ids``
      ``[batch, src_len]``, ``decoder_input_ids`` ``[batch, tgt_len]`` (start token
      first) -> logits ``[batch, tgt_len, target_vocab]``; with
      ``return_attention=True`` also the weights ``[batch, tgt_len, src_len]``.
      A pointer-generator model (joint vocabulary) reads source ids in the extended
      vocabulary (:func:`translator.copying.extend_source`): ids at or above the
      vocabulary size are unknown words, embedded as the unknown token but
      copyable under their own id; it returns log-probabilities over that extended
      vocabulary.  An explicit third input overrides the extended ids.  With
      coverage, training adds the coverage loss (times ``coverage_loss_weight``) to
      the model's losses.
    - ``encode(source_ids, extended_ids=None)`` -> state, a flat dict of batch-major
      tensors.
    - ``decode_step(token_ids, state)``: ``token_ids`` ``[batch]`` -> (logits
      ``[batch, target_vocab]``, new state, weights ``[batch, src_len]``).

    Id 0 is padding on both sides.
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        cell: str = "gru",
        embedding_dim: int = 256,
        units: int = 256,
        encoder_units: int | None = None,
        encoder_layers: int = 1,
        decoder_layers: int = 1,
        bidirectional: bool = True,
        merge_mode: str = "concat",
        dropout: float = 0.0,
        decoder: str = "bahdanau",
        attention: str = "general",
        attention_units: int | None = None,
        input_feeding: bool = False,
        deep_output: bool = False,
        scale_scores: bool = False,
        tie_embeddings: bool = False,
        output_bfloat16: bool = False,
        pointer_generator: bool = False,
        coverage: bool = False,
        coverage_loss_weight: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_args = dict(
            source_vocab_size=source_vocab_size,
            target_vocab_size=target_vocab_size,
            cell=cell,
            embedding_dim=embedding_dim,
            units=units,
            encoder_units=encoder_units,
            encoder_layers=encoder_layers,
            decoder_layers=decoder_layers,
            bidirectional=bidirectional,
            merge_mode=merge_mode,
            dropout=dropout,
            decoder=decoder,
            attention=attention,
            attention_units=attention_units,
            input_feeding=input_feeding,
            deep_output=deep_output,
            scale_scores=scale_scores,
            tie_embeddings=tie_embeddings,
            output_bfloat16=output_bfloat16,
            pointer_generator=pointer_generator,
            coverage=coverage,
            coverage_loss_weight=coverage_loss_weight,
        )
        self.encoder = Encoder(
            source_vocab_size,
            embedding_dim,
            encoder_units or units,
            cell=cell,
            num_layers=encoder_layers,
            bidirectional=bidirectional,
            merge_mode=merge_mode,
            dropout=dropout,
            name="encoder",
        )
        self.bridge = Bridge(units, decoder_layers, cell, name="bridge")
        memory_dim = self.encoder.output_dim
        self.decoder = Decoder(
            target_vocab_size,
            embedding_dim,
            units,
            memory_dim=memory_dim,
            context_dim=memory_dim,
            cell=cell,
            num_layers=decoder_layers,
            variant=decoder,
            attention=attention,
            attention_units=attention_units,
            input_feeding=input_feeding,
            deep_output=deep_output,
            scale_scores=scale_scores,
            coverage=coverage,
            pointer_generator=pointer_generator,
            dropout=dropout,
            tie_embeddings=tie_embeddings,
            output_bfloat16=output_bfloat16,
            name="decoder",
        )

    def build(self, input_shape: Any = None) -> None:
        # Trace one tiny batch so every weight exists (also the step-only ones);
        # `.keras` loading relies on it.
        source = ops.ones((1, 2), dtype="int32")
        self.decoder.build()
        self.call((source, source, source) if self.decoder.pointer_generator else (source, source))
        self.built = True

    def encode(
        self, source_ids: Any, extended_ids: Any | None = None, training: bool = False
    ) -> dict[str, Any]:
        """Runs the encoder and returns the decoder's initial state (see class doc).

        ``extended_ids`` (pointer-generator only) defaults to ``source_ids``, which
        may then hold extended ids (see the class doc).
        """
        if self.decoder.pointer_generator:
            if extended_ids is None:
                extended_ids = source_ids
            unknown = ops.greater_equal(source_ids, self.model_args["source_vocab_size"])
            source_ids = ops.where(unknown, ops.ones_like(source_ids), source_ids)
        memory, states, mask = self.encoder(source_ids, training=training)
        context = states[-1][0]  # Cho's c: the top layer's final h
        return self.decoder.initial_state(
            memory, mask, self.bridge(states), context, extended_ids=extended_ids
        )

    def decode_step(
        self, token_ids: Any, state: dict[str, Any], training: bool = False
    ) -> tuple[Any, dict[str, Any], Any]:
        """One target step for ``token_ids`` ``[batch]`` (see class doc)."""
        return self.decoder.step(token_ids, state, training=training)

    def call(
        self, inputs: Any, training: bool | None = None, return_attention: bool = False
    ) -> Any:
        source_ids, decoder_input_ids, *extended = inputs
        state = self.encode(source_ids, *extended, training=bool(training))
        logits, weights = self.decoder(decoder_input_ids, state, training=bool(training))
        if training and self.decoder.coverage:
            weight = self.model_args["coverage_loss_weight"]
            self.add_loss(weight * coverage_loss(weights, ops.not_equal(decoder_input_ids, PAD_ID)))
        if return_attention:
            return logits, weights
        return logits

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(self.model_args)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Seq2Seq:
        return cls(**config)


def build_model(config: Config | ModelConfig) -> Seq2Seq | ExtractiveSummarizer:
    """Builds the model described by a config (vocabulary sizes must be set): a
    :class:`Seq2Seq`, or with ``model.architecture: extractive`` an
    :class:`~translator.extractive.ExtractiveSummarizer` (needs the whole config).

    Given a whole :class:`Config`, the coverage loss weight comes from its ``train``
    section.
    """
    model_config = config.model if isinstance(config, Config) else config
    if model_config.extractive:
        return _build_extractive(config)
    extra = {}
    if isinstance(config, Config):
        extra["coverage_loss_weight"] = config.train.coverage_loss_weight
    if model_config.source_vocab_size is None or model_config.target_vocab_size is None:
        raise ConfigError(
            "model.source_vocab_size and model.target_vocab_size must be set "
            "(they come from the trained tokenizers)"
        )
    if model_config.pointer_generator and (
        model_config.source_vocab_size != model_config.target_vocab_size
    ):
        raise ConfigError(
            "model.pointer_generator=true needs one vocabulary for both sides "
            "(tokenizer.joint=true)"
        )
    if model_config.tie_embeddings and model_config.units != model_config.embedding_dim:
        raise ConfigError(
            f"model.tie_embeddings=true needs model.units == model.embedding_dim, got "
            f"{model_config.units} and {model_config.embedding_dim}"
        )
    if model_config.tie_embeddings and model_config.output_bfloat16 is True:
        raise ConfigError(
            "model.output_bfloat16=true needs an untied output layer (model.tie_embeddings=false)"
        )
    if model_config.decoder == "luong" and model_config.attention == "dot":
        memory_dim = (model_config.encoder_units or model_config.units) * (
            2 if model_config.bidirectional and model_config.merge_mode == "concat" else 1
        )
        if memory_dim != model_config.units:
            raise ConfigError(
                "model.attention=dot needs encoder outputs as wide as the decoder state; "
                "set model.merge_mode=sum or model.bidirectional=false, or use 'general'"
            )
    fields = dataclasses.asdict(model_config)
    del fields["architecture"]  # always seq2seq here
    # "auto" means this machine's choice; a tied output layer stays float32.
    fields["output_bfloat16"] = (
        resolve_bfloat16(model_config.output_bfloat16) and not model_config.tie_embeddings
    )
    model = Seq2Seq(**fields, **extra, name="seq2seq")
    model.build()
    return model


def _build_extractive(config: Config | ModelConfig) -> ExtractiveSummarizer:
    if not isinstance(config, Config):
        raise ConfigError("an extractive model needs the whole config (data.sentence_words)")
    model_config = config.model
    if model_config.source_vocab_size is None:
        raise ConfigError("model.source_vocab_size must be set (it comes from the tokenizer)")
    model = ExtractiveSummarizer(
        vocab_size=model_config.source_vocab_size,
        sentence_words=config.data.sentence_words,
        cell=model_config.cell,
        embedding_dim=model_config.embedding_dim,
        units=model_config.units,
        bidirectional=model_config.bidirectional,
        dropout=model_config.dropout,
        attention_units=model_config.attention_units,
        name="extractive",
    )
    model.build()
    return model
