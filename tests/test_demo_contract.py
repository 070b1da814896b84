"""Every message the demo gateway publishes follows the contract: the real agent on
``config/demo.yaml`` (simulated relays, the looped sample camera clip, two hotspots) against a
real mosquitto, every message checked with ``contract.parse``."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import contract
from tests.infra.agent_proc import AgentProcess
from tests.infra.broker import Broker
from tests.infra.mqtt_client import ControlRoom
from tests.infra.web import free_port

ROOT = Path(__file__).resolve().parent.parent
BASE = "commune/xuan-truong/demo-gw"


@pytest.mark.timeout(120)
def test_every_demo_message_validates_against_the_contract(broker: Broker,
                                                           tmp_path: Path) -> None:
    clip = tmp_path / "camera.mp4"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make-demo-clip"), str(clip)],
                   check=True, capture_output=True)
    room = ControlRoom(broker.port, f"{BASE}/#")
    agent = AgentProcess(ROOT / "config" / "demo.yaml", tmp_path / "agent.log", env={
        "MQTT_URL": broker.url, "EDGE_DATA_DIR": str(tmp_path / "data"),
        "HTTP_PORT": str(free_port()), "DEMO_CLIP": str(clip)}).start()
    try:
        # the clip has people crossing within its 16 s loop: wait for a whole motion event
        room.wait_for(lambda m: m.topic.endswith("/motion") and m.json()["event"] == "end",
                      60)
        room.wait_for(lambda m: m.topic.endswith("/health"), 30)
    finally:
        assert agent.stop() == 0
    room.wait_for(lambda m: m.topic == f"{BASE}/status" and m.json()["state"] == "stopped",
                  15)
    room.close()
    kinds: Counter[str] = Counter()
    for m in room.messages:
        parsed = contract.parse(m.topic.removeprefix(BASE + "/"), m.payload)
        kinds[parsed.spec.pattern] += 1
    for pattern in ("status", "health", "light/{circuit}/state", "camera/{camera}/status",
                    "camera/{camera}/motion", "camera/{camera}/snapshot",
                    "hotspot/{hotspot}/state"):
        assert kinds[pattern], f"the demo published no {pattern}: {dict(kinds)}"
    print(f"demo: {sum(kinds.values())} messages, all valid: {dict(kinds)}")
