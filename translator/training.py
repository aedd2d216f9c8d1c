"""Teacher-forced training of a :class:`~translator.model.Seq2Seq` into a run folder.

:func:`train` is what ``python -m translator.train`` runs: it loads the corpus,
trains the tokenizers (on the training split only), builds and compiles the model,
serves the epochs of :class:`~translator.pipeline.TrainingData`, and lets the
callbacks of :mod:`translator.callbacks` keep the run folder (:mod:`translator.runs`)
up to date after every epoch.  The pieces live next door: the optimizer and its
schedules in :mod:`translator.optimizer`, ``tf.distribute`` in
:mod:`translator.distribution`.

Data order: every epoch is a fresh permutation of the training pairs drawn with the
stateless seed ``[train.seed, epoch]``, then bucketed by length.  Epoch ``k`` therefore
sees the same batches whether or not the run was interrupted and resumed before it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from translator.callbacks import RunRecorder, TensorBoardLogger, TimeBudget, ValidationBleu
from translator.config import Config, ConfigError
from translator.data import load_splits_from_config
from translator.data.oversampling import repeat_short_pairs
from translator.distribution import (
    is_chief,
    make_strategy,
    prebuild_for_distribution,
    vector_step_logs,
)
from translator.metrics import MaskedAccuracy, MaskedCrossEntropy, Perplexity
from translator.model import Seq2Seq, build_model
from translator.optimizer import BudgetCosine, make_optimizer
from translator.pipeline import PipelineStats, TrainingData
from translator.runs import (
    RunPaths,
    TrainingState,
    check_output,
    fill_vocab_sizes,
    load_checkpoint_weights,
    read_checkpoint_state,
    remove_stale_temporaries,
    save_weights_only,
    versions,
    write_history,
    write_json,
    write_run_setup,
)
from translator.tokenizer import load_tokenizers, train_tokenizers


def compile_model(
    model: keras.Model, config: Config, total_steps: int, over_budget: bool = False
) -> keras.Model:
    """Compiles with the masked loss, accuracy and perplexity of :mod:`translator.metrics`.

    ``train.jit_compile`` asks for XLA "where it helps": Keras' ``auto`` uses it only
    with a GPU, without ``tf.distribute``, and when every layer supports it (the
    step-wise decoders set ``supports_jit=False``).  XLA on a CPU compiles for minutes
    and then runs slower than the plain graph, so it is never forced there.
    """
    model.compile(
        optimizer=make_optimizer(config, total_steps, over_budget),
        loss=MaskedCrossEntropy(config.train.label_smoothing),
        metrics=[MaskedAccuracy(), Perplexity()],
        jit_compile="auto" if config.train.jit_compile else False,
    )
    return model


@dataclasses.dataclass
class TrainOptions:
    """How to run training (everything that is not the model/data config)."""

    resume: bool = False
    distribute: str | None = None
    mixed_precision: bool = False
    time_budget_minutes: float | None = None  # None: the config's train.time_budget_minutes
    download: bool = False
    verbose: int = 1
    command: str = ""
    callbacks: Sequence[keras.callbacks.Callback] = ()
    # time.monotonic() when the command started: the time budget counts from there
    # (data, tokenizers, model building included).  None: from the call to train().
    started_at: float | None = None


def train(config: Config, output: str | Path, options: TrainOptions | None = None) -> dict:
    """Trains ``config`` into the run folder ``output``; returns the summary dict.

    Raises :class:`ConfigError`, :class:`~translator.runs.RunError` or the corpus errors of
    :mod:`translator.data` before any training when something is wrong.
    """
    options = options or TrainOptions()
    started = time.monotonic() if options.started_at is None else options.started_at
    budget_minutes = options.time_budget_minutes  # --time-budget wins over the config's
    if budget_minutes is None:
        budget_minutes = config.train.time_budget_minutes
    if budget_minutes is not None and budget_minutes <= 0:
        raise ConfigError("--time-budget must be > 0 minutes")
    options = dataclasses.replace(options, started_at=started, time_budget_minutes=budget_minutes)
    paths = RunPaths(Path(output))
    chief = is_chief(options.distribute)
    check_output(paths, options.resume, chief)
    strategy = make_strategy(options.distribute)  # before other TF work (collectives)

    splits = load_splits_from_config(config, download=options.download)
    previous_policy = keras.mixed_precision.global_policy()
    if options.mixed_precision:
        if not tf.config.list_physical_devices("GPU"):
            print("warning: --mixed-precision without a GPU is slow", file=sys.stderr)
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        return _train(config, paths, options, strategy, chief, splits)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _train(
    config: Config,
    paths: RunPaths,
    options: TrainOptions,
    strategy: tf.distribute.Strategy | None,
    chief: bool,
    splits: Any,
) -> dict:
    paths.root.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(paths.checkpoints)
    remove_stale_temporaries(paths.root)
    keras.utils.set_random_seed(config.train.seed)

    # Tokenizers: trained on the training split only; reused when resuming.
    resumed_setup = options.resume and (paths.tokenizers / "tokenizers.json").is_file()
    if resumed_setup:
        source_tok, target_tok = load_tokenizers(paths.tokenizers)
    else:
        source_tok, target_tok = train_tokenizers(config.tokenizer, splits.train)
    config = fill_vocab_sizes(config, source_tok, target_tok)
    if chief:
        write_run_setup(paths, config, source_tok, target_tok, tokenizers=not resumed_setup)

    def scope() -> Any:  # a fresh context each time: a strategy scope is single-use
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    over_budget = (
        config.train.schedule == "budget_cosine" and options.time_budget_minutes is not None
    )
    with scope():
        model = build_model(config)
        # Built once to know whether XLA is on, which decides the batch shapes.
        compile_model(model, config, total_steps=1)
        jit = bool(model.jit_compile)
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    if config.train.batch_size % replicas:
        raise ConfigError(
            f"train.batch_size={config.train.batch_size} must be a multiple of the "
            f"{replicas} replicas (each gets an equal part of every batch)"
        )
    train_pairs = repeat_short_pairs(
        splits.train, config.data.short_pair_words, config.data.short_pair_repeats
    )
    data = TrainingData(
        train_pairs, source_tok, target_tok, config, jit, drop_remainder=strategy is not None
    )
    val_data, val_stats = data.validation_dataset(splits.validation, source_tok, target_tok)
    total_steps = config.train.epochs * data.steps_per_epoch
    with scope():
        compile_model(model, config, total_steps, over_budget)
        model.optimizer.build(model.trainable_variables)

    state = TrainingState(seed=config.train.seed)
    if options.resume and paths.last.is_file():
        state = read_checkpoint_state(paths.last)
        with scope():
            load_checkpoint_weights(model, paths.last)
    if chief and state.history:
        write_history(paths, state.history)  # drop lines of an epoch that never finished
    budget = None
    if options.time_budget_minutes is not None:  # a resumed run gets what is left
        budget = TimeBudget(
            options.time_budget_minutes, spent=state.budget_seconds, started_at=options.started_at
        )

    callbacks: list[keras.callbacks.Callback] = list(options.callbacks)
    if budget is not None:
        callbacks.append(budget)
    if over_budget:
        train = config.train
        callbacks.append(BudgetCosine(budget, train.learning_rate, train.warmup_steps))
    if config.train.validation_bleu_sample > 0 and splits.validation:
        rng = random.Random(config.train.seed)
        count = min(config.train.validation_bleu_sample, len(splits.validation))
        sample = [
            splits.validation[i] for i in sorted(rng.sample(range(len(splits.validation)), count))
        ]
        tokenize = splits.info.get("bleu_tokenize", "13a")
        callbacks.append(ValidationBleu(sample, source_tok, target_tok, config, tokenize))
    recorder = RunRecorder(
        paths,
        state,
        config.train.early_stopping_patience,
        data.label_tokens_per_step,
        data.steps_per_epoch,
        write=chief,
        time_budget=budget,
        every_steps=config.train.checkpoint_every_steps,
        every_seconds=(
            None
            if config.train.checkpoint_every_minutes is None
            else 60.0 * config.train.checkpoint_every_minutes
        ),
        validate_every_steps=config.train.validate_every_steps,
        validation_data=val_data,
    )
    callbacks.append(recorder)
    if chief:
        callbacks.append(TensorBoardLogger(paths.logs))

    if strategy is not None:
        prebuild_for_distribution(model, strategy, data)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        vector_step_logs(model)
    epochs, epoch, done = config.train.epochs, state.epoch, state.epoch_step

    def fit(dataset: tf.data.Dataset, first_epoch: int, last_epoch: int, steps: int) -> None:
        model.fit(
            dataset,
            epochs=last_epoch,
            initial_epoch=first_epoch,
            steps_per_epoch=steps,
            validation_data=val_data,
            callbacks=callbacks,
            verbose=options.verbose,
            shuffle=False,  # the order is TrainingData's (seeded per epoch)
        )

    can_train = epoch < epochs and state.stopped_by != "early_stopping"
    if budget is not None and budget.spent >= budget.seconds:
        can_train = False  # the budget was spent by earlier invocations
    # (A fresh run whose setup alone overran the budget still trains one batch, so
    # the run folder holds a trained checkpoint; the budget then stops it.)
    if can_train and done:  # resumed mid-epoch: that epoch's remaining batches first
        fit(data.rest_of_epoch(epoch, done), epoch, epoch + 1, data.steps_per_epoch - done)
        epoch += 1
        can_train = epoch < epochs and not model.stop_training
    if can_train:
        fit(data.dataset(epoch, epochs), epoch, epochs, data.steps_per_epoch)
    if chief:
        twin = save_weights_only(model, paths.final, recorder.twin)
        if not paths.best.exists():  # no epoch finished in this folder yet
            save_weights_only(model, paths.best, twin)
    elapsed = time.monotonic() - options.started_at  # the whole command
    summary = summarize(
        config, model, splits, data, val_stats, recorder.state, options, jit, elapsed, replicas
    )
    if chief:
        write_json(paths.summary, summary)
    return summary


def summarize(
    config: Config,
    model: keras.Model,
    splits: Any,
    data: TrainingData,
    val_stats: PipelineStats,
    state: TrainingState,
    options: TrainOptions,
    jit: bool,
    session_seconds: float,
    replicas: int = 1,
) -> dict[str, Any]:
    """The ``summary.json`` of a run: what was trained, for how long, and how well."""
    last = state.history[-1] if state.history else {}
    train_seconds = state.train_seconds
    info = splits.info
    return {
        "name": config.name,
        "task": config.task,
        "corpus": info.get("corpus"),
        "direction": info.get("direction"),
        "source_lang": info.get("source_lang"),
        "target_lang": info.get("target_lang"),
        "variant": config.model.variant,
        "model": {
            "cell": config.model.cell,
            "decoder": config.model.decoder,
            "attention": config.model.attention if config.model.decoder == "luong" else None,
            "input_feeding": config.model.input_feeding,
            "bidirectional": config.model.bidirectional,
            "embedding_dim": config.model.embedding_dim,
            "units": config.model.units,
            # As built: units per encoder direction, and "auto" resolved on this machine.
            **(
                {
                    "encoder_units": model.encoder.units,
                    "output_bfloat16": model.decoder.output_bfloat16,
                }
                if isinstance(model, Seq2Seq)  # the extractive summarizer has neither
                else {}
            ),
            "source_vocab_size": config.model.source_vocab_size,
            "target_vocab_size": config.model.target_vocab_size,
        },
        "parameters": int(model.count_params()),
        "epochs": state.epoch,
        "partial_last_epoch": state.partial_epoch,
        "steps": state.step,
        "steps_per_epoch": data.steps_per_epoch,
        "stopped_by": state.stopped_by or "epochs",
        "train_seconds": round(train_seconds, 3),
        "wall_seconds": round(state.wall_seconds, 3),
        "invocations": state.invocations,
        "session_seconds": round(session_seconds, 3),  # this command, from its start
        "tokens_per_second": (
            round(state.label_tokens / train_seconds, 1) if train_seconds else None
        ),
        "best_epoch": state.best_epoch,
        "best_val_loss": state.best_val_loss,
        "best_val_perplexity": state.best_val_perplexity,
        "final": {k: v for k, v in last.items() if k not in ("time",)},
        "data": {
            "train": data.stats.as_dict(),
            "validation": val_stats.as_dict(),
            "test_pairs": len(splits.test),
            "bucket_boundaries": data.boundaries,
        },
        "xla": jit,
        "distribute": options.distribute,
        "replicas": replicas,
        "mixed_precision": options.mixed_precision,
        "time_budget_minutes": options.time_budget_minutes,
        "seed": config.train.seed,
        "versions": versions(),
        "command": options.command,
    }
