"""End to end: the real agent process, the real broker, simulated relays (sim driver with a
JSON state file, so the test sees what the "hardware" was set to).

Reboot inside an on-window → on with reason ``schedule``; override by command until a time
→ back to schedule by itself; the override survives an agent restart; stopping the agent
leaves the relays as they are; a failing relay is reported and retried while the other
circuit works; a malformed override gets exactly one error reply.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from contract import utc_iso
from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker
from tests.infra.mqtt_client import ControlRoom, Received, json_on

GW = "gw-light"
BASE = f"commune/testsite/{GW}"
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def state_of(circuit: str, base: str = BASE, **expected: Any) -> Callable[[Received], bool]:
    return json_on(f"{base}/light/{circuit}/state", **expected)


def after(room: ControlRoom, seen: int, predicate: Callable[[Received], bool],
          timeout: float) -> Received:
    """The first matching message received after the first ``seen`` ones."""
    return room.wait_for(lambda m: any(m is x for x in room.messages[seen:]) and predicate(m),
                         timeout)[0]


def relays(path: Path) -> dict[str, bool]:
    return json.loads(path.read_text()) if path.exists() else {}


def test_agent_lights_end_to_end(tmp_path: Path, broker: Broker,
                                 control_room: ControlRoom) -> None:
    state_file, unplugged = tmp_path / "relays.json", tmp_path / "unplugged"
    agent = _start_agent(tmp_path, broker, state_file, unplugged)
    try:
        control_room.wait_for(state_of("main-road", state="on", reason="schedule",
                                       rule="night"), 30)
        assert relays(state_file) == {"1": True}
        _failed_relay_is_retried_alone(control_room, state_file, unplugged)
        _state_is_retained_and_bad_commands_get_one_error(control_room, broker)
        _override_survives_a_reboot_then_expires(control_room, agent, state_file)
    finally:
        agent.stop()
    log = agent.log()
    assert "override off expired; back to schedule" in log
    assert "Traceback" not in log


def _start_agent(tmp_path: Path, broker: Broker, state_file: Path,
                 unplugged: Path) -> AgentProcess:
    """Two circuits on one simulated board; the 'flaky' channel fails while ``unplugged``
    exists. An on-window around "now" (as if the box rebooted at 21:00 inside the night)."""
    now = datetime.now(VN)
    on_at = (now - timedelta(hours=1)).strftime("%H:%M")
    off_at = (now + timedelta(hours=2)).strftime("%H:%M")
    unplugged.touch()
    sim = {"driver": "sim", "board": "e2e", "state_file": str(state_file)}
    lighting = {"stagger_s": 0.2, "retry_s": 1, "circuits": [
        {"id": "main-road", "relay": {**sim, "channel": 1}, "min_switch_interval_s": 0,
         "rules": [{"name": "night", "on": on_at, "off": off_at}]},
        {"id": "flaky", "relay": {**sim, "channel": 2, "fail_if_exists": str(unplugged)},
         "rules": [{"name": "night", "on": on_at, "off": off_at}]},
    ]}
    config = write_config(tmp_path / "agent.yaml", base_config(  # a gateway's reconnect
        tmp_path, broker.url, gateway=GW, lighting=lighting, fast_reconnect=False))
    return AgentProcess(config, tmp_path / "agent.log").start()


def _failed_relay_is_retried_alone(room: ControlRoom, state_file: Path,
                                   unplugged: Path) -> None:
    flaky = room.wait_for(state_of("flaky", driver_ok=False), 30)[-1].json()
    assert "unplugged" in flaky["driver_error"] and flaky["desired"] == "on"
    # The failed relay is retried and recovers by itself; the other was never affected.
    unplugged.unlink()
    room.wait_for(state_of("flaky", state="on", driver_ok=True), 30)
    assert relays(state_file) == {"1": True, "2": True}


def _state_is_retained_and_bad_commands_get_one_error(room: ControlRoom,
                                                      broker: Broker) -> None:
    # Retained: a late subscriber gets the state at once.
    late = ControlRoom(broker.port, f"{BASE}/light/+/state")
    try:
        got = late.wait_for(lambda m: m.topic.endswith("main-road/state"), 15)[0]
        assert got.retain and got.json()["state"] == "on"
    finally:
        late.close()
    # Malformed override → exactly one error reply.
    bad = room.command(BASE, "light/main-road/override",
                       {"state": "on", "until": "tomorrow 05:00"})
    assert bad["ok"] is False and "until" in bad["error"]
    room.barrier(BASE)  # a second reply would have arrived before this one
    replies = [m for m in room.messages
               if m.topic == f"{BASE}/cmd/light/main-road/override/result"]
    assert len(replies) == 1


def _override_survives_a_reboot_then_expires(room: ControlRoom, agent: AgentProcess,
                                             state_file: Path) -> None:
    # Override off until a few seconds from now, then back to schedule by itself. The
    # override must outlast the stop + start below (a loaded machine took more than 8 s).
    until = (datetime.now(VN) + timedelta(seconds=15)).isoformat(timespec="seconds")
    reply = room.command(BASE, "light/main-road/override", {"state": "off", "until": until})
    assert reply["ok"] is True and reply["state"] == "off" and reply["reason"] == "override"
    room.wait_for(state_of("main-road", state="off", reason="override",
                           override_until=utc_iso(datetime.fromisoformat(until))), 15)
    assert relays(state_file)["1"] is False
    # Reboot during the override: relays are left as they are; the override is kept.
    assert agent.stop() == 0
    assert relays(state_file) == {"1": False, "2": True}
    seen = len(room.messages)
    agent.start()
    after(room, seen, state_of("main-road", state="off", reason="override"), 30)
    after(room, seen, state_of("main-road", state="on", reason="schedule",
                               override_until=None), 40)
    assert relays(state_file)["1"] is True
