"""The hotspots component in-process: rounds spread over the interval, bounded concurrency,
the health summary. Real loopback servers; the agent context is assembled from the real bus,
outbox (on disk), command router, health reporter and retained-state cache; only the MQTT
link is left out (that path is covered by test_hotspot_agent.py), so what the component
published is read back from the outbox file."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web

from edge_agent.bus import Bus
from edge_agent.commands import CommandRouter
from edge_agent.health import HealthReporter
from edge_agent.hotspots.component import HotspotsComponent
from edge_agent.hotspots.config import HotspotConfig
from edge_agent.hotspots.uptime import UptimeLedger, UptimeStore
from edge_agent.outbox import Outbox
from edge_agent.runtime import AgentContext, RetainedState

BASE = "commune/testsite/gw-hotspots"
Published = list[tuple[str, dict[str, Any], bool]]


class Gateway:
    """The agent's real publishing path without the MQTT link: envelope -> bus -> outbox on
    disk (nothing sends, so every message stays there and is read back from the file), the
    real command router and health reporter."""

    def __init__(self, ctx: AgentContext, outbox_path: Path, health: HealthReporter) -> None:
        self.ctx = ctx
        self.outbox_path = outbox_path
        self.health = health

    def sent(self) -> Published:
        """(topic under the base, payload, retained) of every message accepted so far."""
        with sqlite3.connect(f"file:{self.outbox_path}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT topic, payload, retain FROM messages ORDER BY id")
            return [(t.removeprefix(BASE + "/"), json.loads(p), bool(r)) for t, p, r in rows]

    def hotspots_health(self) -> dict[str, Any]:
        return dict(self.health.sample()["hotspots"])


@contextlib.asynccontextmanager
async def gateway(tmp_path: Path, data_dir: Path | None = None) -> AsyncIterator[Gateway]:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, max_bytes=16 * 2**20, commit_window_s=0.01)
    await outbox.open()
    state = RetainedState()
    bus = Bus(BASE, outbox, state)
    health = HealthReporter(outbox, tmp_path, time.time())
    ctx = AgentContext(config=cast(Any, None), config_path=None, bus=bus,
                       commands=CommandRouter(BASE, bus.publish_reply), health=health,
                       mqtt_port=cast(Any, None), state=state, data_dir=data_dir or tmp_path,
                       clock_synced=lambda: True, status=lambda: {})
    try:
        yield Gateway(ctx, path, health)
    finally:
        await outbox.close()


async def tcp_hotspot(hotspot_id: str, interval_s: float
                      ) -> tuple[asyncio.Server, HotspotConfig]:
    """A local TCP server that accepts and closes, and a hotspot probing it every round."""
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = HotspotConfig.model_validate({
        "id": hotspot_id, "interval_s": interval_s, "stats_period_s": interval_s,
        "probes": [{"probe": "tcp", "host": "127.0.0.1", "port": port, "count": 1}]})
    return server, config


@contextlib.asynccontextmanager
async def running(component: HotspotsComponent, ctx: AgentContext) -> AsyncIterator[None]:
    task = asyncio.create_task(component.run(ctx))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_rounds_are_spread_over_the_interval(tmp_path: Path) -> None:
    first_seen: dict[int, float] = {}

    def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = writer.get_extra_info("sockname")[1]
        first_seen.setdefault(port, time.monotonic())
        writer.close()

    servers = [await asyncio.start_server(on_connect, "127.0.0.1", 0) for _ in range(4)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    configs = [HotspotConfig.model_validate({
        "id": f"h{i}", "interval_s": 8.0,
        "probes": [{"probe": "tcp", "host": "127.0.0.1", "port": port, "count": 1}]})
        for i, port in enumerate(ports)]
    component = HotspotsComponent(configs)
    async with gateway(tmp_path) as gw, running(component, gw.ctx):
        for _ in range(600):  # poll, up to ~30 s: each answered its first round, published
            if len(first_seen) == 4 and gw.hotspots_health()["up"] == 4 and \
                    len({t for t, body, _ in gw.sent() if body.get("state") == "up"}) == 4:
                break
            await asyncio.sleep(0.05)
        summary = gw.hotspots_health()
        sent = gw.sent()
        ctx = gw.ctx
    for server in servers:
        server.close()
    assert len(first_seen) == 4
    starts = [first_seen[p] for p in ports]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # hotspot i starts at i/4 of the 8 s interval: ~2 s apart, never all at once (an 8 s
    # interval leaves room for a loaded CI machine's hiccups of up to ~0.8 s)
    assert all(1.2 < g < 2.8 for g in gaps), gaps
    # all four answer: all four up, none degraded, down or unknown
    assert (summary["up"], summary["degraded"], summary["down"], summary["unknown"]) == \
        (4, 0, 0, 0), summary
    assert set(summary["hotspots"]) == {"h0", "h1", "h2", "h3"}
    states = [(topic, body) for topic, body, retain in sent if retain]
    assert states and len(states) == len(sent), "hotspot states are retained"
    assert {topic for topic, _ in states} == {f"hotspot/h{i}/state" for i in range(4)}
    assert all({"v", "ts", "seq", "id"} <= set(body) for _, body in states)  # the envelope
    for i in range(4):
        state = ctx.state.get(f"hotspot/h{i}/state")
        assert isinstance(state, Mapping) and state["state"] == "up", (i, state)


@pytest.fixture
async def slow_server() -> AsyncIterator[tuple[str, dict[str, int]]]:
    gauge = {"now": 0, "max": 0, "total": 0}

    async def slow(_: web.Request) -> web.Response:
        gauge["now"] += 1
        gauge["total"] += 1
        gauge["max"] = max(gauge["max"], gauge["now"])
        try:
            await asyncio.sleep(0.3)
        finally:
            gauge["now"] -= 1
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.get("/", slow)])
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/", gauge
    await runner.cleanup()


async def test_concurrency_is_bounded_and_probe_command_runs_a_round(
        tmp_path: Path, slow_server: tuple[str, dict[str, int]]) -> None:
    url, gauge = slow_server
    config = HotspotConfig.model_validate({
        "id": "school", "interval_s": 60,
        "probes": [{"probe": "http", "name": f"page{i}", "url": url} for i in range(6)]})
    component = HotspotsComponent([config], max_concurrent=2)
    async with gateway(tmp_path) as gw, running(component, gw.ctx):
        for _ in range(600):  # wait for the first scheduled round (up to ~30 s)
            if gauge["total"] >= 6:
                break
            await asyncio.sleep(0.05)
        reply = await gw.ctx.commands.execute("hotspot/school/probe", {})
    assert reply["ok"] is True, reply
    assert [p["probe"] for p in reply["probes"]] == [f"page{i}" for i in range(6)]
    assert all(p["ok"] for p in reply["probes"])
    assert reply["state"]["state"] == "up"
    assert gauge["total"] == 12 and gauge["max"] == 2  # six probes, never more than two


async def test_unusable_data_dir_still_monitors_without_uptime(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    server, config = await tcp_hotspot("clinic", 0.2)
    async with gateway(tmp_path, data_dir=blocker) as gw, \
            running(HotspotsComponent([config]), gw.ctx):
        for _ in range(600):  # poll, up to ~30 s
            if any(p.get("state") == "up" for _, p, _ in gw.sent()):
                break
            await asyncio.sleep(0.05)
        sent = gw.sent()
    server.close()
    up = [p for _, p, _ in sent if p.get("state") == "up"]
    assert up and up[-1]["uptime_24h_pct"] is None


class LoopOnlyLedger(UptimeLedger):
    """Records which threads touch the ledger and how many seconds went into it."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self.recorded = 0.0

    def record(self, hotspot: str, state: str, start: float, end: float) -> None:
        self.threads.add(threading.get_ident())
        if state in ("up", "degraded", "down") and end > start:
            self.recorded += end - start
        super().record(hotspot, state, start, end)

    def take(self) -> dict[tuple[str, int], dict[str, float]]:
        self.threads.add(threading.get_ident())
        return super().take()


