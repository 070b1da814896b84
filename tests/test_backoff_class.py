"""The Backoff class (drivers/backoff.py): bounds, growth, cap, reset after a stable period."""

from __future__ import annotations

import random

import pytest

from drivers.backoff import Backoff, full_jitter


def test_full_jitter_bounds_growth_and_cap() -> None:
    rng = random.Random(1)
    for attempt, ceiling in ((0, 1.0), (1, 2.0), (3, 8.0), (5, 30.0), (40, 30.0)):
        draws = [full_jitter(attempt, 1.0, 30.0, rng) for _ in range(400)]
        assert all(0.0 <= d <= ceiling for d in draws), (attempt, max(draws))
        # the whole range is used (full jitter, not +-10 %): low and high draws both occur
        assert min(draws) < 0.1 * ceiling and max(draws) > 0.9 * ceiling


def test_backoff_grows_caps_and_resets() -> None:
    backoff = Backoff(0.5, 4.0, rng=random.Random(2))
    ceilings = []
    for _ in range(7):
        ceilings.append(backoff.ceiling())
        assert 0.0 <= backoff.failed() <= ceilings[-1]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.ceiling() == 0.5 and backoff.attempt == 0


def test_backoff_resets_after_a_stable_run_only() -> None:
    backoff = Backoff(1.0, 60.0, stable_s=60.0, floor_s=0.5, rng=random.Random(3))
    for _ in range(4):
        backoff.failed(ran_s=1.0)  # each try died quickly: the delay keeps growing
    assert backoff.attempt == 4 and backoff.ceiling() == 0.5 + 16.0
    delay = backoff.failed(ran_s=61.0)  # it ran a minute before failing: start again
    assert 0.5 <= delay <= 1.5 and backoff.attempt == 1
    assert all(backoff.failed() >= 0.5 for _ in range(20))  # the floor holds


def test_backoff_is_jittered_between_instances() -> None:
    # a province's gateways that lost the broker together must not come back in step
    delays = {round(Backoff(1.0, 30.0).failed(), 6) for _ in range(20)}
    assert len(delays) > 15


def test_backoff_refuses_a_zero_base_and_lifts_a_low_cap() -> None:
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)
    assert Backoff(2.0, 1.0).ceiling() == 2.0
