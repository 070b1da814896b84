"""The control room's side of the alerts (``control_room/alerting.py``) on both databases:
the FleetView built from the store, states persisted and handed back as ``previous``,
history, acknowledgement, transitions to the notifier.

The engine here is a TEMPORARY STAND-IN written for this test only (the real one,
``control_room.alerts.rules``, is written on another branch): it fires ``gateway_offline``
for every gateway not online and resolves it when the gateway is back. The notifier is a
list (the real channels are the other branch's)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from control_room.alerting import AlertRunner, acknowledge
from control_room.alerts.model import AlertState, FleetView, Transition
from control_room.config import ControlRoomConfig, DatabaseSection
from control_room.store import queries
from control_room.store.db import create_engine, migrate
from tests.test_control_room_store import T0, msg, status, store


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
