"""One circuit's runtime state: its rules, its relay, what it was last set to, its health."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from contract import utc_iso
from contract.lighting import LightState
from drivers.relays.base import Relay
from drivers.relays.registry import describe
from edge_agent.lighting.config import CircuitConfig
from edge_agent.lighting.schedule import Decision, Override, Rule
from edge_agent.lighting.store import Energy


def on_off(state: bool | None) -> str | None:
    return None if state is None else ("on" if state else "off")


@dataclass
class Circuit:
    cfg: CircuitConfig
    relay: Relay
    rules: list[Rule]
    actual: bool | None = None  # what the relay was last set to / read as
    target: bool | None = None  # what this pass wants (None: leave it alone)
    reason: str = "clock_unsynced"
    decision: Decision | None = None
    driver_ok: bool = True
    driver_error: str | None = None
    retry_at: float = 0.0  # monotonic time before which a failed relay is not retried
    last_switch_mono: float | None = None
    last_switch_at: datetime | None = None
    last_assert_mono: float = float("-inf")
    pending_until: datetime | None = None
    pulsing: bool = False
    switches_today: int = 0
    switches_day: str = ""
    switch_count: int = 0
    energy: Energy = field(default_factory=Energy)

    @property
    def id(self) -> str:
        return self.cfg.id

    @property
    def channel(self) -> int:
        return self.cfg.relay.channel

    def count_switch(self, now: datetime, tz: tzinfo) -> None:
        day = now.astimezone(tz).date().isoformat()
        if day != self.switches_day:
            self.switches_day, self.switches_today = day, 0
        self.switches_today += 1
        self.switch_count += 1
        self.last_switch_at = now

    def record_switch(self, now: datetime, mono: float, tz: tzinfo) -> None:
        """A scheduled/commanded change: counted, and it starts the protection interval."""
        self.count_switch(now, tz)
        self.last_switch_mono = mono

    def state_payload(self, override: Override | None, synced: bool) -> dict[str, Any]:
        d = self.decision
        active = override if override is not None and self.reason == "override" else None
        msg = LightState(
            circuit=self.id, name=self.cfg.name,
            state=on_off(self.actual) or "unknown",
            desired=on_off(self.target),
            reason=self.reason,
            rule=d.rule if d is not None and self.reason == "schedule" else None,
            override_state=on_off(active.state) if active else None,
            override_until=_iso(active.until) if active else None,
            next_change=_iso(d.next_change) if d is not None else None,
            next_state=on_off(not d.state) if d is not None and d.next_change else None,
            pending_until=_iso(self.pending_until),
            driver=describe(self.cfg.relay), driver_ok=self.driver_ok,
            driver_error=self.driver_error, last_switch=_iso(self.last_switch_at),
            switches_today=self.switches_today, switch_count=self.switch_count,
            on_hours_today=round(self.energy.on_s / 3600, 3),
            on_hours_yesterday=round(self.energy.yesterday_on_s / 3600, 3)
            if self.energy.yesterday_on_s is not None else None,
            clock_synced=synced)
        return msg.model_dump(mode="json")


def _iso(value: datetime | None) -> str | None:
    return utc_iso(value) if value is not None else None
