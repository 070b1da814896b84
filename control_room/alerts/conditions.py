"""What is wrong with a gateway right now: ``FleetView`` + clock in, active conditions out.

No memory and no hold times here (``rules.py`` adds the lifecycle). A condition carries the
moment it began when the gateway said so (a camera's ``since``), so an alert that was already
true before the control room started does not wait a whole hold time again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from control_room.alerts.config import AlertRulesConfig
from control_room.alerts.model import CircuitView, GatewayView

# the gateway's own state: never suppressed, and while not online they silence the rest
GATEWAY_STATE_RULES = ("gateway_offline", "gateway_stopped")
# a child rule is silenced while its parent alert for the same subject is firing. A light not
# in its due state is not silenced by its relay error: "the street is dark at 19:00" is what
# the monitoring room must see, whatever the cause (the driver error alert says why).
PARENT_RULE = {"hotspot_degraded": "hotspot_down"}
HOLD_REASONS = {"clock_unsynced": " (the gateway holds it: clock not synchronised)",
                "failsafe": " (the gateway holds it in its failsafe state)"}
# evaluation order: roots before what they suppress
RULE_ORDER = (*GATEWAY_STATE_RULES, "clock_unsynced", "outbox_backlog", "disk_low", "seq_loss",
              "camera_offline", "light_driver_error", "hotspot_down", "light_not_due",
              "hotspot_degraded")


@dataclass(frozen=True, slots=True)
class Condition:
    rule: str
    site: str
    gateway: str
    subject: str | None
    message: str
    since: datetime | None = None  # when it began per the gateway; None: now
    hold_s: float = 0.0  # held at least this long (beside the rule's for_s) before firing
    subject_name: str | None = None  # the subject's name for people, if it has one

    @property
    def key(self) -> str:
        return alert_key(self.rule, self.site, self.gateway, self.subject)


def alert_key(rule: str, site: str, gateway: str, subject: str | None) -> str:
    base = f"{rule}:{site}/{gateway}"
    return base if subject is None else f"{base}:{subject}"


def aware(moment: datetime) -> datetime:
    """A naive time from a store is taken as UTC (comparing it would raise)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _hhmm(moment: datetime) -> str:
    return aware(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def conditions(gw: GatewayView, rules: AlertRulesConfig, now: datetime) -> Iterator[Condition]:
    """Every active condition of one gateway, children included (suppression is not decided
    here: a gateway that is down still reports its last known children)."""
    yield from _gateway_state(gw, rules)
    yield from _gateway_health(gw, rules)
    yield from _cameras(gw, rules)
    for circuit in gw.circuits:
        yield from _circuit(gw, circuit, rules, now)
    yield from _hotspots(gw, rules)


def _cond(gw: GatewayView, rule: str, subject: str | None, message: str,
          since: datetime | None = None, subject_name: str | None = None) -> Condition:
    return Condition(rule, gw.site, gw.gateway, subject, message, since,
                     subject_name=subject_name)


def _gateway_state(gw: GatewayView, rules: AlertRulesConfig) -> Iterator[Condition]:
    if gw.state == "offline" and rules.gateway_offline.enabled:
        yield _cond(gw, "gateway_offline", None,
                    "gateway lost its connection (Last Will)", gw.state_since)
    elif gw.state == "stale" and rules.gateway_offline.enabled:
        seen = f" since {_hhmm(gw.last_seen)}" if gw.last_seen else ""
        yield _cond(gw, "gateway_offline", None, f"no message from the gateway{seen} (stale)",
                    gw.state_since)
    elif gw.state == "stopped" and rules.gateway_stopped.enabled:
        yield _cond(gw, "gateway_stopped", None, "gateway stopped cleanly", gw.state_since)


def _gateway_health(gw: GatewayView, rules: AlertRulesConfig) -> Iterator[Condition]:
    if gw.clock_synced is False and rules.clock_unsynced.enabled:
        yield _cond(gw, "clock_unsynced", None, "the gateway's clock is not synchronised")
    backlog = rules.outbox_backlog
    age = gw.outbox_oldest_age_s
    if backlog.enabled and age is not None and age > backlog.max_age_s:
        yield _cond(gw, "outbox_backlog", None,
                    f"oldest unsent message is {age / 60:.0f} min old "
                    f"(limit {backlog.max_age_s / 60:.0f} min)")
    disk = rules.disk_low
    free = gw.disk_free_mb
    if disk.enabled and free is not None and free < disk.min_free_mb:
        yield _cond(gw, "disk_low", None,
                    f"{free:.0f} MB free on the gateway (limit {disk.min_free_mb:.0f} MB)")
    if rules.seq_loss.enabled and gw.unexplained_loss >= rules.seq_loss.min_lost:
        yield _cond(gw, "seq_loss", None,
                    f"{gw.unexplained_loss} message(s) lost (seq holes not announced)")


def _cameras(gw: GatewayView, rules: AlertRulesConfig) -> Iterator[Condition]:
    if not rules.camera_offline.enabled:
        return
    for cam in gw.cameras:
        if cam.state == "offline":
            detail = f": {cam.last_error}" if cam.last_error else ""
            yield _cond(gw, "camera_offline", cam.id,
                        f"camera {_named(cam.name, cam.id)} offline{detail}",
                        cam.since, subject_name=cam.name)


def _named(name: str | None, ident: str) -> str:
    """The subject in a message: "Cổng làng (cong-lang)", its id alone if it has no name
    (the id stays: it is what a technician greps the agent's config and logs for)."""
    return f"{name} ({ident})" if name and name != ident else ident


def _circuit(gw: GatewayView, circuit: CircuitView, rules: AlertRulesConfig,
             now: datetime) -> Iterator[Condition]:
    named = _named(circuit.name, circuit.id)
    if not circuit.driver_ok and rules.light_driver_error.enabled:
        detail = f": {circuit.driver_error}" if circuit.driver_error else ""
        yield _cond(gw, "light_driver_error", circuit.id,
                    f"relay of light {named} cannot be switched{detail}",
                    subject_name=circuit.name)
    due = rules.light_not_due
    if not due.enabled:
        return
    # the gateway holds the last state on purpose while its clock is unknown: say so, the
    # operator's fix is the clock (NTP), not the relay
    why = HOLD_REASONS.get(circuit.reason or "", "")
    if circuit.next_change is not None and circuit.next_state is not None:
        late_from = aware(circuit.next_change) + timedelta(seconds=due.grace_s)
        if now >= late_from and circuit.state != circuit.next_state:
            yield _cond(gw, "light_not_due", circuit.id,
                        f"light {named} should be {circuit.next_state} since "
                        f"{_hhmm(circuit.next_change)} but is {circuit.state}{why}", late_from,
                        subject_name=circuit.name)
            return
    if circuit.desired is not None and circuit.state != circuit.desired:
        # due now but not so (e.g. a relay that does not switch): after the same grace,
        # counted from when the control room first saw it
        yield Condition("light_not_due", gw.site, gw.gateway, circuit.id,
                        f"light {named} should be {circuit.desired} now but is "
                        f"{circuit.state}{why}", None, due.grace_s, subject_name=circuit.name)


def _hotspots(gw: GatewayView, rules: AlertRulesConfig) -> Iterator[Condition]:
    for spot in gw.hotspots:
        why = f": {', '.join(spot.reasons)}" if spot.reasons else ""
        named = _named(spot.name, spot.id)
        if spot.state == "down" and rules.hotspot_down.enabled:
            yield _cond(gw, "hotspot_down", spot.id, f"hotspot {named} down{why}", spot.since,
                        subject_name=spot.name)
        if spot.state in ("degraded", "down") and rules.hotspot_degraded.enabled:
            yield _cond(gw, "hotspot_degraded", spot.id,
                        f"hotspot {named} {spot.state}{why}", spot.since,
                        subject_name=spot.name)
