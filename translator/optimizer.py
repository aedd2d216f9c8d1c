"""The optimizer and its learning-rate schedules.

* :class:`WarmupSchedule`: linear warm-up, then constant, cosine (over the epochs) or
  inverse square root, stepped by the optimizer itself;
* :class:`BudgetCosine`: cosine decay over a wall-clock time budget, set by a
  callback before every batch (``train.schedule: budget_cosine``);
* :class:`FusedAdam`: Keras' Adam with one fused TensorFlow kernel per variable;
* :func:`make_optimizer`: Adam, AdamW or SGD with the schedule and global-norm
  clipping of ``config.train``.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from translator.config import Config

_PACKAGE = "translator"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate with linear warm-up, then constant, cosine or inverse-sqrt.

    With ``s = step + 1`` and ``w = warmup_steps``:

    * ``constant``: ``peak * min(1, s / w)``;
    * ``cosine``: warm-up, then ``peak * (1 + cos(pi * p)) / 2`` where ``p`` goes from 0
      to 1 over the remaining ``total_steps - w`` steps (and stays at 1);
    * ``inverse_sqrt``: ``peak * min(s / w, sqrt(w / s))`` (Vaswani et al. 2017;
      ``w`` is taken as 1 without warm-up).
    """

    def __init__(self, peak: float, kind: str, warmup_steps: int = 0, total_steps: int = 1):
        super().__init__()
        self.peak = float(peak)
        self.kind = kind
        self.warmup_steps = int(warmup_steps)
        self.total_steps = max(1, int(total_steps))

    def __call__(self, step: Any) -> Any:
        s = ops.cast(step, "float32") + 1.0
        w = float(max(self.warmup_steps, 1))
        warm = ops.minimum(1.0, s / w) if self.warmup_steps > 0 else 1.0
        if self.kind == "inverse_sqrt":
            return self.peak * ops.minimum(warm, ops.sqrt(w / ops.maximum(s, 1.0)))
        if self.kind == "cosine":
            span = float(max(1, self.total_steps - self.warmup_steps))
            progress = ops.clip((s - float(self.warmup_steps)) / span, 0.0, 1.0)
            return self.peak * warm * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return self.peak * warm * ops.ones_like(s)

    def get_config(self) -> dict[str, Any]:
        return {
            "peak": self.peak,
            "kind": self.kind,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FusedAdam(keras.optimizers.Adam):
    """Adam (Kingma & Ba 2015) with each variable's update in one TensorFlow kernel.

    The same update as :class:`keras.optimizers.Adam` (its arguments, its epsilon-hat
    form ``lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``), but written with
    ``ResourceApplyAdam``: one pass over the variable and its two moments instead of
    the thirteen element-wise ops Keras' version makes.  On a CPU the optimizer is
    memory-bound, and this saves ~10% of a training step.  Other backends,
    ``amsgrad`` and ``tf.distribute`` strategies take Keras' own path.
    """

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        import tensorflow as tf

        if self.amsgrad or keras.backend.backend() != "tensorflow" or tf.distribute.has_strategy():
            super().update_step(gradient, variable, learning_rate)
            return
        dtype = variable.dtype
        step = ops.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].handle,
            v=self._velocities[index].handle,
            beta1_power=ops.power(ops.cast(self.beta_1, dtype), step),
            beta2_power=ops.power(ops.cast(self.beta_2, dtype), step),
            lr=ops.cast(learning_rate, dtype),
            beta1=ops.cast(self.beta_1, dtype),
            beta2=ops.cast(self.beta_2, dtype),
            epsilon=ops.cast(self.epsilon, dtype),
            grad=tf.convert_to_tensor(ops.cast(gradient, dtype)),  # sparse -> dense, as Keras
        )


def make_optimizer(
    config: Config, total_steps: int, over_budget: bool = False
) -> keras.optimizers.Optimizer:
    """The optimizer of ``config.train`` with its schedule and global-norm clipping.

    ``total_steps`` sizes the cosine schedule (``epochs * steps_per_epoch``).  With
    ``over_budget`` the learning rate is a plain variable that :class:`BudgetCosine`
    sets during training.  ``sgd`` is plain SGD (no momentum); ``adamw`` uses Keras'
    default weight decay.
    """
    train = config.train
    if over_budget or (train.schedule == "constant" and not train.warmup_steps):
        rate: Any = train.learning_rate
    else:
        # budget_cosine without a time budget anneals over the epochs instead.
        kind = "cosine" if train.schedule == "budget_cosine" else train.schedule
        rate = WarmupSchedule(train.learning_rate, kind, train.warmup_steps, total_steps)
    # Clipping by global norm: g <- g * min(1, clipnorm / ||g||) over all gradients.
    kwargs: dict[str, Any] = {"learning_rate": rate, "global_clipnorm": train.clipnorm}
    if train.optimizer == "adam":
        return FusedAdam(**kwargs)
    if train.optimizer == "adamw":
        return keras.optimizers.AdamW(**kwargs)
    return keras.optimizers.SGD(**kwargs)


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate the optimizer uses at its current step."""
    return float(ops.convert_to_numpy(optimizer.learning_rate))


class BudgetCosine(keras.callbacks.Callback):
    """Cosine learning-rate decay over a wall-clock budget instead of over epochs.

    ``train.schedule: budget_cosine`` with ``--time-budget`` (without one it is
    ``cosine`` over the epochs): a budget-limited run ends when the budget is spent,
    usually mid-epoch, so ``cosine`` sized in epochs would stop part-way down its curve.
    This one sets, before every batch,
    ``lr = peak * min(1, s / warmup_steps) * (1 + cos(pi * elapsed / budget)) / 2``,
    so the rate reaches 0 just as the budget runs out.  (It depends on the machine's
    speed, which is what a budget-matched comparison is about.)
    """

    def __init__(self, budget: Any, peak: float, warmup_steps: int = 0) -> None:
        super().__init__()
        self.budget = budget
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self._step = 0

    def rate(self, step: int, elapsed: float) -> float:
        """The learning rate at optimizer step ``step``, ``elapsed`` seconds in."""
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        progress = min(1.0, max(0.0, elapsed / self.budget.seconds))
        return self.peak * warm * 0.5 * (1.0 + math.cos(math.pi * progress))

    def on_train_begin(self, logs: dict | None = None) -> None:
        # Read the step once (a resumed run starts past 0) and count from there:
        # reading it every batch would wait for the device each step.
        self._step = int(ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.model.optimizer.learning_rate = self.rate(self._step, self.budget.elapsed())
        self._step += 1
