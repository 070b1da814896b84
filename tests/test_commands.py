"""Commands over a real broker: one reply each, MQTT 5 correlation and the 3.1.1 result topic.

The agent runs as a real process (``python -m edge_agent run``) except for the typed-handler
test, which builds the Agent in-process to register a handler with a pydantic payload model
(no capability with typed commands is configured in these tests).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict

from edge_agent.agent import Agent
from edge_agent.config import load_config
from edge_agent.runtime import CommandError, CommandRequest, MessageClass
from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker, free_port
from tests.infra.mqtt_client import ControlRoom, Received


def _online(room: ControlRoom, base: str, timeout: float = 30.0) -> dict[str, Any]:
    found = room.wait_for(lambda m: m.topic == f"{base}/status" and
                          m.json().get("state") == "online", timeout)
    return dict(found[-1].json())


def _start_agent(tmp: Path, broker: Broker, gateway: str, **sections: Any
                 ) -> tuple[AgentProcess, str]:
    config = write_config(tmp / f"{gateway}.yaml",
                          base_config(tmp, broker.url, gateway=gateway, **sections))
    return AgentProcess(config, tmp / f"{gateway}.log").start(), f"commune/testsite/{gateway}"


MQTT_SECRET = "mqtt-Pa55-9f2c"
HTTP_SECRET = "http-T0ken-77ab"


@pytest.fixture(scope="module")
def v5_agent(broker: Broker, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[AgentProcess, str, ControlRoom]]:
    tmp = tmp_path_factory.mktemp("cmd-v5")
    room = ControlRoom(broker.port, "commune/testsite/gw-cmd5/#")
    room.subscribe("reply/bad/#")  # not overlapping the others: no duplicates
    # secrets the broker ignores (anonymous allowed) but config/get must never show
    agent, base = _start_agent(tmp, broker, "gw-cmd5",
                               mqtt={"username": "gw-cmd5", "password": MQTT_SECRET},
                               http={"enabled": False, "token": HTTP_SECRET})
    try:
        _online(room, base)
        yield agent, base, room
    finally:
        assert agent.stop() == 0
        room.close()


def _send(room: ControlRoom, topic: str, payload: bytes, *, response_topic: str | None = None,
          expiry_s: int | None = None) -> bytes:
    props = Properties(PacketTypes.PUBLISH)
    correlation = uuid.uuid4().bytes
    if response_topic:
        props.ResponseTopic = response_topic
        props.CorrelationData = correlation
    if expiry_s is not None:
        props.MessageExpiryInterval = expiry_s
    room.client.publish(topic, payload, qos=1, properties=props).wait_for_publish(30)
    return correlation


def _replies_to(room: ControlRoom, correlation: bytes) -> list[Received]:
    with room._cond:
        return [m for m in room.messages if m.topic.startswith("reply/") and
                getattr(m.properties, "CorrelationData", None) == correlation]


def test_ping_with_response_topic_and_correlation_data(
        v5_agent: tuple[AgentProcess, str, ControlRoom]) -> None:
    _, base, room = v5_agent
    correlation = b"\x00corr-\xff"
    reply = room.command(base, "ping", {}, response_topic="reply/ping", correlation=correlation)
    assert reply["ok"] is True and reply["pong"] is True
    assert reply["command"] == "ping"
    assert {"v", "ts", "id"} <= set(reply)
    assert "seq" not in reply, "a reply outside the base topic is not in the seq stream"
    room.barrier(base)
    assert len(_replies_to(room, correlation)) == 1
    assert not [m for m in room.messages if m.topic == f"{base}/cmd/ping/result"], \
        "a command with a response topic gets its reply there only"


def test_without_response_topic_reply_goes_to_result_echoing_id(
        v5_agent: tuple[AgentProcess, str, ControlRoom]) -> None:
    _, base, room = v5_agent
    reply = room.command(base, "outbox/stats", {"id": "req-42"})
    assert reply["ok"] is True and reply["request_id"] == "req-42"
    outbox = reply["outbox"]
    assert outbox["max_bytes"] == 64 * 1024 * 1024  # storage.outbox_max_mb's default
    assert outbox["dropped"] == {"telemetry": 0, "state": 0, "event": 0}
    assert isinstance(outbox["depth"], int)  # its value: test_outbox_stats_counts_what_waits


async def test_outbox_stats_counts_what_waits(tmp_path: Path) -> None:
    """With no broker, what the command reports is what the outbox database holds."""
    dead = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens: every message waits
    config = write_config(tmp_path / "a.yaml", base_config(tmp_path, dead, gateway="gw-depth"))
    agent = Agent(load_config(config))
    runner = asyncio.create_task(agent.run())
    try:
        for _ in range(200):  # components start once the outbox is open
            if "health" in agent.components:
                break
            await asyncio.sleep(0.05)
        for n in range(7):
            await agent.bus.publish("test/wait", {"n": n}, message_class=MessageClass.EVENT)
        reply = await agent.router.execute("outbox/stats", {})
        db = sqlite3.connect(f"file:{tmp_path}/data-gw-depth/outbox.sqlite3?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        finally:
            db.close()
        assert reply["ok"] is True and reply["outbox"]["depth"] == rows >= 7, (reply, rows)
        assert reply["outbox"]["oldest_age_s"] >= 0
    finally:
        agent.request_stop()
        await asyncio.wait_for(runner, 15)


def test_config_get_redacts_secrets(v5_agent: tuple[AgentProcess, str, ControlRoom]) -> None:
    _, base, room = v5_agent
    reply = room.command(base, "config/get", {}, response_topic="reply/cfg")
    assert reply["ok"] is True and len(reply["config_hash"]) == 12
    assert reply["config"]["gateway"]["id"] == "gw-cmd5"
    assert reply["config"]["mqtt"]["username"] == "gw-cmd5"  # plain settings stay readable
    assert reply["config"]["mqtt"]["password"] == "**********"
    assert reply["config"]["http"]["token"] == "**********"
    text = json.dumps(reply)
    assert MQTT_SECRET not in text and HTTP_SECRET not in text, text


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


BAD_COMMANDS: list[tuple[str, str, bytes, int | None, str]] = [
    ("malformed-json", "ping", b"{not json", None, "not valid JSON"),
    ("not-an-object", "ping", b"[1, 2]", None, "must be a JSON object"),
    ("unknown-target", "nosuch/thing", b"{}", None, "unknown command 'cmd/nosuch/thing'"),
    ("unknown-action", "config/explode", b"{}", None, "unknown command"),
    ("expires-at-wrong-type", "ping", b'{"expires_at": 12}', None, "must be an ISO 8601"),
    ("expires-at-garbage", "ping", b'{"expires_at": "soon"}', None, "not an ISO 8601"),
    ("expires-at-past", "ping",
     json.dumps({"expires_at": _iso(timedelta(minutes=-5))}).encode(), None, "expired"),
]


def test_bad_commands_get_exactly_one_error_reply_each(
        v5_agent: tuple[AgentProcess, str, ControlRoom]) -> None:
    agent, base, room = v5_agent
    sent = {}
    for name, path, payload, expiry, _ in BAD_COMMANDS:
        sent[name] = _send(room, f"{base}/cmd/{path}", payload,
                           response_topic=f"reply/bad/{name}", expiry_s=expiry)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(_replies_to(room, c) for c in sent.values()):
        time.sleep(0.05)
    room.barrier(base)  # a second reply would have arrived by now
    for name, _, _, _, words in BAD_COMMANDS:
        replies = _replies_to(room, sent[name])
        assert len(replies) == 1, f"{name}: {len(replies)} replies"
        body = replies[0].json()
        assert body["ok"] is False and words in body["error"], f"{name}: {body}"
        assert "pong" not in body, "an invalid or expired command is never executed"
    # still serving, and still the same process
    assert agent.proc is not None and agent.proc.poll() is None
    assert room.command(base, "ping", {}, response_topic="reply/after")["ok"] is True
    assert "Traceback" not in agent.log()


def test_wildcard_response_topic_is_refused_on_the_result_topic_and_agent_lives(
        v5_agent: tuple[AgentProcess, str, ControlRoom]) -> None:
    """A reply cannot be published to 'evil/#': refusing it must not kill the agent (it did:
    the unsendable reply row crashed the link, and replayed after every restart)."""
    agent, base, room = v5_agent
    room.client.subscribe(f"{base}/cmd/ping/result", qos=1)
    _send(room, f"{base}/cmd/ping", b'{"id": "r-wild"}', response_topic="evil/#")
    reply = room.wait_for(lambda m: m.topic == f"{base}/cmd/ping/result" and
                          m.json().get("request_id") == "r-wild", 30)[0].json()
    assert reply["ok"] is False and "response topic" in reply["error"]
    assert "pong" not in reply, "the command was not run"
    assert room.command(base, "ping", {}, response_topic="reply/after-wild")["ok"] is True
    assert agent.proc is not None and agent.proc.poll() is None


def test_mqtt311_agent_replies_on_result_topic(broker: Broker, tmp_path: Path) -> None:
    room = ControlRoom(broker.port, "commune/testsite/gw-cmd311/#", v5=False)
    agent, base = _start_agent(tmp_path, broker, "gw-cmd311", mqtt={"protocol": "3.1.1"})
    try:
        _online(room, base)
        reply = room.command(base, "ping", {"id": "abc-311"})
        assert reply["ok"] is True and reply["request_id"] == "abc-311"
        room.publish(f"{base}/cmd/ping", b"{oops")
        room.publish(f"{base}/cmd/nosuch", {"id": "r-unknown"})
        room.publish(f"{base}/cmd/ping", {"id": "r-expired", "expires_at": "2020-01-01T00:00Z"})
        room.wait_for(lambda m: m.topic.endswith("/result") and m.json()["ok"] is False, 30,
                      count=3)
        room.barrier(base)
        results = [(m.topic, m.json()) for m in room.messages if m.topic.endswith("/result")
                   and not str(m.json().get("request_id")).startswith("barrier-")]
        assert len(results) == 4, results  # the ping, and exactly one per bad command
        errors = {body.get("request_id"): (topic, body) for topic, body in results
                  if body["ok"] is False}
        assert errors[None][0] == f"{base}/cmd/ping/result"
        assert "not valid JSON" in errors[None][1]["error"]
        assert errors["r-unknown"][0] == f"{base}/cmd/nosuch/result"
        assert "unknown command" in errors["r-unknown"][1]["error"]
        assert "expired" in errors["r-expired"][1]["error"]
        assert room.command(base, "ping", {"id": "again"})["ok"] is True
    finally:
        assert agent.stop() == 0
        room.close()


class _SetPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int
    label: str = "x"


async def test_typed_handler_wrong_types_and_crash_get_one_error_each(
        broker: Broker, tmp_path: Path) -> None:
    config = write_config(tmp_path / "a.yaml", base_config(tmp_path, broker.url,
                                                           gateway="gw-typed"))
    agent = Agent(load_config(config))
    calls: list[int] = []

    async def set_count(request: CommandRequest) -> dict[str, Any]:
        body = _SetPayload.model_validate(request.payload)
        calls.append(body.count)
        if body.count < 0:
            raise CommandError("count must not be negative")
        if body.count == 13:
            raise RuntimeError("handler bug")
        return {"count": body.count, "subject": request.subject}

    agent.router.register("test", "set", set_count)
    base = "commune/testsite/gw-typed"
    room = ControlRoom(broker.port, f"{base}/#")
    runner = asyncio.create_task(agent.run())
    try:
        await asyncio.to_thread(_online, room, base)
        cases = [({"count": "many"}, "count: Input should be a valid integer"),
                 ({"count": 1, "colour": "red"}, "colour: Extra inputs are not permitted"),
                 ({}, "count: Field required"),
                 ({"count": -1}, "count must not be negative"),
                 ({"count": 13}, "internal error: RuntimeError: handler bug")]
        for payload, words in cases:
            reply = await asyncio.to_thread(room.command, base, "test/pump-1/set",
                                            payload)
            assert reply["ok"] is False and words in reply["error"], reply
        ok = await asyncio.to_thread(room.command, base, "test/pump-1/set", {"count": 7})
        assert ok == {**ok, "ok": True, "count": 7, "subject": "pump-1"}
        assert calls == [-1, 13, 7], "invalid payloads never reach the handler's logic"
        await asyncio.to_thread(room.barrier, base)
        results = [m for m in room.messages if m.topic == f"{base}/cmd/test/pump-1/set/result"]
        assert len(results) == len(cases) + 1
        assert agent.router.rejected == len(cases)
    finally:
        agent.request_stop()
        await asyncio.wait_for(runner, 15)
        room.close()
