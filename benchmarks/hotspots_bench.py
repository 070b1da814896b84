"""How much CPU does hotspot monitoring cost, and does it keep the event loop responsive?

Runs the real hotspots component in-process against loopback TCP listeners (one per
hotspot) for a few seconds at several hotspot counts, and reports CPU seconds per probe
round, rounds done vs. expected, and the worst event-loop lag seen by a 10 ms ticker.
Prints a table and writes JSON (no assertions: machines are shared and noisy).

    .venv/bin/python benchmarks/hotspots_bench.py [--seconds 6] [--counts 10,50,200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import edge_agent.config  # noqa: F401  (loads the root model first)
from benchmarks.cleanup import stop_children_on_exit
from edge_agent.commands import CommandRouter
from edge_agent.hotspots.component import HotspotsComponent
from edge_agent.hotspots.config import HotspotConfig
from edge_agent.runtime import AgentContext, MessageClass, RetainedState


class CountingBus:
    def __init__(self) -> None:
        self.count = 0

    async def publish(self, topic: str, payload: Any, *, retain: bool = False, qos: int = 1,
                      message_class: MessageClass = MessageClass.STATE) -> None:
        self.count += 1


class NoHealth:
    def add_source(self, name: str, source: Any) -> None:
        return None


async def run_case(count: int, seconds: float, interval: float, data_dir: Path) -> dict[str, Any]:
    async def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    configs = [HotspotConfig.model_validate({
        "id": f"h{i}", "interval_s": interval, "stats_period_s": interval,
        "probes": [{"probe": "tcp", "host": "127.0.0.1", "port": port, "count": 1}]})
        for i in range(count)]

    async def no_reply(*_: Any) -> None:
        return None

    bus = CountingBus()
    ctx = AgentContext(config=cast(Any, None), config_path=None, bus=bus,
                       commands=CommandRouter("base", no_reply), health=NoHealth(),
                       mqtt_port=cast(Any, None), state=RetainedState(), data_dir=data_dir,
                       clock_synced=lambda: True, status=lambda: {})
    component = HotspotsComponent(configs)
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - before - 0.01)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    tick = asyncio.create_task(ticker())
    task = asyncio.create_task(component.run(ctx))
    await asyncio.sleep(seconds)
    task.cancel()
    tick.cancel()
    for t in (task, tick):
        with contextlib.suppress(asyncio.CancelledError):
            await t
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    server.close()
    rounds = sum(m.link.rounds for m in component.monitors.values())
    states = [m.machine.state.value for m in component.monitors.values()]
    return {"hotspots": count, "interval_s": interval, "seconds": round(wall, 2),
            "rounds": rounds, "rounds_expected": int(count * seconds / interval),
            "cpu_s": round(cpu, 3), "cpu_pct": round(100 * cpu / wall, 1),
            "cpu_ms_per_round": round(1000 * cpu / max(rounds, 1), 3),
            "worst_loop_lag_ms": round(max(lags, default=0) * 1000, 2),
            "p99_loop_lag_ms": round(sorted(lags)[int(0.99 * (len(lags) - 1))] * 1000, 2),
            "all_up": all(s == "up" for s in states), "published": bus.count}


def main() -> None:
    stop_children_on_exit()
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--counts", default="10,50,200")
    parser.add_argument("--json", default="benchmarks/hotspots_bench.json")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in [int(c) for c in args.counts.split(",")]:
            results.append(asyncio.run(run_case(count, args.seconds, args.interval,
                                                Path(tmp) / str(count))))
    head = ("hotspots", "rounds", "rounds_expected", "cpu_pct", "cpu_ms_per_round",
            "p99_loop_lag_ms", "worst_loop_lag_ms", "all_up")
    print(" | ".join(f"{h:>17}" for h in head))
    for r in results:
        print(" | ".join(f"{r[h]!s:>17}" for h in head))
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
