"""30 simulated gateways through a broker restart with the *real* control room as the
consumer: its database must hold every seq (0 lost), say that every gateway is online again,
and its own completeness check must have judged nothing lost.

Real parts only: mosquitto on the shipped config (persistence, limits, ACL, per-gateway
passwords) restarted as ``systemctl restart`` does (SIGTERM), ``python -m control_room.sim``,
``control-room run`` on SQLite (benchmarks/fleet_room.ControlRoomConsumer, the fleet
benchmark's consumer). One worker: mosquitto does not keep ``$share`` subscriptions over a
restart (tests/test_mosquitto_shared.py), so a shared group would lose the gap.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from benchmarks.fleet_room import ControlRoomConsumer
from tests.infra.fleet import (
    ShippedBroker,
    SimProcess,
    fast_fleet,
    make_credentials,
    restart_under_traffic,
)
from tests.infra.fleet_room import drained, judged, loss_rows

GATEWAYS = 30
pytestmark = pytest.mark.timeout(150)


def test_thirty_gateways_through_a_broker_restart_into_the_control_room(
        tmp_path: Path) -> None:
    creds = make_credentials(tmp_path / "creds", GATEWAYS)
    broker = ShippedBroker(tmp_path / "broker", creds)
    broker.start()
    room = ControlRoomConsumer(tmp_path, broker, creds.room_password, "sqlite", 1,
                               loss_grace_s=2.0)
    sim: SimProcess | None = None
    try:
        room.start()
        sim = fast_fleet(tmp_path, broker, creds, GATEWAYS)
        restarted = restart_under_traffic(broker, sim, GATEWAYS)
        online = _online(room, restarted, set(sim.wait_stats(lambda s: True)["gateways"]))
        time.sleep(2)
        assert sim.stop() == 0, sim.log()[-2000:]
        stats = sim.wait_stats(lambda s: True)
        expected = {base: g["last_seq"] for base, g in stats["gateways"].items()}
        assert all(g["pending"] == 0 for g in stats["gateways"].values()), stats
        ledger = drained(room, expected, timeout=40)
        marks = judged(room, expected, timeout=30)
        judged_lost = loss_rows(room.db_url)
    finally:
        if sim is not None:
            sim.stop()
        room.stop()
        broker.stop()
    summary = ledger.summary(expected)
    assert summary["invalid"] == 0, summary["invalid_examples"]
    assert summary["lost"] == 0, summary
    assert summary["gateways_seen"] == GATEWAYS
    assert summary["latency_replayed_ms"]["n"] > 0  # outbox replays, flagged in its table
    assert online["back_online"] == GATEWAYS, online  # by its gateways table + new births
    assert marks == expected  # the room's own seq check went to the end of every stream
    assert judged_lost == 0  # ... and found nothing lost


def _online(room: ControlRoomConsumer, since: float, bases: set[str]) -> dict[str, object]:
    """Back online in the room's own tables (waits up to 20 s for the last births)."""
    deadline = time.monotonic() + 20
    while True:
        online = room.online_after(since, bases)
        if online["back_online"] == len(bases) or time.monotonic() > deadline:
            return online
        time.sleep(0.5)
