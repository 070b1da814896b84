"""The contract's reconnect rule: full-jitter exponential backoff.

Every client of the province's broker (gateways, the simulator, the control room's retries)
draws its wait from the whole range, so thousands of clients that lost the same broker at the
same moment do not come back in step (docs/mqtt.md "Connection"). Pure: no clock, no I/O.
"""

from __future__ import annotations

import random


def full_jitter(attempt: int, base_s: float, cap_s: float,
                rng: random.Random | None = None) -> float:
    """A delay drawn uniformly from [0, min(cap, base * 2**attempt)] (not ±10 %)."""
    ceiling = min(cap_s, base_s * (2 ** min(attempt, 30)))
    return (rng or random).uniform(0.0, ceiling)
