"""Retry delays for the agent: the contract's full-jitter rule (``contract.reconnect``) plus
the agent's own floor and reset policy.

Used for component restarts, the broker reconnect and camera reconnects. It lives in
``drivers`` because drivers must never import ``edge_agent``; ``edge_agent`` may import it.
Pure: no clock is read here, the caller says how long the failed try lasted.
"""

from __future__ import annotations

import math
import random

from contract.reconnect import full_jitter

__all__ = ["Backoff", "full_jitter"]


class Backoff:
    """Delays between retries: full jitter, doubling from ``base_s`` up to ``cap_s``.

    ``failed(ran_s)`` returns the delay before the next try; a try that ran at least
    ``stable_s`` counts as a success that later failed, so the delay starts from the bottom
    again (a connection that lasted an hour should not wait 30 s when it drops; one that
    dies at once must not retry in a tight loop). ``reset()`` does the same explicitly (e.g.
    a camera that decoded a frame). ``floor_s`` is added to every delay.
    """

    def __init__(self, base_s: float, cap_s: float, *, stable_s: float = math.inf,
                 floor_s: float = 0.0, rng: random.Random | None = None) -> None:
        if base_s <= 0:
            raise ValueError("backoff needs base_s > 0")
        # a cap below the base would make every delay the cap: take the base instead
        self.base_s, self.cap_s = base_s, max(cap_s, base_s)
        self.stable_s, self.floor_s = stable_s, floor_s
        self.attempt = 0  # failures in a row since the last reset
        self._rng = rng

    def failed(self, ran_s: float = 0.0) -> float:
        """The try that lasted ``ran_s`` seconds failed: seconds to wait before the next."""
        if ran_s >= self.stable_s:
            self.attempt = 0
        delay = self.floor_s + full_jitter(self.attempt, self.base_s, self.cap_s, self._rng)
        self.attempt = min(self.attempt + 1, 30)
        return delay

    def ceiling(self) -> float:
        """The largest delay the next ``failed()`` can return (without a stable run)."""
        return self.floor_s + min(self.cap_s, self.base_s * 2 ** self.attempt)

    def reset(self) -> None:
        self.attempt = 0
