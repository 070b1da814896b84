"""A gateway that dies after a broker restart still produces a Last Will the control room
takes. mosquitto (the shipped config, persistence on) publishes the Will of every connected
client when it stops; a client that reconnects must hand the broker a *new* Will (a new
envelope id), or the Will of its later death repeats that one's id and the room, which
de-duplicates on the id, drops it: the gateway would be noticed only by staleness. The
fleet benchmark's alert probe did this (paho resends the Will it was given once; it found no
alert in the broker-restart phase); the agent builds its Will at every connect. Real
mosquitto, the real agent and the probe: birth → broker restart (SIGTERM) → reconnected →
``kill -9`` → an offline status with an id not seen before."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.fleet import ROOT, ShippedBroker, make_credentials
from tests.infra.mqtt_client import ControlRoom

SITE, GATEWAY, PASSWORD = "testsite", "gw-lw", "will-test-password"


def _start(kind: str, broker: ShippedBroker, tmp: Path) -> subprocess.Popen[bytes]:
    user = f"{SITE}/{GATEWAY}"
    if kind == "probe":
        return subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "fleet_probe.py"),
                                 "--port", str(broker.port), "--username", user,
                                 "--password", PASSWORD], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = base_config(tmp, f"mqtt://127.0.0.1:{broker.port}", GATEWAY, SITE,
                         mqtt={"username": user, "password": PASSWORD, "keepalive_s": 5})
    agent = AgentProcess(write_config(tmp / "agent.yaml", config), tmp / "agent.log").start()
    assert agent.proc is not None
    return agent.proc


def _statuses(room: ControlRoom, state: str) -> list[dict[str, Any]]:
    return [m.json() for m in list(room.messages)
            if not m.retain and m.json().get("state") == state]


def _wait(check: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.parametrize("kind", ["agent", "probe"])
def test_the_will_after_a_broker_restart_is_a_new_message(kind: str, tmp_path: Path) -> None:
    creds = make_credentials(tmp_path / "creds", 1)
    subprocess.run(["mosquitto_passwd", "-b", str(creds.directory / "passwd"),
                    f"{SITE}/{GATEWAY}", PASSWORD], check=True)
    broker = ShippedBroker(tmp_path / "broker", creds).start()
    # the room as deployed: a persistent session, so what is published while it reconnects
    # (the Wills of the broker's stop) is queued for it
    room = ControlRoom(broker.port, f"commune/{SITE}/{GATEWAY}/status", client_id="room-lw",
                       clean=False, username="control-room", password=creds.room_password)
    proc = _start(kind, broker, tmp_path)
    try:
        _wait(lambda: _statuses(room, "online"), "no birth")
        broker.stop_gracefully()
        broker.start()
        _wait(lambda: len(_statuses(room, "online")) >= 2, "not reconnected", 60)
        _wait(lambda: _statuses(room, "offline"), "mosquitto published no Will at its stop "
              "(then a repeated Will id would not collide: see the docstring)")
        seen = {s["id"] for s in _statuses(room, "offline") + _statuses(room, "online")}
        time.sleep(1.0)  # its birth is out before the kill, as a long-running gateway's
        proc.kill()
        proc.wait(10)
        _wait(lambda: any(s["id"] not in seen for s in _statuses(room, "offline")),
              "no new Will after kill -9: the room would drop it as a duplicate", 20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        room.close()
        broker.stop()
