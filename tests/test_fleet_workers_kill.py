"""Two control-room workers on a shared subscription, both killed with -9 under load, then
started again one after the other: every seq must end in the database (0 lost) and the
room's own judge must find no hole (issue 14: the fleet benchmark lost 406 messages this way
with 2 workers, 651 with 4, none with 1).

Real parts only: mosquitto on the shipped config, ``python -m control_room.sim`` (30
gateways), two ``control-room run`` workers on one throwaway PostgreSQL cluster
(benchmarks/fleet_room.ControlRoomConsumer, the benchmark's own consumer).

The cause was the room, not mosquitto: worker 1, back first, resubscribes and gets the
retained copies (hotspot and camera states) of messages whose live copies wait in worker 2's
session; it stored them without a seq, and worker 2's live copies were then duplicates by
id, their seqs holes for ever (control_room/store/writer._late_seqs). Before the fix this
test lost 121 of ~3,600 messages.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from benchmarks.fleet_room import ControlRoomConsumer
from tests.infra.fleet import ShippedBroker, SimProcess, fast_fleet, make_credentials
from tests.infra.fleet_room import drained, judged, unexplained_loss

GATEWAYS = 30
pytestmark = pytest.mark.timeout(240)


def test_two_workers_killed_under_load_lose_nothing(tmp_path: Path) -> None:
    creds = make_credentials(tmp_path / "creds", GATEWAYS)
    broker = ShippedBroker(tmp_path / "broker", creds)
    broker.start()
    room = ControlRoomConsumer(tmp_path, broker, creds.room_password, "postgresql", 2,
                               loss_grace_s=20.0)
    sim: SimProcess | None = None
    try:
        room.start()
        sim = fast_fleet(tmp_path, broker, creds, GATEWAYS)
        time.sleep(3)
        room.kill()
        time.sleep(8)  # the broker queues for both sessions meanwhile
        room.start()  # worker 1, then worker 2 (a few seconds apart, as in the benchmark)
        time.sleep(5)
        assert sim.stop() == 0, sim.log()[-2000:]
        stats = sim.wait_stats(lambda s: True)
        expected = {base: g["last_seq"] for base, g in stats["gateways"].items()}
        ledger = drained(room, expected, timeout=40)
        marks = judged(room, expected, timeout=40)
        unexplained = unexplained_loss(room.db_url)
    finally:
        if sim is not None:
            sim.stop()
        room.stop()
        broker.stop()
    summary = ledger.summary(expected)
    assert summary["lost"] == 0, summary
    assert marks == expected
    # the judge may name a hole early: a message in flight to worker 2 at the kill comes
    # back only when worker 2 does, which under load can be later than the grace (20 s
    # here, 60 s by default) after worker 1's later seqs; it is then counted recovered
    assert unexplained == 0
