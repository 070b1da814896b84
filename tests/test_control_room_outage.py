"""Nothing is lost: the control room killed with kill -9 in the middle of a burst, PostgreSQL
stopped for 30 s, a gateway's broker link cut for 60 s. The publisher is built from the
agent's own objects (``tests/infra/burst.py``: outbox, seq, MQTT link) and sends contract
motion events; completeness is checked on the stored event ids and by ``seq``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from control_room.config import DatabaseSection
from control_room.store import schema
from control_room.store.db import create_engine
from tests.infra.agent_proc import base_config, write_config
from tests.infra.broker import Broker
from tests.infra.burst_proc import BurstProcess
from tests.infra.control_room_proc import RoomProcess, room_config
from tests.infra.postgres import Postgres
from tests.infra.tcp_proxy import TcpProxy

KEY = "thon-b/gw-burst"


def motion_ids(db_url: str, run: str) -> list[str]:
    """Event ids of this run's motion events in the store (duplicates kept, to be counted)."""
    async def read() -> list[str]:
        engine = create_engine(DatabaseSection(url=db_url))
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(select(schema.events.c.data)
                                          .where(schema.events.c.kind == "motion"))
                return [r[0]["event_id"] for r in rows
                        if str(r[0].get("event_id", "")).startswith(run + "-")]
        finally:
            await engine.dispose()
    return asyncio.run(read())


def wait_stored(db_url: str, run: str, count: int, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        ids = motion_ids(db_url, run)
        if len(set(ids)) >= count or time.monotonic() > deadline:
            return ids
        time.sleep(0.5)


def assert_complete(db_url: str, run: str, accepted: list[int], room: RoomProcess,
                    key: str = KEY) -> None:
    ids = wait_stored(db_url, run, len(accepted), 120)
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} stored twice"
    assert set(ids) == {f"{run}-{k}" for k in accepted}
    # and by seq: the judge covered the whole stream (up to here) and found no hole
    stream_end = room.get("/api/gateways/" + key)["max_seq"]
    assert stream_end is not None, room.get("/api/gateways/" + key)
    gateway = room.wait_for("/api/gateways/" + key, lambda g: g["seq_checked"] >= stream_end,
                            60, f"seq judged up to {stream_end}")
    assert gateway["unexplained_loss"] == 0, room.get("/api/loss")
    assert room.get("/api/loss")["loss"] == []


def publisher(tmp_path: Path, url: str, run: str, site: str = "thon-b",
              **sections: Any) -> BurstProcess:
    config = write_config(tmp_path / "gw-burst.yaml", base_config(
        tmp_path, url, gateway="gw-burst", site=site, **sections))
    return BurstProcess(config, tmp_path / "gw-burst.log", run=run, topics=4, contract=True)


@pytest.mark.timeout(300)
def test_kill9_of_the_control_room_mid_burst_loses_nothing(
        tmp_path: Path, broker: Broker, db_url: str) -> None:
    room = RoomProcess(tmp_path, room_config(tmp_path, broker.url, db_url)).start()
    pub = publisher(tmp_path, broker.url, "k9")
    try:
        pub.send("burst 20000 2000")
        # three crashes while it works through the stream: each lands in a batch that is
        # being written (or not) - acknowledging before the commit loses messages at once
        for kill_at in (2000, 6000, 10000):
            while len(set(motion_ids(db_url, "k9"))) < kill_at:
                time.sleep(0.05)
            room.kill9()
            stored_at_kill = len(set(motion_ids(db_url, "k9")))
            assert stored_at_kill < 20000, "the kill must land in the middle of the stream"
            room.start()
        pub.wait_line("BURST-DONE", 120)
        assert_complete(db_url, "k9", pub.accepted, room)
        assert len(pub.accepted) == 20000
    finally:
        pub.quit()
        room.stop()
    assert "Traceback" not in room.log()


@pytest.mark.timeout(300)
def test_postgres_down_30s_ingest_waits_and_loses_nothing(
        tmp_path: Path, broker: Broker, pg_cluster: Postgres) -> None:
    db_url = pg_cluster.create_database("t_" + uuid.uuid4().hex[:12])
    room = RoomProcess(tmp_path, room_config(tmp_path, broker.url, db_url)).start()
    pub = publisher(tmp_path, broker.url, "pg")
    try:
        pub.send("burst 1000 500")
        assert len(set(wait_stored(db_url, "pg", 1000, 60))) == 1000
        pg_cluster.stop()
        stopped = time.monotonic()
        try:
            pub.send("burst 5000 500")
            pub.wait_line("BURST-DONE", 60)
            room.wait_log("database unavailable during ingest", 30)
            code, health = room.api("/healthz")
            assert code == 503 and health["database_error"], health
            assert health["ingest"]["pending"] > 0, "messages wait, unacknowledged"
            _a_start_waiting_for_the_database_stops_on_sigterm(tmp_path, broker, db_url)
            time.sleep(max(0.0, 30.0 - (time.monotonic() - stopped)))
        finally:
            pg_cluster.start()
        assert_complete(db_url, "pg", pub.accepted, room)
        assert len(pub.accepted) == 6000
        room.wait_log("database back after", 30)
        assert room.api("/healthz")[0] == 200
    finally:
        pub.quit()
        room.stop()
    assert "Traceback" not in room.log()


