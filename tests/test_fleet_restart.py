"""50 simulated gateways through a broker restart: 0 loss by seq at a persistent subscriber.

A real mosquitto on the shipped config (persistence on, the shipped queue limits and ACL,
per-gateway passwords), restarted the way ``systemctl restart`` does it (SIGTERM: the broker
saves its database). The subscriber is the control room's stand-in
(control_room.sim.consumer): MQTT 5 persistent session, records written before the ack.
"""

from __future__ import annotations

import time
from pathlib import Path

from control_room.sim.consumer import Ledger, Subscriber, read_records
from tests.infra.fleet import (
    ShippedBroker,
    SimProcess,
    fast_fleet,
    make_credentials,
    restart_under_traffic,
)

GATEWAYS = 50


def test_fifty_gateways_through_a_broker_restart_lose_nothing(tmp_path: Path) -> None:
    creds = make_credentials(tmp_path / "creds", GATEWAYS)
    broker = ShippedBroker(tmp_path / "broker", creds)
    broker.start()
    records = tmp_path / "records.tsv"
    sim: SimProcess | None = None
    with records.open("a") as out:
        sub = Subscriber("127.0.0.1", broker.port, out, client_id="fleet-test-ingest",
                         username="control-room", password=creds.room_password).start()
        try:
            assert sub.connected.wait(30)
            sim = fast_fleet(tmp_path, broker, creds, GATEWAYS)
            # every gateway is back (a second birth) and has sent what it buffered
            restart_under_traffic(broker, sim, GATEWAYS)
            time.sleep(2)
            assert sim.stop() == 0, sim.log()[-2000:]
            stats = sim.wait_stats(lambda s: True)
            expected = {base: g["last_seq"] for base, g in stats["gateways"].items()}
            assert all(g["pending"] == 0 for g in stats["gateways"].values()), stats
            ledger = _drained(records, expected, timeout=30)
        finally:
            sub.stop()
            if sim is not None:
                sim.stop()
            broker.stop()
    summary = ledger.summary(expected)
    assert summary["invalid"] == 0, summary["invalid_examples"]
    assert summary["lost"] == 0, summary
    assert summary["explained_drops"] == 0  # nothing dropped by a bound either
    assert summary["gateways_seen"] == GATEWAYS
    assert summary["latency_replayed_ms"]["n"] > 0  # the outage was buffered and replayed
    assert all(len(g.births) >= 2 for g in ledger.gateways.values())


def _drained(records: Path, expected: dict[str, int], timeout: float) -> Ledger:
    """The subscriber has everything up to each gateway's last seq (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        ledger = Ledger().extend(read_records(records))
        if not ledger.missing(expected) or time.monotonic() > deadline:
            return ledger
        time.sleep(0.5)
