"""Control-room ingest into SQLite and into PostgreSQL, beside a raw batched-insert loop on
the same database, in one run; then publish → commit latency at a fixed rate.

Run: ``.venv/bin/python benchmarks/control_room.py [--messages 30000] [--rate 2000]
[--seconds 10] [--only sqlite|postgresql] [--workers 2]``. Starts its own mosquitto and a throwaway
PostgreSQL cluster (DESIGN §9) and the real control room as a subprocess (manual ack after
commit, as in production). Prints a table, writes ``benchmarks/results/control_room.json``.
Goals (issue 12): ingest ≥ 0.5× the raw insert loop and ≥ 5,000 msg/s on both databases;
publish → commit p99 ≤ 500 ms at 2,000 msg/s.

Messages are contract motion events (``camera/{id}/motion``, the heaviest common kind: an
envelope id logged, an event row, the camera's latest event upserted) from 10 gateways with
dense ``seq``. The raw loop inserts the same number of rows of the same size into one
table, 1000 per transaction, with the same driver: what the database can take at best.
Latency: the message ``ts`` is the publish time (same machine, same clock); the control
room's ``control_room_ingest_lag_seconds`` histogram measures ts → commit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as paho  # noqa: E402
import psutil  # noqa: E402
from sqlalchemy import JSON, Column, Float, MetaData, String, Table, func, select  # noqa: E402

import contract  # noqa: E402
from control_room.config import DatabaseSection  # noqa: E402
from control_room.store import schema  # noqa: E402
from control_room.store.db import create_engine  # noqa: E402
from tests.infra.broker import Broker  # noqa: E402
from tests.infra.control_room_proc import RoomProcess, room_config  # noqa: E402
from tests.infra.postgres import Postgres  # noqa: E402

GATEWAYS = 10
BATCH = 1000


def motion(gw: int, seq: int, now: float) -> tuple[str, bytes]:
    body = {"v": 1, "ts": contract.utc_iso(now), "id": uuid.uuid4().hex, "seq": seq,
            "camera": "gate", "event": "update", "event_id": f"ev-{gw}-{seq}",
            "started_at": contract.utc_iso(now), "boxes": [[0.1, 0.2, 0.3, 0.4]],
            "zones": ["road"], "score": 0.2, "peak_score": 0.3, "duration_s": 1.5}
    return f"commune/bench/gw-{gw}/camera/gate/motion", contract.encode(body)


class Publisher:
    """A plain paho QoS 1 publisher playing 10 gateways (dense seq per gateway)."""

    def __init__(self, port: int) -> None:
        self.seq = [0] * GATEWAYS
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-pub",
                                  protocol=paho.MQTTv5)
        self.client.max_inflight_messages_set(0)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, count: int, rate: float | None = None) -> float:
        started = time.monotonic()
        info = None
        for n in range(count):
            gw = n % GATEWAYS
            self.seq[gw] += 1
            if rate:
                delay = started + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            topic, payload = motion(gw, self.seq[gw], time.time())
            info = self.client.publish(topic, payload, qos=1)
        if info is not None:
            info.wait_for_publish(120)
        return time.monotonic() - started

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def raw_insert_rate(db_url: str, count: int) -> float:
    """Rows/s of a plain batched insert (1000 per transaction) with the same driver."""
    engine = create_engine(DatabaseSection(url=db_url))
    meta = MetaData()
    table = Table("bench_raw", meta, Column("id", String(64), primary_key=True),
                  Column("topic", String(300)), Column("ts", Float), Column("data", JSON))
    _, sample = motion(0, 1, time.time())
    data = json.loads(sample)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)
        started = time.monotonic()
        for first in range(0, count, BATCH):
            rows = [{"id": uuid.uuid4().hex, "topic": "camera/gate/motion", "ts": time.time(),
                     "data": data} for _ in range(min(BATCH, count - first))]
            async with engine.begin() as conn:
                await conn.execute(table.insert(), rows)
        return count / (time.monotonic() - started)
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(meta.drop_all)
        await engine.dispose()


async def stored(db_url: str) -> int:
    engine = create_engine(DatabaseSection(url=db_url))
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(schema.events)
                                         .where(schema.events.c.kind == "motion")) or 0)
    finally:
        await engine.dispose()


def wait_stored(db_url: str, count: int, timeout: float) -> float:
    """Seconds until ``count`` motion events are committed (polled every 0.1 s)."""
    started = time.monotonic()
    while asyncio.run(stored(db_url)) < count:
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"only {asyncio.run(stored(db_url))}/{count} stored")
        time.sleep(0.1)
    return time.monotonic() - started


def lag_quantiles(room: RoomProcess) -> dict[str, float | None]:
    with urllib.request.urlopen(room.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        if line.startswith("control_room_ingest_lag_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le),
                            float(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1] if buckets else 0
    return {f"p{int(q * 100)}_s": _quantile(buckets, total, q) for q in (0.5, 0.99)} | {
        "within_0.5s": next((c / total for le, c in buckets if le == 0.5), None) if total
        else None, "samples": total}


def _quantile(buckets: list[tuple[float, float]], total: float, q: float) -> float | None:
    """Upper bound of the histogram bucket holding the q-quantile (conservative)."""
    if not total:
        return None
    return next(le for le, count in buckets if count >= q * total)


def run_database(name: str, db_url: str, broker: Broker, tmp: Path,
                 args: argparse.Namespace) -> dict[str, Any]:
    raw = asyncio.run(raw_insert_rate(db_url, args.messages))
    room = RoomProcess(tmp, room_config(tmp, broker.url, db_url, instance=f"bench-{name}",
                                        ingest={"loss_grace_s": 30}), f"room-{name}")
    room.start()
    publisher = Publisher(broker.port)
    try:
        publisher.publish(200)  # warm up: gateway rows exist, caches filled
        wait_stored(db_url, 200, 60)
        assert room.proc is not None
        cpu = psutil.Process(room.proc.pid)
        cpu_before = sum(cpu.cpu_times()[:2])
        load_before = psutil.getloadavg()[0]
        started = time.monotonic()
        publish_s = publisher.publish(args.messages)
        wait_stored(db_url, 200 + args.messages, 300)
        elapsed = time.monotonic() - started
        room_cpu_us = (sum(cpu.cpu_times()[:2]) - cpu_before) / args.messages * 1e6
        load = (load_before + psutil.getloadavg()[0]) / 2
        room.stop()  # a fresh histogram for the fixed-rate run
        room.start()
        count = int(args.rate * args.seconds)
        publisher.publish(count, rate=args.rate)
        wait_stored(db_url, 200 + args.messages + count, 120)
        lag = lag_quantiles(room)
    finally:
        publisher.close()
        room.stop()
    ingest = args.messages / elapsed
    return {"database": name, "raw_insert_per_s": round(raw), "ingest_per_s": round(ingest),
            "ratio": round(ingest / raw, 2), "publish_per_s": round(args.messages / publish_s),
            "latency_rate_per_s": args.rate, "latency": lag,
            "room_cpu_us_per_msg": round(room_cpu_us), "load_average": round(load, 2)}


def scale_out(db_url: str, broker: Broker, tmp: Path, args: argparse.Namespace,
              already: int) -> dict[str, Any]:
    """Ingest rate of ``args.workers`` workers on a shared subscription (PostgreSQL)."""
    rooms = [RoomProcess(tmp, room_config(tmp, broker.url, db_url, instance=f"bench-w{i}",
                                          mqtt={"shared_group": "bench"},
                                          ingest={"loss_grace_s": 30}), f"room-w{i}")
             for i in range(args.workers)]
    publisher = Publisher(broker.port)
    try:
        for room in rooms:
            room.start()
        publisher.seq = [already // GATEWAYS + 1000] * GATEWAYS  # a new stretch of seq
        started = time.monotonic()
        publisher.publish(args.messages)
        wait_stored(db_url, already + args.messages, 300)
        elapsed = time.monotonic() - started
    finally:
        publisher.close()
        for room in rooms:
            room.stop()
    return {"database": f"postgresql x{args.workers}", "ingest_per_s":
            round(args.messages / elapsed), "workers": args.workers}


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=30000)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--workers", type=int, default=2,
                        help="then N PostgreSQL workers on a shared subscription (1: skip)")
    args = parser.parse_args()
    # SIGTERM as well as Ctrl-C: unwind through the finally blocks, stopping every child
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (&)
    tmp = Path(tempfile.mkdtemp(prefix="bench-control-room-"))
    broker = Broker(tmp / "mosquitto").start()
    cluster: Postgres | None = None
    results = []
    try:
        if args.only in (None, "sqlite"):
            results.append(run_database("sqlite", f"sqlite:///{tmp}/bench.db", broker,
                                        tmp, args))
        if args.only in (None, "postgresql"):
            cluster = Postgres.in_tmp().init().start()
            url = cluster.create_database("bench")
            results.append(run_database("postgresql", url, broker, tmp, args))
            if args.workers > 1:
                already = 200 + args.messages + int(args.rate * args.seconds)
                results.append(scale_out(url, broker, tmp, args, already))
    finally:
        broker.stop()
        if cluster is not None:
            cluster.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, args)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\ncontrol room ingest, {args.messages} motion events from {GATEWAYS} gateways "
          f"({platform.node()}, {platform.processor() or platform.machine()})")
    print(f"{'database':<11} {'raw insert/s':>12} {'ingest/s':>9} {'ratio':>6} "
          f"{'cpu us/msg':>10} {'load':>5} {'p50 lag':>8} {'p99 lag':>8} {'<=0.5s':>7}"
          f"  (lag at {args.rate:g} msg/s)")
    for r in results:
        if "workers" in r:
            print(f"{r['database']:<11} {'':>12} {r['ingest_per_s']:>9}  (shared subscription)")
            continue
        lag = r["latency"]
        within = lag["within_0.5s"]
        print(f"{r['database']:<11} {r['raw_insert_per_s']:>12} {r['ingest_per_s']:>9} "
              f"{r['ratio']:>6} {r['room_cpu_us_per_msg']:>10} {r['load_average']:>5} "
              f"{_s(lag['p50_s']):>8} {_s(lag['p99_s']):>8} "
              f"{(f'{within:.1%}' if within is not None else '-'):>7}")
    print("goals: ratio >= 0.5, ingest >= 5000/s, p99 <= 0.5 s at 2000 msg/s "
          "(p50/p99: upper bound of the histogram bucket; cpu: the control room process, "
          "all threads, per message; load: 1-min load average of the machine, "
          f"{psutil.cpu_count()} CPUs)")
    out = ROOT / "benchmarks" / "results" / "control_room.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"when": contract.utc_iso(time.time()), "args": vars(args),
                               "results": results}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:g}s"


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("benchmark interrupted; the processes it started are stopped", file=sys.stderr)
        sys.exit(130)
