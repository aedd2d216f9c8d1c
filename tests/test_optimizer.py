"""The optimizer and its learning-rate schedules (translator.optimizer)."""

import keras
import numpy as np
import pytest

from translator.callbacks import TimeBudget
from translator.config import load_config
from translator.optimizer import BudgetCosine, FusedAdam, WarmupSchedule, make_optimizer


def test_learning_rate_schedules():
    constant = WarmupSchedule(1e-3, "constant", warmup_steps=10)
    assert float(constant(0)) == pytest.approx(1e-4)
    assert float(constant(9)) == pytest.approx(1e-3)
    assert float(constant(500)) == pytest.approx(1e-3)
    cosine = WarmupSchedule(1e-3, "cosine", warmup_steps=10, total_steps=110)
    assert float(cosine(9)) == pytest.approx(1e-3)
    assert float(cosine(59)) == pytest.approx(0.5e-3, rel=1e-3)
    assert float(cosine(109)) == pytest.approx(0.0, abs=1e-9)
    inverse = WarmupSchedule(1e-3, "inverse_sqrt", warmup_steps=100)
    assert float(inverse(49)) == pytest.approx(0.5e-3)
    assert float(inverse(399)) == pytest.approx(0.5e-3)  # sqrt(100 / 400)
    again = WarmupSchedule.from_config(cosine.get_config())
    assert float(again(59)) == pytest.approx(float(cosine(59)))
    config = load_config("dates", ["train.schedule=cosine", "train.optimizer=sgd"])
    optimizer = make_optimizer(config, total_steps=100)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.global_clipnorm == 1.0


def test_cosine_over_a_time_budget_reaches_zero_when_the_budget_ends():
    schedule = BudgetCosine(TimeBudget(10.0), 1e-3, warmup_steps=10)
    assert schedule.rate(4, 0.0) == pytest.approx(0.5e-3)  # warming up
    assert schedule.rate(100, 300.0) == pytest.approx(0.5e-3)  # half the budget
    assert schedule.rate(100, 600.0) == pytest.approx(0.0, abs=1e-12)
    assert schedule.rate(100, 900.0) == pytest.approx(0.0, abs=1e-12)
    # Without a time budget it is cosine over the epochs' steps.
    config = load_config("spa-en", ["train.warmup_steps=0"])
    assert config.train.schedule == "budget_cosine"
    optimizer = make_optimizer(config, total_steps=100)
    assert float(optimizer.learning_rate) == pytest.approx(config.train.learning_rate, rel=1e-3)
    optimizer.iterations.assign(50)
    assert float(optimizer.learning_rate) == pytest.approx(config.train.learning_rate / 2, rel=0.05)


def _textbook_adam(w, grads, lr, b1=0.9, b2=0.999, eps=1e-7):
    """Kingma & Ba's Adam in NumPy, Keras' epsilon-hat form."""
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    return w


def test_fused_adam_matches_the_textbook_update_for_dense_and_sparse_gradients():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(6, 3)).astype("float32")
    grads = [rng.normal(size=(6, 3)).astype("float32") for _ in range(3)]
    dense = keras.Variable(w0)
    sparse = keras.Variable(w0)
    optimizer = FusedAdam(learning_rate=0.01)
    optimizer.build([dense, sparse])

    @tf.function
    def apply(g: tf.Tensor) -> None:
        # Rows 0..5 as IndexedSlices (an embedding's gradient), in shuffled order.
        rows = tf.constant([3, 0, 5, 1, 4, 2])
        slices = tf.IndexedSlices(tf.gather(g, rows), rows, tf.constant([6, 3]))
        optimizer.apply([g, slices], [dense, sparse])

    for g in grads:
        apply(tf.constant(g))
    expected = _textbook_adam(w0, grads, 0.01)
    np.testing.assert_allclose(dense.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sparse.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert int(optimizer.iterations.numpy()) == 3


def test_make_optimizer_gives_fused_adam_that_round_trips_its_config():
    optimizer = make_optimizer(load_config("dates"), total_steps=100)
    assert isinstance(optimizer, FusedAdam)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(again, FusedAdam)
    assert again.global_clipnorm == optimizer.global_clipnorm
