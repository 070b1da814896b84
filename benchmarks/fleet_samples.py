"""Process figures over time for benchmarks/fleet.py: every ``every_s`` during the steady
phase, each process group's CPU % since the previous sample and its RSS, and the control
room's publish -> commit p50/p99 over that interval (its histogram's bucket bounds). A soak
asks whether RSS stays flat and p99 drifts: one figure per phase cannot say."""

from __future__ import annotations

import threading
import time
from typing import Any

from benchmarks.fleet_room import ControlRoomConsumer, lag_percentiles
from benchmarks.fleet_run import CpuSampler, Fleet


class Samples:
    def __init__(self, fleet: Fleet, room: ControlRoomConsumer | None, every_s: float) -> None:
        self.fleet = fleet
        self.room = room
        self.every_s = every_s
        self.rows: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Samples:
        self._thread.start()
        return self

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join(60)
        return self.rows

    def _run(self) -> None:
        cpu = CpuSampler()
        cpu.begin(self.fleet.pids())
        lag = self.room.lag_histogram() if self.room is not None else {}
        started = time.monotonic()
        while not self._stop.wait(self.every_s):
            pids = self.fleet.pids()
            usage = cpu.end(pids)
            cpu.begin(pids)
            row: dict[str, Any] = {"t_s": round(time.monotonic() - started), "processes": usage}
            if self.room is not None:
                now = self.room.lag_histogram()
                row["commit_lag_ms"] = lag_percentiles(lag, now)
                lag = now
            self.rows.append(row)


def summary(rows: list[dict[str, Any]]) -> str:
    """One line: the room's RSS and CPU and its commit p99, first / last / extremes."""
    if not rows:
        return "samples: none"
    rss = [r["processes"].get("consumer", {}).get("rss_mb", 0.0) for r in rows]
    cpu = [r["processes"].get("consumer", {}).get("cpu_percent", 0.0) for r in rows]
    p99 = [r.get("commit_lag_ms", {}).get("p99_le") for r in rows]
    known = [p for p in p99 if p is not None]
    return (f"samples ({len(rows)}, every {rows[0]['t_s']} s): room RSS {rss[0]} -> {rss[-1]} MB "
            f"(max {max(rss)}), room CPU {min(cpu)}-{max(cpu)} %, commit p99 "
            f"{p99[0]} -> {p99[-1]} ms (max {max(known) if known else None})")
