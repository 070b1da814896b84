"""The real agent drives real serial relays: an LCUS board simulated on a pty (with status
read-back), a Modbus RTU module (pymodbus server on a socat pty pair), an LCUS board whose
port does not exist yet, and a Tasmota-style plug on the same broker (through the agent's
own MQTT link). Each failure is reported with a clear error and retried;
the other circuits keep working."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker
from tests.infra.mqtt_client import ControlRoom
from tests.infra.relay_boards import LcusBoard, ModbusModule, SocatPair
from tests.test_lighting_agent import after, state_of
from tests.test_relay_mqtt import Plug

GW = "gw-light-hw"
BASE = f"commune/testsite/{GW}"
VN = ZoneInfo("Asia/Ho_Chi_Minh")


class ThreadedModbus:
    """The pymodbus server on its own event loop thread (the test itself is synchronous)."""

    def __init__(self, port: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.module = ModbusModule(port, unit=1)
        asyncio.run_coroutine_threadsafe(self.module.start(), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.module.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def hardware(tmp_path: Path) -> Iterator[dict[str, Any]]:
    board, spare = LcusBoard(channels=4), LcusBoard(channels=1)
    pair = SocatPair(tmp_path)
    modbus = ThreadedModbus(pair.b)
    yield {"board": board, "spare": spare, "pair": pair, "modbus": modbus.module}
    modbus.close()
    pair.close()
    board.close()
    spare.close()


def test_agent_switches_serial_relays(tmp_path: Path, broker: Broker,
                                      control_room: ControlRoom,
                                      hardware: dict[str, Any]) -> None:
    board, spare, pair, module = (hardware[k] for k in ("board", "spare", "pair", "modbus"))
    plug = Plug(broker.port, f"tasmota_{GW}", relays=1)
    now = datetime.now(VN)
    rules = [{"name": "night", "on": (now - timedelta(hours=1)).strftime("%H:%M"),
              "off": (now + timedelta(hours=2)).strftime("%H:%M")}]
    ghost_port = tmp_path / "ttyUSB9"
    lighting = {"stagger_s": 0.1, "retry_s": 1, "circuits": [
        {"id": "lcus-1", "rules": rules, "min_switch_interval_s": 0,
         "relay": {"driver": "lcus", "port": board.port, "channel": 1, "readback": True,
                   "timeout_s": 0.5}},
        {"id": "modbus-4", "rules": rules,
         "relay": {"driver": "modbus", "port": str(pair.a), "unit": 1, "channel": 4,
                   "timeout_s": 0.5, "retries": 0}},
        {"id": "ghost", "rules": rules,
         "relay": {"driver": "lcus", "port": str(ghost_port), "channel": 1}},
        {"id": "plug", "rules": rules,
         "relay": {"driver": "mqtt", "topic": plug.topic, "channel": 1, "timeout_s": 2}},
    ]}
    config = write_config(tmp_path / "agent.yaml", base_config(
        tmp_path, broker.url, gateway=GW, lighting=lighting))
    agent = AgentProcess(config, tmp_path / "agent.log").start()
    try:
        control_room.wait_for(state_of("lcus-1", BASE, state="on", driver_ok=True), 30)
        control_room.wait_for(state_of("modbus-4", BASE, state="on", driver_ok=True), 30)
        control_room.wait_for(state_of("plug", BASE, state="on", driver_ok=True), 30)
        assert board.states == {1: True, 2: False, 3: False, 4: False}
        assert module.coil(4) is True
        assert plug.power[1] is True
        ghost = control_room.wait_for(state_of("ghost", BASE, driver_ok=False), 30)[-1].json()
        assert ghost["driver_error"] == (f"cannot open relay board {ghost_port}: No such file "
                                         "or directory (unplugged? wrong port?)")
        assert ghost["driver"] == f"lcus {ghost_port} ch 1"

        os.symlink(spare.port, ghost_port)  # plugged in: retried, recovers by itself
        control_room.wait_for(state_of("ghost", BASE, state="on", driver_ok=True), 30)
        assert spare.states[1] is True

        # The board stops answering its status query: the switch cannot be confirmed.
        board.answers_status = False
        seen = len(control_room.messages)
        until = (datetime.now(VN) + timedelta(minutes=5)).isoformat(timespec="seconds")
        reply = control_room.command(BASE, "light/lcus-1/override",
                                     {"state": "off", "until": until})
        assert reply["ok"] is True and reply["driver_ok"] is False
        assert "did not answer the status query" in reply["driver_error"]
        after(control_room, seen, state_of("lcus-1", BASE, driver_ok=False, desired="off"), 5)
        assert module.coil(4) is True  # the others are unaffected
        board.answers_status = True
        after(control_room, seen, state_of("lcus-1", BASE, state="off", driver_ok=True,
                                           reason="override"), 10)
        assert board.states[1] is False
    finally:
        agent.stop()
        plug.close()
    # stopping switched nothing
    assert board.states[1] is False and module.coil(4) is True and plug.power[1] is True
    assert "Traceback" not in agent.log()
