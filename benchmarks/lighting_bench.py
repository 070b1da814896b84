"""What does evaluating a schedule cost? (The service evaluates every circuit every pass.)

For the commune (19.9 N, astral path) and Tromsø (69.65 N, where days near the polar
transitions are scanned), measures ``evaluate()`` per call with warm caches (the steady
state: the service asks about the same days again and again), with both caches (sun events,
windows) cleared before every call (random instants across a year), and a whole year of
``plan()``. Prints a table and writes JSON; no assertions.

    .venv/bin/python benchmarks/lighting_bench.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import edge_agent.config  # noqa: F401  (loads the root model first)
from benchmarks.cleanup import stop_children_on_exit
from edge_agent.lighting.schedule import Location, Rule, _windows, evaluate, plan
from edge_agent.lighting.sun import sun_events

PLACES = {"commune": (Location(19.9, 105.4), ZoneInfo("Asia/Ho_Chi_Minh")),
          "tromso": (Location(69.65, 18.96), ZoneInfo("Europe/Oslo"))}
RULES = [Rule.make("night", "sunset+15m", "sunrise-10m"),
         Rule.make("dim", "23:00", "04:30", state=False),
         Rule.make("weekend", "18:00", "00:30", weekdays=["fri-sat"])]


def per_call_us(fn: Any, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n * 1e6


def bench(name: str, calls: int) -> dict[str, Any]:
    loc, tz = PLACES[name]
    base = datetime(2026, 11, 22, 12, tzinfo=UTC)
    sun_events.cache_clear()
    _windows.cache_clear()
    warm = per_call_us(lambda i: evaluate(RULES, None, False, base + timedelta(seconds=i),
                                          loc, tz), calls)
    rng = random.Random(1)
    instants = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.uniform(0, 3.15e7))
                for _ in range(calls)]

    def cold_call(i: int) -> None:
        sun_events.cache_clear()
        _windows.cache_clear()
        evaluate(RULES, None, False, instants[i], loc, tz)

    cold = per_call_us(cold_call, calls // 4)
    sun_events.cache_clear()
    _windows.cache_clear()
    start = time.perf_counter()
    for d in range(365):
        plan(RULES, None, False, date(2026, 1, 1) + timedelta(days=d), loc, tz)
    year_s = time.perf_counter() - start
    return {"place": name, "evaluate_warm_us": round(warm, 1),
            "evaluate_cold_us": round(cold, 1), "plan_365_days_s": round(year_s, 3)}


def main() -> None:
    stop_children_on_exit()
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" /
                                                 "lighting.json"))
    args = parser.parse_args()
    rows = [bench(name, args.calls) for name in PLACES]
    print(f"{'place':<10} {'evaluate warm µs':>17} {'evaluate cold µs':>17} "
          f"{'plan 365 d (s)':>15}")
    for r in rows:
        print(f"{r['place']:<10} {r['evaluate_warm_us']:>17} {r['evaluate_cold_us']:>17} "
              f"{r['plan_365_days_s']:>15}")
    Path(args.output).parent.mkdir(exist_ok=True)
    Path(args.output).write_text(json.dumps({"calls": args.calls, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
