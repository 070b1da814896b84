"""Failed-login limiter: pure, the clock is a parameter. Counted per user name and per
address, so guessing one account from many places, or many accounts from one place, both
stop. An address gets ``address_factor`` times more tries than a name: a commune office
behind one NAT address must not lock everyone out because one person mistyped. In memory:
with several workers each counts its own (the docs say so)."""

from __future__ import annotations

from collections import deque


class LoginLimiter:
    def __init__(self, max_failures: int, window_s: float, address_factor: int = 4,
                 max_keys: int = 10000) -> None:
        self.max_failures = max_failures
        self.address_factor = address_factor
        self.window_s = window_s
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def keys(self, name: str, address: str) -> list[str]:
        return [f"u:{name}", f"a:{address}"]

    def _limit(self, key: str) -> int:
        return self.max_failures * (self.address_factor if key.startswith("a:") else 1)

    def wait_s(self, keys: list[str], now: float) -> float:
        """0 when a login may be tried now, else the seconds until it may."""
        wait = 0.0
        for key in keys:
            times, limit = self._recent(key, now), self._limit(key)
            if len(times) >= limit:
                wait = max(wait, times[-limit] + self.window_s - now)
        return wait

    def failed(self, keys: list[str], now: float) -> None:
        if len(self._failures) >= self._max_keys:  # bounded: forget the stalest
            for key in list(self._failures)[: self._max_keys // 10]:
                del self._failures[key]
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, user_key: str) -> None:
        self._failures.pop(user_key, None)
