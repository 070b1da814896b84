"""The control room's side of the alerts (``control_room/alerting.py``) on both databases:
the FleetView built from the store, states persisted and handed back as ``previous``,
history, acknowledgement, transitions to the notifier; and with the real engine, what the
database refuses (a long camera name).

The engine here is a TEMPORARY STAND-IN written for this test only (the real one,
``control_room.alerts.rules``, is written on another branch): it fires ``gateway_offline``
for every gateway not online and resolves it when the gateway is back. The notifier is a
list (the real channels are the other branch's)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from contract import utc_iso
from control_room.alerting import AlertRunner, acknowledge
from control_room.alerts.model import AlertState, FleetView, Transition
from control_room.alerts.rules import AlertEngine
from control_room.config import ControlRoomConfig, DatabaseSection
from control_room.sim import payloads
from control_room.store import queries
from control_room.store.db import create_engine, migrate
from tests.test_control_room_store import T0, health, msg, status, store


class StandInEngine:
    def __init__(self) -> None:
        self.seen_previous: list[dict[str, AlertState]] = []

    def evaluate(self, fleet: FleetView, now: datetime, previous: Mapping[str, AlertState]
                 ) -> tuple[dict[str, AlertState], list[Transition]]:
        self.seen_previous.append(dict(previous))
        states = dict(previous)
        out = []
        for g in fleet.gateways:
            key = f"gateway_offline:{g.key}"
            old = previous.get(key)
            if g.state != "online" and (old is None or old.status == "resolved"):
                new = AlertState(key, "gateway_offline", g.site, g.gateway, None, "critical",
                                 "firing", f"{g.key} is {g.state}", now, fired_at=now)
                states[key] = new
                out.append(Transition("fired", new, now))
            elif g.state == "online" and old is not None and old.status == "firing":
                new = dataclasses.replace(old, status="resolved", resolved_at=now)
                states[key] = new
                out.append(Transition("resolved", new, now))
        return states, out


class ListNotifier:
    def __init__(self) -> None:
        self.got: list[Transition] = []

    def submit(self, transition: Transition) -> None:
        self.got.append(transition)

    async def run(self) -> None:
        return None


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSection(url=db_url))
    await migrate(engine)
    yield engine
    await engine.dispose()


async def test_states_persist_ack_survives_and_transitions_reach_the_notifier(
        db: AsyncEngine) -> None:
    engine, notifier = StandInEngine(), ListNotifier()
    runner = AlertRunner(ControlRoomConfig(), db, engine, notifier)
    await store(db, [msg("status", status("offline", 1, 0, T0), T0)])
    fired = await runner.evaluate(datetime.fromtimestamp(T0 + 1, UTC))
    assert [t.kind for t in fired] == ["fired"]
    assert await acknowledge(db, "gateway_offline:s1/gw-1", "lan", "on my way", T0 + 2)
    assert not await acknowledge(db, "no-such-alert", "lan", None, T0 + 2)
    assert await runner.evaluate(datetime.fromtimestamp(T0 + 3, UTC)) == []
    previous = engine.seen_previous[-1]["gateway_offline:s1/gw-1"]
    assert (previous.status, previous.acked_by, previous.ack_note) == \
        ("firing", "lan", "on my way")
    assert previous.since == datetime.fromtimestamp(T0 + 1, UTC)
    await store(db, [msg("status", status("online", 2, 0, T0 + 4), T0 + 4)])
    resolved = await runner.evaluate(datetime.fromtimestamp(T0 + 5, UTC))
    assert [t.kind for t in resolved] == ["resolved"]
    assert [t.kind for t in notifier.got] == ["fired", "resolved"]
    async with db.connect() as conn:
        rows = await queries.alerts(conn)
        history = await queries.alert_history(conn)
    assert [(r["status"], r["acked_by"]) for r in rows] == [("resolved", "lan")]
    assert [h["kind"] for h in reversed(history)] == ["fired", "acknowledged", "resolved"]


async def test_a_camera_named_longer_than_the_alerts_column_still_alerts(
        db: AsyncEngine) -> None:
    """A camera's ``name`` is free text in the agent's config and the contract (no length
    limit), the alerts' ``subject_name`` column holds 200 characters: PostgreSQL refused the
    whole evaluation's transaction, so no alert of any gateway was stored or notified while
    one camera had a long name. The name is clipped; the key and the message keep the id."""
    config = ControlRoomConfig()
    long_name = "Camera cổng làng phía đông, cột điện số 7 " * 8  # 344 characters
    cam = payloads.camera_status(payloads.Camera("gate", since=utc_iso(T0 - 600)), 60,
                                 random.Random(1))
    cam |= {"seq": 2, "state": "offline", "connected": False, "name": long_name}
    await store(db, [msg("status", status("online", 1, 0, T0), T0),
                     msg("camera/gate/status", cam, T0 + 1),
                     msg("health", health(3, T0 + 2), T0 + 2)])
    notifier = ListNotifier()
    runner = AlertRunner(config, db, AlertEngine(config.alerts), notifier)
    fired = await runner.evaluate(datetime.fromtimestamp(T0 + 5, UTC))
    key = "camera_offline:s1/gw-1:gate"
    assert [(t.kind, t.alert.key) for t in fired if t.alert.rule == "camera_offline"] == [
        ("fired", key)]
    async with db.connect() as conn:
        rows = {r["key"]: r for r in await queries.alerts(conn)}
    assert rows[key]["subject_name"] == long_name[:200]
    assert rows[key]["message"] == f"camera {long_name[:200]} (gate) offline"
    assert [t.alert.subject_name for t in notifier.got if t.alert.key == key] == [
        long_name[:200]]


async def test_circuit_and_hotspot_alerts_carry_their_names_clipped_to_the_column(
        db: AsyncEngine) -> None:
    """A circuit's and a hotspot's ``name`` (light state, hotspot state) reach their alerts as
    the camera's does: stored, notified, in the message beside the id; a name longer than the
    column is clipped, not the evaluation refused (PostgreSQL); the keys keep the ids."""
    config = ControlRoomConfig()
    long_name = "Điểm wifi nhà văn hoá thôn Đông, cạnh sân bóng " * 6  # 282 characters
    spot = payloads.hotspot_state(payloads.Hotspot("hs1", "down", utc_iso(T0 - 3600)),
                                  datetime.fromtimestamp(T0, UTC), random.Random(1))
    light = {"seq": 3, "circuit": "c1", "name": "Đường trục chính", "state": "off",
             "reason": "schedule", "driver": "sim", "driver_ok": False,
             "driver_error": "no answer from the relay board", "on_hours_today": 1.5,
             "clock_synced": True}
    await store(db, [msg("status", status("online", 1, 0, T0), T0),
                     msg("hotspot/hs1/state", {"seq": 2, **spot, "name": long_name}, T0 + 1),
                     msg("light/c1/state", light, T0 + 1),
                     msg("health", health(4, T0 + 2), T0 + 2)])
    notifier = ListNotifier()
    runner = AlertRunner(config, db, AlertEngine(config.alerts), notifier)
    await runner.evaluate(datetime.fromtimestamp(T0 + 5, UTC))
    await store(db, [msg("health", health(5, T0 + 69), T0 + 69)])  # still online
    await runner.evaluate(datetime.fromtimestamp(T0 + 70, UTC))  # past the relay's for_s
    async with db.connect() as conn:
        rows = {r["key"]: r for r in await queries.alerts(conn)}
    down, relay = rows["hotspot_down:s1/gw-1:hs1"], rows["light_driver_error:s1/gw-1:c1"]
    assert (down["subject"], down["subject_name"]) == ("hs1", long_name[:200])
    assert down["message"].startswith(f"hotspot {long_name[:200]} (hs1) down")
    assert (relay["subject"], relay["subject_name"]) == ("c1", "Đường trục chính")
    assert relay["message"] == ("relay of light Đường trục chính (c1) cannot be switched: "
                                "no answer from the relay board")
    named = {t.alert.key: t.alert.subject_name for t in notifier.got if t.kind == "fired"}
    assert named["light_driver_error:s1/gw-1:c1"] == "Đường trục chính"
    assert named["hotspot_down:s1/gw-1:hs1"] == long_name[:200]
