"""The supervisor: isolated restarts, signals (TERM, HUP), birth/Last Will, health."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from edge_agent import agent as agent_module
from edge_agent.agent import Agent
from edge_agent.config import load_config
from edge_agent.runtime import AgentContext, Component, MessageClass
from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker, free_port
from tests.infra.mqtt_client import ControlRoom


def _status(room: ControlRoom, base: str, state: str, timeout: float = 30.0) -> dict[str, Any]:
    found = room.wait_for(lambda m: m.topic == f"{base}/status" and
                          m.json().get("state") == state, timeout)
    return dict(found[-1].json())


def _retained_status(port: int, base: str) -> dict[str, Any]:
    """What a control room that connects now sees first (the retained status)."""
    room = ControlRoom(port, f"{base}/status")
    try:
        found = room.wait_for(lambda m: m.retain, 15)
        return dict(found[0].json())
    finally:
        room.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_text().encode()).hexdigest()[:12]


# -- supervisor, in-process with test components -------------------------------------------
class Flaky:
    """A component that fails every time (a broken driver): restarted, never fatal."""

    name = "flaky"

    def __init__(self) -> None:
        self.starts: list[float] = []

    async def run(self, ctx: AgentContext) -> None:
        self.starts.append(time.monotonic())
        await asyncio.sleep(0.05)
        raise RuntimeError("boom")


class Steady:
    """A healthy sibling publishing a tick every 0.1 s."""

    name = "steady"

    def __init__(self) -> None:
        self.ticks = 0
        self.times: list[float] = []

    async def run(self, ctx: AgentContext) -> None:
        while True:
            self.ticks += 1
            self.times.append(time.monotonic())
            await ctx.bus.publish("test/tick", {"n": self.ticks},
                                  message_class=MessageClass.TELEMETRY)
            await asyncio.sleep(0.1)


async def test_failing_component_restarted_with_backoff_siblings_keep_running(
        broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flaky, steady = Flaky(), Steady()
    built: list[Component] = [flaky, steady]
    monkeypatch.setattr(agent_module, "build_components", lambda config: built)
    monkeypatch.setattr(agent_module, "RESTART_BASE_S", 0.3)
    config = write_config(tmp_path / "a.yaml", base_config(
        tmp_path, broker.url, gateway="gw-sup", health={"interval_s": 1}))
    base = "commune/testsite/gw-sup"
    room = ControlRoom(broker.port, f"{base}/#")
    agent = Agent(load_config(config))
    runner = asyncio.create_task(agent.run())
    try:
        await asyncio.to_thread(_status, room, base, "online")
        # No fixed window: wait (generously) for three starts, then check their order/spacing.
        for _ in range(300):
            if len(flaky.starts) >= 3:
                break
            await asyncio.sleep(0.1)
        assert len(flaky.starts) >= 3
        starts = list(flaky.starts)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert min(gaps) >= 0.5, f"restarted without backoff: {gaps}"
        status = agent.components["flaky"]
        assert status.restarts >= 2 and status.last_error == "RuntimeError: boom"
        assert agent.components["steady"].restarts == 0
        assert agent.components["steady"].state == "running"
        assert agent.components["health"].state == "running"
        # The healthy sibling kept running throughout: it ticked inside every backoff gap
        # (each >= 0.5 s of loop time against its 0.1 s sleep, so load delays both alike).
        for a, b in itertools.pairwise(starts):
            assert any(a < t < b for t in steady.times), f"no tick between {a} and {b}"
        received = await asyncio.to_thread(
            room.wait_for, lambda m: m.topic == f"{base}/test/tick", 15, 10)
        ticks = [m.json()["n"] for m in received]
        assert ticks == sorted(ticks)

        health = await asyncio.to_thread(
            room.wait_for, lambda m: m.topic == f"{base}/health" and
            m.json()["components"].get("flaky", {}).get("restarts", 0) >= 1, 30)
        body = health[-1].json()
        assert body["components"]["flaky"]["last_error"] == "RuntimeError: boom"
        assert body["components"]["steady"]["state"] == "running"
        for key in ("cpu_percent", "ram_used_mb", "ram_total_mb", "disk_free_mb",
                    "uptime_s", "clock_synced"):
            assert key in body, key
        assert 0 < body["ram_used_mb"] <= body["ram_total_mb"]
        assert {"depth", "oldest_age_s", "dropped"} <= set(body["outbox"])
        assert agent.ctx.status()["components"]["flaky"]["restarts"] >= 2
    finally:
        agent.request_stop()
        await asyncio.wait_for(runner, 15)
        room.close()
    assert agent.components["steady"].state == "stopped"


# -- the real process ----------------------------------------------------------------------
def _start(tmp: Path, broker_url: str, gateway: str, **sections: Any
           ) -> tuple[AgentProcess, Path, str]:
    config = write_config(tmp / f"{gateway}.yaml",
                          base_config(tmp, broker_url, gateway=gateway, **sections))
    agent = AgentProcess(config, tmp / f"{gateway}.log").start()
    return agent, config, f"commune/testsite/{gateway}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_sigterm_publishes_stopped_exits_0_outbox_intact(broker: Broker, tmp_path: Path,
                                                         sig: signal.Signals) -> None:
    room = ControlRoom(broker.port, "commune/testsite/gw-term/#")
    agent, _, base = _start(tmp_path, broker.url, "gw-term")
    try:
        _status(room, base, "online")
        assert room.command(base, "ping", {})["ok"] is True
        agent.signal(sig)
        assert agent.proc is not None
        assert agent.proc.wait(10) == 0
        _status(room, base, "stopped", 15)
    finally:
        agent.stop()
        room.close()
    assert _retained_status(broker.port, base)["state"] == "stopped"
    assert "stopped cleanly" in agent.log()
    db = tmp_path / "data-gw-term" / "outbox.sqlite3"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0


def test_sigterm_while_broker_down_keeps_messages_on_disk(tmp_path: Path) -> None:
    agent, _, _ = _start(tmp_path, f"mqtt://127.0.0.1:{free_port()}", "gw-nobroker",
                         health={"interval_s": 1})
    db = tmp_path / "data-gw-nobroker" / "outbox.sqlite3"
    try:
        deadline = time.monotonic() + 30
        while _count_rows(db) < 2:  # health every 1 s, committed while the broker is away
            assert time.monotonic() < deadline, agent.log()[-2000:]
            time.sleep(0.2)
        agent.signal(signal.SIGTERM)
        assert agent.proc is not None
        assert agent.proc.wait(10) == 0
    finally:
        agent.stop()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT topic FROM messages").fetchall()
    assert len(rows) >= 2 and all(t.endswith("/health") for (t,) in rows)
    assert f"{len(rows)} message(s) wait in the outbox" in agent.log()


def _count_rows(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
    except sqlite3.Error:
        return 0  # not created yet


def test_sighup_refuses_broken_config_and_applies_good_one(broker: Broker,
                                                          tmp_path: Path) -> None:
    room = ControlRoom(broker.port, "commune/testsite/gw-hup/#")
    agent, config, base = _start(tmp_path, broker.url, "gw-hup")
    good_text = config.read_text()
    try:
        _status(room, base, "online")
        first = room.command(base, "config/get", {})["config_hash"]
        assert first == _digest(config)

        config.write_text(good_text + "mqtt_extra: 1\n")
        agent.signal(signal.SIGHUP)
        agent.wait_log("reload refused, keeping the running config", 30)
        assert "mqtt_extra" in agent.log()
        assert room.command(base, "config/get", {})["config_hash"] == first
        reply = room.command(base, "config/reload", {})
        assert reply["ok"] is False and "reload refused" in reply["error"]
        assert room.command(base, "ping", {})["ok"] is True

        config.write_text(good_text.replace("interval_s: 60", "interval_s: 30"))
        assert config.read_text() != good_text
        agent.signal(signal.SIGHUP)
        agent.wait_log("config reloaded", 30)
        second = room.command(base, "config/get", {})
        assert second["config_hash"] == _digest(config) != first
        assert second["config"]["health"]["interval_s"] == 30
        room.wait_for(lambda m: m.topic == f"{base}/status" and
                      m.json().get("config_hash") == second["config_hash"], 30)

        config.write_text(good_text)
        assert room.command(base, "config/reload", {})["config_hash"] == first
        assert agent.proc is not None and agent.proc.poll() is None
    finally:
        assert agent.stop() == 0
        room.close()


def test_last_will_offline_after_kill9(broker: Broker, tmp_path: Path) -> None:
    room = ControlRoom(broker.port, "commune/testsite/gw-lwt/#")
    agent, _, base = _start(tmp_path, broker.url, "gw-lwt", mqtt={"keepalive_s": 5})
    try:
        birth = _status(room, base, "online", 30)
        assert birth["version"] and birth["gateway"] == "gw-lwt"
        agent.kill9()
        will = _status(room, base, "offline", 12)
        assert will["gateway"] == "gw-lwt"
    finally:
        agent.stop()
        room.close()
    assert _retained_status(broker.port, base)["state"] == "offline"


def test_watch_shows_a_gateway_and_reports_an_unreachable_broker(broker: Broker,
                                                                  tmp_path: Path) -> None:
    room = ControlRoom(broker.port, "commune/testsite/gw-watch/#")
    agent, _, base = _start(tmp_path, broker.url, "gw-watch")
    watch = [sys.executable, "-m", "edge_agent", "watch", "--gateway", "gw-watch"]
    try:
        _status(room, base, "online")
        shown = subprocess.run([*watch, "--broker", broker.url, "--count", "1",
                                "--duration", "30"], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert "gw-watch/status (retained)" in shown.stdout and "state=online" in shown.stdout
    finally:
        assert agent.stop() == 0
        room.close()
    down = subprocess.run([*watch, "--broker", f"mqtt://127.0.0.1:{free_port()}",
                           "--duration", "5"], capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "cannot reach 127.0.0.1" in down.stderr
    assert "Traceback" not in down.stderr
