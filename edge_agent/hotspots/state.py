"""Hotspot state with hysteresis: up / degraded / down. Pure: the clock is passed in.

- ``down`` after ``down_after`` consecutive failed rounds (nothing answered);
- back from ``down`` after ``up_after`` consecutive rounds that answered;
- ``degraded`` after ``degraded_after`` consecutive poor rounds (loss or RTT over the
  window above the thresholds, or one of the probes failing, e.g. the portal gives HTTP 500);
- back to ``up`` after ``up_after`` consecutive good rounds.

Every change between known states is a flap; ``flaps(now)`` counts those of the last hour.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from edge_agent.hotspots.stats import LinkStats, RoundSample

FLAP_WINDOW_S = 3600.0


class State(enum.StrEnum):
    UNKNOWN = "unknown"  # no round has finished yet
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Verdict:
    reachable: bool
    poor: bool
    reasons: tuple[str, ...] = ()


def judge(sample: RoundSample, stats: LinkStats, loss_pct: float, rtt_ms: float) -> Verdict:
    """Is this round reachable, and is the link poor? Loss is judged over the rounds that
    answered, so the outage that just ended does not keep a recovered hotspot degraded."""
    if not sample.reachable:
        failed = {**sample.failed_probes, **sample.unavailable}
        return Verdict(False, True, tuple(f"{p}: {e}" for p, e in failed.items()))
    reasons: list[str] = []
    if stats.loss_pct_reachable is not None and stats.loss_pct_reachable > loss_pct:
        reasons.append(f"loss {stats.loss_pct_reachable:.1f}% > {loss_pct:g}%")
    if stats.rtt_median_ms is not None and stats.rtt_median_ms > rtt_ms:
        reasons.append(f"RTT median {stats.rtt_median_ms:.1f} ms > {rtt_ms:g} ms")
    reasons.extend(f"{p}: {e}" for p, e in sample.failed_probes.items())
    return Verdict(True, bool(reasons), tuple(reasons))


@dataclass(frozen=True, slots=True)
class Transition:
    old: State
    new: State
    at: float
    reasons: tuple[str, ...]


@dataclass(slots=True)
class StateMachine:
    down_after: int
    up_after: int
    degraded_after: int
    state: State = State.UNKNOWN
    since: float | None = None
    reasons: tuple[str, ...] = ()
    _fail_streak: int = 0
    _reach_streak: int = 0
    _good_streak: int = 0
    _poor_streak: int = 0
    _flaps: deque[float] = field(default_factory=deque)
    _resumed: tuple[State, float] | None = None  # the state (and since) before a restart

    def restore(self, last: State | None, since: float | None, flaps: list[float]) -> None:
        """Continue from before a restart: earlier flaps still count for the hour, and if
        the first state found is the one we had when we stopped, its ``since`` is kept."""
        self._flaps.extend(sorted(flaps))
        if last is not None and last is not State.UNKNOWN and since is not None:
            self._resumed = (last, since)

    def observe(self, verdict: Verdict, now: float) -> Transition | None:
        """Feed one round's verdict; returns the transition if the state changed."""
        if verdict.poor:  # while degraded/down, show why it last looked bad
            self.reasons = verdict.reasons
        if not verdict.reachable:
            self._fail_streak += 1
            self._reach_streak = self._good_streak = self._poor_streak = 0
            if self.state is not State.DOWN and self._fail_streak >= self.down_after:
                return self._change(State.DOWN, now)
            return None
        self._fail_streak = 0
        self._reach_streak += 1
        if verdict.poor:
            self._poor_streak += 1
            self._good_streak = 0
        else:
            self._good_streak += 1
            self._poor_streak = 0
        quality = State.DEGRADED if verdict.poor else State.UP
        if self.state is State.UNKNOWN:
            return self._change(quality, now)  # nothing to protect from flapping yet
        if self.state is State.DOWN:
            if self._reach_streak >= self.up_after:
                return self._change(quality, now)
        elif self.state is State.UP:
            if self._poor_streak >= self.degraded_after:
                return self._change(State.DEGRADED, now)
        elif self.state is State.DEGRADED and self._good_streak >= self.up_after:
            return self._change(State.UP, now)
        return None

    def _change(self, new: State, now: float) -> Transition:
        old = self.state
        self.state = new
        self.since = now
        if new is State.UP:
            self.reasons = ()
        if old is State.UNKNOWN and self._resumed is not None:
            last, since = self._resumed
            if new is last:
                self.since = since  # the same state as before the restart: not a change
            else:
                self._flaps.append(now)  # it changed while we were not looking
                old = last
        elif old is not State.UNKNOWN:
            self._flaps.append(now)
        self._resumed = None
        return Transition(old, new, self.since, self.reasons)

    def flaps(self, now: float) -> int:
        while self._flaps and now - self._flaps[0] > FLAP_WINDOW_S:
            self._flaps.popleft()
        return len(self._flaps)
