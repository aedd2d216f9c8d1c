"""Shared pieces of the decoding / export / translate tests.

One tiny model is trained per test session (a char tokenizer and a bi-GRU + Luong
attention model, ~50 steps on "reverse the letters"; Luong without input feeding
trains on the fused path, the fastest to trace), saved as a run folder with the layout
training writes, and exported with the real CLI; :func:`artifacts` builds that once
and caches it (each test module imports the ``artifacts`` fixture).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from translator.config import (
    Config,
    DataConfig,
    DecodeConfig,
    ModelConfig,
    TokenizerConfig,
    TrainConfig,
)
from translator.export import main as export_main
from translator.exporting import export_model
from translator.model import build_model
from translator.pipeline import TrainingData
from translator.runs import RunPaths, save_weights_only, write_json, write_run_setup
from translator.special_tokens import END_ID, START_ID
from translator.tokenizer import CharTokenizer, WordTokenizer

ALPHABET = "abcdefgh"
#: Simplified and Traditional characters, full-width punctuation: the Chinese variant.
CHINESE_ALPHABET = "我爱愛你中文國国，。"
MAX_SOURCE = 12
MAX_TARGET = 14


def reverse_pairs(n: int, seed: int = 0, alphabet: str = ALPHABET) -> list[tuple[str, str]]:
    """Random letter strings (with a space sometimes) and their reversal."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        word = "".join(rng.choice(alphabet) for _ in range(rng.randint(2, 7)))
        if rng.random() < 0.3:
            word = word[:2] + " " + word[2:]
        pairs.append((word, word[::-1]))
    return pairs


def tiny_model(
    decoder: str = "bahdanau",
    cell: str = "gru",
    vocab: int = 14,
    source_vocab: int = 20,
    seed: int = 0,
    **kwargs,
):
    """An untrained tiny model of any variant."""
    keras.utils.set_random_seed(seed)
    config = ModelConfig(
        cell=cell,
        embedding_dim=8,
        units=12,
        decoder=decoder,
        source_vocab_size=source_vocab,
        target_vocab_size=vocab,
        **kwargs,
    )
    return build_model(config)


def teacher_forced_log_prob(model, source_row: np.ndarray, hyps: np.ndarray, lengths) -> np.ndarray:
    """log P(hyp[:length] | source) by running ``model((source, [START] + hyp))``."""
    n, steps = hyps.shape
    decoder_in = np.concatenate([np.full((n, 1), START_ID, "int32"), hyps[:, :-1]], axis=1)
    if steps == 0:
        return np.zeros([n], "float32")
    logits = model((np.repeat(source_row[None], n, axis=0), decoder_in))
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32)).numpy()
    picked = np.take_along_axis(log_probs, hyps[..., None].astype("int64"), axis=-1)[..., 0]
    mask = np.arange(steps)[None] < np.asarray(lengths)[:, None]
    return (picked * mask).sum(-1)


@dataclasses.dataclass(frozen=True)
class Artifacts:
    """What the session builds once."""

    run: Path  # run folder
    export: Path  # export folder (written by the export CLI)
    model: keras.Model
    tokenizer: CharTokenizer  # joint source/target tokenizer
    config: Config


def _train(model, tokenizer: CharTokenizer, pairs: list[tuple[str, str]]) -> None:
    sources = tokenizer.tokenize(tf.constant([s for s, _ in pairs])).to_tensor().numpy()
    targets = tokenizer.tokenize(tf.constant([t for _, t in pairs]))
    start = tf.fill([targets.nrows(), 1], START_ID)
    end = tf.fill([targets.nrows(), 1], END_ID)
    decoder_in = tf.concat([start, targets], axis=1).to_tensor().numpy()
    labels = tf.concat([targets, end], axis=1).to_tensor().numpy()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
        jit_compile=False,
    )
    model.fit((sources, decoder_in), labels, batch_size=32, epochs=8, verbose=0, shuffle=True)


