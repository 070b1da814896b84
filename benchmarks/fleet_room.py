"""The real control room as the fleet benchmark's consumer (``--consumer control-room``).

``control-room run -c FILE`` with a config written here (the broker's port, the
``control-room`` user of config/mosquitto/make-credentials, a fixed client id per worker and,
with several workers, ``mqtt.shared_group``), on SQLite or on a throwaway PostgreSQL cluster
(DESIGN §9, tests/infra/postgres). Per-message records are read back from its ``messages``
table: envelope ``ts``, ``stored_at`` (its batch's write, the commit follows it), gateway,
seq, replayed. The true ts -> commit time is the room's own histogram
``control_room_ingest_lag_seconds`` (live messages), read from each worker's /metrics.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import psutil
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from control_room.config import DatabaseSection
from control_room.sim.consumer import Record
from control_room.store import schema as t
from control_room.store.db import create_engine
from tests.infra.control_room_proc import RoomProcess, room_config
from tests.infra.fleet import ShippedBroker
from tests.infra.postgres import Postgres

ROOT = Path(__file__).resolve().parent.parent
GROUP = "ingest"
T = TypeVar("T")
# rows stored up to this long before the newest one seen are read again: a worker's batch
# may commit after a later-stamped batch of another worker
REREAD_S = 30.0


class ControlRoomConsumer:
    """N control-room workers (1: a plain persistent subscription; more: ``$share``)."""

    def __init__(self, work: Path, broker: ShippedBroker, password: str, db: str = "sqlite",
                 workers: int = 1, alert_for_s: float | None = None,
                 loss_grace_s: float = 60.0) -> None:
        self.name = f"control-room ({db}, {workers} worker{'s' if workers > 1 else ''})"
        self.work = work
        self.pg: Postgres | None = None
        if db == "postgresql":
            self.pg = Postgres.in_tmp().init().start()
            url = self.pg.create_database("fleet")
        else:
            url = f"sqlite:///{work / 'room' / 'control-room.db'}"
        self.db_url = url
        self.loss_grace_s = loss_grace_s  # the product's default; a test may shorten it
        self.rooms = [RoomProcess(work, self._config(i, broker, password, url, workers,
                                                     alert_for_s), name=f"room-{i + 1}")
                      for i in range(workers)]
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()  # the alert probe's thread reads the database too
        self._engine: AsyncEngine | None = None
        self._rows: dict[str, Record] = {}
        self._newest = 0.0

    def _config(self, i: int, broker: ShippedBroker, password: str, url: str, workers: int,
                alert_for_s: float | None) -> dict[str, Any]:
        mqtt: dict[str, Any] = {"username": "control-room", "password": password,
                                "client_id": f"fleet-room-{i + 1}"}
        if workers > 1:
            mqtt["shared_group"] = GROUP
        sections: dict[str, Any] = {"instance": f"fleet-{i + 1}", "mqtt": mqtt,
                                    "database": {"url": url, "retry_max_s": 2.0},
                                    "ingest": {"loss_grace_s": self.loss_grace_s},
                                    "alert_interval_s": 5.0,
                                    "log_level": "info"}
        if alert_for_s is not None:  # the hold time off: the figure is the pipeline's
            sections["alerts"] = {"gateway_offline": {"for_s": alert_for_s,
                                                      "resolve_after_s": 0}}
        config = room_config(self.work, broker.url, url, **sections)
        config["storage"]["data_dir"] = str(self.work / "room")
        return config

    # -- the Consumer protocol (benchmarks/fleet_run.py) ----------------------------------
    def start(self) -> None:
        # the first migrates the schema; the others start after it (they would wait anyway)
        for room in self.rooms:
            room.start(timeout=120)

    def kill(self) -> None:
        for room in self.rooms:
            if room.proc is not None:
                room.kill9()

    def stop(self) -> None:
        for room in self.rooms:
            room.stop()
        if self._engine is not None:
            self._run(self._engine.dispose())
        self._loop.close()
        if self.pg is not None:
            self.pg.cleanup()

    def pids(self) -> list[int]:
        return [r.proc.pid for r in self.rooms if r.proc is not None and r.proc.poll() is None]

    def db_pids(self) -> list[int]:
        """The PostgreSQL postmaster and its children (backends, writer, WAL writer) now;
        SQLite runs inside the room."""
        pid_file = self.pg.data / "postmaster.pid" if self.pg is not None else None
        if pid_file is None or not pid_file.exists():
            return []
        try:
            main = psutil.Process(int(pid_file.read_text().split()[0]))
            return [main.pid, *(c.pid for c in main.children(recursive=True))]
        except (psutil.Error, ValueError, IndexError):
            return []

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            return self._loop.run_until_complete(coro)

    def records(self) -> list[Record]:
        return self._run(self._records())

    def online_after(self, since: float, bases: set[str]) -> dict[str, Any]:
        return self._run(self._online_after(since, bases))

    def alert_status(self, key: str) -> str | None:
        """The status of alert ``key`` in the room's alerts table (None: no row)."""
        return self._run(self._alert_status(key))

    def lag_histogram(self) -> dict[float, float]:
        """The workers' ``control_room_ingest_lag_seconds`` buckets (le -> count), summed."""
        total: dict[float, float] = {}
        for room in self.rooms:
            if room.proc is None or not room.url:
                continue
            try:
                with urllib.request.urlopen(room.url + "/metrics", timeout=10) as response:
                    text = response.read().decode()
            except OSError:
                continue
            for le, count in re.findall(
                    r'^control_room_ingest_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', text,
                    re.MULTILINE):
                total[float(le)] = total.get(float(le), 0.0) + float(count)
        return total

    # -- reading its database ---------------------------------------------------------------
    def _db(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = create_engine(DatabaseSection(url=self.db_url))
        return self._engine

    async def _records(self) -> list[Record]:
        m = t.messages
        query = select(m.c.id, m.c.gateway_key, m.c.topic, m.c.seq, m.c.ts, m.c.stored_at,
                       m.c.replayed).where(m.c.stored_at >= self._newest - REREAD_S)
        async with self._db().connect() as conn:
            rows = (await conn.execute(query)).all()
            drops = (await conn.execute(select(t.dropped))).mappings().all()
        ranges: dict[tuple[str, float], list[str]] = {}
        for d in drops:  # an outbox/dropped message's ranges, found by its gateway and ts
            ranges.setdefault((d["gateway_key"], d["ts"]), []).append(
                f"{d['first']}-{d['last']}")
        for row in rows:
            self._newest = max(self._newest, row.stored_at)
            self._rows[row.id] = _record(row, ranges)
        return list(self._rows.values())

    async def _online_after(self, since: float, bases: set[str]) -> dict[str, Any]:
        """Back online after ``since`` by the room's own tables: the gateway row says online
        and a birth made after ``since`` was stored (a retained copy of the old birth, sent
        again when the room resubscribes, has an id already stored and is not)."""
        g, m = t.gateways, t.messages
        async with self._db().connect() as conn:
            online = {f"commune/{k}" for (k,) in await conn.execute(
                select(g.c.gateway_key).where(g.c.state == "online"))}
            births = (await conn.execute(select(m.c.gateway_key, m.c.stored_at).where(
                m.c.topic == "status", m.c.ts > since))).all()
        first: dict[str, float] = {}
        for key, stored in births:
            base = f"commune/{key}"
            if base in bases and base in online:
                first[base] = min(first.get(base, stored), stored)
        delays = sorted(t0 - since for t0 in first.values())
        return {"back_online": len(first), "of": len(bases),
                "all_online_s": round(delays[-1], 1) if len(first) == len(bases) else None,
                "median_online_s": round(delays[len(delays) // 2], 1) if delays else None}

    def judged(self) -> dict[str, int | None]:
        """Per gateway base, the seq its own completeness check has judged up to."""
        return self._run(self._judged())

    async def _judged(self) -> dict[str, int | None]:
        g = t.gateways.c
        async with self._db().connect() as conn:
            rows = await conn.execute(select(g.gateway_key, g.seq_checked))
        return {f"commune/{key}": checked for key, checked in rows}

    async def _alert_status(self, key: str) -> str | None:
        async with self._db().connect() as conn:
            found = (await conn.execute(select(t.alerts.c.status).where(
                t.alerts.c.key == key))).first()
        return str(found[0]) if found else None


def _record(row: Any, ranges: dict[tuple[str, float], list[str]]) -> Record:
    base = f"commune/{row.gateway_key}"
    ts = float(row.ts or 0.0)
    if row.topic == "status":  # not in the seq stream; births: see online_after
        return Record(row.stored_at, ts, base, "status:stored", int(row.seq or 0))
    if row.seq is None:
        return Record(row.stored_at, ts, base, "raw")
    kind = "seq"
    if row.topic == "outbox/dropped" and (row.gateway_key, row.ts) in ranges:
        kind = "dropped:" + ",".join(ranges[(row.gateway_key, row.ts)])
    return Record(row.stored_at, ts, base, kind, int(row.seq), bool(row.replayed))


def lag_percentiles(before: dict[float, float], after: dict[float, float]
                    ) -> dict[str, float | int | None]:
    """p50/p99 of ts -> commit over a window, as the upper bound of the histogram bucket
    they fall in (ms); ``None`` when the window saw no live message."""
    delta = sorted((le, after.get(le, 0.0) - before.get(le, 0.0)) for le in after)
    n = delta[-1][1] if delta else 0.0
    if n <= 0:
        return {"n": 0, "p50_le": None, "p99_le": None}
    out: dict[str, float | int | None] = {"n": int(n)}
    for name, q in (("p50_le", 0.5), ("p99_le", 0.99)):
        le = next(le for le, count in delta if count >= q * n)
        out[name] = None if le == float("inf") else round(le * 1000, 1)
    return out


class AlertProbe:
    """benchmarks/fleet_probe.py as a subprocess; ``trip()`` kills it (-9) and returns the
    seconds until the room's ``gateway_offline`` alert for it fired, then starts it again
    (online: the alert resolves, ready for the next trip)."""

    USER = "probe/gw-probe"
    KEY = f"gateway_offline:{USER}"

    def __init__(self, work: Path, port: int, password: str) -> None:
        self.log = work / "probe.log"
        self._args = [sys.executable, str(ROOT / "benchmarks" / "fleet_probe.py"), "--port",
                      str(port), f"--username={self.USER}", f"--password={password}"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        log = open(self.log, "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(self._args, stdout=log, stderr=log, cwd=ROOT)
        deadline = time.monotonic() + 60
        while "probe: online" not in self.log.read_text()[offset:]:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"alert probe did not come online: {self.log.read_text()}")
            time.sleep(0.1)

    def connects(self) -> int:
        return self.log.read_text().count("probe: online") if self.log.exists() else 0

    def trip(self, consumer: ControlRoomConsumer, timeout: float = 60.0,
             after_connects: int = 0) -> float | None:
        """``after_connects``: first wait until the probe has connected more often than
        that (after a broker restart: connected again, else there is no Will to send)."""
        assert self.proc is not None
        if _poll(lambda: self.connects() > after_connects, 60) is None:
            return None
        time.sleep(1.0)  # its birth stored before the kill
        self.proc.kill()
        self.proc.wait(10)
        killed = time.time()
        # seen by polling its row (not its fired_at: the engine stamps an evaluation with
        # the time it began, which can precede the data it read by a busy loop's delay)
        firing = _poll(lambda: consumer.alert_status(self.KEY) == "firing", timeout)
        self.start()
        # resolved (it is online again) before it may be tripped again
        _poll(lambda: consumer.alert_status(self.KEY) != "firing", timeout)
        return round(firing - killed, 2) if firing is not None else None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _poll(check: Callable[[], bool], timeout: float) -> float | None:
    """The time ``check()`` was first seen true (polled every 0.1 s), or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return time.time()
        except Exception as exc:  # the database may be busy or restarting
            print(f"alert probe: {type(exc).__name__}: {exc}", file=sys.stderr)
        time.sleep(0.1)
    return None
