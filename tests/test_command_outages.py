"""Commands across outages: queued while the agent is away, redelivered after a kill -9.

The agent's MQTT 5 session lives 24 h on the broker, so commands sent while it is stopped wait
there. MQTT 5 message expiry decides which may still run. A command is acknowledged (PUBACK)
only once handled and its reply stored; a kill -9 before that makes the broker deliver it
again, and the command log (edge_agent/command_log.py) makes sure it does not run twice.
Real agent processes, the real broker, simulated relays (a JSON state file).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker
from tests.infra.mqtt_client import ControlRoom, Received, json_on

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def _agent(tmp: Path, broker: Broker, gw: str, circuits: list[str]) -> tuple[AgentProcess, Path]:
    relays = tmp / f"{gw}-relays.json"
    relays.write_text(json.dumps({str(i + 1): False for i in range(len(circuits))}))
    lighting = {"circuits": [
        {"id": cid, "min_switch_interval_s": 0, "default": "off",
         "relay": {"driver": "sim", "board": gw, "channel": i + 1, "state_file": str(relays)}}
        for i, cid in enumerate(circuits)]}
    cfg = base_config(tmp, broker.url, gateway=gw, lighting=lighting)
    return AgentProcess(write_config(tmp / f"{gw}.yaml", cfg), tmp / f"{gw}.log"), relays


def _online_after(room: ControlRoom, base: str, seen: int) -> None:
    room.wait_for(lambda m: _after(room, m, seen) and m.topic == f"{base}/status" and
                  m.json().get("state") == "online", 30)


def _after(room: ControlRoom, m: Received, seen: int) -> bool:
    return any(m is x for x in room.messages[seen:])


def _send(room: ControlRoom, topic: str, body: dict[str, Any], response_topic: str,
          expiry_s: int) -> bytes:
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = response_topic
    props.CorrelationData = uuid.uuid4().bytes
    props.MessageExpiryInterval = expiry_s
    room.subscribe(response_topic)
    room.publish(topic, body, properties=props)
    return bytes(props.CorrelationData)


def _replies(room: ControlRoom, topic: str) -> list[dict[str, Any]]:
    with room._cond:
        return [m.json() for m in room.messages if m.topic == topic]


def _light(base: str, circuit: str, **fields: Any) -> Callable[[Received], bool]:
    return json_on(f"{base}/light/{circuit}/state", **fields)


def test_commands_queued_while_stopped_expired_one_never_runs_other_runs_once(
        broker: Broker, tmp_path: Path) -> None:
    gw = "gw-cmd-queued"
    base = f"commune/testsite/{gw}"
    room = ControlRoom(broker.port, f"{base}/#")
    agent, relays = _agent(tmp_path, broker, gw, ["a", "b"])
    try:
        agent.start()
        _online_after(room, base, 0)
        room.wait_for(_light(base, "b", state="off"), 30)
        assert agent.stop() == 0  # its session (24 h) and subscription stay on the broker
        until = (datetime.now(VN) + timedelta(hours=1)).isoformat(timespec="seconds")
        sent_at = time.monotonic()
        _send(room, f"{base}/cmd/light/a/override", {"state": "on", "until": until,
                                                     "id": "short-lived"},
              "reply/queued/a", expiry_s=2)
        _send(room, f"{base}/cmd/light/b/override", {"state": "on", "until": until,
                                                     "id": "long-lived"},
              "reply/queued/b", expiry_s=600)
        time.sleep(max(0.0, sent_at + 2.5 - time.monotonic()))  # the 2 s expiry must pass
        seen = len(room.messages)
        agent.start()
        _online_after(room, base, seen)
        reply = room.wait_for(lambda m: m.topic == "reply/queued/b", 30)[0].json()
        assert reply["ok"] is True and reply["request_id"] == "long-lived", reply
        room.wait_for(_light(base, "b", state="on", reason="override"), 15)
        room.barrier(base)  # any second reply, or a late reply to 'a', would be here by now
        assert len(_replies(room, "reply/queued/b")) == 1
        assert _replies(room, "reply/queued/a") == [], "the expired command got an answer"
        assert not [m for m in room.messages if _light(base, "a", reason="override")(m)]
        assert json.loads(relays.read_text()) == {"1": False, "2": True}
    finally:
        agent.stop()
        room.close()


def test_kill_9_during_a_pulse_redelivered_not_run_again_one_reply(
        broker: Broker, tmp_path: Path) -> None:
    """kill -9 while a 6 s pulse runs (received, relay switched, no PUBACK yet): at restart
    the broker delivers the pulse again; the agent does not pulse again and answers once."""
    gw = "gw-cmd-kill"
    base = f"commune/testsite/{gw}"
    room = ControlRoom(broker.port, f"{base}/#")
    agent, relays = _agent(tmp_path, broker, gw, ["main"])
    try:
        agent.start()
        _online_after(room, base, 0)
        room.wait_for(_light(base, "main", state="off"), 30)
        _send(room, f"{base}/cmd/light/main/pulse", {"seconds": 6, "id": "pulse-1"},
              "reply/kill/pulse", expiry_s=600)
        room.wait_for(_light(base, "main", state="on", reason="manual"), 15)
        assert json.loads(relays.read_text()) == {"1": True}
        agent.kill9()  # mid-pulse: the relay stays on, the command is not acknowledged
        seen = len(room.messages)
        agent.start()
        _online_after(room, base, seen)
        reply = room.wait_for(lambda m: m.topic == "reply/kill/pulse", 30)[0].json()
        assert reply["ok"] is False and "interrupted" in reply["error"], reply
        assert reply["request_id"] == "pulse-1" and reply["command"] == "light/main/pulse"
        # back to the default (off) by reconciling, not by pulsing again
        room.wait_for(lambda m: _after(room, m, seen) and
                      _light(base, "main", state="off", reason="default")(m), 15)
        room.barrier(base)
        assert len(_replies(room, "reply/kill/pulse")) == 1
        # the old process's unacknowledged states are replayed ("replayed": true); the new
        # process never shows a pulse of its own
        assert not [m for m in room.messages[seen:] if _light(base, "main", reason="manual")(m)
                    and not m.json().get("replayed")]
        assert json.loads(relays.read_text()) == {"1": False}
        assert "command redelivered after it was interrupted: not run again" in agent.log()
    finally:
        agent.stop()
        room.close()
