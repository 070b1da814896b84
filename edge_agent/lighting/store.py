"""What the lighting service keeps across restarts, in one small JSON file.

Active overrides (a reboot during an override keeps it until its expiry), each circuit's last
relay state (kept while the clock is unsynced) and on-hours per local day. Written atomically
(temp file + rename) only when something changed, to spare the SD card.

``save`` is async: the snapshot is taken on the event loop (the service mutates the store
there), the write and its fsync run in a worker thread (an SD card fsync can take hundreds
of milliseconds). Saves are serialised, so a later snapshot is never overwritten by an older one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from edge_agent.lighting.schedule import Override
from edge_agent.state_file import write_json_atomic

log = logging.getLogger(__name__)


@dataclass
class Energy:
    """On-time of one circuit per local day."""

    day: str = ""
    on_s: float = 0.0
    yesterday_on_s: float | None = None
    _last: datetime | None = None
    _on: bool = False

    def update(self, now: datetime, is_on: bool, tz: tzinfo) -> None:
        """Account the time since the previous call at the previous state, split at midnight."""
        local_day = now.astimezone(tz).date()
        if self._last is not None and self._on and now > self._last:
            start = self._last
            while start.astimezone(tz).date() < local_day:
                midnight = datetime.combine(start.astimezone(tz).date() + timedelta(days=1),
                                            datetime.min.time(), tzinfo=tz)
                self._add(start.astimezone(tz).date(), (midnight - start).total_seconds())
                start = midnight
            self._add(local_day, (now - start).total_seconds())
        else:
            self._add(local_day, 0.0)
        self._last, self._on = now, is_on

    def _add(self, day: date, seconds: float) -> None:
        key = day.isoformat()
        if key != self.day:
            if self.day and date.fromisoformat(self.day) == day - timedelta(days=1):
                self.yesterday_on_s = self.on_s
            elif self.day:
                self.yesterday_on_s = None if key < self.day else 0.0
            self.day, self.on_s = key, 0.0
        self.on_s += max(0.0, seconds)


@dataclass
class LightingStore:
    path: Path
    overrides: dict[str, Override] = field(default_factory=dict)
    last_state: dict[str, bool] = field(default_factory=dict)
    energy: dict[str, Energy] = field(default_factory=dict)
    switch_count: dict[str, int] = field(default_factory=dict)
    _save_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)

    def load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("lighting: ignoring unreadable %s: %s", self.path, exc)
            return
        for circuit, item in data.get("overrides", {}).items():
            try:
                self.overrides[circuit] = Override(
                    bool(item["state"]), _dt(item.get("until")), _dt(item.get("start")))
            except (KeyError, TypeError, ValueError):
                log.warning("lighting: ignoring a bad saved override for %s", circuit)
        self.last_state = {k: bool(v) for k, v in data.get("last_state", {}).items()}
        self.switch_count = {k: int(v) for k, v in data.get("switch_count", {}).items()}
        for circuit, item in data.get("energy", {}).items():
            self.energy[circuit] = Energy(str(item.get("day", "")), float(item.get("on_s", 0)),
                                          item.get("yesterday_on_s"))

    async def save(self) -> None:
        """Write the current state; never raises for disk trouble (logged instead)."""
        async with self._save_lock:
            await asyncio.to_thread(self.write, self.snapshot())

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of the state (taken on the loop, so it is consistent)."""
        return {
            "overrides": {c: {"state": o.state, "until": _iso(o.until), "start": _iso(o.start)}
                          for c, o in self.overrides.items()},
            "last_state": dict(self.last_state),
            "switch_count": dict(self.switch_count),
            "energy": {c: {"day": e.day, "on_s": round(e.on_s, 1),
                           "yesterday_on_s": e.yesterday_on_s} for c, e in self.energy.items()},
        }

    def write(self, data: dict[str, Any]) -> None:
        """Blocking atomic write of ``data`` (call from a worker thread)."""
        try:
            write_json_atomic(self.path, data)
        except OSError as exc:  # a full disk must not stop the lights
            log.error("lighting: cannot save %s: %s", self.path, exc)


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
