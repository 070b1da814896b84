"""Durable outbox: every QoS 1 message is on disk before it is sent and leaves after PUBACK.

SQLite in WAL mode with ``synchronous=FULL`` (a power cut loses nothing committed), but
commits are grouped: ``put`` waits for the next group commit, so a burst of messages costs
one fsync, not one each (SD cards wear out). All database work runs on one dedicated thread,
so a slow fsync never blocks the event loop.

Bounded in bytes. When full, it drops in this order and counts what it dropped:
telemetry (oldest first) → superseded retained state → state → events (last).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.runtime import MessageClass

# sqlite-utils imports numpy whenever it is installed (for numpy column types, unused here):
# ~17 MB of RSS on a gateway without cameras. Hide numpy from that one import.
_HIDE_NUMPY = "numpy" not in sys.modules and "sqlite_utils" not in sys.modules
if _HIDE_NUMPY:
    sys.modules["numpy"] = None  # type: ignore[assignment]  # "import numpy" now fails
try:
    import sqlite_utils
finally:
    if _HIDE_NUMPY:
        del sys.modules["numpy"]

log = logging.getLogger(__name__)

SEQ_BLOCK = 10_000  # seq values reserved on disk ahead of use, so seq survives a crash


@dataclass(slots=True)
class OutgoingMessage:
    topic: str  # absolute MQTT topic
    payload: bytes
    qos: int = 1
    retain: bool = False
    message_class: MessageClass = MessageClass.STATE
    is_json: bool = True  # a JSON object: replays get "replayed": true spliced in
    props: dict[str, Any] | None = None  # MQTT 5 properties (response to a command)
    accepted_at: float = field(default_factory=time.time)


@dataclass(slots=True, frozen=True)
class StoredMessage:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    is_json: bool
    props: dict[str, Any] | None
    accepted_at: float

    def payload_for_send(self, replayed: bool) -> bytes:
        if replayed and self.is_json and self.payload.startswith(b"{"):
            rest = self.payload[1:].lstrip()
            return b'{"replayed":true' + (b"," if rest != b"}" else b"") + rest
        return self.payload


@dataclass(slots=True, frozen=True)
class OutboxStats:
    depth: int
    bytes: int
    max_bytes: int
    oldest_age_s: float | None
    dropped: dict[str, int]
    write_failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"depth": self.depth, "bytes": self.bytes, "max_bytes": self.max_bytes,
                "oldest_age_s": self.oldest_age_s, "dropped": dict(self.dropped),
                "write_failures": self.write_failures}


_CREATE_MESSAGES = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    cls INTEGER NOT NULL,
    is_json INTEGER NOT NULL,
    props TEXT,
    accepted_at REAL NOT NULL,
    size INTEGER NOT NULL
)"""