def _a_start_waiting_for_the_database_stops_on_sigterm(tmp_path: Path, broker: Broker,
                                                       db_url: str) -> None:
    late = RoomProcess(tmp_path, room_config(tmp_path, broker.url, db_url, instance="late"),
                       "late")
    log = open(late.log_path, "ab")  # noqa: SIM115 - closed below
    late.proc = subprocess.Popen([sys.executable, "-m", "control_room", "run", "-c",
                                  str(late.config_path)], stdout=log, stderr=log)
    try:
        late.wait_log("database unavailable during migrations", 30)
        started = time.monotonic()
        assert late.stop(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        log.close()


@pytest.mark.timeout(300)
def test_gateway_link_cut_60s_replay_is_complete_by_seq(
        tmp_path: Path, broker: Broker, pg_cluster: Postgres) -> None:
    """One control room on SQLite and one on PostgreSQL watch the same gateway at once (the
    60 s cut is paid once for both databases)."""
    urls = [f"sqlite:///{tmp_path}/room.db",
            pg_cluster.create_database("t_" + uuid.uuid4().hex[:12])]
    proxy = TcpProxy(broker.port).start()
    rooms = [RoomProcess(tmp_path, room_config(tmp_path, broker.url, url, instance=name),
                         name).start() for name, url in zip(("sqlite", "pg"), urls,
                                                            strict=True)]
    pub = publisher(tmp_path, proxy.url, "cut", mqtt={"keepalive_s": 5},
                    health={"interval_s": 2})
    try:
        pub.send("burst 500 100")
        for url in urls:
            assert len(set(wait_stored(url, "cut", 500, 60))) == 500
        proxy.cut()
        cut_at = time.monotonic()
        pub.send("burst 3000 100")
        pub.wait_line("BURST-DONE", 60)
        for room in rooms:
            room.wait_for("/api/gateways/" + KEY, lambda g: g["state"] == "offline", 30,
                          "the gateway's Last Will")
        for url in urls:
            assert len(set(motion_ids(url, "cut"))) == 500, "nothing passes a cut link"
        time.sleep(max(0.0, 60.0 - (time.monotonic() - cut_at)))
        proxy.restore()
        for url, room in zip(urls, rooms, strict=True):
            room.wait_for("/api/gateways/" + KEY, lambda g: g["state"] == "online", 60,
                          "the gateway back online")
            assert_complete(url, "cut", pub.accepted, room)
        assert len(pub.accepted) == 3500
    finally:
        pub.quit()
        proxy.close()
        for room in rooms:
            room.stop()
    for room in rooms:
        assert "Traceback" not in room.log()


async def test_pending_counts_the_batch_waiting_for_the_database(tmp_path: Path) -> None:
    """While the database is down every message the broker let through can sit in the one
    batch being retried, with the queue empty: ``pending`` (healthz, the metric) still
    counts them until they are stored and acknowledged. Nothing listens on the port: a real
    refused connection, the outage ``with_retry`` waits out."""
    import socket

    from control_room.config import ControlRoomConfig
    from control_room.ingest.pipeline import Ingest
    from control_room.metrics import Metrics
    from control_room.mqtt import Delivery
    from control_room.store.snapshots import SnapshotStore

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    config = ControlRoomConfig(database={"url": f"postgresql://test@127.0.0.1:{port}/x",
                                         "retry_max_s": 0.5})
    engine = create_engine(config.database)
    acked: list[Delivery] = []
    ingest = Ingest(config, engine, SnapshotStore(tmp_path, 10), Metrics(), acked.extend)
    for mid in range(3):
        ingest.submit(Delivery("commune/s1/gw-1/health", b"{}", 1, mid, 0, time.time(), False))
    task = asyncio.create_task(ingest.run())
    try:
        async with asyncio.timeout(30):
            while ingest.db_error is None:  # noqa: ASYNC110 - a field, no event
                await asyncio.sleep(0.01)
        assert ingest.pending == 3, ingest.stats()
        assert acked == []
    finally:
        task.cancel()
        await engine.dispose()
