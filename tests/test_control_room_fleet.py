"""The control room against real agents on simulated hardware, on SQLite and PostgreSQL:
fleet state (online / stopped / offline), per circuit and hotspot state, commands with
MQTT 5 correlation and the audit log, and a rogue publisher that must not hurt anything."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.infra.broker import Broker
from tests.infra.commune import start_village
from tests.infra.control_room_proc import RoomProcess, room_config
from tests.infra.mqtt_client import ControlRoom

pytestmark = pytest.mark.timeout(240)


def _state(room: RoomProcess, key: str) -> str | None:
    gateway = room.gateway(key)
    return gateway["state"] if gateway else None


def test_fleet_state_commands_and_audit(tmp_path: Path, private_broker: Broker,
                                        db_url: str) -> None:
    # a broker of its own: the session's keeps other tests' retained messages
    broker = private_broker
    one, two = "thon-1", "thon-2"
    room = RoomProcess(tmp_path, room_config(tmp_path, broker.url, db_url)).start()
    a = start_village(tmp_path, broker.url, broker.port, "gw-a", one)
    b = start_village(tmp_path, broker.url, broker.port, "gw-b", two, hotspot_up=False)
    try:
        data = room.wait_for("/api/gateways", lambda d: _fleet_ready(d, [f"{one}/gw-a",
                                                                          f"{two}/gw-b"]),
                             60, "both gateways online with their light and hotspot state")
        by_key = {g["gateway_key"]: g for g in data["gateways"]}
        gw_a = by_key[f"{one}/gw-a"]
        assert gw_a["version"] and gw_a["config_hash"] and gw_a["clock_synced"] is True
        assert gw_a["circuits"][0]["state"] == "on" and gw_a["circuits"][0]["reason"] == \
            "schedule"
        assert gw_a["circuits"][0]["next_change"] is not None
        room.wait_for(f"/api/gateways/{two}/gw-b",
                      lambda d: d["hotspots"] and d["hotspots"][0]["state"] == "down", 30,
                      "gw-b's hotspot down")
        assert room.wait_for("/api/gateways/gw-a",
                             lambda d: d["hotspots"][0]["state"] == "up", 30)

        _override_through_the_api(room, one)
        # clean stop -> 'stopped'; kill -9 -> Last Will 'offline' (keepalive 5 s)
        b.stop()
        room.wait_for("/api/gateways", lambda d: _by(d, f"{two}/gw-b")["state"] == "stopped",
                      30, "gw-b stopped")
        a.kill9()
        room.wait_for("/api/gateways", lambda d: _by(d, f"{one}/gw-a")["state"] == "offline",
                      30, "gw-a offline by its Last Will")
        events = room.get(f"/api/events?gateway={one}/gw-a&kind=gateway_state")["events"]
        assert [e["data"]["to"] for e in reversed(events)] == ["online", "offline"]
        assert room.get("/api/loss")["unexplained"] == 0
    finally:
        a.stop()
        b.stop()
        room.stop()
    assert "Traceback" not in room.log()


def _fleet_ready(data: dict[str, Any], keys: list[str]) -> bool:
    found = {g["gateway_key"]: g for g in data["gateways"]}
    return all(k in found and found[k]["state"] == "online" and found[k]["circuits"] and
               found[k]["hotspots"] and found[k]["outbox_depth"] is not None for k in keys)


def _by(data: dict[str, Any], key: str) -> dict[str, Any]:
    return next(g for g in data["gateways"] if g["gateway_key"] == key)


def _override_through_the_api(room: RoomProcess, site: str) -> None:
    until = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    code, row = room.api("/api/commands", {
        "gateway": "gw-a", "command": "light/main-road/override",
        "args": {"state": "off", "until": until}, "actor": "operator-lan"})
    assert code == 200, row
    assert row["status"] == "ok" and row["result"]["ok"] is True
    assert row["gateway_key"] == f"{site}/gw-a" and row["actor"] == "operator-lan"
    room.wait_for(f"/api/gateways/{site}/gw-a", lambda d: d["circuits"][0]["reason"] ==
                  "override" and d["circuits"][0]["state"] == "off", 30, "override applied")
    lights = room.get(f"/api/gateways/{site}/gw-a")["lights"]
    assert {"state": "off", "reason": "override"}.items() <= lights[0].items()
    # refused by the contract before anything is sent, and audited as refused
    code, refused = room.api("/api/commands", {"gateway": "gw-a", "command":
                                               "light/main-road/override",
                                               "args": {"state": "on", "untill": until}})
    assert code == 400 and "untill" in refused["error"]
    code, missing = room.api("/api/commands", {"gateway": "gw-zz", "command": "ping"})
    assert code == 400 and "unknown gateway" in missing["error"]
    code, error = room.api("/api/commands", {"gateway": f"{site}/gw-a",
                                             "command": "camera/nocam/snapshot"})
    assert code == 422 and error["status"] == "error" and error["error"]
    audit = room.get("/api/commands")["commands"]
    assert [c["status"] for c in audit[:4]] == ["error", "refused", "refused", "ok"]
    assert all(c["actor"] and c["requested_at"] for c in audit)


ROGUE = [
    ("thon-9/gw-r/health", b"{not json", "not valid JSON"),
    ("thon-9/gw-r/health", json.dumps({"v": 7, "ts": "2026-01-01T00:00:00Z",
                                       "id": "x1"}).encode(), "unsupported schema version"),
    ("thon-9/gw-r/light/c1/state", json.dumps({"v": 1, "ts": "2026-01-01T00:00:00Z",
                                               "id": "x2", "seq": 1, "circuit": "c1",
                                               "state": 5}).encode(), "invalid payload"),
    ("thon-9/gw-r/health", b'{"v":1,"pad":"' + b"x" * 300_000 + b'"}', "too large"),
    ("thon-9/gw-r/status", json.dumps({"v": 1, "ts": "2026-01-01T00:00:00Z", "id": "x3",
                                       "state": "online", "version": "9", "boot": 1,
                                       "last_seq": 0, "gateway": "gw-other"}).encode(),
     "topic says 'gw-r'"),
    ("thon-9/gw-r/camera/c1/snapshot", b"GIF89a....", "not a JPEG"),
    ("thon-9/gw-r/hotspot/h1/state", b'{"v":1,"ts":"x","id":"x4","loss_pct":NaN}',
     "NaN"),
    ("thon-9/gw-r/no/such/topic", b"{}", "unknown topic"),
]


def test_rogue_publisher_is_quarantined_and_service_keeps_serving(
        tmp_path: Path, broker: Broker, db_url: str) -> None:
    room = RoomProcess(tmp_path, room_config(tmp_path, broker.url, db_url)).start()
    rogue = ControlRoom(broker.port, "rogue/none")
    try:
        for topic, payload, _ in ROGUE:
            rogue.publish(f"commune/{topic}", payload)
        # the same broken message redelivered: quarantined once per delivery (no id)
        good = {"v": 1, "ts": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "id": "good-1", "state": "online", "version": "1.0", "boot": 1,
                "last_seq": 0, "gateway": "gw-r", "site": "thon-9"}
        rogue.publish("commune/thon-9/gw-r/status", json.dumps(good), retain=False)
        data = room.wait_for("/api/quarantine", lambda d: d["total"] >= len(ROGUE), 30,
                             "every rogue message quarantined")
        assert data["total"] == len(ROGUE)
        reasons = [q["reason"] for q in reversed(data["quarantine"])]
        for (_, _, expected), reason in zip(ROGUE, reasons, strict=True):
            assert expected in reason, (expected, reason)
        assert all("\n" not in r for r in reasons)
        room.wait_for("/api/gateways", lambda d: any(g["gateway_key"] == "thon-9/gw-r" and
                                                     g["state"] == "online"
                                                     for g in d["gateways"]), 30)
        metrics = room_metrics(room)
        assert metrics["control_room_quarantined_messages_total"] == len(ROGUE)
        code, health = room.api("/healthz")
        assert code == 200 and health["ok"] is True
    finally:
        rogue.close()
        room.stop()
    assert room.proc is None and "Traceback" not in room.log()


def room_metrics(room: RoomProcess) -> dict[str, float]:
    import urllib.request

    with urllib.request.urlopen(room.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_api_needs_the_token(tmp_path: Path, broker: Broker) -> None:
    room = RoomProcess(tmp_path, room_config(tmp_path, broker.url,
                                             f"sqlite:///{tmp_path}/r.db")).start()
    try:
        import urllib.error
        import urllib.request

        started = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(room.url + "/api/gateways", timeout=10)
        assert caught.value.code == 401 and time.monotonic() - started >= 0.4
        with urllib.request.urlopen(room.url + "/healthz", timeout=10) as response:
            assert json.loads(response.read())["mqtt_connected"] is True
    finally:
        room.stop()
