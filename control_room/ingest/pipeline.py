"""The ingest loop: take what arrived within ``batch_ms`` (at most ``batch_max``), classify,
store snapshot files, write everything in one transaction, and only then acknowledge.

While the database is down the batch is retried (with backoff) and nothing is
acknowledged: the broker keeps the messages (up to our Receive Maximum in flight, the rest
queued in the persistent session).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from control_room.config import ControlRoomConfig
from control_room.ingest.classify import Accepted, Rejected, classify
from control_room.metrics import Metrics
from control_room.mqtt import Delivery
from control_room.store.db import with_retry
from control_room.store.snapshots import SnapshotStore
from control_room.store.writer import BatchResult, write_batch

log = logging.getLogger(__name__)


class Ingest:
    def __init__(self, config: ControlRoomConfig, engine: AsyncEngine, snapshots: SnapshotStore,
                 metrics: Metrics, ack: Callable[[Iterable[Delivery]], int]) -> None:
        self._cfg = config
        self._engine = engine
        self._snapshots = snapshots
        self._metrics = metrics
        self.ack = ack
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.committed = 0  # messages committed and acknowledged since start
        self.last_commit: float | None = None
        self.db_error: str | None = None
        # taken off the queue, not yet acknowledged: during an outage the whole in-flight
        # window can sit in the batch being retried while the queue is empty
        self._in_process = 0

    def submit(self, delivery: Delivery) -> None:
        """Called on the event loop (``call_soon_threadsafe`` from paho's thread)."""
        self._queue.put_nowait(delivery)
        self._metrics.pending.inc()

    @property
    def pending(self) -> int:
        """Messages received and not yet acknowledged (queued or in the batch being written)."""
        return self._queue.qsize() + self._in_process

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            deadline = time.monotonic() + self._cfg.ingest.batch_ms / 1000
            while len(batch) < self._cfg.ingest.batch_max:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
                # take what is already queued without a timer per message
                while not self._queue.empty() and len(batch) < self._cfg.ingest.batch_max:
                    batch.append(self._queue.get_nowait())
            self._in_process = len(batch)
            try:
                await self.process(batch)
            finally:
                self._in_process = 0

    async def process(self, batch: list[Delivery]) -> None:
        accepted: list[Accepted] = []
        rejected: list[Rejected] = []
        snapshot_limit = int(self._cfg.ingest.snapshot_max_mb * 1024 * 1024)
        for d in batch:
            item = classify(self._cfg.mqtt.root, d.topic, d.payload, d.received_at,
                            snapshot_limit, d.retain)
            if item is None:
                self._metrics.ignored.inc()
            elif isinstance(item, Rejected):
                log.info("quarantined %s: %s", d.topic[:200], item.reason)
                rejected.append(item)
            else:
                accepted.append(item)
        stored = await self._store_snapshots(accepted)
        started = time.monotonic()
        try:
            result = await self._write_retrying(accepted, rejected, stored)
        except Exception:  # not an outage: a bug or a row the database refuses
            log.exception("ingest: a batch of %d could not be stored; storing its messages "
                          "one by one", len(batch))
            result = await self._one_by_one(accepted, rejected, stored)
        self._metrics.db_latency.observe(time.monotonic() - started)
        self.ack(batch)
        self._account(batch, accepted, result)

    async def _write_retrying(self, accepted: list[Accepted], rejected: list[Rejected],
                              stored: dict[int, str]) -> BatchResult:
        return await with_retry(lambda: self._write(accepted, rejected, stored), "ingest",
                                self._cfg.database.retry_max_s, self._db_state)

    async def _one_by_one(self, accepted: list[Accepted], rejected: list[Rejected],
                          stored: dict[int, str]) -> BatchResult:
        """The messages that fail alone go to quarantine with the database's reason, so
        one poison message never stalls ingest (nor crash-loops the service)."""
        total = BatchResult()
        poison = list(rejected)
        for m in accepted:
            try:
                part = await self._write_retrying([m], [], stored)
            except Exception as exc:
                reason = f"could not be stored: {type(exc).__name__}: {exc}".splitlines()[0]
                poison.append(Rejected(f"{self._cfg.mqtt.root}/{m.key}/{m.relative}",
                                       reason[:500], m.key, m.message.raw, m.received_at,
                                       m.msg_id, m.seq, m.relative))  # its seq arrived
                continue
            total.stored += part.stored
            total.duplicates += part.duplicates
            for kind, count in part.per_kind.items():
                total.per_kind[kind] += count
        total.quarantined = (await self._write_retrying([], poison, stored)).quarantined
        return total

    async def _write(self, accepted: list[Accepted], rejected: list[Rejected],
                     stored: dict[int, str]) -> BatchResult:
        async with self._engine.begin() as conn:
            return await write_batch(conn, accepted, rejected, stored,
                                     self._cfg.ingest.quarantine_keep_bytes)

    async def _store_snapshots(self, accepted: list[Accepted]) -> dict[int, str]:
        stored: dict[int, str] = {}
        for m in accepted:
            if m.message.spec.model is None and m.message.raw:
                stored[id(m)] = await self._snapshots.put(m.message.raw)
        return stored

    def _db_state(self, error: str | None) -> None:
        self.db_error = error
        self._metrics.db_up.set(0 if error else 1)

    def _account(self, batch: list[Delivery], accepted: list[Accepted],
                 result: BatchResult) -> None:
        now = time.time()
        m = self._metrics
        m.pending.dec(len(batch))
        m.batches.inc()
        m.duplicates.inc(result.duplicates)
        m.quarantined.inc(result.quarantined)
        for kind, count in result.per_kind.items():
            m.ingested.labels(kind).inc(count)
        for item in accepted:
            made = item.made_at
            # a retained copy (resent at every resubscription) is old by nature, a replay
            # was late at the gateway, a Last Will is dated when its connection began:
            # none says how long the ingest took
            if made is not None and not item.retained and item.kind != "status" \
                    and not item.body.get("replayed"):
                m.lag.observe(max(0.0, now - made))
        self.committed += len(batch)
        self.last_commit = now

    def stats(self) -> dict[str, Any]:
        return {"pending": self.pending, "committed": self.committed,
                "last_commit": self.last_commit, "db_error": self.db_error}
