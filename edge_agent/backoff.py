"""Full-jitter exponential backoff (AWS architecture blog's "full jitter")."""

from __future__ import annotations

import random


def full_jitter(attempt: int, base_s: float, cap_s: float,
                rng: random.Random | None = None) -> float:
    """A delay drawn uniformly from [0, min(cap, base * 2**attempt)].

    Drawing from the whole range (not ±10 %) is what keeps a province of gateways that lost
    the same broker at the same moment from reconnecting in step.
    """
    ceiling = min(cap_s, base_s * (2 ** min(attempt, 30)))
    return (rng or random).uniform(0.0, ceiling)
