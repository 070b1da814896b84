"""Is the agent healthy? Pure logic over ``ctx.status()``; the clock is a parameter.

Healthy means: the MQTT link is up, or it is down but the outbox is spooling within bounds
(not nearly full, nothing dropped since the link went down); the outbox can store (a full
disk means no delivery guarantee); and no component is crash-looping (restarting again and
again within a window).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class HealthVerdict:
    healthy: bool
    reasons: list[str]
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "status": "healthy" if self.healthy else "degraded",
                "reasons": self.reasons, "notes": self.notes}


@dataclass(slots=True)
class HealthJudge:
    """Remembers restart counts and drops over time, so it can see loops and new drops."""

    crash_loop_restarts: int = 3
    crash_loop_window_s: float = 600.0
    outbox_unhealthy_percent: float = 90.0
    _restarts: dict[str, deque[tuple[float, int]]] = field(default_factory=dict)
    _drops_when_link_lost: int | None = None

    def judge(self, status: Mapping[str, Any], now: float) -> HealthVerdict:
        reasons: list[str] = []
        notes: list[str] = []
        self._judge_link(status, reasons, notes)
        storage = status.get("storage") or {}
        if storage.get("ok") is False:
            reasons.append(f"messages cannot be stored, so they are sent live without the "
                           f"delivery guarantee: {storage.get('reason') or 'unknown error'}")
        self._judge_components(status, now, reasons)
        if status.get("clock_synced") is False:
            notes.append("clock not synced yet (schedules wait for it)")
        return HealthVerdict(not reasons, reasons, notes)

    def _judge_link(self, status: Mapping[str, Any], reasons: list[str],
                    notes: list[str]) -> None:
        mqtt = status.get("mqtt") or {}
        outbox = status.get("outbox") or {}
        dropped = sum(int(v) for v in (outbox.get("dropped") or {}).values())
        if mqtt.get("connected"):
            self._drops_when_link_lost = None
            return
        if self._drops_when_link_lost is None:
            self._drops_when_link_lost = dropped
        size, limit = outbox.get("bytes") or 0, outbox.get("max_bytes") or 0
        percent = 100.0 * size / limit if limit else 0.0
        error = mqtt.get("last_error")
        notes.append(f"MQTT link down{f' ({error})' if error else ''}; spooling "
                     f"{outbox.get('depth', 0)} message(s) to the outbox ({percent:.0f}% full)")
        if percent >= self.outbox_unhealthy_percent:
            reasons.append(f"MQTT link down and outbox {percent:.0f}% full "
                           f"(limit {self.outbox_unhealthy_percent:.0f}%)")
        elif dropped > self._drops_when_link_lost:
            reasons.append(f"MQTT link down and the outbox dropped "
                           f"{dropped - self._drops_when_link_lost} message(s)")

    def _judge_components(self, status: Mapping[str, Any], now: float,
                          reasons: list[str]) -> None:
        agent_young = float(status.get("uptime_s") or 0.0) < self.crash_loop_window_s
        for name, info in (status.get("components") or {}).items():
            info = info or {}
            restarts = int(info.get("restarts") or 0)
            history = self._restarts.setdefault(name, deque())
            if not history or history[-1][1] != restarts:
                history.append((now, restarts))
            cutoff = now - self.crash_loop_window_s
            # keep one sample at or before the window start: it is the baseline count
            while len(history) > 1 and history[1][0] <= cutoff:
                history.popleft()
            if history[0][0] <= cutoff:
                baseline = history[0][1]
            else:  # first seen inside the window: since boot, if boot is inside it too
                baseline = 0 if agent_young else history[0][1]
            recent = restarts - baseline
            if recent >= self.crash_loop_restarts:
                error = info.get("last_error") or "unknown error"
                reasons.append(f"component {name} is crash-looping: {recent} restart(s) in "
                               f"{self.crash_loop_window_s:.0f} s (last error: {error})")
