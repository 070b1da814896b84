"""End to end: the real agent process, the real broker, loopback targets.

One hotspot answers (a TCP listener of this test), one does not (a closed loopback port),
one hangs (accepts the connection, never answers HTTP): the first is ``up``, the second
``down``, and the hung one does not slow the others down. ``cmd/hotspot/{id}/probe`` gets
its reply; uptime survives a restart of the agent.
"""

from __future__ import annotations

import json
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker, free_port
from tests.infra.mqtt_client import ControlRoom, Received

BASE = "commune/testsite/gw-test"


class _Quiet(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        return None  # connect, then close: enough for a TCP probe


@pytest.fixture
def listener() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Quiet)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def hung_http() -> Iterator[int]:
    """Accepts TCP connections (the kernel does) and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield int(sock.getsockname()[1])
    sock.close()


def state_of(hotspot: str, **expected: Any) -> Any:
    def match(m: Received) -> bool:
        if m.topic != f"{BASE}/hotspot/{hotspot}/state":
            return False
        body = m.json()
        return all(body.get(k) == v for k, v in expected.items())
    return match


def test_agent_publishes_states_answers_probe_and_keeps_uptime(
        tmp_path: Path, broker: Broker, control_room: ControlRoom, listener: int,
        hung_http: int) -> None:
    closed = free_port()
    hotspots = [
        {"id": "library", "interval_s": 0.5, "stats_period_s": 0.2, "up_after": 1,
         "probes": [{"probe": "tcp", "host": "127.0.0.1", "port": listener, "count": 2}]},
        {"id": "market", "interval_s": 0.5, "down_after": 2, "stats_period_s": 0.2,
         "probes": [{"probe": "tcp", "host": "127.0.0.1", "port": closed, "count": 1}]},
        {"id": "stalled", "interval_s": 0.5, "down_after": 1,
         "probes": [{"probe": "http", "url": f"http://127.0.0.1:{hung_http}/",
                     "timeout_s": 10}]},  # hangs past the library checks below
    ]
    config = write_config(tmp_path / "agent.yaml",  # a gateway's reconnect settings
                          base_config(tmp_path, broker.url, hotspots=hotspots,
                                      fast_reconnect=False))
    agent = AgentProcess(config, tmp_path / "agent.log").start()
    try:
        market_since = _states_probe_command_and_retained(control_room, broker)
    finally:
        assert agent.stop() == 0, agent.log()[-3000:]
    assert (tmp_path / "data-gw-test" / "hotspots.sqlite3").exists()
    _restart_keeps_uptime_and_since(control_room, config, tmp_path, market_since)


def _states_probe_command_and_retained(control_room: ControlRoom, broker: Broker) -> str:
    """Returns the market outage's ``since``."""
    control_room.wait_for(state_of("library", state="up"), timeout=30)
    control_room.wait_for(state_of("market", state="down"), timeout=30)
    # the library keeps its pace while the stalled hotspot's first round still hangs
    control_room.wait_for(state_of("library", state="up"), timeout=10, count=4)
    stalled = [m.json()["state"] for m in control_room.messages
               if m.topic == f"{BASE}/hotspot/stalled/state"]
    assert stalled == ["unknown"]
    market = control_room.wait_for(state_of("market", state="down"))[-1].json()
    assert market["loss_pct"] == 100.0 and market["since"]
    assert "connection refused" in market["last_error"]

    reply = control_room.command(BASE, "hotspot/library/probe", {})
    assert reply["ok"] is True and reply["reachable"] is True
    assert reply["probes"][0]["ok"] is True and reply["probes"][0]["received"] == 2
    assert reply["state"]["state"] == "up"
    refused = control_room.command(BASE, "hotspot/nowhere/probe", {})
    assert refused["ok"] is False and "library, market, stalled" in refused["error"]

    late = ControlRoom(broker.port, f"{BASE}/hotspot/+/state")  # joins afterwards
    try:
        got = late.wait_for(lambda m: m.topic.endswith("/market/state"))[0]
        assert got.retain and got.json()["state"] == "down"
    finally:
        late.close()
    control_room.wait_for(state_of("stalled", state="down"), timeout=40)
    return str(market["since"])


def _restart_keeps_uptime_and_since(control_room: ControlRoom, config: Path, tmp_path: Path,
                                    market_since: str) -> None:
    """The first publication after a restart (still 'unknown') already carries the stored
    uptime, and an outage that began before the restart keeps its 'since'."""
    before = {id(m) for m in control_room.messages}
    agent = AgentProcess(config, tmp_path / "agent2.log").start()
    try:
        first = control_room.wait_for(state_of("library", state="unknown", rounds=0,
                                               uptime_24h_pct=100.0), timeout=30)[0].json()
        assert first["uptime_30d_pct"] == 100.0
        market = control_room.wait_for(state_of("market", state="unknown",
                                                uptime_24h_pct=0.0), timeout=30)
        assert market
        down = state_of("market", state="down")
        again = control_room.wait_for(lambda m: id(m) not in before and down(m), timeout=30)
        assert again[0].json()["since"] == market_since
        assert again[0].json()["flaps_1h"] == 0
    finally:
        assert agent.stop() == 0, agent.log()[-3000:]


def test_cli_probe_runs_one_round_without_a_broker(tmp_path: Path, listener: int) -> None:
    closed = free_port()
    hotspots = [
        {"id": "library", "probes": [{"probe": "tcp", "host": "127.0.0.1", "port": listener}]},
        {"id": "market", "probes": [{"probe": "tcp", "host": "127.0.0.1", "port": closed}]},
    ]
    config = write_config(tmp_path / "agent.yaml",
                          base_config(tmp_path, "mqtt://127.0.0.1:1", hotspots=hotspots))
    proc = subprocess.run([sys.executable, "-m", "edge_agent", "hotspot", "probe", "-c",
                           str(config), "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr  # 3: some hotspot did not answer
    reports = {r["hotspot"]: r for r in json.loads(proc.stdout)}
    assert reports["library"]["reachable"] is True
    assert reports["library"]["probes"][0]["received"] == 3
    assert reports["market"]["reachable"] is False
    assert reports["market"]["probes"][0]["error"] == f"127.0.0.1:{closed}: connection refused"
