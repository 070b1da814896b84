"""The hotspots component: schedules every hotspot's rounds, publishes their state, answers
``cmd/hotspot/{id}/probe`` and adds a per-hotspot summary to ``health``.

Scheduling: hotspot *i* of *n* starts its rounds at ``i/n`` of its interval, so dozens of
hotspots do not all probe at the same instant; each hotspot has its own task (a dead target
only delays itself) and a shared semaphore bounds the probes running at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from contract.hotspots import ProbeCommandReply
from drivers.probes import ProbeResult
from edge_agent.config.model import AgentConfig
from edge_agent.hotspots.config import HotspotConfig
from edge_agent.hotspots.service import Clock, HotspotMonitor
from edge_agent.hotspots.state import FLAP_WINDOW_S, State, Transition
from edge_agent.hotspots.uptime import DAY_S, UptimeLedger, UptimeStore
from edge_agent.runtime import AgentContext, CommandError, CommandRequest, Component, MessageClass

log = logging.getLogger(__name__)

MAX_CONCURRENT_PROBES = 16
FLUSH_S = 60.0  # uptime seconds are written to SQLite this often (and at stop)
UPTIME_DB = "hotspots.sqlite3"


class HotspotsComponent:
    name = "hotspots"

    def __init__(self, configs: list[HotspotConfig], *,
                 max_concurrent: int = MAX_CONCURRENT_PROBES, wall: Clock = time.time,
                 mono: Clock = time.monotonic, flush_s: float = FLUSH_S) -> None:
        self.configs = configs
        self.max_concurrent = max_concurrent
        self.wall = wall
        self.mono = mono
        self.flush_s = flush_s
        self.monitors: dict[str, HotspotMonitor] = {}
        self.ledger = UptimeLedger()
        self.store: UptimeStore | None = None
        self._ctx: AgentContext | None = None
        self._last_published: dict[str, float] = {}
        # Held while ledger seconds move to SQLite and while a payload combines stored totals
        # with the pending ledger: otherwise a payload could miss (or count twice) the
        # seconds of a write in flight.
        self._uptime_lock = asyncio.Lock()

    async def run(self, ctx: AgentContext) -> None:
        self._ctx = ctx
        try:
            self.store = await asyncio.to_thread(UptimeStore, ctx.data_dir / UPTIME_DB)
        except Exception as exc:  # monitoring matters more than the uptime history
            log.error("hotspots: cannot open %s (%s); uptime will not be kept",
                      ctx.data_dir / UPTIME_DB, exc)
            self.store = None
        semaphore = asyncio.Semaphore(self.max_concurrent)
        self.monitors = {c.id: HotspotMonitor(c, semaphore, self.ledger, wall=self.wall,
                                              mono=self.mono) for c in self.configs}
        await self._restore_history()
        ctx.commands.register("hotspot", "probe", self._probe_command)
        ctx.health.add_source("hotspots", self.health)
        try:
            for monitor in self.monitors.values():  # retained "unknown" until the first round
                await self.publish(monitor)
            async with asyncio.TaskGroup() as tg:
                count = len(self.monitors)
                for index, monitor in enumerate(self.monitors.values()):
                    offset = monitor.config.interval_s * index / count
                    tg.create_task(self._loop(monitor, offset), name=f"hotspot-{monitor.id}")
                tg.create_task(self._flush_loop(), name="hotspot-uptime-flush")
        finally:
            ctx.commands.unregister_all("hotspot")
            for monitor in self.monitors.values():
                with contextlib.suppress(Exception):
                    await asyncio.shield(monitor.close())
            # a few rows; losing them at stop would lose uptime
            await asyncio.shield(self._flush(close=True))

    async def _loop(self, monitor: HotspotMonitor, offset: float) -> None:
        """Fixed-rate rounds: a round that overruns skips the slots it missed."""
        interval = monitor.config.interval_s
        start = self.mono() + offset
        await asyncio.sleep(offset)
        slot = 0
        while True:
            _, transition = await self._round(monitor)
            last = self._last_published.get(monitor.id, 0.0)
            if transition is not None or self.mono() - last >= monitor.config.stats_period_s:
                await self.publish(monitor)
            slot = max(slot + 1, int((self.mono() - start) / interval) + 1)
            await asyncio.sleep(max(0.0, start + slot * interval - self.mono()))

    async def _round(self, monitor: HotspotMonitor) -> tuple[list[ProbeResult],
                                                            Transition | None]:
        results, transition = await monitor.round()
        if transition is not None and self.store is not None:
            store = self.store
            try:
                await _to_thread_to_the_end(store.add_transition, monitor.id, transition.at,
                                            transition.old.value, transition.new.value)
            except Exception as exc:  # history is a nicety; monitoring goes on
                log.error("hotspots: cannot save a state change: %s", exc)
        return results, transition

    async def _restore_history(self) -> None:
        """Flaps of the last hour and the last state's ``since`` survive a restart."""
        if self.store is None:
            return
        store, since = self.store, self.wall() - FLAP_WINDOW_S
        for monitor in self.monitors.values():
            try:
                last, at, flaps = await asyncio.to_thread(store.history, monitor.id, since)
            except Exception as exc:
                log.error("hotspots: cannot read the state history: %s", exc)
                return
            monitor.machine.restore(State(last) if last else None, at, flaps)

    async def publish(self, monitor: HotspotMonitor) -> dict[str, Any]:
        assert self._ctx is not None
        self._last_published[monitor.id] = self.mono()
        stored = None
        async with self._uptime_lock:
            store, now = self.store, self.wall()
            if store is not None:
                try:
                    stored = await asyncio.to_thread(
                        lambda: (store.totals(monitor.id, now - DAY_S),
                                 store.totals(monitor.id, now - 30 * DAY_S)))
                except Exception as exc:  # e.g. a damaged file: publish without uptime
                    log.error("hotspots: cannot read uptime: %s", exc)
            payload = monitor.payload(stored)
        await self._ctx.bus.publish(f"hotspot/{monitor.id}/state", payload, retain=True,
                                    message_class=MessageClass.STATE)
        return payload

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            await self._flush()

    async def _flush(self, close: bool = False) -> None:
        """Move the ledger's seconds to SQLite. The ledger is only touched on the loop (the
        monitors record into it there); the worker thread gets a detached copy."""
        async with self._uptime_lock:
            entries, store, now = self.ledger.take(), self.store, self.wall()
            if store is None:
                return
            await _to_thread_to_the_end(_write_uptime, store, entries, now, close)
            if close:
                self.store = None

    async def _probe_command(self, req: CommandRequest) -> dict[str, Any]:
        monitor = self.monitors.get(req.subject or "")
        if monitor is None:
            known = ", ".join(sorted(self.monitors)) or "none"
            raise CommandError(f"unknown hotspot {req.subject!r} (known: {known})")
        results, _ = await self._round(monitor)
        state = await self.publish(monitor)
        reply = ProbeCommandReply.model_validate({
            "hotspot": monitor.id, "reachable": any(r.received > 0 for r in results),
            "probes": [r.as_dict() for r in results], "state": state})
        return reply.model_dump(mode="json", exclude_none=True)

    def health(self) -> dict[str, Any]:
        counts = {"up": 0, "degraded": 0, "down": 0, "unknown": 0}
        per: dict[str, Any] = {}
        for hotspot_id, monitor in self.monitors.items():
            summary = monitor.summary()
            counts[summary["state"]] += 1
            per[hotspot_id] = summary
        return {**counts, "hotspots": per}


async def _to_thread_to_the_end(func: Callable[..., None], *args: Any) -> None:
    """``asyncio.to_thread`` that, when cancelled, still waits for the thread (then re-raises).
    A cancelled ``to_thread`` leaves its write running or still queued for a worker: under load
    it could land after the final flush had closed the store (its seconds lost) or after stop
    returned, and the caller's lock was already released."""
    write = asyncio.ensure_future(asyncio.to_thread(func, *args))
    cancelled = False
    while not write.done():
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            cancelled = True  # one SQLite statement: wait for it, then stop
    if cancelled:
        raise asyncio.CancelledError
    write.result()


def _write_uptime(store: UptimeStore, entries: dict[tuple[str, int], dict[str, float]],
                  now: float, close: bool) -> None:
    try:
        if entries:
            store.write(entries, now)
    except Exception as exc:  # a full disk must not stop monitoring
        log.error("hotspots: cannot save uptime: %s", exc)
    finally:
        if close:
            store.close()


def build_components(config: AgentConfig) -> list[Component]:
    return [HotspotsComponent(list(config.hotspots))]
