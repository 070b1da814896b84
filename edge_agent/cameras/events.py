"""Motion event lifecycle (pure): analysed results in, ``start``/``update``/``end`` out.

Also the pure arming decision (schedule windows + a command override). Times are passed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from edge_agent.cameras.config import ArmingConfig, MotionConfig
from edge_agent.cameras.motion import MotionResult
from edge_agent.cameras.motion_filters import Box

Kind = Literal["start", "update", "end"]


@dataclass(frozen=True, slots=True)
class EventMessage:
    kind: Kind
    event_id: str
    ts: float  # stream time of the frame that caused this message
    started_ts: float
    boxes: tuple[Box, ...]
    zones: tuple[str, ...]  # every zone entered so far
    score: float
    peak_score: float
    duration_s: float
    snapshot: str | None = None


@dataclass(slots=True)
class _Active:
    event_id: str
    started: float
    last_motion: float
    last_update: float
    zones: list[str] = field(default_factory=list)
    peak: float = 0.0
    boxes: tuple[Box, ...] = ()
    snapshot: str | None = None


class EventTracker:
    def __init__(self, cfg: MotionConfig,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:16]) -> None:
        self.cfg = cfg
        self._new_id = new_id
        self._active: _Active | None = None

    @property
    def active(self) -> bool:
        return self._active is not None

    @property
    def event_id(self) -> str | None:
        return self._active.event_id if self._active else None

    def set_snapshot(self, ref: str) -> None:
        if self._active is not None:
            self._active.snapshot = ref

    def due_to_cut(self, ts: float) -> bool:
        """The running event reaches ``max_event_s`` at ``ts``: ended, and a new one starts
        if something still moves (read from the source thread: one float, no lock)."""
        ev = self._active
        return ev is not None and ts - ev.started >= self.cfg.max_event_s

    def feed(self, r: MotionResult) -> list[EventMessage]:
        out: list[EventMessage] = []
        ev = self._active
        if self.due_to_cut(r.ts):
            out.append(self._end(r.ts))
            ev = None
        if ev is not None and not r.motion and r.ts - ev.last_motion >= self.cfg.end_s:
            out.append(self._end(r.ts))
            return out
        if not r.motion:
            return out
        zones = sorted({z for b in r.blobs for z in b.zones})
        boxes = tuple(b.box for b in r.blobs)
        if ev is None:
            # The event starts when the moving thing was first seen (the detector reports it
            # only after ``persistence_frames``), so its duration is never 0.
            since = r.since if r.since is not None and r.since < r.ts else r.ts
            ev = self._active = _Active(self._new_id(), since, r.ts, r.ts, zones, r.score,
                                        boxes)
            out.append(self._message("start", ev, r.ts, r.score))
            return out
        ev.last_motion = r.ts
        ev.peak = max(ev.peak, r.score)
        ev.boxes = boxes
        new_zone = [z for z in zones if z not in ev.zones]
        ev.zones.extend(new_zone)
        if new_zone or r.ts - ev.last_update >= self.cfg.update_interval_s:
            ev.last_update = r.ts
            out.append(self._message("update", ev, r.ts, r.score))
        return out

    def end(self, ts: float) -> list[EventMessage]:
        """End a running event now (camera disarmed or offline)."""
        return [self._end(ts)] if self._active is not None else []

    def _end(self, ts: float) -> EventMessage:
        ev = self._active
        assert ev is not None
        self._active = None
        msg = self._message("end", ev, ts, 0.0)
        return replace(msg, duration_s=round(ev.last_motion - ev.started, 2))

    @staticmethod
    def _message(kind: Kind, ev: _Active, ts: float, score: float) -> EventMessage:
        return EventMessage(kind, ev.event_id, ts, ev.started, ev.boxes, tuple(ev.zones),
                            round(score, 5), round(ev.peak, 5), round(ts - ev.started, 2),
                            ev.snapshot)


@dataclass(frozen=True, slots=True)
class ArmOverride:
    armed: bool
    until: datetime | None  # None = until the next command

    def as_json(self) -> dict[str, object]:
        return {"armed": self.armed, "until": self.until.isoformat() if self.until else None}

    @classmethod
    def from_json(cls, data: object, now: datetime) -> ArmOverride | None:
        """A saved override, or None when it has expired or does not parse."""
        if not isinstance(data, dict) or not isinstance(data.get("armed"), bool):
            return None
        until = data.get("until")
        try:
            end = datetime.fromisoformat(until) if isinstance(until, str) else None
        except ValueError:
            return None
        if until is not None and (end is None or end.tzinfo is None or end <= now):
            return None
        return cls(data["armed"], end)


def scheduled_armed(cfg: ArmingConfig, local_now: datetime) -> bool:
    """Is ``local_now`` (timezone-aware local time) inside an arming window?"""
    if not cfg.schedule:
        return True
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    for window in cfg.schedule:
        start, end = window.times()
        for back in (0, 1):  # a window that started yesterday may still be open
            day = (local_now - timedelta(days=back)).date()
            if window.weekdays and days[day.weekday()] not in window.weekdays:
                continue
            begin = datetime.combine(day, start, local_now.tzinfo)
            finish = datetime.combine(day, end, local_now.tzinfo)
            if finish <= begin:
                finish += timedelta(days=1)
            if begin <= local_now < finish:
                return True
    return False


def is_armed(cfg: ArmingConfig, override: ArmOverride | None, local_now: datetime) -> bool:
    if override is not None and (override.until is None or local_now < override.until):
        return override.armed
    return scheduled_armed(cfg, local_now)
