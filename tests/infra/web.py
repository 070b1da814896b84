"""A real agent with its web page on simulated hardware, and small HTTP helpers."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.infra.agent_proc import AgentProcess, base_config, write_config

TOKEN = "web-test-token-4242"
CIRCUIT = "main-road"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_config(tmp: Path, broker_port: int, port: int, *, token: str | None = TOKEN,
               fast_reconnect: bool = True, **sections: Any) -> dict[str, Any]:
    """An agent with the web page on ``port``: one simulated light circuit (relay states in
    ``tmp/relays.json``) and one hotspot whose TCP probe targets the web server itself."""
    http: dict[str, Any] = {"enabled": True, "port": port, "refresh_s": 1}
    if token:
        http["token"] = token
    lighting = {"stagger_s": 0, "circuits": [{
        "id": CIRCUIT, "name": "Main road",
        "relay": {"driver": "sim", "channel": 1, "board": "web-test",
                  "state_file": str(tmp / "relays.json")},
        "rules": [{"name": "night", "on": "18:00", "off": "06:00"}],
        "min_switch_interval_s": 0}]}
    hotspots = [{"id": "school", "interval_s": 0.5,
                 "probes": [{"probe": "tcp", "host": "127.0.0.1", "port": port, "count": 1}]}]
    options: dict[str, Any] = {"http": http, "lighting": lighting, "hotspots": hotspots,
                               **sections}
    return base_config(tmp, f"mqtt://127.0.0.1:{broker_port}", fast_reconnect=fast_reconnect,
                       **options)


def start_web_agent(tmp: Path, config: dict[str, Any]) -> AgentProcess:
    agent = AgentProcess(write_config(tmp / "agent.yaml", config), tmp / "agent.log").start()
    agent.wait_log("web: page on", 20)
    return agent


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_json(url: str) -> Any:
    status, body = get(url)
    assert status == 200, (status, body)
    return json.loads(body)


def post(url: str, body: dict[str, Any], token: str | None = None,
         timeout: float = 30) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_until(probe: Callable[[], T | None], timeout: float = 30.0,
               what: str = "condition") -> T:
    """Call ``probe`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise TimeoutError(f"{what} not reached in {timeout} s (last: {last!r})")


def relay_states(tmp: Path) -> dict[str, bool]:
    path = tmp / "relays.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}
