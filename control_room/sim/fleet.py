"""Many simulated gateways in one process, on one event loop.

Gateway ``n`` of a fleet is ``commune/{prefix}{n // per_site:04d}/gw-{n % per_site + 1}``
(600 communes x 5 gateways for a province). Starts are spread over ``spread_s`` so a fleet
started together does not connect in the same millisecond. SIGTERM/SIGINT: every gateway
flushes its outbox (bounded), says ``stopped`` and disconnects; SIGUSR1: a dusk burst.
A stats file (per-gateway last seq, pending, connects; process CPU and RSS) is rewritten
every few seconds, which is how ``benchmarks/fleet.py`` knows what was published.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from control_room.sim.behaviour import Behaviour, Rates, rng_for
from control_room.sim.gateway import GatewaySpec, SimGateway
from control_room.sim.link import LinkSettings
from control_room.sim.snapshots import Snapshots

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FleetConfig:
    link: LinkSettings
    gateways: int
    first: int = 0  # global index of the first gateway (sharding over processes)
    step: int = 1
    site_prefix: str = "sim-c"
    per_site: int = 5
    circuits: int = 5
    cameras: int = 3
    hotspots: int = 5
    rates: Rates = field(default_factory=Rates)
    spread_s: float = 10.0
    outbox_max: int = 20000
    seed: int = 1
    username: str | None = None  # a template: {site}, {gateway}
    password: str | None = None  # a template, or the value for every gateway
    credentials: dict[str, str] = field(default_factory=dict)  # username -> password
    stats_file: Path | None = None
    stats_every_s: float = 2.0
    dusk_burst_at: float | None = None  # seconds after start
    duration_s: float | None = None


def gateway_specs(cfg: FleetConfig) -> list[GatewaySpec]:
    specs = []
    for n in range(cfg.first, cfg.gateways, cfg.step):
        site, gateway = f"{cfg.site_prefix}{n // cfg.per_site:04d}", f"gw-{n % cfg.per_site + 1}"
        username = cfg.username.format(site=site, gateway=gateway) if cfg.username else None
        password = cfg.credentials.get(username or "") or (
            cfg.password.format(site=site, gateway=gateway) if cfg.password else None)
        specs.append(GatewaySpec(site, gateway, cfg.circuits, cfg.cameras, cfg.hotspots,
                                 username, password))
    return specs


class Fleet:
    def __init__(self, cfg: FleetConfig) -> None:
        self.cfg = cfg
        snapshots = Snapshots() if cfg.cameras else None
        self.gateways: list[SimGateway] = []
        self.behaviours: list[Behaviour] = []
        for spec in gateway_specs(cfg):
            gw = SimGateway(spec, cfg.link, rng=rng_for(spec.base, cfg.seed),
                            health_interval_s=cfg.rates.health_s, outbox_max=cfg.outbox_max)
            self.gateways.append(gw)
            self.behaviours.append(Behaviour(gw, cfg.rates, snapshots or _NO_SNAPSHOTS))
        self.started = time.time()
        self.bursts: list[float] = []
        self.loop_lag_max_s = 0.0  # worst event-loop delay since the last stats write
        self._stop = asyncio.Event()

    def burst(self) -> None:
        self.bursts.append(time.time())
        log.info("sim: dusk burst (%d gateways)", len(self.gateways))
        for behaviour in self.behaviours:
            behaviour.burst()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig, handler in ((signal.SIGTERM, self.stop), (signal.SIGINT, self.stop),
                             (signal.SIGUSR1, self.burst)):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, handler)
        if self.cfg.dusk_burst_at is not None:
            loop.call_later(self.cfg.dusk_burst_at, self.burst)
        if self.cfg.duration_s is not None:
            loop.call_later(self.cfg.duration_s, self.stop)
        rng = rng_for("spread", self.cfg.seed + self.cfg.first)
        tasks = [asyncio.create_task(gw.run(rng.uniform(0, self.cfg.spread_s)))
                 for gw in self.gateways]
        tasks += [asyncio.create_task(_quiet(b.run())) for b in self.behaviours]
        stats = asyncio.create_task(self._stats_loop())
        lag = asyncio.create_task(self._lag_probe())
        frozen = asyncio.create_task(self._freeze_long_lived())
        await self._stop.wait()
        lag.cancel()
        frozen.cancel()
        for t in tasks[len(self.gateways):]:
            t.cancel()  # behaviours first: nothing new after the stop
        await asyncio.gather(*(gw.stop() for gw in self.gateways))
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        stats.cancel()
        self.write_stats()

    async def _freeze_long_lived(self) -> None:
        """1,000 gateways are ~200,000 long-lived objects (clients, tasks, devices); every
        full garbage collection scanned them all: 250-560 ms pauses of the event loop,
        measured, collecting nothing. Once the fleet has connected, move them out of the
        collector's sight (gc.freeze) and collect the young generation less often; the
        messages themselves are freed by reference counting. Measured with 1,000 gateways:
        worst loop lag per 2 s went from 250-1,000 ms to mostly under 60 ms."""
        gc.set_threshold(50_000, 20, 20)
        await asyncio.sleep(self.cfg.spread_s + 5.0)
        gc.freeze()  # no gc.collect() first: that one full pass costs ~0.5-1 s here

    async def _lag_probe(self, tick_s: float = 0.1) -> None:
        """How late a 100 ms timer fires: the loop is saturated when this grows."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(tick_s)
            self.loop_lag_max_s = max(self.loop_lag_max_s, time.monotonic() - before - tick_s)

    async def _stats_loop(self) -> None:
        psutil.Process().cpu_percent()
        while True:
            await asyncio.sleep(self.cfg.stats_every_s)
            self.write_stats()

    def snapshot(self) -> dict[str, Any]:
        proc = psutil.Process()
        cpu = proc.cpu_times()
        return {"pid": os.getpid(), "time": time.time(), "started": self.started,
                "cpu_s": round(cpu.user + cpu.system, 2),
                "rss_mb": round(proc.memory_info().rss / 2**20, 1), "bursts": self.bursts,
                "loop_lag_max_ms": round(self.loop_lag_max_s * 1000, 1),
                "gateways": {gw.spec.base: gw.stats() for gw in self.gateways}}

    def write_stats(self) -> None:
        path = self.cfg.stats_file
        if path is None:
            return
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.snapshot()))
        tmp.replace(path)  # readers never see half a file
        self.loop_lag_max_s = 0.0


async def _quiet(coro: Any) -> None:
    """A behaviour that fails is logged, not fatal to the fleet (a real agent isolates
    its components the same way)."""
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("sim: a gateway's behaviour failed")


class _NoSnapshots(Snapshots):
    def __init__(self) -> None:
        self.images = [b"\xff\xd8\xff\xd9"]


_NO_SNAPSHOTS = _NoSnapshots()


def run_fleet(cfg: FleetConfig, on_ready: Callable[[Fleet], None] | None = None) -> None:
    async def main() -> None:
        fleet = Fleet(cfg)
        if on_ready is not None:
            on_ready(fleet)
        await fleet.run()

    asyncio.run(main())