@functools.cache
def _build(base: Path, alphabet: str = ALPHABET, name: str = "reverse") -> Artifacts:
    root = base / f"translator-session-{name}"
    root.mkdir(exist_ok=True)
    pairs = reverse_pairs(192, alphabet=alphabet)
    tokenizer = CharTokenizer.train([s for s, _ in pairs] + [t for _, t in pairs], 64)
    config = Config(
        name=name,
        data=DataConfig(corpus="dates", max_source_length=MAX_SOURCE, max_target_length=MAX_TARGET),
        tokenizer=TokenizerConfig(kind="char", vocab_size=64),
        model=ModelConfig(
            cell="gru",
            embedding_dim=16,
            units=32,
            decoder="luong",
            attention="general",
            # trained as spa-en is on CPUs with AVX-512 BF16 (inference is float32)
            output_bfloat16=True,
            source_vocab_size=tokenizer.vocab_size,
            target_vocab_size=tokenizer.vocab_size,
        ),
        decode=DecodeConfig(strategy="greedy", beam_size=3, length_penalty=0.6),
    )
    keras.utils.set_random_seed(7)
    model = build_model(config)
    _train(model, tokenizer, pairs)

    paths = RunPaths(root / "run")
    write_run_setup(paths, config, tokenizer, tokenizer)
    save_weights_only(model, paths.best)
    write_json(paths.summary, {"epochs": 8, "best_epoch": 8})
    write_json(paths.eval_file("test"), {"bleu": 42.0, "chrf": 50.0})

    export = root / "export"
    assert export_main(["--run", str(paths.root), "--out", str(export)]) == 0
    return Artifacts(run=paths.root, export=export, model=model, tokenizer=tokenizer, config=config)


def copy_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """Pairs "<greeting> name : <6 random letters> ." -> the name (only copying solves it)."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        name = "".join(rng.choices(string.ascii_lowercase, k=6))
        filler = rng.choice(["hello", "hi", "greetings"])
        pairs.append((f"{filler} name : {name} .", name))
    return pairs


def train_copy_model(pairs: list[tuple[str, str]], tokenizer, pointer: bool):
    """A bi-GRU + Bahdanau model (with or without the pointer-generator) fit on ``pairs``
    for 3 epochs of the trainer's own batches."""
    keras.utils.set_random_seed(0)
    model_config = ModelConfig(
        cell="gru",
        embedding_dim=32,
        units=32,
        decoder="bahdanau",
        pointer_generator=pointer,
        source_vocab_size=tokenizer.vocab_size,
        target_vocab_size=tokenizer.vocab_size,
    )
    model = build_model(model_config)
    config = Config(
        tokenizer=TokenizerConfig(kind="word", joint=True),
        model=model_config,
        train=TrainConfig(batch_size=50, seed=0),
    )
    data = TrainingData(pairs, tokenizer, tokenizer, config)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
    )
    model.fit(data.dataset(0, 3), epochs=3, steps_per_epoch=data.steps_per_epoch, verbose=0)
    return model


@dataclasses.dataclass(frozen=True)
class CopyArtifacts:
    """The pointer-generator trained on the copy task, exported as a summarizer."""

    model: keras.Model
    tokenizer: WordTokenizer
    export: Path
    test: list[tuple[str, str]]


COPY_MAX_SOURCE = 200  # room for long "articles" in the demo test


@functools.cache
def _build_copy(base: Path) -> CopyArtifacts:
    train, test = copy_pairs(1500, 0), copy_pairs(100, 1)
    # The names are never in the vocabulary: only "hello name : ." and friends are.
    tokenizer = WordTokenizer.train([s for s, _ in train[:50]] + ["x"], vocab_size=10)
    model = train_copy_model(train, tokenizer, pointer=True)
    config = Config(
        name="names",
        task="summarization",
        data=DataConfig(corpus="local", max_source_length=COPY_MAX_SOURCE),
        tokenizer=TokenizerConfig(kind="word", joint=True),
        model=ModelConfig(decoder="bahdanau", pointer_generator=True),
        decode=DecodeConfig(max_length_a=0.0, max_length_b=4),
    )
    export = export_model(model, tokenizer, tokenizer, config, base / "copy-session" / "names")
    return CopyArtifacts(model=model, tokenizer=tokenizer, export=export, test=test)


