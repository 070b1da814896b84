"""The web app in-process (aiohttp test server) on a hand-made context: health verdicts,
auth codes, snapshots and metrics for payloads of every capability. The end-to-end tests
against a running agent are in test_web_agent.py and test_web_page.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from edge_agent.commands import CommandRouter
from edge_agent.config.model import AgentConfig
from edge_agent.runtime import AgentContext, CommandRequest, RetainedState
from edge_agent.web.health_check import HealthJudge
from edge_agent.web.server import WebApp

TOKEN = "unit-test-token-0123"
JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


def agent_status(**changes: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "gateway": "gw-unit", "site": "s", "version": "0.1.0", "uptime_s": 5000.0,
        "clock_synced": True,
        "mqtt": {"connected": True, "connects": 1, "sent": 10, "last_error": None},
        "outbox": {"depth": 0, "bytes": 0, "max_bytes": 1000, "oldest_age_s": None,
                   "dropped": {"telemetry": 0, "state": 0, "event": 0}},
        "commands": {"handled": 0, "rejected": 0},
        "components": {"health": {"state": "running", "restarts": 0, "last_error": None}},
    }
    status.update(changes)
    return status


class Harness:
    def __init__(self, tmp: Path, token: str | None) -> None:
        http: dict[str, Any] = {"port": 0, **({"token": token} if token else {})}
        self.config = AgentConfig.model_validate(
            {"gateway": {"id": "gw-unit", "site": "s"}, "http": http})
        self.status = agent_status()
        self.state = RetainedState()
        self.router = CommandRouter("base", self._no_reply)
        self.pulses: list[str | None] = []
        self.router.register("light", "pulse", self._pulse)
        self.ctx = AgentContext(
            config=self.config, config_path=None, bus=None,  # type: ignore[arg-type]
            commands=self.router, health=None, mqtt_port=None,  # type: ignore[arg-type]
            state=self.state, data_dir=tmp, clock_synced=lambda: True,
            status=lambda: self.status)

    async def _no_reply(self, *args: Any) -> None:
        return None

    async def _pulse(self, request: CommandRequest) -> dict[str, Any]:
        self.pulses.append(request.subject)
        return {"pulsed": request.subject}


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[tuple[Harness, TestClient[Any, Any]]]:
    h = Harness(tmp_path, TOKEN)
    async with TestClient(TestServer(WebApp(h.ctx, h.config.http).build())) as client:
        yield h, client


async def test_status_api_renders_whatever_the_capabilities_publish(
        harness: tuple[Harness, TestClient[Any, Any]]) -> None:
    h, client = harness
    h.state.update("light/main-road/state", {"v": 1, "id": "msg-1", "state": "on",
                                             "reason": "schedule", "future_field": 7})
    h.state.update("camera/gate/status", {"state": "online", "fps_in": 12.5})
    h.state.update("camera/gate/snapshot", JPEG)
    h.state.update("hotspot/school/state", {"state": "degraded", "loss_percent": 12.0})
    h.state.update("light/odd", {"state": "on"})  # not an entity topic: ignored
    body = await (await client.get("/api/status")).json()
    assert body["lights"] == {"main-road": {"state": "on", "reason": "schedule",
                                            "future_field": 7}}
    assert body["cameras"]["gate"]["state"] == "online"
    assert body["cameras"]["gate"]["snapshot_url"].startswith("/snapshot/gate.jpg?v=")
    assert body["hotspots"]["school"]["state"] == "degraded"
    assert body["writes_enabled"] is True and body["gateway"]["gateway"] == "gw-unit"
    shot = await client.get(body["cameras"]["gate"]["snapshot_url"])
    assert shot.status == 200 and await shot.read() == JPEG
    assert shot.headers["Content-Type"] == "image/jpeg"
    assert (await client.get("/snapshot/nope.jpg")).status == 404


async def test_page_loads_nothing_from_elsewhere(
        harness: tuple[Harness, TestClient[Any, Any]]) -> None:
    _, client = harness
    response = await client.get("/")
    page = await response.text()
    assert response.status == 200 and "Gateway gw-unit" in page
    assert "http://" not in page and "https://" not in page and "src=\"//" not in page
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


async def test_commands_need_the_right_bearer_token(
        harness: tuple[Harness, TestClient[Any, Any]]) -> None:
    h, client = harness
    missing = await client.post("/api/command/light/main-road/pulse", json={})
    assert missing.status == 401 and "Bearer" in missing.headers["WWW-Authenticate"]
    wrong = await client.post("/api/command/light/main-road/pulse", json={},
                              headers={"Authorization": "Bearer not-the-token-xx"})
    assert wrong.status == 403 and (await wrong.json())["error"] == "wrong token"
    assert h.pulses == []
    auth = {"Authorization": f"Bearer {TOKEN}"}
    ok = await client.post("/api/command/light/main-road/pulse", json={}, headers=auth)
    assert ok.status == 200 and (await ok.json())["pulsed"] == "main-road"
    assert h.pulses == ["main-road"]
    unknown = await client.post("/api/command/light/main-road/explode", headers=auth)
    assert unknown.status == 400 and "unknown command" in (await unknown.json())["error"]
    bad = await client.post("/api/command/light/x/pulse", data=b"[1]", headers=auth)
    assert bad.status == 400 and "JSON object" in (await bad.json())["error"]


async def test_hostile_command_bodies_get_one_line_errors_in_standard_json(
        harness: tuple[Harness, TestClient[Any, Any]],
        caplog: pytest.LogCaptureFixture) -> None:
    h, client = harness
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def nan_reply(request: CommandRequest) -> dict[str, Any]:
        return {"value": float("nan")}

    h.router.register("test", "nan", nan_reply, has_subject=False)
    bodies = {b"[" * 50_000: "nested", b'{"a": NaN}': "NaN is not a JSON number",
              b'{"a": 1e999}': "out of range", b'{"a": "\xff"}': "not UTF-8",
              b'{"id": 1.5}': "'id' must be a string or an integer"}
    for body, words in bodies.items():
        response = await client.post("/api/command/light/x/pulse", data=body, headers=auth)
        assert response.status == 400, body[:40]
        reply = json.loads(await response.text(), parse_constant=_refuse)
        assert reply["ok"] is False and words in reply["error"], reply
    response = await client.post("/api/command/test/nan", json={}, headers=auth)
    reply = json.loads(await response.text(), parse_constant=_refuse)
    assert response.status == 400 and "cannot be encoded as JSON" in reply["error"]
    assert h.pulses == [], "no hostile body reached the handler"
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


def _refuse(name: str) -> Any:
    raise AssertionError(f"non-standard JSON constant {name} in a reply")


async def test_without_a_configured_token_every_write_is_refused(tmp_path: Path) -> None:
    h = Harness(tmp_path, None)
    async with TestClient(TestServer(WebApp(h.ctx, h.config.http).build())) as client:
        refused = await client.post("/api/command/light/a/pulse", json={},
                                    headers={"Authorization": "Bearer anything-at-all"})
        assert refused.status == 403 and "no http.token" in (await refused.json())["error"]
        assert (await (await client.get("/api/status")).json())["writes_enabled"] is False
    assert h.pulses == []


async def test_healthz_follows_link_outbox_and_crash_loops(
        harness: tuple[Harness, TestClient[Any, Any]]) -> None:
    h, client = harness
    assert (await client.get("/healthz")).status == 200
    down = {"connected": False, "connects": 1, "sent": 10, "last_error": "refused"}
    h.status = agent_status(mqtt=down, outbox={"depth": 3, "bytes": 300, "max_bytes": 1000,
                                               "dropped": {}})
    spooling = await client.get("/healthz")
    assert spooling.status == 200 and "spooling" in (await spooling.json())["notes"][0]
    h.status = agent_status(mqtt=down, outbox={"depth": 9, "bytes": 950, "max_bytes": 1000,
                                               "dropped": {}})
    full = await client.get("/healthz")
    assert full.status == 503 and "95% full" in (await full.json())["reasons"][0]
    h.status = agent_status(uptime_s=60.0,  # all 4 restarts happened within the window
                            components={"cameras": {"state": "failed", "restarts": 4,
                                                    "last_error": "OSError: boom"}})
    looping = await client.get("/healthz")
    reasons = (await looping.json())["reasons"]
    assert looping.status == 503 and "cameras is crash-looping" in reasons[0]


def test_crash_loop_window_forgets_old_restarts() -> None:
    judge = HealthJudge(crash_loop_restarts=3, crash_loop_window_s=600)

    def restarts(n: int, now: float) -> bool:
        status = agent_status(uptime_s=now, components={"c": {"restarts": n}})
        return judge.judge(status, now).healthy

    assert restarts(1, 0) and restarts(2, 100)
    assert not restarts(3, 200)  # three restarts inside ten minutes
    assert restarts(3, 700)  # the loop stopped: only one restart is still in the window
    assert restarts(4, 1000) and restarts(5, 1100)
    assert not restarts(6, 1200)


def test_outbox_drops_while_offline_are_unhealthy() -> None:
    judge = HealthJudge()
    down = {"connected": False}
    outbox = {"bytes": 10, "max_bytes": 1000, "dropped": {"telemetry": 5}}
    assert judge.judge(agent_status(mqtt=down, outbox=outbox), 0).healthy
    outbox = {"bytes": 10, "max_bytes": 1000, "dropped": {"telemetry": 6}}
    verdict = judge.judge(agent_status(mqtt=down, outbox=outbox), 1)
    assert not verdict.healthy and "dropped 1" in verdict.reasons[0]
    assert judge.judge(agent_status(outbox=outbox), 2).healthy  # link back up


async def test_metrics_cover_every_capability(
        harness: tuple[Harness, TestClient[Any, Any]]) -> None:
    h, client = harness
    h.status["commands"] = {"handled": 5, "rejected": 2, "unanswerable": 1}
    h.state.update("light/main-road/state", {"state": "on", "driver": {"switch_count": 41}})
    h.state.update("camera/gate/status", {"state": "online", "fps_in": 12.5,
                                          "fps_decoded": 2.0, "reconnects_last_hour": 3})
    h.state.update("hotspot/school/state", {"state": "down", "rtt_median_ms": 31.5,
                                            "loss_pct": 100.0, "flaps_1h": 2,
                                            "since": datetime.now(UTC).isoformat()})
    text = await (await client.get("/metrics")).text()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("edge_agent_light_on", (("circuit", "main-road"),))] == 1
    assert samples[("edge_agent_relay_switches_total", (("circuit", "main-road"),))] == 41
    assert samples[("edge_agent_camera_fps", (("camera", "gate"), ("stage", "in")))] == 12.5
    assert samples[("edge_agent_camera_reconnects_last_hour", (("camera", "gate"),))] == 3
    assert samples[("edge_agent_camera_online", (("camera", "gate"),))] == 1
    assert samples[("edge_agent_hotspot_state", (("hotspot", "school"), ("state", "down")))] == 1
    assert samples[("edge_agent_hotspot_state", (("hotspot", "school"), ("state", "up")))] == 0
    assert samples[("edge_agent_hotspot_rtt_median_ms", (("hotspot", "school"),))] == 31.5
    assert samples[("edge_agent_mqtt_connected", ())] == 1
    assert samples[("edge_agent_commands_unanswerable_total", ())] == 1
    assert ("process_resident_memory_bytes", ()) in samples