class Outbox:
    def __init__(self, path: Path, *, max_bytes: int, commit_window_s: float = 0.05) -> None:
        self._path = path
        self.max_bytes = max_bytes
        self._window = commit_window_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-db")
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[OutgoingMessage, asyncio.Future[int]]] = []
        self._acked: list[int] = []
        self._wake = asyncio.Event()
        self._new_rows = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._seq = 0
        self._seq_reserved = 0
        self._bytes = 0
        self._depth = 0
        self._oldest: float | None = None
        self._dropped = {cls.name.lower(): 0 for cls in MessageClass}
        self.dropped_not_connected = 0  # QoS 0 messages that had no link (never stored)
        self.write_failures = 0  # messages the database refused (disk full, I/O error)
        self._closing = False

    # -- lifecycle ---------------------------------------------------------------------
    async def open(self) -> None:
        await self._run(self._open_sync)
        self._writer = asyncio.create_task(self._writer_loop(), name="outbox-writer")

    async def close(self) -> None:
        """Commit everything accepted so far and close the database."""
        if self._writer is not None:
            # let the writer finish the commit it may be in (a cancel would tell those
            # producers "not stored" while the database thread stores them anyway)
            self._closing = True
            self._wake.set()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        await self._flush()
        await self._run(self._close_sync)
        self._executor.shutdown(wait=True)

    # -- producer side -----------------------------------------------------------------
    def next_seq(self) -> int:
        self._seq += 1
        if self._seq >= self._seq_reserved - SEQ_BLOCK // 2:
            self._wake.set()  # the writer extends the reservation in its next commit
        return self._seq

    async def put(self, message: OutgoingMessage) -> int:
        """Accept a message; returns its outbox id once it is committed to disk."""
        if self._writer is None or self._writer.done():
            raise RuntimeError("the outbox is not running")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((message, future))
        self._wake.set()
        return await future

    # -- sender side -------------------------------------------------------------------
    async def fetch_after(self, after_id: int, limit: int = 500) -> list[StoredMessage]:
        return await self._run(self._fetch_sync, after_id, limit)

    @property
    def new_rows(self) -> asyncio.Event:
        """Set whenever a commit added rows; the sender clears it before each fetch."""
        return self._new_rows

    def ack(self, message_id: int) -> None:
        """The broker has it (PUBACK): delete it with the next commit."""
        self._acked.append(message_id)
        self._wake.set()  # the writer's commit window still groups them into one commit

    def stats(self) -> OutboxStats:
        age = None if self._oldest is None else max(0.0, time.time() - self._oldest)
        return OutboxStats(self._depth, self._bytes, self.max_bytes, age, dict(self._dropped),
                           self.write_failures)

    # -- internals ---------------------------------------------------------------------
    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _writer_loop(self) -> None:
        last_commit = 0.0
        while not self._closing:  # close() sets it and wakes us; it then flushes the rest
            await self._wake.wait()
            if self._closing:
                return
            # Group commit: a message after a quiet spell is committed at once (low latency);
            # under load, commits are at least one window apart and take everything that
            # arrived meanwhile (one fsync for the whole group: SD cards wear out).
            wait = last_commit + self._window - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._wake.clear()
            last_commit = time.monotonic()
            try:
                await self._flush()
            except Exception as exc:  # the producers of that batch were told; keep going
                log.error("outbox: cannot write to %s: %s", self._path, exc)
                await asyncio.sleep(1.0)
                self._wake.set()

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        acked, self._acked = self._acked, []
        reserve = self._seq + SEQ_BLOCK if self._seq >= self._seq_reserved - SEQ_BLOCK // 2 \
            else None
        if not batch and not acked and reserve is None:
            return
        try:
            ids = await self._run(self._commit_sync, [m for m, _ in batch], acked, reserve)
        except BaseException as exc:
            self.write_failures += len(batch)
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc if isinstance(exc, Exception) else
                                      RuntimeError("outbox closed"))
            self._acked = acked + self._acked
            raise
        for (_, fut), row_id in zip(batch, ids, strict=True):
            if not fut.done():
                fut.set_result(row_id)
        if batch:
            self._new_rows.set()

    # -- database thread ---------------------------------------------------------------
    def _open_sync(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        db = sqlite_utils.Database(conn)
        db.enable_wal()
        conn.execute("PRAGMA synchronous=FULL")
        if "messages" not in db.table_names():
            # AUTOINCREMENT: ids never come back after deletes, so the sender's cursor
            # (send everything with id > cursor) can never skip a new row.
            conn.execute(_CREATE_MESSAGES)
            conn.execute("CREATE INDEX IF NOT EXISTS messages_cls ON messages(cls, id)")
            conn.execute("CREATE INDEX IF NOT EXISTS messages_topic ON messages(topic, id)")
        if "meta" not in db.table_names():
            sqlite_utils.db.Table(db, "meta").create({"key": str, "value": int}, pk="key")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        self._seq = int(meta.get("seq_reserved", 0))
        self._seq_reserved = self._seq + SEQ_BLOCK
        self._set_meta(conn, {"seq_reserved": self._seq_reserved})
        self._reload_counters(conn)
        self._conn = conn
        if self._depth:
            log.info("outbox: %d message(s) from before the restart will be replayed",
                     self._depth)

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            self._conn = None

    @staticmethod
    def _set_meta(conn: sqlite3.Connection, values: dict[str, int]) -> None:
        conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) "
                         "DO UPDATE SET value = excluded.value", list(values.items()))

    def _commit_sync(self, batch: Sequence[OutgoingMessage], acked: Sequence[int],
                     reserve: int | None) -> list[int]:
        conn = self._require_conn()
        ids: list[int] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            if acked:
                self._delete_ids(conn, acked)
            for m in batch:
                cur = conn.execute(
                    "INSERT INTO messages(topic, payload, qos, retain, cls, is_json, props, "
                    "accepted_at, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (m.topic, m.payload, m.qos, int(m.retain), int(m.message_class),
                     int(m.is_json), json.dumps(m.props) if m.props else None,
                     m.accepted_at, len(m.payload) + len(m.topic)))
                ids.append(int(cur.lastrowid or 0))
                self._depth += 1
                self._bytes += len(m.payload) + len(m.topic)
                if self._oldest is None or m.accepted_at < self._oldest:
                    self._oldest = m.accepted_at
            if self._bytes > self.max_bytes:
                self._enforce_bound(conn)
            if reserve is not None:
                self._seq_reserved = reserve
                self._set_meta(conn, {"seq_reserved": reserve})
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite already rolled back on e.g. SQLITE_FULL
                conn.execute("ROLLBACK")
            self._reload_counters(conn)  # the rolled-back batch changed them in memory
            raise
        return ids

    def _reload_counters(self, conn: sqlite3.Connection) -> None:
        depth, size, oldest = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(accepted_at) FROM messages").fetchone()
        self._depth, self._bytes, self._oldest = depth, size, oldest
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        self._seq_reserved = int(meta.get("seq_reserved", self._seq_reserved))
        for name in self._dropped:
            self._dropped[name] = int(meta.get(f"dropped_{name}", 0))

    def _delete_ids(self, conn: sqlite3.Connection, ids: Sequence[int]) -> None:
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            count, size = conn.execute(
                f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM messages WHERE id IN ({marks})",
                chunk).fetchone()
            conn.execute(f"DELETE FROM messages WHERE id IN ({marks})", chunk)
            self._depth -= count
            self._bytes -= size
        first = conn.execute("SELECT accepted_at FROM messages ORDER BY id LIMIT 1").fetchone()
        self._oldest = first[0] if first else None

    def _enforce_bound(self, conn: sqlite3.Connection) -> None:
        """Drop by policy until under the bound; counters persist with the same commit."""
        victim_queries = [
            ("telemetry", "SELECT id, size FROM messages WHERE cls = 0 ORDER BY id LIMIT 1000"),
            ("state", "SELECT m.id, m.size FROM messages m WHERE m.cls = 1 AND m.retain = 1 "
                      "AND EXISTS (SELECT 1 FROM messages n WHERE n.topic = m.topic "
                      "AND n.id > m.id) ORDER BY m.id LIMIT 1000"),
            ("state", "SELECT id, size FROM messages WHERE cls = 1 ORDER BY id LIMIT 1000"),
            ("event", "SELECT id, size FROM messages WHERE cls = 2 ORDER BY id LIMIT 1000"),
        ]
        for class_name, query in victim_queries:
            while self._bytes > self.max_bytes:
                rows = conn.execute(query).fetchall()
                if not rows:
                    break
                victims: list[int] = []
                freed = 0
                for row_id, size in rows:
                    if self._bytes - freed <= self.max_bytes:
                        break
                    victims.append(row_id)
                    freed += size
                self._delete_ids(conn, victims)
                self._dropped[class_name] += len(victims)
        self._set_meta(conn, {f"dropped_{k}": v for k, v in self._dropped.items()})
        log.warning("outbox: full (%d bytes max); dropped so far %s", self.max_bytes,
                    self._dropped)

    def _fetch_sync(self, after_id: int, limit: int) -> list[StoredMessage]:
        conn = self._require_conn()
        rows = conn.execute(
            "SELECT id, topic, payload, qos, retain, is_json, props, accepted_at FROM messages "
            "WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
        return [StoredMessage(r[0], r[1], bytes(r[2]), r[3], bool(r[4]), bool(r[5]),
                              json.loads(r[6]) if r[6] else None, r[7]) for r in rows]

    def _require_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("outbox is not open")
        return self._conn
