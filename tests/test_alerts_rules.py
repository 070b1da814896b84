"""The alert engine at unit level, with a fake clock (the engine takes ``now``; no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from control_room.alerts.config import AlertRulesConfig
from control_room.alerts.model import (
    AlertState,
    CameraView,
    CircuitView,
    FleetView,
    GatewayView,
    HotspotView,
    Transition,
)
from control_room.alerts.rules import AlertEngine

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
GW_KEY = "xa-a/gw1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def gateway(state: str = "online", **fields: Any) -> GatewayView:
    fields.setdefault("state_since", T0)
    fields.setdefault("last_seen", T0)
    return GatewayView(site="xa-a", gateway="gw1", state=state, **fields)  # type: ignore[arg-type]


def camera(state: str = "offline", since: datetime = T0, **fields: Any) -> CameraView:
    return CameraView(id="gate", state=state, since=since, **fields)


def circuit(state: str = "off", next_change: datetime | None = T0, next_state: str = "on",
            **fields: Any) -> CircuitView:
    return CircuitView(id="main-road", state=state, reason="schedule",
                       next_change=next_change, next_state=next_state, **fields)


def hotspot(state: str = "down", since: datetime = T0, **fields: Any) -> HotspotView:
    return HotspotView(id="school", state=state, since=since, **fields)


class Run:
    """Feeds fleet views to one engine, keeping its states like the store would."""

    def __init__(self, rules: AlertRulesConfig | None = None) -> None:
        self.engine = AlertEngine(rules or AlertRulesConfig())
        self.states: dict[str, AlertState] = {}
        self.log: list[Transition] = []

    def step(self, seconds: float, *gateways: GatewayView) -> list[Transition]:
        self.states, changes = self.engine.evaluate(FleetView(gateways), at(seconds), self.states)
        self.log.extend(changes)
        return changes


def kinds(changes: list[Transition]) -> list[tuple[str, str]]:
    return [(t.kind, t.alert.key) for t in changes]


# ---------------------------------------------------------------- lifecycle and hold times


def test_gateway_offline_fires_after_hold_and_resolves_after_clear_hold() -> None:
    run = Run()
    assert kinds(run.step(0, gateway("offline"))) == [("pending", "gateway_offline:xa-a/gw1")]
    assert run.step(29.9, gateway("offline")) == []
    fired = run.step(30, gateway("offline"))
    assert kinds(fired) == [("fired", "gateway_offline:xa-a/gw1")]
    assert fired[0].alert.severity == "critical" and fired[0].alert.fired_at == at(30)
    assert fired[0].alert.since == T0
    # back online: firing during the 60 s resolve hold; a relapse inside it changes nothing
    assert run.step(40, gateway("online")) == []
    assert run.states["gateway_offline:xa-a/gw1"].clear_since == at(40)
    assert run.step(70, gateway("stale")) == []
    assert run.states["gateway_offline:xa-a/gw1"].clear_since is None
    assert run.step(80, gateway("online")) == []
    assert run.step(139, gateway("online")) == []
    resolved = run.step(140, gateway("online"))
    assert kinds(resolved) == [("resolved", "gateway_offline:xa-a/gw1")]
    assert resolved[0].alert.status == "resolved" and resolved[0].alert.resolved_at == at(140)
    assert run.states == {}


def test_stale_and_offline_are_one_alert_with_their_own_message() -> None:
    run = Run()
    run.step(0, gateway("offline"))
    run.step(10, gateway("stale", last_seen=at(-300)))
    assert len(run.states) == 1
    assert "stale" in run.states["gateway_offline:xa-a/gw1"].message
    assert "2026-11-22 09:55 UTC" in run.states["gateway_offline:xa-a/gw1"].message
    assert kinds(run.step(30, gateway("stale"))) == [("fired", "gateway_offline:xa-a/gw1")]


def test_a_flap_shorter_than_the_hold_is_cancelled_without_firing() -> None:
    run = Run()
    run.step(0, gateway("offline"))
    changes = run.step(20, gateway("online"))
    assert kinds(changes) == [("cancelled", "gateway_offline:xa-a/gw1")]
    assert changes[0].extra == {"reason": "condition cleared"}
    assert run.states == {}
    assert not [t for t in run.log if t.kind == "fired"]


def test_a_condition_older_than_its_hold_fires_on_first_sight() -> None:
    run = Run()
    changes = run.step(0, gateway(cameras=(camera(since=at(-600)),)))
    assert kinds(changes) == [("fired", "camera_offline:xa-a/gw1:gate")]
    assert changes[0].alert.since == at(-600)


def test_a_since_in_the_future_is_clamped_to_now() -> None:
    run = Run()  # a gateway with a wrong clock must not postpone its alert for ever
    run.step(0, gateway(cameras=(camera(since=at(86_400)),)))
    assert run.states["camera_offline:xa-a/gw1:gate"].since == T0
    assert kinds(run.step(60, gateway(cameras=(camera(since=at(86_400)),)))) == [
        ("fired", "camera_offline:xa-a/gw1:gate")]


def test_naive_times_from_a_store_are_taken_as_utc() -> None:
    run = Run()
    naive = T0.replace(tzinfo=None) - timedelta(seconds=120)
    changes = run.step(0, gateway(cameras=(camera(since=naive),)))
    assert kinds(changes) == [("fired", "camera_offline:xa-a/gw1:gate")]
    assert changes[0].alert.since == at(-120)


def test_camera_offline_below_its_hold_raises_nothing_and_last_error_is_in_the_message() -> None:
    run = Run()
    cam = camera(since=T0, last_error="connection refused")
    run.step(0, gateway(cameras=(cam,)))
    assert "connection refused" in run.states["camera_offline:xa-a/gw1:gate"].message
    run.step(44, gateway(cameras=(cam,)))  # the default hold is 45 s
    run.step(46, gateway(cameras=(camera("online", since=at(44)),)))
    assert [t.kind for t in run.log] == ["pending", "cancelled"]


def test_camera_alert_and_its_notification_name_the_camera_as_people_call_it() -> None:
    """The console and the notifications say "Cổng làng", not the id "gate"; the key stays
    the id (a rename is the same alert), and a camera without a name falls back to its id."""
    from control_room.alerts.message import payload, titles

    run = Run()
    run.step(0, gateway(cameras=(camera(since=at(-600), name="Cổng làng"),)))
    (fired,) = run.log
    assert fired.kind == "fired" and fired.alert.key == "camera_offline:xa-a/gw1:gate"
    assert fired.alert.subject == "gate" and fired.alert.subject_name == "Cổng làng"
    assert fired.alert.message == "camera Cổng làng (gate) offline"
    assert titles(fired) == ("Cảnh báo: Camera mất tín hiệu — xa-a/gw1 Cổng làng",
                             "Alert: Camera offline — xa-a/gw1 Cổng làng")
    assert payload(fired)["subject_name"] == "Cổng làng"
    # renamed while firing: the same alert, now with the new name
    run.step(10, gateway(cameras=(camera(since=at(-600), name="Cổng chợ"),)))
    state = run.states["camera_offline:xa-a/gw1:gate"]
    assert state.subject_name == "Cổng chợ" and state.fired_at == at(0)
    unnamed = Run()
    unnamed.step(0, gateway(cameras=(camera(since=at(-600)),)))
    assert unnamed.log[0].alert.subject_name is None
    assert titles(unnamed.log[0])[1] == "Alert: Camera offline — xa-a/gw1 gate"
    assert unnamed.log[0].alert.message == "camera gate offline"


def test_circuit_and_hotspot_alerts_name_them_as_people_call_them() -> None:
    """As a camera's: the relay fault, the light not as due and the hotspot down say
    "Đường trục chính" / "Trường học", in the titles too; the keys keep the ids; one without
    a name keeps its id."""
    from control_room.alerts.message import payload, titles

    run = Run()
    road = circuit("off", next_change=T0, name="Đường trục chính", driver_ok=False)
    run.step(0, gateway(circuits=(road,), hotspots=(hotspot("down", name="Trường học"),)))
    run.step(600, gateway(circuits=(road,), hotspots=(hotspot("down", name="Trường học"),)))
    fired = {t.alert.key: t for t in run.log if t.kind == "fired"}
    relay = fired["light_driver_error:xa-a/gw1:main-road"]
    assert relay.alert.subject_name == "Đường trục chính"
    assert relay.alert.message == "relay of light Đường trục chính (main-road) cannot be switched"
    assert titles(relay) == ("Cảnh báo: Lỗi rơ-le đèn — xa-a/gw1 Đường trục chính",
                             "Alert: Light relay error — xa-a/gw1 Đường trục chính")
    due = run.states["light_not_due:xa-a/gw1:main-road"]
    assert due.subject_name == "Đường trục chính"
    assert due.message.startswith("light Đường trục chính (main-road) should be on since")
    down = fired["hotspot_down:xa-a/gw1:school"]
    assert payload(down)["subject_name"] == "Trường học"
    assert down.alert.message == "hotspot Trường học (school) down"
    assert titles(down)[0] == "Cảnh báo: Điểm wifi mất kết nối — xa-a/gw1 Trường học"
    bare = Run()
    bare.step(0, gateway(hotspots=(hotspot("down"),)))
    bare.step(600, gateway(hotspots=(hotspot("down"),)))
    (alert,) = bare.states.values()
    assert alert.subject_name is None and alert.message == "hotspot school down"


def test_firing_alert_message_follows_the_condition() -> None:
    run = Run()
    run.step(0, gateway(unexplained_loss=2))
    assert kinds(run.log) == [("fired", "seq_loss:xa-a/gw1")]
    run.step(10, gateway(unexplained_loss=5))
    assert "5 message(s) lost" in run.states["seq_loss:xa-a/gw1"].message
    assert len(run.log) == 1  # no second notification for a bigger number
    assert kinds(run.step(20, gateway(unexplained_loss=0))) == [("resolved", "seq_loss:xa-a/gw1")]


# ---------------------------------------------------------------- rules


def test_stopped_is_an_info_alert_after_15_minutes() -> None:
    run = Run()
    run.step(0, gateway("stopped"))
    assert run.step(899, gateway("stopped")) == []
    fired = run.step(900, gateway("stopped"))
    assert kinds(fired) == [("fired", "gateway_stopped:xa-a/gw1")]
    assert fired[0].alert.severity == "info"


def test_unknown_gateway_raises_nothing_even_with_bad_children() -> None:
    run = Run()
    run.step(0, gateway("unknown", cameras=(camera(since=at(-999)),), clock_synced=False))
    run.step(9999, gateway("unknown", cameras=(camera(since=at(-999)),), clock_synced=False))
    assert run.log == [] and run.states == {}


@pytest.mark.parametrize(("late", "state", "expect"), [
    (119, "off", []), (120, "off", ["fired"]), (500, "on", []), (500, "unknown", ["fired"])])
def test_light_not_in_its_due_state_after_the_grace(late: float, state: str,
                                                    expect: list[str]) -> None:
    run = Run()
    changes = run.step(late, gateway(circuits=(circuit(state, next_change=T0),)))
    assert [t.kind for t in changes] == expect
    if expect:
        alert = changes[0].alert
        assert alert.key == "light_not_due:xa-a/gw1:main-road" and alert.since == at(120)
        assert "should be on since 2026-11-22 10:00 UTC but is " + state in alert.message


def test_light_that_follows_late_resolves_and_a_new_announcement_clears_it() -> None:
    run = Run()
    run.step(200, gateway(circuits=(circuit("off"),)))
    assert kinds(run.step(210, gateway(circuits=(circuit("on"),)))) == [
        ("resolved", "light_not_due:xa-a/gw1:main-road")]
    run.step(300, gateway(circuits=(circuit("off"),)))  # switched back: a new alert
    later = circuit("off", next_change=at(3600))  # e.g. an override moved the change
    assert kinds(run.step(310, gateway(circuits=(later,)))) == [
        ("resolved", "light_not_due:xa-a/gw1:main-road")]
    assert [t.kind for t in run.log] == ["fired", "resolved", "fired", "resolved"]
    assert run.log[2].alert.since == at(120) and run.log[2].alert.fired_at == at(300)


def test_light_held_for_an_unsynced_clock_says_so() -> None:
    run = Run()
    held = replace(circuit("off"), reason="clock_unsynced")
    run.step(200, gateway(circuits=(held,)))
    assert run.states["light_not_due:xa-a/gw1:main-road"].message.endswith(
        "but is off (the gateway holds it: clock not synchronised)")


def test_no_announced_change_no_light_alert() -> None:
    run = Run()
    run.step(9999, gateway(circuits=(circuit("off", next_change=None),)))
    assert run.log == []


def test_relay_driver_error_and_the_missed_change_it_causes_both_fire() -> None:
    """The monitoring room must see "main road dark when it should be lit" (not in its due
    state) whatever the cause; the driver error says why. Each fires once, and each
    resolves on its own condition."""
    run = Run()
    broken = circuit("off", next_change=at(100), driver_ok=False, driver_error="no reply")
    run.step(0, gateway(circuits=(broken,)))
    assert kinds(run.step(60, gateway(circuits=(broken,)))) == [
        ("fired", "light_driver_error:xa-a/gw1:main-road")]
    assert "no reply" in run.states["light_driver_error:xa-a/gw1:main-road"].message
    # the change is missed while the relay is broken: the light is not in its due state
    fired = run.step(300, gateway(circuits=(broken,)))
    assert kinds(fired) == [("fired", "light_not_due:xa-a/gw1:main-road")]
    assert sorted(run.states) == ["light_driver_error:xa-a/gw1:main-road",
                                  "light_not_due:xa-a/gw1:main-road"]
    # relay back but the light still wrong: only the driver error resolves
    fixed = replace(broken, driver_ok=True, driver_error=None)
    assert run.step(310, gateway(circuits=(fixed,))) == []  # relay error's resolve hold
    assert kinds(run.step(370, gateway(circuits=(fixed,)))) == [
        ("resolved", "light_driver_error:xa-a/gw1:main-road")]
    assert list(run.states) == ["light_not_due:xa-a/gw1:main-road"]


def test_a_light_due_now_but_not_so_fires_after_the_grace() -> None:
    """A relay that does not switch: the gateway says desired on, the relay is off, and no
    change is announced before the grace runs out."""
    run = Run()
    stuck = replace(circuit("off", next_change=at(7200)), desired="on")
    run.step(0, gateway(circuits=(stuck,)))
    assert run.step(119, gateway(circuits=(stuck,))) == []
    changes = run.step(120, gateway(circuits=(stuck,)))
    assert kinds(changes) == [("fired", "light_not_due:xa-a/gw1:main-road")]
    assert "should be on now but is off" in changes[0].alert.message
    # switched at last: it resolves after its resolve hold
    ok = replace(stuck, state="on")
    assert AlertRulesConfig().light_not_due.resolve_after_s == 0  # the state is the proof
    assert kinds(run.step(130, gateway(circuits=(ok,)))) == [
        ("resolved", "light_not_due:xa-a/gw1:main-road")]


def test_hotspot_down_and_degraded_have_their_own_thresholds() -> None:
    run = Run()
    run.step(0, gateway(hotspots=(hotspot("degraded"),)))
    assert run.step(899, gateway(hotspots=(hotspot("degraded"),))) == []
    assert kinds(run.step(900, gateway(hotspots=(hotspot("degraded"),)))) == [
        ("fired", "hotspot_degraded:xa-a/gw1:school")]
    run2 = Run()
    run2.step(0, gateway(hotspots=(hotspot("down"),)))
    changes = run2.step(300, gateway(hotspots=(hotspot("down"),)))
    assert kinds(changes) == [("fired", "hotspot_down:xa-a/gw1:school"),
                              ("cancelled", "hotspot_degraded:xa-a/gw1:school")]
    run2.step(2000, gateway(hotspots=(hotspot("down"),)))
    assert list(run2.states) == ["hotspot_down:xa-a/gw1:school"]  # one root cause


def test_hotspot_flapping_between_degraded_and_down_is_still_caught() -> None:
    run = Run()
    for i in range(0, 1000, 100):  # down / degraded every 100 s: never down for 5 min
        state = "down" if i % 200 == 0 else "degraded"
        run.step(i, gateway(hotspots=(hotspot(state, since=at(i)),)))
    fired = [t.alert.key for t in run.log if t.kind == "fired"]
    assert fired == ["hotspot_degraded:xa-a/gw1:school"]
    assert run.states["hotspot_degraded:xa-a/gw1:school"].since == T0


@pytest.mark.parametrize(("fields", "rule", "hold"), [
    ({"clock_synced": False}, "clock_unsynced", 600),
    ({"outbox_oldest_age_s": 901.0}, "outbox_backlog", 120),
    ({"disk_free_mb": 499.0}, "disk_low", 300),
    ({"unexplained_loss": 1}, "seq_loss", 0),
])
def test_gateway_health_rules(fields: dict[str, Any], rule: str, hold: float) -> None:
    run = Run()
    first = run.step(0, gateway(**fields))
    if hold:
        assert kinds(first) == [("pending", f"{rule}:xa-a/gw1")]
        assert run.step(hold - 1, gateway(**fields)) == []
        first = run.step(hold, gateway(**fields))
    assert kinds(first) == [("fired", f"{rule}:xa-a/gw1")]


@pytest.mark.parametrize("fields", [
    {"clock_synced": None}, {"clock_synced": True}, {"outbox_oldest_age_s": 900.0},
    {"outbox_oldest_age_s": None}, {"disk_free_mb": 500.0}, {"disk_free_mb": None},
    {"unexplained_loss": 0}])
def test_gateway_health_rules_quiet_at_or_inside_the_limit(fields: dict[str, Any]) -> None:
    run = Run()
    run.step(0, gateway(**fields))
    run.step(99_999, gateway(**fields))
    assert run.log == []


def test_a_disabled_rule_raises_nothing_and_its_firing_alert_resolves() -> None:
    run = Run()
    run.step(0, gateway(unexplained_loss=3))
    run.engine = AlertEngine(AlertRulesConfig.model_validate({"seq_loss": {"enabled": False}}))
    assert kinds(run.step(1, gateway(unexplained_loss=3))) == [("resolved", "seq_loss:xa-a/gw1")]


def test_alerts_of_a_rule_this_version_does_not_know_resolve() -> None:
    old = AlertState(key="old_rule:xa-a/gw1", rule="old_rule", site="xa-a", gateway="gw1",
                     subject=None, severity="warning", status="firing", message="x",
                     since=T0, fired_at=T0)
    states, changes = AlertEngine(AlertRulesConfig()).evaluate(
        FleetView((gateway(),)), at(1), {old.key: old})
    assert states == {} and kinds(changes) == [("resolved", "old_rule:xa-a/gw1")]


def test_alerts_of_a_gateway_that_left_the_fleet_resolve() -> None:
    run = Run()
    run.step(0, gateway(cameras=(camera(since=at(-100)),)))
    assert run.step(10) == []
    assert kinds(run.step(40)) == [("resolved", "camera_offline:xa-a/gw1:gate")]


# ---------------------------------------------------------------- dependency suppression


def test_gateway_down_freezes_firing_children_and_cancels_pending_ones() -> None:
    run = Run()
    bad_cam = camera(since=at(-100))
    run.step(0, gateway(cameras=(bad_cam,), hotspots=(hotspot("down"),)))
    assert set(run.states) == {"camera_offline:xa-a/gw1:gate", "hotspot_down:xa-a/gw1:school",
                               "hotspot_degraded:xa-a/gw1:school"}
    changes = run.step(10, gateway("offline", state_since=at(10), cameras=(bad_cam,),
                                   hotspots=(hotspot("down"),)))
    assert sorted(kinds(changes)) == [
        ("cancelled", "hotspot_degraded:xa-a/gw1:school"),
        ("cancelled", "hotspot_down:xa-a/gw1:school"),
        ("pending", "gateway_offline:xa-a/gw1")]
    assert {t.extra.get("reason") for t in changes if t.kind == "cancelled"} == {
        "suppressed: gateway offline"}
    frozen = run.states["camera_offline:xa-a/gw1:gate"]
    assert frozen.status == "firing" and frozen.suppressed_by == "suppressed: gateway offline"
    # the store's last word says the camera came back: not trusted while the gateway is down
    ok_cam = camera("online", since=at(20))
    for t in (20, 60, 600):
        run.step(t, gateway("offline", state_since=at(10), cameras=(ok_cam,)))
    assert [k for k, a in run.states.items() if a.status == "firing"] == [
        "gateway_offline:xa-a/gw1", "camera_offline:xa-a/gw1:gate"]
    # back online, camera fine: resolves after its own hold, exactly once
    run.step(700, gateway(cameras=(ok_cam,)))
    assert run.states["camera_offline:xa-a/gw1:gate"].suppressed_by is None
    run.step(730, gateway(cameras=(ok_cam,)))
    resolved = [t.alert.key for t in run.log if t.kind == "resolved"]
    assert resolved == ["camera_offline:xa-a/gw1:gate"]


def test_child_still_broken_after_the_gateway_returns_is_not_notified_again() -> None:
    run = Run()
    bad_cam = camera(since=at(-100))
    run.step(0, gateway(cameras=(bad_cam,)))
    run.step(10, gateway("stale", cameras=(bad_cam,)))
    run.step(100, gateway("stale", cameras=(bad_cam,)))
    run.step(200, gateway(cameras=(bad_cam,)))
    fired = [t.alert.key for t in run.log if t.kind == "fired"]
    assert fired == ["camera_offline:xa-a/gw1:gate", "gateway_offline:xa-a/gw1"]
    assert run.states["camera_offline:xa-a/gw1:gate"].since == at(-100)


def test_no_child_alert_is_raised_while_its_gateway_is_down() -> None:
    run = Run()
    children = {"cameras": (camera(since=at(-999)),), "hotspots": (hotspot("down", at(-999)),),
                "circuits": (circuit("off", next_change=at(-999), driver_ok=False),),
                "clock_synced": False, "disk_free_mb": 1.0, "unexplained_loss": 9,
                "outbox_oldest_age_s": 99_999.0}
    for state in ("offline", "stale", "stopped"):
        run = Run()
        run.step(0, gateway(state, **children))
        run.step(5000, gateway(state, **children))
        assert {t.alert.rule for t in run.log} <= {"gateway_offline", "gateway_stopped"}, state
    other = GatewayView(site="xa-a", gateway="gw2", state="online", state_since=T0,
                        last_seen=T0, cameras=(camera(since=at(-999)),))
    run = Run()  # suppression is per gateway: gw2's camera still fires
    changes = run.step(0, gateway("offline", **children), other)
    assert ("fired", "camera_offline:xa-a/gw2:gate") in kinds(changes)


# ---------------------------------------------------------------- acknowledgement


def test_acknowledge_records_who_when_and_a_note_and_keeps_firing() -> None:
    run = Run()
    run.step(0, gateway(cameras=(camera(since=at(-100)),)))
    key = "camera_offline:xa-a/gw1:gate"
    run.states[key] = run.engine.acknowledge(run.states[key], " lan ", " sent a technician ",
                                             at(5))
    acked = run.states[key]
    assert (acked.acked_by, acked.acked_at, acked.ack_note) == ("lan", at(5), "sent a technician")
    assert acked.status == "firing"
    run.step(10, gateway(cameras=(camera(since=at(-100)),)))
    assert run.states[key].acked_by == "lan"  # evaluation keeps it
    run.step(20, gateway(cameras=(camera("online"),)))
    resolved = run.step(50, gateway(cameras=(camera("online"),)))
    assert resolved[0].kind == "resolved" and resolved[0].alert.acked_by == "lan"
    # firing again later is a new alert: new incident, not acknowledged
    run.step(100, gateway(cameras=(camera(since=at(30)),)))
    again = run.states[key]
    assert again.acked_by is None and again.since == at(30)
    assert again.incident != resolved[0].alert.incident


def test_acknowledge_refuses_resolved_alerts_and_empty_users() -> None:
    engine = AlertEngine(AlertRulesConfig())
    state = AlertState(key="k", rule="seq_loss", site="s", gateway="g", subject=None,
                       severity="warning", status="resolved", message="m", since=T0)
    with pytest.raises(ValueError, match="already resolved"):
        engine.acknowledge(state, "lan", "", T0)
    with pytest.raises(ValueError, match="user"):
        engine.acknowledge(replace(state, status="firing"), "  ", "", T0)
    long = engine.acknowledge(replace(state, status="pending"), "lan", "x" * 9000, T0)
    assert long.ack_note is not None and len(long.ack_note) == 500


def test_evaluate_does_not_mutate_its_input_and_is_deterministic() -> None:
    engine = AlertEngine(AlertRulesConfig())
    fleet = FleetView((gateway(cameras=(camera(since=at(-100)),), unexplained_loss=1),))
    previous: Mapping[str, AlertState] = {}
    first = engine.evaluate(fleet, T0, previous)
    assert first == engine.evaluate(fleet, T0, previous) and previous == {}
    frozen = dict(first[0])
    engine.evaluate(FleetView(()), at(999), first[0])
    assert first[0] == frozen


def test_two_lives_of_an_alert_never_share_an_incident_even_at_one_instant() -> None:
    """Found by hypothesis: with a zero resolve hold and several evaluations at the same
    instant (a light flipping on/off/on), the alert fired, resolved and fired again at that
    instant under the same incident id, so the second life's notification counted as sent."""
    rules = AlertRulesConfig.model_validate({"light_not_due": {"resolve_after_s": 0}})
    run = Run(rules)
    late = circuit(state="off", next_change=at(-600), next_state="on")
    lit = circuit(state="on", next_change=at(-600), next_state="on")
    fired = [t for t in run.step(0, gateway(circuits=(late,))) if t.kind == "fired"]
    assert len(fired) == 1
    run.step(0, gateway(circuits=(lit,)))  # cleared, same instant: not resolved yet
    run.step(0, gateway(circuits=(late,)))
    run.step(1, gateway(circuits=(lit,)))  # resolved a moment later
    run.step(1, gateway(circuits=(late,)))  # a new life
    incidents = [t.alert.incident for t in run.log if t.kind == "fired"]
    assert len(incidents) == len(set(incidents)) == 2, incidents
    assert [t.kind for t in run.log if t.alert.rule == "light_not_due"] == \
        ["fired", "resolved", "fired"]
