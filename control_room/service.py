"""``control-room run``: one worker. Migrates the store, connects to the broker, ingests,
serves the API; the leader (the one worker holding the PostgreSQL advisory lock; on SQLite
the only one) also judges seq completeness, evaluates the alerts and runs retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control_room import memwatch
from control_room.alerting import AlertRunner, Engine, Notifier, load_engine
from control_room.api.app import Extension, create_app
from control_room.commands import Commander
from control_room.config import ControlRoomConfig
from control_room.context import ServiceContext
from control_room.ingest import completeness
from control_room.ingest.pipeline import Ingest
from control_room.metrics import Metrics
from control_room.mqtt import MqttClient
from control_room.store import retention
from control_room.store.db import LEADER_LOCK_KEY, create_engine, migrate, redacted, with_retry
from control_room.store.snapshots import SnapshotStore

log = logging.getLogger(__name__)
LEADER_TICK_S = 5.0
RETENTION_EVERY_S = 3600.0
JUDGE_EVERY_S = 2.0  # the seq judge scans only what is new, but not after every batch


class Leadership:
    """SQLite: always the leader (one worker). PostgreSQL: whoever holds the advisory lock,
    on a connection kept open for that (the lock goes when the worker or its link dies)."""

    def __init__(self, db: AsyncEngine) -> None:
        self._db = db
        self._conn: AsyncConnection | None = None
        self.leader = db.dialect.name == "sqlite"

    async def check(self) -> bool:
        if self._db.dialect.name == "sqlite":
            return True
        try:
            if self._conn is None:
                self._conn = await self._db.connect()
                got = await self._conn.scalar(
                    text(f"SELECT pg_try_advisory_lock({LEADER_LOCK_KEY})"))
                await self._conn.commit()
                if not got:
                    await self._conn.close()
                    self._conn = None
            else:
                await self._conn.scalar(text("SELECT 1"))
                await self._conn.commit()
        except Exception as exc:
            log.warning("leadership check failed: %s", str(exc).splitlines()[0][:200])
            with contextlib.suppress(Exception):
                if self._conn is not None:
                    await self._conn.invalidate()
            self._conn = None
        was, self.leader = self.leader, self._conn is not None
        if was != self.leader:
            log.info("this worker %s the leader", "is now" if self.leader else "is no longer")
        return self.leader


class Service:
    def __init__(self, config: ControlRoomConfig, *, engine: Engine | None = None,
                 notifier: Notifier | None = None,
                 extensions: tuple[Extension, ...] = ()) -> None:
        self.config = config
        self.metrics = Metrics()
        self.db = create_engine(config.database)
        self.snapshots = SnapshotStore(config.storage.data_dir, config.storage.snapshot_quota_mb)
        self.ctx = ServiceContext(config, self.db, self.metrics, self.snapshots)
        self._engine, self._notifier = engine, notifier
        self._extensions = extensions
        self._stop = asyncio.Event()
        self.leadership = Leadership(self.db)
        self.http_port: int | None = None

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        log.info("control room %s: database %s", self.config.instance,
                 redacted(self.config.database))
        if not await self._until_stopped(with_retry(
                lambda: migrate(self.db), "migrations", self.config.database.retry_max_s)):
            await self.db.dispose()
            return  # stopped while waiting for the database
        self._setup_alerts()
        commander = Commander(self.config, self.db, None, self.metrics)
        ingest = Ingest(self.config, self.db, self.snapshots, self.metrics, lambda d: 0)
        mqtt = MqttClient(self.config, loop, ingest.submit, commander.on_reply,
                          lambda up: self.metrics.mqtt_up.set(1 if up else 0))
        ingest.ack = mqtt.ack
        commander.mqtt = mqtt
        self.ctx.commander, self.ctx.ingest, self.ctx.mqtt = commander, ingest, mqtt
        self.ctx.is_leader = lambda: self.leadership.leader
        runner = await self._start_http()
        mqtt.start()
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(ingest.run(), name="ingest"),
                         group.create_task(self._leader_loop(), name="leader")]
                if self._notifier is not None:
                    tasks.append(group.create_task(self._notifier.run(), name="notifier"))
                watch = memwatch.from_env(self.config.storage.data_dir)
                if watch is not None:  # diagnosis only (CONTROL_ROOM_MEMWATCH)
                    tasks.append(group.create_task(watch.run(), name="memwatch"))
                await self._stop.wait()
                log.info("stopping")
                for task in tasks:
                    task.cancel()
        finally:
            mqtt.stop()  # unacknowledged messages stay at the broker for the next start
            await runner.cleanup()
            await self.db.dispose()

    async def _until_stopped(self, work: Coroutine[Any, Any, Any]) -> bool:
        """Run ``work`` unless a stop is requested first (SIGTERM while the database is
        still down at start must not wait for it); True when the work finished."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return False
        task.result()
        return True

    def _setup_alerts(self) -> None:
        if self._engine is None:
            try:
                loaded = load_engine(self.config)
            except Exception as exc:
                log.error("alerts: the rule engine could not start: %s", exc)
                loaded = None
            if loaded is None:
                log.warning("alerts: no rule engine installed (control_room.alerts.rules); "
                            "alerts are not evaluated")
                return
            self._engine, self._notifier = loaded
        self.ctx.alerts = AlertRunner(self.config, self.db, self._engine, self._notifier)

    async def _start_http(self) -> web.AppRunner:
        app = create_app(self.ctx, self._extensions)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.http.host, self.config.http.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.http_port = sockets[0].getsockname()[1] if sockets else self.config.http.port
        log.info("api listening on http://%s:%s/", self.config.http.host, self.http_port)
        return runner

    async def _leader_loop(self) -> None:
        last_alerts = last_retention = last_judge = 0.0
        while True:
            try:
                if await self.leadership.check():
                    now = time.time()
                    if now - last_judge >= JUDGE_EVERY_S:
                        last_judge = now
                        await self._judge(now)
                    if self.ctx.alerts and now - last_alerts >= self.config.alert_interval_s:
                        last_alerts = now
                        await self.ctx.alerts.evaluate(datetime.fromtimestamp(now, UTC))
                        self.metrics.alert_evaluations.inc()
                    if now - last_retention >= RETENTION_EVERY_S:
                        last_retention = now
                        await self._retention(now)
            except Exception as exc:  # a failed pass is retried next tick, ingest goes on
                log.warning("leader tasks failed: %s", str(exc).splitlines()[0][:300])
            await asyncio.sleep(min(LEADER_TICK_S, self.config.alert_interval_s, JUDGE_EVERY_S))

    async def _judge(self, now: float) -> None:
        async with self.db.begin() as conn:  # short: ingest waits for it on judged gateways
            found = await completeness.judge(conn, now, self.config.ingest.loss_grace_s)
        for loss in found:
            self.metrics.losses.inc(loss.count)
            log.warning("LOSS: %s seq %d..%d (%d messages) never arrived and no "
                        "outbox/dropped explains them", loss.gateway_key, loss.first,
                        loss.last, loss.count)

    async def _retention(self, now: float) -> None:
        async with self.db.begin() as conn:
            rolled = await retention.roll_up(conn, now)
            expired = await retention.expire(conn, now, self.config.storage)
            keep = await retention.current_snapshots(conn)
        deleted = await asyncio.to_thread(self.snapshots.enforce_quota, keep)
        async with self.db.begin() as conn:
            await retention.forget_snapshots(conn, deleted)
        log.info("retention: %d roll-up rows, expired %s, %d snapshot files", rolled, expired,
                 len(deleted))
