"""The alert engine: fleet view + clock + previous states in, new states + transitions out.

Pure: no I/O, no clock reads (``now`` is a parameter), so it is tested with a fake clock and
any worker can run it from persisted states.

Lifecycle (per key ``rule:site/gateway[:subject]``)::

    (nothing) --condition--> pending --held for_s--> firing --clear resolve_after_s--> resolved
                 pending --condition clears--> cancelled (never notified)

* A condition that was already true per the gateway (a camera offline ``since`` 10:00) starts
  pending from then, so it may fire at once; if it is past ``for_s`` on first sight the single
  transition is ``fired`` (no separate ``pending``).
* A firing alert whose condition comes back during the resolve hold simply stays firing.
* Acknowledging records who, when and a note; it does not silence or resolve anything. A
  resolved alert is gone: if the condition returns it is a new alert (new ``since``, new
  ``incident``, not acknowledged).
* ``stopped`` (a clean stop) is someone's decision: an ``info`` alert after 15 minutes (longer
  than a restart or an upgrade), which the notifier does not send by default. ``unknown``
  (never heard) raises nothing.

Dependency suppression ("one root cause gives one alert"):

* While a gateway is not ``online`` (offline, stale, stopped, unknown) none of its other
  rules (lights, cameras, hotspots, clock, outbox, disk, loss) raises anything: what the store
  holds for them is the last word of a gateway that can no longer speak.
* Their **pending** alerts are cancelled (nobody was told, nobody needs to be).
* Their **firing** alerts are frozen, not resolved: they stay firing with ``suppressed_by``
  set, and are judged again on fresh data when the gateway is back. Resolving them with a note
  would send "camera resolved" while nobody can see the camera, and re-fire it (a second
  notification for the same fault) a minute after the gateway returns; an operator reads a
  frozen alert as "still broken as far as we know", which is the truth.
* The same holds inside a gateway: ``hotspot_degraded`` is silenced while that hotspot's
  ``hotspot_down`` fires. ``light_not_due`` is not silenced by the circuit's
  ``light_driver_error``: a street dark when it should be lit is the operator's fact, the
  driver error the reason.
* Alerts of a gateway or subject that left the fleet view (decommissioned, removed from the
  config) resolve like any cleared condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from control_room.alerts.conditions import (
    GATEWAY_STATE_RULES,
    PARENT_RULE,
    RULE_ORDER,
    Condition,
    alert_key,
    aware,
    conditions,
)
from control_room.alerts.config import AlertRulesConfig
from control_room.alerts.model import AlertState, FleetView, GatewayView, Severity, Transition

MAX_NOTE = 500  # an ack note is a sentence, not a report


class AlertEngine:
    def __init__(self, rules: AlertRulesConfig) -> None:
        self.rules = rules

    def evaluate(self, fleet: FleetView, now: datetime, previous: Mapping[str, AlertState],
                 ) -> tuple[dict[str, AlertState], list[Transition]]:
        """The new set of pending and firing alerts, and what changed (in rule order: roots
        first). Resolved and cancelled alerts appear once in the transitions only."""
        now = aware(now)
        gateways = {gw.key: gw for gw in fleet.gateways}
        active: dict[str, Condition] = {}
        for gw in fleet.gateways:
            for found in conditions(gw, self.rules, now):
                active.setdefault(found.key, found)
        states: dict[str, AlertState] = {}
        transitions: list[Transition] = []
        for key in _ordered(active, previous):
            prev, cond = previous.get(key), active.get(key)
            blocker = _blocker(cond if cond is not None else previous[key], gateways, states)
            state, change = self._step(prev, cond, blocker, now)
            if state is not None:
                states[key] = state
            if change is not None:
                transitions.append(change)
        return states, transitions

    def acknowledge(self, state: AlertState, user: str, note: str, now: datetime) -> AlertState:
        """Who saw it, when, and what they said. Raises ValueError for a resolved alert or
        an empty user (one readable line for the API to return)."""
        if state.status == "resolved":
            raise ValueError(f"alert {state.key} is already resolved")
        if not user.strip():
            raise ValueError("acknowledging needs a user name")
        return replace(state, acked_by=user.strip(), acked_at=aware(now),
                       ack_note=note.strip()[:MAX_NOTE] or None)

    def _timing(self, rule: str) -> tuple[float, float, Severity]:
        config = getattr(self.rules, rule, None)
        if config is None:  # a rule this version no longer has: let it resolve now
            return 0.0, 0.0, "info"
        return float(config.for_s), float(config.resolve_after_s), config.severity

    def _step(self, prev: AlertState | None, cond: Condition | None, blocker: str | None,
              now: datetime) -> tuple[AlertState | None, Transition | None]:
        if blocker is not None:
            if prev is None:
                return None, None
            if prev.status == "pending":
                return None, Transition("cancelled", prev, now, {"reason": blocker})
            # frozen: a clear seen before the root went down is not trusted after it
            return replace(prev, suppressed_by=blocker, clear_since=None), None
        if cond is not None:
            return self._active(prev, cond, now)
        if prev is None:
            return None, None
        if prev.status == "pending":
            return None, Transition("cancelled", prev, now, {"reason": "condition cleared"})
        return self._clearing(prev, now)

    def _active(self, prev: AlertState | None, cond: Condition,
                now: datetime) -> tuple[AlertState, Transition | None]:
        for_s, _, severity = self._timing(cond.rule)
        for_s = max(for_s, cond.hold_s)
        if prev is None:
            since = min(aware(cond.since), now) if cond.since is not None else now
            state = AlertState(key=cond.key, rule=cond.rule, site=cond.site,
                               gateway=cond.gateway, subject=cond.subject, severity=severity,
                               status="pending", message=cond.message, since=since,
                               subject_name=cond.subject_name)
            if (now - since).total_seconds() < for_s:
                return state, Transition("pending", state, now)
            prev = state
        state = replace(prev, message=cond.message, severity=severity, clear_since=None,
                        suppressed_by=None, subject_name=cond.subject_name)
        if state.status == "pending" and (now - state.since).total_seconds() >= for_s:
            state = replace(state, status="firing", fired_at=now)
            return state, Transition("fired", state, now)
        return state, None

    def _clearing(self, prev: AlertState, now: datetime,
                  ) -> tuple[AlertState | None, Transition | None]:
        _, resolve_after_s, _ = self._timing(prev.rule)
        clear_since = prev.clear_since or now
        # Never at the instant it fired (a zero resolve hold, evaluated twice at one time):
        # a new life of the key could then fire at that instant too, with the same incident.
        fired_now = prev.fired_at is not None and now <= prev.fired_at
        if (now - clear_since).total_seconds() < resolve_after_s or fired_now:
            return replace(prev, clear_since=clear_since, suppressed_by=None), None
        done = replace(prev, status="resolved", resolved_at=now, clear_since=clear_since,
                       suppressed_by=None)
        return None, Transition("resolved", done, now)


def _ordered(active: Mapping[str, Condition], previous: Mapping[str, AlertState]) -> list[str]:
    """Keys with roots before the alerts they may suppress; unknown rules last."""
    rank = {rule: i for i, rule in enumerate(RULE_ORDER)}

    def sort_key(key: str) -> tuple[int, str]:
        item = active.get(key) or previous[key]
        return rank.get(item.rule, len(rank)), key

    return sorted(set(active) | set(previous), key=sort_key)


def _blocker(item: Condition | AlertState, gateways: Mapping[str, GatewayView],
             states: Mapping[str, AlertState]) -> str | None:
    """Why this alert may not be raised now (its root cause is down), or None."""
    if item.rule in GATEWAY_STATE_RULES:
        return None
    gw = gateways.get(f"{item.site}/{item.gateway}")
    if gw is not None and gw.state != "online":
        return f"suppressed: gateway {gw.state}"
    parent = PARENT_RULE.get(item.rule)
    if parent is not None:
        root = states.get(alert_key(parent, item.site, item.gateway, item.subject))
        if root is not None and root.status == "firing":
            return f"suppressed: {parent} firing"
    return None
