"""Frozen dataclass configuration, loaded from YAML presets or files.

A run is described by one :class:`Config` with five sections (``data``,
``tokenizer``, ``model``, ``train``, ``decode``).  Configs are immutable; overrides
from the command line (``--set model.cell=lstm``) produce a new config.  Every
value is validated when the config is built, so a typo fails before any work with
a message that names the key and the allowed values.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

CELLS = ("rnn", "lstm", "gru", "peephole_lstm")
DECODERS = ("sutskever", "cho", "bahdanau", "luong")
ARCHITECTURES = ("seq2seq", "extractive")
LUONG_SCORES = ("dot", "general", "concat")
TASKS = ("translation", "summarization")
TOKENIZERS = ("sentencepiece", "char", "word")
STRATEGIES = ("greedy", "beam", "sample")  # decoding; the order is the graph's branch index
# Keys older run folders may hold that no longer mean anything; read and ignored.
RETIRED_KEYS = frozenset({"train.shuffle_buffer"})


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range."""


def _choice(key: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; choose one of {list(allowed)}")


def _positive(key: str, value: Any, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        raise ConfigError(f"{key}={value!r} must be {'>= 0' if allow_zero else '> 0'}")


@dataclass(frozen=True)
class DataConfig:
    """Which corpus, which direction, and how long sequences may be.

    ``corpus`` is a registered name (``spa-eng``, ``dates``, ...) or a path to a
    local TSV / JSONL file (or ``src_path:tgt_path`` for two aligned files).
    Lengths are in tokens after tokenization, without start/end tokens.
    """

    corpus: str = "dates"
    direction: str | None = None
    data_dir: str | None = None
    max_source_length: int = 64
    max_target_length: int = 64
    overlength: str = "drop"  # drop | trim (trim is what summarization wants)
    train_limit: int | None = None
    eval_limit: int | None = None
    uppercase_titles: bool = True  # keep Reuters' upper-case titles as they are
    strict: bool = False  # fail on the first malformed corpus line instead of skipping
    # Extractive models: the first max_sentences sentences, sentence_words tokens each.
    max_sentences: int = 50
    sentence_words: int = 40
    # Training pairs of at most short_pair_words source words appear
    # short_pair_repeats times per epoch (translator.data.oversampling); 0 / 1: off.
    short_pair_words: int = 0
    short_pair_repeats: int = 1

    def validate(self) -> None:
        _positive("data.max_source_length", self.max_source_length)
        _positive("data.max_sentences", self.max_sentences)
        _positive("data.sentence_words", self.sentence_words)
        _positive("data.max_target_length", self.max_target_length)
        _choice("data.overlength", self.overlength, ("drop", "trim"))
        _positive("data.short_pair_repeats", self.short_pair_repeats)
        _positive("data.short_pair_words", self.short_pair_words, allow_zero=True)


@dataclass(frozen=True)
class TokenizerConfig:
    """Subword (SentencePiece), character or word tokenization, run in the TF graph.

    Reserved ids are shared by every kind: 0 padding, 1 unknown, 2 start, 3 end.
    """

    kind: str = "sentencepiece"
    model_type: str = "unigram"  # unigram | bpe (SentencePiece only)
    vocab_size: int = 5000  # per side, or for both when joint
    joint: bool = False
    byte_fallback: bool = True
    character_coverage: float = 0.9995
    lowercase: bool = False
    strip_accents: bool = False
    normalization: str = "NFC"  # NFC | NFKC
    train_sentences: int = 200_000  # cap on sentences fed to the SentencePiece trainer

    def validate(self) -> None:
        _choice("tokenizer.kind", self.kind, TOKENIZERS)
        _choice("tokenizer.model_type", self.model_type, ("unigram", "bpe"))
        _choice("tokenizer.normalization", self.normalization, ("NFC", "NFKC"))
        _positive("tokenizer.vocab_size", self.vocab_size)


@dataclass(frozen=True)
class ModelConfig:
    """The encoder-decoder variant and its sizes.

    ``decoder`` picks the paper: ``sutskever`` (final state only), ``cho`` (context
    vector fed to every step), ``bahdanau`` (additive attention on s_{t-1}) or
    ``luong`` (``attention``: dot | general | concat on h_t).  Vocabulary sizes are
    filled in from the trained tokenizers before the model is built.

    ``architecture: extractive`` is the sentence extractor of
    :mod:`translator.extractive` instead (summarization only): it uses ``cell``,
    ``embedding_dim``, ``units``, ``bidirectional``, ``dropout`` and
    ``attention_units``, and ``data.max_sentences`` / ``data.sentence_words``.
    """

    architecture: str = "seq2seq"
    cell: str = "gru"
    embedding_dim: int = 256
    units: int = 256
    # Per encoder direction (default: units). OpenNMT-py's "brnn" uses units / 2, so a
    # bidirectional encoder's memory is as wide as the decoder state and costs less.
    encoder_units: int | None = None
    encoder_layers: int = 1
    decoder_layers: int = 1
    bidirectional: bool = True
    merge_mode: str = "concat"  # concat | sum
    dropout: float = 0.0
    decoder: str = "bahdanau"
    attention: str = "general"  # Luong score; ignored by other decoders
    attention_units: int | None = None  # Bahdanau/concat hidden size (default: units)
    input_feeding: bool = False
    # Luong options (README, Luong ablation): the readout also reads E y_{t-1}
    # (Bahdanau's deep output; no gain); dot/general scores divided by sqrt(units)
    # (Vaswani et al. 2017): unscaled ones saturate the softmax and Luong learns far
    # less.  Off by default so that older configs rebuild the models they trained; the
    # shipped presets turn scale_scores on.
    deep_output: bool = False
    scale_scores: bool = False
    tie_embeddings: bool = False
    # The output layer in bfloat16 (README, Training throughput): faster only on CPUs
    # with AVX-512 BF16 or AMX; "auto" turns it on there (translator.hardware).
    output_bfloat16: bool | str = False
    pointer_generator: bool = False
    coverage: bool = False
    source_vocab_size: int | None = None
    target_vocab_size: int | None = None

    @property
    def variant(self) -> str:
        """Short name of the architecture: ``gru-bahdanau``, ``lstm-luong-general-feed``..."""
        if self.extractive:
            return f"{self.cell}-extractive"
        parts = [self.cell, self.decoder]
        if self.decoder == "luong":
            parts.append(self.attention)
            if self.input_feeding:
                parts.append("feed")
        return "-".join(parts)

    @property
    def extractive(self) -> bool:
        """Whether this is the sentence extractor (:mod:`translator.extractive`)."""
        return self.architecture == "extractive"

    @property
    def attention_name(self) -> str | None:
        """The attention score in use (``bahdanau``, ``general``, ...), None without."""
        if self.decoder == "luong":
            return self.attention
        return "bahdanau" if self.decoder == "bahdanau" else None

    def validate(self) -> None:
        _choice("model.architecture", self.architecture, ARCHITECTURES)
        _choice("model.cell", self.cell, CELLS)
        _choice("model.decoder", self.decoder, DECODERS)
        _choice("model.attention", self.attention, LUONG_SCORES)
        _choice("model.merge_mode", self.merge_mode, ("concat", "sum"))
        for key in ("embedding_dim", "units", "encoder_layers", "decoder_layers"):
            _positive(f"model.{key}", getattr(self, key))
        if self.encoder_units is not None:
            _positive("model.encoder_units", self.encoder_units)
        if self.output_bfloat16 not in (True, False, "auto"):
            raise ConfigError(
                f"model.output_bfloat16={self.output_bfloat16!r} must be true, false or auto"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout={self.dropout!r} must be in [0, 1)")
        if self.input_feeding and self.decoder != "luong":
            raise ConfigError("model.input_feeding=true needs model.decoder=luong")
        if (self.pointer_generator or self.coverage) and self.decoder not in (
            "bahdanau",
            "luong",
        ):
            raise ConfigError(
                "model.pointer_generator / model.coverage need an attention decoder "
                "(model.decoder: bahdanau or luong)"
            )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping for teacher-forced training."""

    batch_size: int = 64
    epochs: int = 10
    optimizer: str = "adam"  # adam | adamw | sgd
    learning_rate: float = 1e-3
    schedule: str = "constant"  # constant | cosine | inverse_sqrt | budget_cosine
    warmup_steps: int = 0
    clipnorm: float | None = 1.0  # global-norm clipping; null turns it off
    label_smoothing: float = 0.0
    early_stopping_patience: int | None = 3
    validation_bleu_sample: int = 0  # sentences decoded greedily for val BLEU each epoch
    bucket: bool = True
    jit_compile: bool = True
    coverage_loss_weight: float = 1.0
    seed: int = 1234
    # Mid-epoch checkpoints (resumable from that batch); null turns either trigger off.
    checkpoint_every_steps: int | None = None
    checkpoint_every_minutes: float | None = 5.0
    # Validation perplexity every N batches as well (finer learning curves); null: off.
    validate_every_steps: int | None = None
    # Stop cleanly after this much wall-clock time, counted from the command's start;
    # ``--time-budget`` overrides it.  null: train for ``epochs``.
    time_budget_minutes: float | None = None

    def validate(self) -> None:
        _positive("train.batch_size", self.batch_size)
        _positive("train.epochs", self.epochs)
        _positive("train.learning_rate", self.learning_rate)
        _choice("train.optimizer", self.optimizer, ("adam", "adamw", "sgd"))
        _choice(
            "train.schedule", self.schedule, ("constant", "cosine", "inverse_sqrt", "budget_cosine")
        )
        if self.clipnorm is not None:
            _positive("train.clipnorm", self.clipnorm)
        if self.checkpoint_every_steps is not None:
            _positive("train.checkpoint_every_steps", self.checkpoint_every_steps)
        if self.checkpoint_every_minutes is not None:
            _positive("train.checkpoint_every_minutes", self.checkpoint_every_minutes)
        if self.validate_every_steps is not None:
            _positive("train.validate_every_steps", self.validate_every_steps)
        if self.time_budget_minutes is not None:
            _positive("train.time_budget_minutes", self.time_budget_minutes)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"train.label_smoothing={self.label_smoothing!r} must be in [0, 1)")


@dataclass(frozen=True)
class DecodeConfig:
    """Default decoding settings (the CLI and the exported model can override them).

    The maximum output length is ``max_length_a * source_length + max_length_b``,
    capped by ``data.max_target_length`` plus one.
    """

    strategy: str = "greedy"  # greedy | beam | sample
    beam_size: int = 5
    length_penalty: float = 1.0  # GNMT alpha
    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k filter
    max_length_a: float = 1.5
    max_length_b: int = 10
    block_ngram_repeat: int = 0  # 0: off; n: never repeat an n-gram

    def validate(self) -> None:
        _choice("decode.strategy", self.strategy, STRATEGIES)
        _positive("decode.beam_size", self.beam_size)
        _positive("decode.temperature", self.temperature)
        _positive("decode.top_k", self.top_k, allow_zero=True)
        _positive("decode.block_ngram_repeat", self.block_ngram_repeat, allow_zero=True)


@dataclass(frozen=True)
class Config:
    """A whole run: what to learn from, how to tokenize, model, training, decoding."""

    name: str = "unnamed"
    task: str = "translation"
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    def __post_init__(self) -> None:
        _choice("task", self.task, TASKS)
        for section in (self.data, self.tokenizer, self.model, self.train, self.decode):
            section.validate()
        if self.model.pointer_generator and not self.tokenizer.joint:
            # Copy ids are target ids of source pieces; with one vocabulary the source
            # ids themselves can carry them (see translator.copying).
            raise ConfigError(
                "model.pointer_generator=true needs tokenizer.joint=true (one vocabulary "
                "for source and target, as in See et al. 2017)"
            )

        if self.model.extractive:
            if self.task != "summarization":
                raise ConfigError("model.architecture=extractive needs task: summarization")
            if self.train.label_smoothing:
                raise ConfigError(
                    "model.architecture=extractive needs train.label_smoothing=0 (its "
                    "outputs are sentence positions, most of them masked)"
                )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_yaml(), encoding="utf-8")

    def replace(self, **sections: Any) -> Config:
        """Returns a copy with whole sections or top-level fields replaced."""
        return dataclasses.replace(self, **sections)

    def override(self, assignments: list[str] | tuple[str, ...]) -> Config:
        """Applies ``section.key=value`` strings (values parsed as YAML scalars)."""
        data = self.to_dict()
        for item in assignments:
            if "=" not in item:
                raise ConfigError(f"--set {item!r}: expected section.key=value")
            dotted, raw = item.split("=", 1)
            _assign(data, dotted.strip(), yaml.safe_load(raw) if raw.strip() else None)
        return from_dict(data)


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _assign(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    cls: type = Config
    for i, part in enumerate(parts):
        hints = _field_types(cls)
        if part not in hints:
            prefix = ".".join(parts[:i])
            where = f"section {prefix!r}" if prefix else "the top level"
            raise ConfigError(
                f"unknown config key {dotted!r}: {part!r} is not in {where}; "
                f"known keys: {sorted(hints)}"
            )
        if i == len(parts) - 1:
            node[part] = value
        else:
            cls = hints[part]
            if not dataclasses.is_dataclass(cls):
                raise ConfigError(f"config key {'.'.join(parts[: i + 1])!r} has no sub-keys")
            node = node.setdefault(part, {})


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Checks a YAML value against a field's type hint (ints widen to floats)."""
    if value is None:
        if hint is type(None) or (
            isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
        ):
            return None
        raise ConfigError(f"{key} must not be null")
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if option is type(None):
            continue
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is bool and isinstance(value, bool):
            return value
        if option is str and isinstance(value, str):
            return value
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise ConfigError(f"{key}={value!r} has the wrong type; expected {names}")


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'} must be a mapping, got {data!r}")
    hints = _field_types(cls)
    data = {k: v for k, v in data.items() if prefix + k not in RETIRED_KEYS}
    unknown = set(data) - set(hints)
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(
            f"unknown config key {prefix + key!r}; known keys"
            f"{' in ' + prefix.rstrip('.') if prefix else ''}: {sorted(hints)}"
        )
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value or {}, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(prefix + name, value, hint)
    return cls(**kwargs)


def from_dict(data: dict[str, Any]) -> Config:
    """Builds and validates a :class:`Config` from nested plain data."""
    return _build(Config, data, "")


def preset_names() -> list[str]:
    """Names of the YAML presets shipped inside the package."""
    folder = resources.files("translator") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_config(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Loads a preset by name (``dates``) or a YAML file by path, then applies overrides."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        text = path.read_text(encoding="utf-8")
    else:
        resource = resources.files("translator") / "presets" / f"{name_or_path}.yaml"
        if not resource.is_file():
            raise ConfigError(
                f"unknown preset {str(name_or_path)!r}; presets: {preset_names()} "
                "(or give a path to a .yaml file)"
            )
        text = resource.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{name_or_path}: not valid YAML: {err}") from err
    return from_dict(data).override(list(overrides))