@pytest.fixture(scope="session")
def copy_artifacts(tmp_path_factory: pytest.TempPathFactory) -> CopyArtifacts:
    """The copy-task pointer-generator and its summarizer export (built once per session)."""
    return _build_copy(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """The trained tiny model, its run folder and its export (built once per session)."""
    return _build(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def chinese_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """The same tiny model trained to reverse Chinese characters (mixed Simplified and
    Traditional, full-width punctuation, no spaces between words), exported."""
    return _build(tmp_path_factory.getbasetemp(), CHINESE_ALPHABET, "reverse-zh")


@functools.cache
def loaded(path: Path):
    """One ``load_exported`` per export and session (each load re-optimizes the graphs
    on its first call, which takes seconds)."""
    from translator.serving import load_exported

    return load_exported(path)


MARKER = "zebra"
MARKER_WORDS = "the a cat dog runs sits on mat hill old red blue big small ran saw".split()  # noqa: SIM905


def marker_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """Articles of 3-7 random sentences; the summary is the sentences holding MARKER
    (one to three of them), in article order -- known answers for every article."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        count = rng.randint(3, 7)
        marked = set(rng.sample(range(count), rng.randint(1, min(3, count))))
        sentences = []
        for i in range(count):
            words = rng.choices(MARKER_WORDS, k=rng.randint(3, 6))
            if i in marked:
                words.insert(rng.randrange(len(words) + 1), MARKER)
            sentences.append(" ".join(words).capitalize() + ".")
        summary = " ".join(s for i, s in enumerate(sentences) if i in marked)
        pairs.append((" ".join(sentences), summary))
    return pairs


def extractive_config(corpus: str = "bbc-news-summary", **overrides: object) -> Config:
    """``bbc-extractive`` shrunk for tests (8-word sentence slots, 16 units)."""
    from translator.config import load_config

    settings = {
        "data.corpus": corpus,
        "data.direction": "article-summary" if corpus == "bbc-news-summary" else "null",
        "data.sentence_words": 8,
        "model.units": 16,
        "model.embedding_dim": 8,
        "model.dropout": 0.0,
        **overrides,
    }
    return load_config("bbc-extractive", [f"{k}={v}" for k, v in settings.items()])


@dataclasses.dataclass(frozen=True)
class ExtractiveArtifacts:
    """``bbc-extractive`` (tiny) trained by the real trainer on the marker task."""

    run: Path
    export: Path


@functools.cache
def _build_extractive(base: Path) -> ExtractiveArtifacts:
    from translator.exporting import export_run
    from translator.training import TrainOptions, train

    root = base / "extractive-session"
    root.mkdir(exist_ok=True)
    corpus = root / "marker.tsv"
    corpus.write_text("".join(f"{a}\t{s}\n" for a, s in marker_pairs(1200, 0)), encoding="utf-8")
    config = extractive_config(
        str(corpus),
        **{
            "model.units": 32,
            "model.embedding_dim": 16,
            "train.epochs": 6,
            "train.batch_size": 32,
            "train.learning_rate": 0.01,
            "train.checkpoint_every_minutes": "null",
        },
    )
    train(config, root / "run", TrainOptions(verbose=0))
    export = export_run(root / "run", root / "export")
    return ExtractiveArtifacts(run=root / "run", export=export)


@pytest.fixture(scope="session")
def extractive_artifacts(tmp_path_factory: pytest.TempPathFactory) -> ExtractiveArtifacts:
    """The marker-task extractive run and its export (built once per session)."""
    return _build_extractive(tmp_path_factory.getbasetemp())


#: The start of a script for ``python -I -c``: the process cannot import this package
#: (what an export must not need), then loads TensorFlow and tensorflow-text.
WITHOUT_TRANSLATOR = """
import sys
sys.modules["translator"] = None  # the export must not need this package
try:
    import translator  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("translator was importable")
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops)
"""


def run_without_translator(script: str, export: Path, inputs: list, tmp_path: Path) -> Any:
    """Runs ``script`` (which starts with :data:`WITHOUT_TRANSLATOR`) in an isolated
    ``python -I`` process with ``argv = [export, json inputs, out.json]``; returns what it
    wrote to ``out.json``."""
    import json

    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, "-I", "-c", script, str(export), json.dumps(inputs), str(out)],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))


def clean_env() -> dict[str, str]:
    """Environment for subprocesses: no PYTHONPATH, quiet TensorFlow."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def run_module(args: list[str], cwd: Path | None = None, stdin: bytes | None = None):
    """``python -m ...`` in a subprocess (bytes in, bytes out)."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=clean_env(),
        timeout=300,
    )
