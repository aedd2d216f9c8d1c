"""Evaluating a run folder on a split: decode, score, and write ``eval/`` files.

:func:`evaluate_run` is what ``python -m translator.evaluate`` runs.  It translates
*every* pair of the split -- sources longer than ``data.max_source_length`` are
truncated, never skipped -- so hypotheses line up one to one with all references,
and it writes into ``<run>/eval/``:

* ``<name>.json``: BLEU, chrF and TER (sacrebleu, with signatures; case-sensitive,
  plus lower-cased when asked), exact-match rate, teacher-forced perplexity and token
  accuracy, BLEU per source-length bucket, ROUGE-1/2/L for summarization, decoding
  settings, model variant, sentence count, decoding time and sentences/s;
* ``<name>.hyp.txt`` / ``<name>.ref.txt`` / ``<name>.src.txt``: one sentence a line;
* ``<name>.bleu_by_length.png``: the BLEU-by-length bar chart.

``<name>`` is the split, or ``<split>.<tag>`` with a tag (``test.beam5``).
:func:`evaluate_phrasebook` checks a run on a phrasebook instead (see
:mod:`translator.phrasebook`) and writes ``eval/phrasebook[.<tag>].json``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tensorflow as tf

from translator.baselines import summary_baselines
from translator.config import Config, DecodeConfig
from translator.inference import Inference, resolve_decode
from translator.metrics import MaskedAccuracy, Perplexity
from translator.phrasebook import read_phrasebook, score_phrasebook
from translator.pipeline import make_dataset
from translator.runs import RunPaths, load_run, versions, write_json
from translator.scoring import (
    bleu_by_length,
    corpus_scores,
    plot_bleu_by_length,
    rouge,
)
from translator.sentences import split_sentences
from translator.tokenizer import Tokenizer

SPLITS = ("train", "validation", "test")


def teacher_forced_scores(
    model: Any,
    pairs: Sequence[tuple[str, str]],
    source_tokenizer: Tokenizer,
    target_tokenizer: Tokenizer,
    config: Config,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Perplexity and token accuracy of the references under teacher forcing.

    Pairs over the length limits are scored like in training (``data.overlength``:
    dropped or trimmed); ``pairs`` counts those scored, ``skipped_pairs`` the rest.
    """
    dataset, stats = make_dataset(
        pairs,
        source_tokenizer,
        target_tokenizer,
        config.data,
        batch_size,
        bucket=True,
        pointer_generator=config.model.pointer_generator,
        extractive=config.model.extractive,
    )
    perplexity, accuracy = Perplexity(), MaskedAccuracy()

    @tf.function(reduce_retracing=True)
    def step(source: tf.Tensor, decoder_input: tf.Tensor, labels: tf.Tensor) -> None:
        logits = model((source, decoder_input), training=False)
        perplexity.update_state(labels, logits)
        accuracy.update_state(labels, logits)

    for (source, decoder_input), labels in dataset:
        step(source, decoder_input, labels)
    return {
        "perplexity": float(perplexity.result()),
        "mean_nll": float(perplexity.mean_nll()),
        "token_accuracy": float(accuracy.result()),
        "tokens": int(perplexity.count.numpy()),
        "pairs": stats.kept,
        "skipped_pairs": stats.total - stats.kept,
    }


def spread_sample(pairs: list, limit: int | None) -> list:
    """``limit`` pairs evenly spread over the split, in order (all when None).

    Not the first ``limit``: several corpora (spa-eng among them) are sorted by length,
    so a prefix would hold only the shortest sentences.
    """
    if limit is None or limit >= len(pairs):
        return pairs
    step = len(pairs) / limit
    return [pairs[int(i * step)] for i in range(limit)]


