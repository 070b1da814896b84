"""The gateway simulator (control_room/sim): its outbox rules, and a short run on a real
mosquitto whose every message must pass ``contract.parse``."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import contract
from control_room.sim.behaviour import light_plan
from control_room.sim.consumer import Ledger, Record, record_for
from control_room.sim.outbox import SimOutbox
from tests.infra.broker import Broker
from tests.infra.fleet import SimProcess
from tests.infra.mqtt_client import ControlRoom, Received

NOW = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)  # 18:00 in Vietnam
BASE = "commune/sim-c0000/gw-1"


def test_outbox_numbers_densely_and_drops_telemetry_first_with_a_notice() -> None:
    box = SimOutbox(BASE, max_messages=6)
    box.add_json(f"{BASE}/camera/cam1/motion", {"e": 1}, now=NOW, retain=False, cls="event")
    for i in range(6):
        box.add_json(f"{BASE}/health", {"i": i}, now=NOW, retain=False, cls="telemetry")
    box.add_raw(f"{BASE}/camera/cam1/snapshot", b"jpeg", now=NOW, retain=True)
    reply = box.add_json("elsewhere/replies", {"ok": True}, now=NOW, retain=False,
                         cls="event")
    rows = list(box.after(0))
    assert len(rows) <= 6
    assert reply.seq is None  # a reply outside the base is not in the stream
    kept = [r.seq for r in rows if r.seq is not None]
    notices = [r for r in rows if r.topic.endswith("/outbox/dropped")]
    assert len(notices) >= 1 and box.dropped["telemetry"] >= 1 and box.dropped["event"] == 0
    explained = {s for n in notices for rg in n.body["ranges"]  # type: ignore[index]
                 for s in range(rg["first"], rg["last"] + 1)}
    # every number handed out is either still here or named by a notice: no silent hole
    assert sorted(set(kept) | explained) == list(range(1, box.last_seq + 1))
    for notice in notices:
        contract.parse("outbox/dropped", notice.payload(False))


def test_ledger_counts_holes_that_no_drop_notice_explains() -> None:
    def rec(seq: int, kind: str = "seq") -> Record:
        return Record(2.0, 1.0, BASE, kind, seq)

    ledger = Ledger().extend([rec(1), rec(2), rec(2), rec(5, "dropped:3-3"), rec(7)])
    assert ledger.missing({BASE: 7}) == {BASE: [4, 6]}
    summary = ledger.summary({BASE: 7})
    assert summary["lost"] == 2 and summary["duplicates"] == 1
    assert summary["latency_live_ms"]["p50"] == 1000.0


def test_light_plan_is_on_between_dusk_and_dawn() -> None:
    dusk, dawn = 17 * 60 + 30, 5 * 60 + 50
    assert light_plan(NOW - timedelta(minutes=40), dusk, dawn)[0] == "off"  # 17:20 local
    state, change = light_plan(NOW, dusk, dawn)  # 18:00 local
    assert state == "on" and change == datetime(2026, 11, 22, 22, 50, tzinfo=UTC)
    assert light_plan(NOW + timedelta(hours=8), dusk, dawn)[0] == "on"  # 02:00 local


def test_record_of_a_broken_message_is_invalid_not_an_exception() -> None:
    assert record_for(f"{BASE}/health", b'{"v":1}', 1.0).kind.startswith("invalid:")
    assert record_for(f"{BASE}/nope/x", b"{}", 1.0).kind.startswith("invalid:")


@pytest.fixture
def short_run(broker: Broker, tmp_path: Path):  # type: ignore[no-untyped-def]
    room = ControlRoom(broker.port, "commune/sim-t0000/#")
    sim = SimProcess(tmp_path, "--gateways", "3", "--broker", broker.url, "--site-prefix",
                     "sim-t", "--spread-s", "0.5", "--health-s", "1", "--hotspot-s", "2",
                     "--camera-status-s", "2", "--motion-per-hour", "2400",
                     "--dusk-burst", "3")
    yield room, sim
    sim.stop()
    room.close()


def test_a_short_run_speaks_the_contract(short_run) -> None:  # type: ignore[no-untyped-def]
    room, sim = short_run
    base = "commune/sim-t0000/gw-2"
    room.wait_for(lambda m: m.topic == f"{base}/status" and b'"online"' in m.payload)
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = f"{base}/cmd/ping/result"
    correlation = uuid.uuid4().bytes
    props.CorrelationData = correlation
    room.publish(f"{base}/cmd/ping", {"id": "p1"}, properties=props)
    override = room.command(base, "light/c2/override", {"state": "on", "until": (
        datetime.now(UTC) + timedelta(hours=1)).isoformat()})
    unknown = room.command(base, "self-destruct")
    bad = room.command(base, "light/c2/override", {"state": "dim"})
    snap = room.command(base, "camera/cam1/snapshot")
    assert override["ok"] and override["state"] == "on" and override["reason"] == "override"
    assert not unknown["ok"] and "unknown command" in unknown["error"]
    assert not bad["ok"] and "state" in bad["error"]
    assert snap["ok"] and snap["bytes"] > 1000
    reply = room.wait_for(lambda m: m.topic == f"{base}/cmd/ping/result" and
                          getattr(m.properties, "CorrelationData", None) ==
                          correlation)[0]
    assert reply.json()["pong"] is True and reply.json()["request_id"] == "p1"
    room.wait_for(lambda m: m.topic == f"{base}/light/c2/state" and
                  m.json()["reason"] == "override" and m.json()["state"] == "on")
    room.wait_for(lambda m: m.topic.endswith("/motion") and m.json()["event"] == "end")
    stats = _stop(sim)
    patterns: Counter[str] = Counter()
    seqs: dict[str, list[int]] = {}
    for m in room.messages:
        parts = m.topic.split("/", 3)
        if parts[3].startswith("cmd/") and not parts[3].endswith("/result"):
            continue  # the commands this test sent
        msg = contract.parse(parts[3], m.payload)  # raises ContractError on any drift
        patterns[msg.spec.pattern] += 1
        if msg.model is not None and msg.spec.pattern != "status":
            seqs.setdefault("/".join(parts[:3]), []).append(msg.body["seq"])
    assert set(patterns) == {spec.pattern for spec in contract.TOPICS} - {"outbox/dropped"}
    for gw_base, numbers in seqs.items():
        last = stats["gateways"][gw_base]["last_seq"]
        assert sorted(set(numbers)) == list(range(1, last + 1)), gw_base  # dense, no hole
    births = [m.json() for m in room.messages if m.topic.split("/", 3)[3] == "status"]
    assert {b["state"] for b in births} == {"online", "stopped"}
    assert all("seq" not in b and "boot" in b and "last_seq" in b for b in births)
    _assert_burst(room.messages, stats["bursts"][0])


def _stop(sim: SimProcess) -> dict[str, Any]:
    assert sim.stop() == 0, sim.log()[-2000:]
    return dict(json.loads(sim.stats.read_text()))


def _assert_burst(messages: list[Received], burst_at: float) -> None:
    """Every gateway switched all 5 circuits within 1 s of the burst."""
    switched: dict[str, list[float]] = {}
    for m in messages:
        if "/cmd/" not in m.topic and "/light/" in m.topic and m.json()["switch_count"]:
            made = contract.parse_time(m.json()["ts"]).timestamp()
            if burst_at <= made < burst_at + 1.0:
                switched.setdefault(m.topic.rsplit("/", 3)[0], []).append(made)
    assert len(switched) == 3 and all(len(v) >= 5 for v in switched.values()), switched


def test_the_simulator_never_imports_the_agent() -> None:
    """It speaks the contract only: a drift must show in the shape test, not be copied."""
    code = ("import sys, control_room.sim.cli, control_room.sim.consumer, "
            "control_room.sim.behaviour; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('edge_agent', 'drivers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"
