"""Home Assistant MQTT discovery: the pure message builder, and a real agent publishing its
retained configs to a real mosquitto, switching a simulated relay from an HA-style command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge_agent.web.ha_discovery import Discovery, override_until, safe_id
from tests.infra.agent_proc import AgentProcess, write_config
from tests.infra.broker import Broker
from tests.infra.mqtt_client import ControlRoom
from tests.infra.web import CIRCUIT, free_port, relay_states, wait_until, web_config

BASE = "commune/testsite/gw-test"


def test_messages_for_every_kind_of_entity() -> None:
    discovery = Discovery(BASE, "gw.1", prefix="ha")
    messages = {t: json.loads(p) for t, p in
                discovery.messages(["main-road"], ["gate"], ["school", "school"]).items()}
    assert discovery.node == "edge_gw_1"  # '.' is not allowed in HA ids
    switch = messages["ha/switch/edge_gw_1/light_main-road/config"]
    assert switch["state_topic"] == f"{BASE}/light/main-road/state"
    assert switch["command_topic"] == f"{BASE}/cmd/homeassistant/main-road/switch"
    assert json.loads(switch["payload_on"]) == {"state": "on"}
    motion = messages["ha/binary_sensor/edge_gw_1/motion_gate/config"]
    assert motion["device_class"] == "motion"
    assert motion["state_topic"] == f"{BASE}/camera/gate/motion"
    assert messages["ha/binary_sensor/edge_gw_1/hotspot_school/config"]["device_class"] == \
        "connectivity"
    assert "ha/sensor/edge_gw_1/hotspot_loss_pct_school/config" in messages
    for body in messages.values():  # every entity follows the gateway's retained status
        assert body["availability"][0]["topic"] == f"{BASE}/status"
        assert body["device"]["identifiers"] == ["edge_gw_1"]
    unique = [body["unique_id"] for body in messages.values()]
    assert len(unique) == len(set(unique)) == 1 + 2 + 5


def test_safe_ids_and_override_end() -> None:
    assert safe_id("a.b/c d") == "a_b_c_d"
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    soon = (now + timedelta(hours=3)).isoformat()
    assert override_until({"next_change": soon}, now) == soon
    far = (now + timedelta(days=3)).isoformat()
    assert override_until({"next_change": far}, now) == (now + timedelta(hours=24)).isoformat()
    assert override_until(None, now) == (now + timedelta(hours=24)).isoformat()
    assert override_until({"next_change": "garbage"}, now).startswith("2026-11-23T10:00")


def test_agent_publishes_retained_discovery_and_obeys_the_switch(
        tmp_path: Path, broker: Broker) -> None:
    port = free_port()
    config = web_config(tmp_path, broker.port, port, homeassistant={"enabled": True})
    # an entity published by an earlier config, whose circuit has since been removed
    old_topic = "homeassistant/switch/edge_gw-test/light_old-lane/config"
    data_dir = Path(config["storage"]["data_dir"])
    data_dir.mkdir(parents=True)
    (data_dir / "homeassistant-discovery.json").write_text(json.dumps([old_topic]))
    room = ControlRoom(broker.port, "#")
    room.publish(old_topic, {"name": "Light old-lane"}, retain=True)
    agent = AgentProcess(write_config(tmp_path / "agent.yaml", config),
                         tmp_path / "agent.log").start()
    try:
        room.wait_for(lambda m: m.topic == old_topic and m.payload == b"", 30)  # removed
        switch_topic = "homeassistant/switch/edge_gw-test/light_main-road/config"
        # not m.retain: published by this agent, not left on the session broker earlier
        room.wait_for(lambda m: m.topic == switch_topic and m.payload != b"" and
                      not m.retain, 30)
        room.wait_for(lambda m: m.topic ==
                      "homeassistant/binary_sensor/edge_gw-test/hotspot_school/config" and
                      not m.retain, 30)
        # a late subscriber (Home Assistant starting later) gets them from the broker
        late = ControlRoom(broker.port, "homeassistant/#")
        try:
            retained = late.wait_for(lambda m: m.topic == switch_topic, 15)[0]
            assert retained.retain and retained.json()["name"] == "Light main-road"
        finally:
            late.close()
        before = relay_states(tmp_path).get("1", False)
        wanted = "off" if before else "on"
        reply = room.command(BASE, f"homeassistant/{CIRCUIT}/switch", {"state": wanted})
        assert reply["ok"] is True, reply
        assert datetime.fromisoformat(reply["until"]) > datetime.now(UTC)
        wait_until(lambda: relay_states(tmp_path).get("1") is (not before), 30,
                   "relay switched by the Home Assistant command")
        state = room.wait_for(lambda m: m.topic == f"{BASE}/light/{CIRCUIT}/state" and
                              m.json()["reason"] == "override", 30)[-1].json()
        assert state["state"] == wanted
        bad = room.command(BASE, f"homeassistant/{CIRCUIT}/switch", {"state": "maybe"})
        assert bad["ok"] is False and "'on' or 'off'" in bad["error"]
    finally:
        room.close()
        assert agent.stop() == 0, agent.log()[-3000:]
