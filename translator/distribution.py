"""Training on several devices or machines with ``tf.distribute``.

``--distribute mirrored`` replicates the model over every local GPU (else every
logical CPU); ``--distribute multiworker`` over the machines of ``TF_CONFIG``, where
only the chief writes the run folder (:func:`is_chief`).  The two helpers below work
around what Keras 3's ``fit`` cannot do under these strategies.
"""

from __future__ import annotations

import json
import os
from typing import Any

import keras
import tensorflow as tf
from keras import ops

from translator.config import ConfigError
from translator.pipeline import TrainingData

DISTRIBUTE_CHOICES = ("mirrored", "multiworker")


def make_strategy(distribute: str | None) -> tf.distribute.Strategy | None:
    """``MirroredStrategy`` over every local GPU (else every logical CPU), or
    ``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``; None for no strategy."""
    if distribute is None:
        return None
    if distribute == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if distribute == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"--distribute {distribute!r}: choose one of {list(DISTRIBUTE_CHOICES)}")


def prebuild_for_distribution(
    model: keras.Model, strategy: tf.distribute.Strategy, data: TrainingData
) -> None:
    """Builds the compiled loss/metrics from one local batch before ``fit``.

    Under a strategy, ``fit`` first pulls a distributed batch and averages it with a
    single ``strategy.reduce`` over the nested ``((source, decoder_input), labels)``
    structure, only to read its shapes.  ``MultiWorkerMirroredStrategy`` cannot reduce
    a nested structure (and ``MirroredStrategy`` fails on replicas of unequal size), so
    the build is done here with a plain batch and Keras' per-``fit`` build is skipped.
    """
    batch = next(iter(data.epoch_dataset(0).take(1)))
    with strategy.scope():
        model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def vector_step_logs(model: keras.Model) -> None:
    """Returns each step's metric values as ``[1]`` vectors instead of scalars.

    Keras averages per-step logs across workers with
    ``strategy.reduce("MEAN", value, axis=0)``, which fails on scalars under
    ``MultiWorkerMirroredStrategy``; a one-element vector averages fine.  (Epoch logs
    are read from the metric variables themselves, summed over all replicas.)
    """
    compute_metrics = model.compute_metrics

    def vector_metrics(x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict:
        logs = compute_metrics(x, y, y_pred, sample_weight)
        return {name: ops.reshape(value, (1,)) for name, value in logs.items()}

    model.compute_metrics = vector_metrics


def is_chief(distribute: str | None) -> bool:
    """Whether this process writes the run folder.

    Always, except under ``multiworker``: there the ``chief`` task writes, or worker 0
    when ``TF_CONFIG`` names no chief.  The others train in lockstep and write nothing.
    """
    if distribute != "multiworker":
        return True
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task") or {}
    if not task:
        return True  # no cluster: a single worker
    if task.get("type") == "chief":
        return True
    has_chief = bool((tf_config.get("cluster") or {}).get("chief"))
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and not has_chief
