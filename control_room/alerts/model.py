"""What the alert engine sees and what it says: plain frozen data, no I/O.

The control room builds a ``FleetView`` from its store; the engine (``rules.py``) turns it,
the clock and the previous ``AlertState``s into new states and ``Transition``s. Keys are
stable strings, so the store can persist states and the console can link to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

GatewayState = Literal["online", "offline", "stopped", "stale", "unknown"]
AlertStatus = Literal["pending", "firing", "resolved"]
Severity = Literal["critical", "warning", "info"]


@dataclass(frozen=True, slots=True)
class CircuitView:
    id: str
    state: str  # on / off / unknown (what the relay is)
    reason: str | None
    next_change: datetime | None  # when the gateway said the state changes next
    next_state: str | None  # on / off after next_change
    desired: str | None = None  # what the gateway's schedule/override wants now
    driver_ok: bool = True
    driver_error: str | None = None
    updated_at: datetime | None = None  # when this state message was made
    name: str | None = None  # what people call it ("Đường làng"); None: the agent sent none


@dataclass(frozen=True, slots=True)
class CameraView:
    id: str
    state: str  # online / offline / disarmed
    since: datetime | None
    last_error: str | None = None
    name: str | None = None  # what people call it ("Cổng làng"); None: the agent sent none


@dataclass(frozen=True, slots=True)
class HotspotView:
    id: str
    state: str  # unknown / up / degraded / down
    since: datetime | None
    reasons: tuple[str, ...] = ()
    name: str | None = None  # what people call it ("Nhà văn hoá"); None: the agent sent none


@dataclass(frozen=True, slots=True)
class GatewayView:
    site: str
    gateway: str
    state: GatewayState
    state_since: datetime | None
    last_seen: datetime | None
    clock_synced: bool | None = None
    outbox_oldest_age_s: float | None = None
    disk_free_mb: float | None = None
    unexplained_loss: int = 0  # seq numbers lost (holes no outbox/dropped explains)
    circuits: tuple[CircuitView, ...] = ()
    cameras: tuple[CameraView, ...] = ()
    hotspots: tuple[HotspotView, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.site}/{self.gateway}"


@dataclass(frozen=True, slots=True)
class FleetView:
    gateways: tuple[GatewayView, ...]


@dataclass(frozen=True, slots=True)
class AlertState:
    key: str  # f"{rule}:{site}/{gateway}" or f"{rule}:{site}/{gateway}:{subject}"
    rule: str  # e.g. gateway_offline, camera_offline, light_not_due, hotspot_down, ...
    site: str
    gateway: str
    subject: str | None  # circuit / camera / hotspot id, None for the gateway itself
    severity: Severity
    status: AlertStatus
    message: str  # one line for people (the console translates the rule; this is detail)
    since: datetime  # when the condition was first seen (pending from)
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    ack_note: str | None = None
    # the subject as people call it ("Cổng làng"), for the console and notifications;
    # None: it has no name (an agent too old to send one, a gateway-wide alert): show ``subject``
    subject_name: str | None = None
    clear_since: datetime | None = None  # the condition went away at; resolves after hold
    # set while a firing alert is frozen because its root cause is down (gateway not online,
    # relay error firing...): it can't be observed, so it neither resolves nor re-notifies
    suppressed_by: str | None = None

    @property
    def incident(self) -> str:
        """One notified life of this alert, for "already notified" flags: ``key`` repeats
        when an alert fires again after resolving, and so may ``since`` (a light that missed
        the same announced change twice), but two lives never fire at the same instant."""
        return f"{self.key}@{(self.fired_at or self.since).isoformat()}"


@dataclass(frozen=True, slots=True)
class Transition:
    """A change people may need to hear about: ``fired`` and ``resolved`` are notified."""

    kind: Literal["pending", "fired", "resolved", "cancelled"]
    alert: AlertState
    at: datetime
    extra: dict[str, str] = field(default_factory=dict)
