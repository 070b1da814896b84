"""Rolling link statistics over the last rounds of probes. Pure: no I/O, no clock reads.

A *round* is one run of all a hotspot's probes. ``RoundSample.from_results`` condenses it;
``RollingStats`` keeps the last ``window`` rounds (and forgets rounds older than
``max_age_s``, so numbers from before a long pause do not linger) and summarises them.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from drivers.probes.base import ProbeResult


@dataclass(frozen=True, slots=True)
class RoundSample:
    at: float  # the caller's clock, seconds
    reachable: bool  # something answered (a reply, a connect, an HTTP status, a ubus reply)
    sent: int
    received: int
    rtts: dict[str, tuple[float, ...]]  # network RTTs per probe, in send order
    failed_probes: dict[str, str]  # probe name → error, for probes that did not succeed
    # probes that cannot run on this machine (e.g. ICMP not permitted): a gateway problem,
    # not the hotspot's, so they do not make a reachable hotspot degraded
    unavailable: dict[str, str] = field(default_factory=dict)
    clients_per_radio: dict[str, int] | None = None
    clients_per_ssid: dict[str, int] | None = None

    @classmethod
    def from_results(cls, results: Iterable[ProbeResult], at: float) -> RoundSample:
        results = list(results)
        per_radio: dict[str, int] | None = None
        per_ssid: dict[str, int] | None = None
        for r in results:
            if r.ok and r.clients_per_radio is not None:
                per_radio = {**(per_radio or {}), **r.clients_per_radio}
                per_ssid = dict(per_ssid or {})
                for ssid, n in (r.clients_per_ssid or {}).items():
                    per_ssid[ssid] = per_ssid.get(ssid, 0) + n
        return cls(
            at=at,
            reachable=any(r.received > 0 for r in results),
            sent=sum(r.sent for r in results),
            received=sum(min(r.received, r.sent) for r in results),
            rtts={r.probe: tuple(r.rtts_ms) for r in results if r.rtts_ms},
            failed_probes={r.probe: r.error or "failed" for r in results
                           if not r.ok and not r.detail.get("unavailable")},
            unavailable={r.probe: r.error or "unavailable" for r in results
                         if r.detail.get("unavailable")},
            clients_per_radio=per_radio,
            clients_per_ssid=per_ssid,
        )


@dataclass(frozen=True, slots=True)
class LinkStats:
    rounds: int = 0
    rtt_median_ms: float | None = None
    rtt_p95_ms: float | None = None
    jitter_ms: float | None = None
    loss_pct: float | None = None  # over every round in the window, outages included
    loss_pct_reachable: float | None = None  # over rounds where the hotspot answered
    clients: int | None = None
    clients_per_radio: dict[str, int] = field(default_factory=dict)
    clients_per_ssid: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "rtt_median_ms": _round(self.rtt_median_ms),
            "rtt_p95_ms": _round(self.rtt_p95_ms),
            "jitter_ms": _round(self.jitter_ms),
            "loss_pct": _round(self.loss_pct, 2),
            "clients": self.clients,
            "clients_per_radio": self.clients_per_radio,
            "clients_per_ssid": self.clients_per_ssid,
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..1) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def jitter(series: Iterable[Sequence[float]]) -> float | None:
    """Mean absolute difference between consecutive RTTs of the same probe (RFC 3550's
    idea without its smoothing). Differences are never taken across two probes."""
    diffs: list[float] = []
    for values in series:
        diffs.extend(abs(b - a) for a, b in itertools.pairwise(values))
    return sum(diffs) / len(diffs) if diffs else None


def _loss(samples: Iterable[RoundSample]) -> float | None:
    sent = received = 0
    for s in samples:
        sent += s.sent
        received += s.received
    return 100.0 * (sent - received) / sent if sent else None


class RollingStats:
    """The last ``window`` rounds of one hotspot."""

    def __init__(self, window: int, max_age_s: float) -> None:
        if window < 1:
            raise ValueError("window must be at least 1 round")
        self.max_age_s = max_age_s
        self._samples: deque[RoundSample] = deque(maxlen=window)

    def add(self, sample: RoundSample) -> None:
        self._samples.append(sample)

    def _current(self, now: float) -> list[RoundSample]:
        while self._samples and now - self._samples[0].at > self.max_age_s:
            self._samples.popleft()
        return list(self._samples)

    def snapshot(self, now: float) -> LinkStats:
        samples = self._current(now)
        if not samples:
            return LinkStats()
        per_probe: dict[str, list[float]] = {}
        for s in samples:
            for probe, values in s.rtts.items():
                per_probe.setdefault(probe, []).extend(values)
        all_rtts = [v for values in per_probe.values() for v in values]
        clients = next((s for s in reversed(samples) if s.clients_per_radio is not None), None)
        return LinkStats(
            rounds=len(samples),
            rtt_median_ms=percentile(all_rtts, 0.5) if all_rtts else None,
            rtt_p95_ms=percentile(all_rtts, 0.95) if all_rtts else None,
            jitter_ms=jitter(per_probe.values()),
            loss_pct=_loss(samples),
            loss_pct_reachable=_loss(s for s in samples if s.reachable),
            clients=sum((clients.clients_per_radio or {}).values()) if clients else None,
            clients_per_radio=dict(clients.clients_per_radio or {}) if clients else {},
            clients_per_ssid=dict(clients.clients_per_ssid or {}) if clients else {},
        )
