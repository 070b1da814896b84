"""The simulator cannot drift from the real thing: real agents and simulated gateways on one
real mosquitto publish the same shapes.

Two real agents (``python -m edge_agent run``) on simulated hardware (sim relays, a camera
reading a clip file, TCP-probed hotspots) and two simulated gateways. For every topic
pattern both publish (command replies: per command), the JSON keys and value types must
match (``null`` matches any type: optional fields; maps keyed by ids compare their values),
and every message of both must pass ``contract.parse``.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import contract
from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker
from tests.infra.clips import make_clip
from tests.infra.fleet import SimProcess
from tests.infra.mqtt_client import ControlRoom, Received

pytestmark = pytest.mark.timeout(180)
REAL = ["commune/shape/real-1", "commune/shape/real-2"]
SIM = ["commune/shape-sim0000/gw-1", "commune/shape-sim0000/gw-2"]
# maps keyed by ids (circuit, camera, hotspot, component, radio): their keys differ by
# configuration, their values must not
ID_MAPS = {"components", "lighting.circuits", "cameras.per_camera", "hotspots.hotspots",
           "clients_per_radio", "clients_per_ssid", "state.clients_per_radio",
           "state.clients_per_ssid"}
# The probe reply drops null fields; a real agent counts wifi clients only with a ubus probe,
# which needs an OpenWrt router (the simulator's gateways have one)
ABSENT_WHEN_NULL = {"cmd/hotspot/{hotspot}/probe/result ok=True.state.clients"}
Shape = Any  # "null" | "bool" | ... | ("dict", {key: Shape}) | ("list", Shape | None)


class _Quiet(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        return None


@pytest.fixture
def tcp_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Quiet)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()


def _real_agent(tmp: Path, broker: Broker, gateway: str, clip: Path, port: int) -> AgentProcess:
    sim = {"driver": "sim", "board": gateway, "state_file": str(tmp / f"{gateway}.json")}
    lighting = {"stagger_s": 0.2, "circuits": [
        {"id": f"c{i}", "relay": {**sim, "channel": i}, "min_switch_interval_s": 0,
         "rules": [{"name": "night", "on": "sunset+15m", "off": "sunrise-10m"}]}
        for i in (1, 2)]}
    cameras = [{"id": "cam1", "url": str(clip), "status_interval_s": 1}]
    probe = {"probe": "tcp", "host": "127.0.0.1", "port": port, "count": 1}
    hotspots = [{"id": f"hs{i}", "name": f"Hotspot {i}", "interval_s": 1, "stats_period_s": 5,
                 "probes": [probe]} for i in (1, 2)]
    cfg = base_config(tmp, broker.url, gateway=gateway, site="shape", lighting=lighting,
                      cameras=cameras, hotspots=hotspots, health={"interval_s": 1})
    return AgentProcess(write_config(tmp / f"{gateway}.yaml", cfg),
                        tmp / f"{gateway}.log").start()


def test_simulated_and_real_gateways_publish_the_same_shapes(
        broker: Broker, tmp_path: Path, artifacts_dir: Path, tcp_port: int) -> None:
    clip = make_clip("moving", artifacts_dir / "camera-clips")
    room = ControlRoom(broker.port, "commune/shape/#")
    room.subscribe("commune/shape-sim0000/#")
    agents = [_real_agent(tmp_path, broker, b.rsplit("/", 1)[1], clip, tcp_port) for b in REAL]
    sim = SimProcess(tmp_path, "--gateways", "2", "--broker", broker.url, "--site-prefix",
                     "shape-sim", "--spread-s", "0.5", "--health-s", "1", "--hotspot-s", "1",
                     "--camera-status-s", "1", "--motion-per-hour", "3600", "--circuits", "2",
                     "--cameras", "1", "--hotspots", "2")
    try:
        for base in REAL + SIM:
            for suffix in ("health", "light/c1/state", "camera/cam1/status",
                           "hotspot/hs1/state", "camera/cam1/snapshot"):
                room.wait_for(room.topic(f"{base}/{suffix}"), 60)
            room.wait_for(_motion_end(base), 60)
            _send_commands(room, base)
    finally:
        for agent in agents:
            agent.stop()
        sim.stop()
        room.close()
    real, simulated = _shapes(room.messages, REAL), _shapes(room.messages, SIM)
    common = set(real) & set(simulated)
    assert len(common) >= 15, sorted(common)  # every kind of message, every command reply
    problems = [p for key in sorted(common) for p in _compare(real[key], simulated[key], key)]
    assert not problems, "\n".join(problems)


def _motion_end(base: str) -> Callable[[Received], bool]:
    return lambda m: m.topic == f"{base}/camera/cam1/motion" and m.json()["event"] == "end"


def _send_commands(room: ControlRoom, base: str) -> None:
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    room.command(base, "ping")
    room.command(base, "ping", response_topic=f"{base}/cmd/ping/result")
    room.command(base, "outbox/stats")
    assert room.command(base, "light/c1/override", {"state": "on", "until": until})["ok"]
    assert room.command(base, "light/c1/clear")["ok"]
    assert not room.command(base, "light/c1/override", {"state": "dim"})["ok"]
    assert not room.command(base, "no/such/thing")["ok"]
    assert room.command(base, "camera/cam1/snapshot")["ok"]
    assert room.command(base, "camera/cam1/arm")["ok"]
    assert room.command(base, "hotspot/hs1/probe")["ok"]


def _key(relative: str, body: dict[str, Any]) -> str:
    """The topic pattern; replies per command (and ok/refused separately)."""
    found = contract.find_topic(relative)
    assert found is not None, relative
    spec, params = found
    if spec.pattern != "cmd/{path}/result":
        return spec.pattern
    command = contract.find_command(params["path"])
    name = command[0].path if command else "(unknown command)"
    return f"cmd/{name}/result ok={body['ok']}"


def _shapes(messages: list[Received], bases: list[str]) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {}
    for m in messages:
        parts = m.topic.split("/", 3)
        relative = parts[3]
        if "/".join(parts[:3]) not in bases:
            continue
        if relative.startswith("cmd/") and not relative.endswith("/result"):
            continue  # the requests this test sent
        msg = contract.parse(relative, m.payload)  # every message of both must validate
        if msg.model is None:
            continue  # JPEG bytes
        body = {k: v for k, v in msg.body.items() if k != "replayed"}
        key = _key(relative, body)
        shapes[key] = _merge(shapes.get(key), _shape(body, ""))
    return shapes


def _shape(value: Any, path: str) -> Shape:
    if value is None:
        return "null"
    if isinstance(value, dict):
        if path in ID_MAPS:
            merged: Shape = None
            for item in value.values():
                merged = _merge(merged, _shape(item, path + ".*"))
            return ("dict", {"*": merged} if value else {})
        return ("dict", {k: _shape(v, f"{path}.{k}".lstrip(".")) for k, v in value.items()})
    if isinstance(value, list):
        element: Shape = None
        for item in value:
            element = _merge(element, _shape(item, path + "[]"))
        return ("list", element)
    return type(value).__name__


def _merge(a: Shape, b: Shape) -> Shape:
    if a is None or a == "null":
        return b if b is not None else a
    if b is None or b == "null":
        return a
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0]:
        if a[0] == "list":
            return ("list", _merge(a[1], b[1]))
        keys = set(a[1]) | set(b[1])
        return ("dict", {k: _merge(a[1].get(k), b[1].get(k)) for k in keys})
    if a != b:
        return f"{_name(a)}|{_name(b)}" if _name(a) != _name(b) else a
    return a


def _name(shape: Shape) -> str:
    return shape[0] if isinstance(shape, tuple) else str(shape)


def _compare(real: Shape, sim: Shape, path: str) -> list[str]:
    if real in (None, "null") or sim in (None, "null"):
        return []  # an optional field that was null (or an empty list) on one side
    if _name(real) != _name(sim):
        return [f"{path}: real agent sends {_name(real)}, simulator {_name(sim)}"]
    if not isinstance(real, tuple):
        return []
    if real[0] == "list":
        return _compare(real[1], sim[1], path + "[]")
    if not real[1] or not sim[1]:
        return []  # an empty map on one side
    problems = []
    for key in sorted(set(real[1]) ^ set(sim[1])):
        if f"{path}.{key}" in ABSENT_WHEN_NULL:
            continue
        side = "real agent" if key in real[1] else "simulator"
        problems.append(f"{path}.{key}: only the {side} sends it")
    for key in sorted(set(real[1]) & set(sim[1])):
        problems += _compare(real[1][key], sim[1][key], f"{path}.{key}")
    return problems
