"""Gateway health: CPU, RAM, disk, SoC temperature, outbox, uptime, components, clock."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil

from edge_agent.outbox import Outbox
from edge_agent.runtime import AgentContext, HealthSource, MessageClass

log = logging.getLogger(__name__)

THERMAL_ZONES = Path("/sys/class/thermal")
FIRST_REPORT_DELAY_S = 2.0


def soc_temperature_c(zones: Path = THERMAL_ZONES) -> float | None:
    """The SoC/CPU temperature from the kernel's thermal zones, None when there is none."""
    best: float | None = None
    for zone in sorted(zones.glob("thermal_zone*")):
        try:
            kind = (zone / "type").read_text().strip().lower()
            millideg = int((zone / "temp").read_text().strip())
        except (OSError, ValueError):
            continue
        if best is None or any(word in kind for word in ("cpu", "soc", "x86_pkg")):
            best = millideg / 1000.0
    return best


class HealthReporter:
    """Publishes ``health`` every interval; other components add fields with add_source."""

    name = "health"

    def __init__(self, outbox: Outbox, data_dir: Path, boot_time: float,
                 extra: Callable[[], Mapping[str, Any]] | None = None) -> None:
        self._outbox = outbox
        self._data_dir = data_dir
        self._boot_time = boot_time
        self._extra = extra
        self._sources: dict[str, HealthSource] = {}
        psutil.cpu_percent(interval=None)  # the first call only primes the counter

    def add_source(self, name: str, source: HealthSource) -> None:
        self._sources[name] = source

    def sample(self) -> dict[str, Any]:
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(str(self._data_dir)) if self._data_dir.exists() else None
        body: dict[str, Any] = {
            "cpu_percent": psutil.cpu_percent(interval=None),
            "ram_used_mb": round((memory.total - memory.available) / 2**20, 1),
            "ram_total_mb": round(memory.total / 2**20, 1),
            "disk_free_mb": round(disk.free / 2**20, 1) if disk else None,
            "disk_used_percent": disk.percent if disk else None,
            "soc_temp_c": soc_temperature_c(),
            "uptime_s": round(time.time() - self._boot_time, 1),
            "process_rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
            "outbox": self._outbox.stats().as_dict(),
        }
        if self._extra is not None:
            body.update(self._extra())
        for name, source in self._sources.items():
            try:
                body[name] = dict(source())
            except Exception as exc:  # a broken source must not stop health reports
                body[name] = {"error": f"{type(exc).__name__}: {exc}"}
        return body

    async def run(self, ctx: AgentContext) -> None:
        interval = ctx.config.health.interval_s
        # the first report waits briefly, so it says whether the link came up rather than
        # the "not connected yet" of the first milliseconds after start
        await asyncio.sleep(min(FIRST_REPORT_DELAY_S, interval))
        while True:
            await ctx.bus.publish("health", self.sample(), retain=False,
                                  message_class=MessageClass.TELEMETRY)
            await asyncio.sleep(interval)