def decode_settings(
    config: Config, beam: int | None, length_penalty: float | None = None
) -> DecodeConfig:
    """The run's decoding settings, with ``beam`` > 1 switching to beam search of that
    width, ``beam == 1`` to greedy search, and ``length_penalty`` replacing the beam's
    GNMT alpha."""
    return resolve_decode(config.decode, beam_size=beam, length_penalty=length_penalty)


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    # One sentence per line: line breaks inside a sentence would misalign the files.
    text = "".join(" ".join(line.splitlines()) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")


def evaluate_run(
    run_dir: str | Path,
    split: str = "test",
    beam: int | None = None,
    limit: int | None = None,
    lowercase: bool = False,
    checkpoint: str = "best",
    batch_size: int = 64,
    tag: str | None = None,
    progress: bool = True,
    download: bool = False,
    length_penalty: float | None = None,
) -> dict[str, Any]:
    """Decodes and scores ``split`` of a run; writes ``eval/`` files; returns the JSON dict.

    Args:
        run_dir: the run folder written by ``translator.train``.
        split: ``train``, ``validation`` or ``test``.
        beam: beam width (1: greedy); None keeps the run's ``decode`` settings.
        limit: score only ``limit`` pairs, evenly spread over the split.
        lowercase: also report lower-cased BLEU / chrF / TER.
        checkpoint: ``best``, ``final`` or ``last``.
        batch_size: sentences decoded together.
        tag: suffix of the output names (``test.<tag>.json``).
        progress: show a tqdm progress bar.
        download: allow fetching a missing corpus.
        length_penalty: beam search's GNMT alpha (None: the run's setting).
    """
    from tqdm import tqdm

    from translator.data import load_splits_from_config

    if split not in SPLITS:
        raise ValueError(f"split {split!r}: choose one of {list(SPLITS)}")
    paths = RunPaths(Path(run_dir))
    config, model, source_tok, target_tok = load_run(paths.root, checkpoint)
    inference = Inference.from_config(model, source_tok, target_tok, config)
    splits = load_splits_from_config(config, download=download)
    pairs = spread_sample(list(splits[split]), limit)
    if not pairs:
        raise ValueError(f"the {split} split of {run_dir} is empty")
    sources = [source for source, _ in pairs]
    references = [target for _, target in pairs]
    decode_config = decode_settings(config, beam, length_penalty)
    tokenize = splits.info.get("bleu_tokenize", "13a")

    if config.model.extractive:
        limit_of_source = config.data.max_sentences
        source_lengths = [len(split_sentences(source)) for source in sources]
    else:
        limit_of_source = config.data.max_source_length
        source_lengths = source_tok.tokenize(tf.constant(sources)).row_lengths().numpy()
    truncated = sum(int(n) > limit_of_source for n in source_lengths)
    bar = tqdm(total=len(sources), unit="sent", desc=f"decoding {split}", disable=not progress)
    start = time.perf_counter()
    try:
        hypotheses = inference.translate(
            sources, decode_config, batch_size=batch_size, progress=bar.update
        )
    finally:
        bar.close()
    decode_seconds = time.perf_counter() - start

    results: dict[str, Any] = {
        "run": str(paths.root),
        "split": split,
        "checkpoint": checkpoint,
        "variant": config.model.variant,
        "task": config.task,
        "corpus": splits.info.get("corpus"),
        "direction": splits.info.get("direction"),
        "sentences": len(pairs),
        "split_size": len(splits[split]),
        "truncated_sources": truncated,
        "decoding": {
            **dataclasses.asdict(decode_config),
            "batch_size": batch_size,
            "max_length_cap": config.data.max_target_length + 1,
        },
        "decode_seconds": round(decode_seconds, 3),
        "sentences_per_second": round(len(pairs) / decode_seconds, 2) if decode_seconds else None,
        "bleu_tokenize": tokenize,
    }
    with_ter = config.task != "summarization"  # TER's shift search: minutes on summaries
    results.update(corpus_scores(hypotheses, references, tokenize, with_ter=with_ter))
    if lowercase:
        results["lowercase"] = corpus_scores(
            hypotheses, references, tokenize, lowercase=True, with_ter=with_ter
        )
    results["exact_match"] = sum(h == r for h, r in zip(hypotheses, references)) / len(pairs)
    results["teacher_forced"] = teacher_forced_scores(
        model, pairs, source_tok, target_tok, config, batch_size
    )
    results["perplexity"] = results["teacher_forced"]["perplexity"]
    if config.task == "summarization":
        results["rouge"] = rouge(hypotheses, references)
        # The baselines a summarizer must beat (chosen without the test set) and the
        # extractive ceiling, scored on the same pairs.
        results.update(summary_baselines([t for _, t in splits.train], splits.validation, pairs))

    paths.eval.mkdir(parents=True, exist_ok=True)
    results["bleu_by_length"] = bleu_by_length(sources, hypotheses, references, tokenize)
    plot = plot_bleu_by_length(
        results["bleu_by_length"],
        paths.eval_file(split, tag, ".bleu_by_length.png"),
        title=f"{results['variant']} - {split}: BLEU by source length",
    )
    files = {"bleu_by_length_plot": plot.name}
    for key, suffix, lines in (
        ("hypotheses", ".hyp.txt", hypotheses),
        ("references", ".ref.txt", references),
        ("sources", ".src.txt", sources),
    ):
        path = paths.eval_file(split, tag, suffix)
        _write_lines(path, lines)
        files[key] = path.name
    results["files"] = files
    results["versions"] = versions()
    write_json(paths.eval_file(split, tag), results)
    return results


def evaluate_phrasebook(
    run_dir: str | Path,
    phrasebook: str | Path,
    beam: int | None = None,
    checkpoint: str = "best",
    tag: str | None = None,
    length_penalty: float | None = None,
) -> dict[str, Any]:
    """Translates every phrase of ``phrasebook`` with the run's model and counts the
    right ones; writes and returns ``eval/phrasebook[.<tag>].json`` (see
    :func:`translator.phrasebook.score_phrasebook`, plus the settings)."""
    phrases = read_phrasebook(phrasebook)  # a bad file fails before the model loads
    paths = RunPaths(Path(run_dir))
    config, model, source_tok, target_tok = load_run(paths.root, checkpoint)
    inference = Inference.from_config(model, source_tok, target_tok, config)
    decode_config = decode_settings(config, beam, length_penalty)
    outputs = inference.translate([phrase.source for phrase in phrases], decode_config)
    results = {
        "run": str(paths.root),
        "phrasebook": str(phrasebook),
        "checkpoint": checkpoint,
        "decoding": dataclasses.asdict(decode_config),
        **score_phrasebook(phrases, outputs),
    }
    paths.eval.mkdir(parents=True, exist_ok=True)
    write_json(paths.eval_file("phrasebook", tag), results)
    return results


def format_report(results: dict[str, Any]) -> str:
    """Human-readable lines: each score with its sacrebleu signature."""
    lines = [
        f"{results['run']} [{results['variant']}] {results['split']}: "
        f"{results['sentences']} sentences, {results['decoding']['strategy']}"
        + (
            f" (beam {results['decoding']['beam_size']})"
            if results["decoding"]["strategy"] == "beam"
            else ""
        )
        + f", {results['sentences_per_second']} sent/s",
    ]
    metrics = [key for key in ("bleu", "chrf", "ter") if key in results]
    for key in metrics:
        lines.append(f"{results[key]['text']}    [{results[key]['signature']}]")
    for key in metrics:
        if "lowercase" in results:
            low = results["lowercase"][key]
            lines.append(f"{low['text']}    [{low['signature']}]")
    tf_scores = results["teacher_forced"]
    lines.append(
        f"perplexity {tf_scores['perplexity']:.3f} (teacher-forced, {tf_scores['pairs']} pairs), "
        f"exact match {100 * results['exact_match']:.1f}%"
    )
    if "rouge" in results:
        r = results["rouge"]
        lines.append(
            f"ROUGE-1/2/L F1 {r['rouge1_f1']:.2f} / {r['rouge2_f1']:.2f} / {r['rougeL_f1']:.2f}"
        )
        if "lead" in results:
            lead = results["lead"]
            b = lead["rouge"]
            lines.append(
                f"  baseline {lead['baseline']} (chosen on {lead['chosen_on']}): ROUGE-1/2/L "
                f"F1 {b['rouge1_f1']:.2f} / {b['rouge2_f1']:.2f} / {b['rougeL_f1']:.2f}"
            )
        if "oracle" in results:
            b = results["oracle"]["rouge"]
            lines.append(
                f"  extractive oracle (ceiling): ROUGE-1/2/L F1 "
                f"{b['rouge1_f1']:.2f} / {b['rouge2_f1']:.2f} / {b['rougeL_f1']:.2f}"
            )
    buckets = ", ".join(
        f"{b['bucket']}: {b['bleu']:.1f} (n={b['sentences']})"
        for b in results["bleu_by_length"]
        if b["bleu"] is not None
    )
    lines.append(f"BLEU by source length (words): {buckets}")
    return "\n".join(lines)
