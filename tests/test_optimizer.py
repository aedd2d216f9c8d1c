"""The optimizer and its learning-rate schedules (translator.optimizer)."""

import keras
import pytest

from translator.callbacks import TimeBudget
from translator.config import load_config
from translator.optimizer import BudgetCosine, WarmupSchedule, make_optimizer


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
