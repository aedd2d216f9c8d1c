"""The trainer's callbacks (translator.callbacks): a time budget that a resumed run
continues, and the learning-rate curve over it."""

import time

import pytest

from translator.callbacks import TimeBudget
from translator.optimizer import BudgetCosine


def test_a_resumed_budget_gets_what_is_left():
    budget = TimeBudget(10.0, spent=420.0)  # 7 of 10 minutes used by earlier invocations
    assert budget.elapsed() == pytest.approx(420.0)
    assert budget.remaining() == pytest.approx(180.0)
    budget.on_train_begin()
    first_start = budget.start
    time.sleep(0.05)
    budget.on_train_begin()  # a resumed epoch and the rest are two fits: one clock
    assert budget.start == first_start
    assert 420.05 <= budget.elapsed() < 421.0
    assert TimeBudget(7.0, spent=420.0).remaining() <= 0  # nothing left to train


def test_the_budget_counts_from_the_command_start():
    # 90 s of corpus loading and tokenizer training before the first batch count too.
    budget = TimeBudget(2.0, started_at=time.monotonic() - 90.0)
    budget.on_train_begin()
    assert 29.0 < budget.remaining() <= 30.0
    assert TimeBudget(1.0, started_at=time.monotonic() - 60.0).remaining() <= 0


def test_budget_cosine_continues_its_curve_after_a_resume():
    fresh = BudgetCosine(TimeBudget(10.0), 1e-3)
    resumed = BudgetCosine(TimeBudget(10.0, spent=300.0), 1e-3)
    # Half the budget spent before the resume: the rate is where the curve was, not the peak.
    assert resumed.rate(1000, resumed.budget.elapsed()) == pytest.approx(0.5e-3)
    assert fresh.rate(1000, fresh.budget.elapsed()) == pytest.approx(1e-3)