async def test_uptime_ledger_is_only_touched_on_the_loop_and_loses_nothing(
        tmp_path: Path) -> None:
    """Flushes hand SQLite a detached copy: a take() in a worker thread while the loop records
    could lose seconds or fail with 'dictionary changed size during iteration'."""
    server, config = await tcp_hotspot("market", 0.1)
    component = HotspotsComponent([config], flush_s=0.02)
    ledger = LoopOnlyLedger()
    component.ledger = ledger
    async with gateway(tmp_path) as gw, running(component, gw.ctx):
        for _ in range(600):  # poll, up to ~30 s
            if ledger.recorded > 0.5:
                break
            await asyncio.sleep(0.05)
    server.close()
    assert ledger.threads == {threading.get_ident()}
    assert ledger.recorded > 0.5
    store = UptimeStore(tmp_path / "hotspots.sqlite3")  # flushed and closed at stop
    up, degraded, down = store.totals("market", 0.0)
    store.close()
    assert up + degraded + down == pytest.approx(ledger.recorded, abs=1e-6)


async def test_a_flush_in_flight_at_stop_is_on_disk_when_stop_returns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A loaded machine (or a slow SD card) is late running the flush thread. The delay is
    put into ``UptimeStore.write`` (a seam: the real write follows it): stop arrives while a
    periodic flush is in its thread. When ``run`` returns, those seconds are in the file -
    not written later by an abandoned thread, nor refused by a store closed under it."""
    slow_write_started = threading.Event()
    real_write = UptimeStore.write

    def slow_write(store: UptimeStore, entries: Any, now: float) -> None:
        slow_write_started.set()
        time.sleep(0.5)
        real_write(store, entries, now)

    monkeypatch.setattr(UptimeStore, "write", slow_write)
    server, config = await tcp_hotspot("market", 0.1)
    component = HotspotsComponent([config], flush_s=0.05)
    ledger = LoopOnlyLedger()
    component.ledger = ledger
    async with gateway(tmp_path) as gw, running(component, gw.ctx):
        async with asyncio.timeout(30):
            while not slow_write_started.is_set() or ledger.recorded <= 0.3:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            slow_write_started.clear()
            while not slow_write_started.is_set():  # noqa: ASYNC110 - set in a thread
                await asyncio.sleep(0.02)  # the stop lands inside this write
    server.close()
    store = UptimeStore(tmp_path / "hotspots.sqlite3")
    up, degraded, down = store.totals("market", 0.0)
    store.close()
    assert ledger.recorded > 0.3
    assert up + degraded + down == pytest.approx(ledger.recorded, abs=1e-6)
