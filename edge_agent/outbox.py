"""Durable outbox: every QoS 1 message is on disk before it is sent and leaves after PUBACK.

SQLite in WAL mode with ``synchronous=FULL`` (a power cut loses nothing committed), but
commits are grouped: ``put`` waits for the next group commit, so a burst of messages costs
one fsync, not one each (SD cards wear out). All database work runs on one dedicated thread,
so a slow fsync never blocks the event loop.

Bounded in bytes. When full, it drops in this order and counts what it dropped:
telemetry (oldest first) → superseded retained state → state → events (last), and stores
one ``outbox/dropped`` message naming the dropped ``seq`` ranges in the same commit.

``seq``: every *sequenced* message (JSON under the gateway's base topic) gets the next
number in the commit that stores it, so the stream is dense: no crash, restart or
reconnect can skip a number. A hole that no ``outbox/dropped`` explains is a loss.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contract import encode, wrap
from contract.core import OutboxDropped, seq_ranges
from edge_agent.runtime import MessageClass

log = logging.getLogger(__name__)

NOTICE_RESERVE = 1024  # bytes kept free under the bound for the outbox/dropped notice


@dataclass(slots=True)
class OutgoingMessage:
    topic: str  # absolute MQTT topic
    payload: bytes
    qos: int = 1
    retain: bool = False
    message_class: MessageClass = MessageClass.STATE
    is_json: bool = True  # a JSON object: replays get "replayed": true spliced in
    props: dict[str, Any] | None = None  # MQTT 5 properties (response to a command)
    sequenced: bool = False  # gets the next seq when stored (JSON under the base topic)
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
    last_seq: int = 0
    storage_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"depth": self.depth, "bytes": self.bytes, "max_bytes": self.max_bytes,
                "oldest_age_s": self.oldest_age_s, "dropped": dict(self.dropped),
                "write_failures": self.write_failures, "last_seq": self.last_seq}


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
    size INTEGER NOT NULL,
    seq INTEGER
)"""


class Outbox:
    def __init__(self, path: Path, *, max_bytes: int, commit_window_s: float = 0.05,
                 dropped_topic: str | None = None) -> None:
        self._path = path
        self._dropped_topic = dropped_topic  # where drop notices go (None: not sequenced)
        self.max_bytes = max_bytes
        self._window = commit_window_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-db")
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[OutgoingMessage, asyncio.Future[int]]] = []
        self._acked: list[int] = []
        # acknowledged but not yet deleted (e.g. the disk is full): never sent again
        self._acked_pending: set[int] = set()
        self._wake = asyncio.Event()
        self._new_rows = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self.last_seq = 0  # the last seq stored (dense)
        self.boot = 0  # start counter, +1 at every open
        self._bytes = 0
        self._depth = 0
        self._oldest: float | None = None
        self._dropped = {cls.name.lower(): 0 for cls in MessageClass}
        self.dropped_not_connected = 0  # QoS 0 messages that had no link (never stored)
        self.write_failures = 0  # messages the database refused (disk full, I/O error)
        self.storage_error: str | None = None  # set while the database refuses writes
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
        return await self._run(self._fetch_sync, after_id, limit,
                               frozenset(self._acked_pending))

    @property
    def new_rows(self) -> asyncio.Event:
        """Set whenever a commit added rows; the sender clears it before each fetch."""
        return self._new_rows

    def ack(self, message_id: int) -> None:
        """The broker has it (PUBACK): delete it with the next commit."""
        self._acked.append(message_id)
        self._acked_pending.add(message_id)
        self._wake.set()  # the writer's commit window still groups them into one commit

    def stats(self) -> OutboxStats:
        age = None if self._oldest is None else max(0.0, time.time() - self._oldest)
        depth = max(0, self._depth - len(self._acked_pending))
        return OutboxStats(depth, self._bytes, self.max_bytes, age, dict(self._dropped),
                           self.write_failures, self.last_seq, self.storage_error)

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
        if not batch and not acked:
            return
        try:
            ids = await self._run(self._commit_sync, [m for m, _ in batch], acked)
        except BaseException as exc:
            self.write_failures += len(batch)
            self.storage_error = f"cannot store messages in {self._path.name}: " \
                f"{str(exc) or type(exc).__name__}"
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc if isinstance(exc, Exception) else
                                      RuntimeError("outbox closed"))
            self._acked = acked + self._acked
            raise
        self.storage_error = None
        self._acked_pending.difference_update(acked)
        for (_, fut), row_id in zip(batch, ids, strict=True):
            if not fut.done():
                fut.set_result(row_id)
        if batch:
            self._new_rows.set()

    # -- database thread ---------------------------------------------------------------
    def _open_sync(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "messages" not in tables:
            # AUTOINCREMENT: ids never come back after deletes, so the sender's cursor
            # (send everything with id > cursor) can never skip a new row.
            conn.execute(_CREATE_MESSAGES)
            conn.execute("CREATE INDEX IF NOT EXISTS messages_cls ON messages(cls, id)")
            conn.execute("CREATE INDEX IF NOT EXISTS messages_topic ON messages(topic, id)")
        elif "seq" not in {row[1] for row in conn.execute("PRAGMA table_info(messages)")}:
            conn.execute("ALTER TABLE messages ADD COLUMN seq INTEGER")  # outbox of 0.1
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER)")
        meta: dict[str, int] = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        # an outbox of 0.1 reserved seq blocks ahead: start above anything it handed out
        self.last_seq = int(meta.get("seq", meta.get("seq_reserved", 0)))
        self.boot = int(meta.get("boot", 0)) + 1
        self._set_meta(conn, {"seq": self.last_seq, "boot": self.boot})
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

    def _commit_sync(self, batch: Sequence[OutgoingMessage], acked: Sequence[int]) -> list[int]:
        conn = self._require_conn()
        first_seq = self.last_seq
        conn.execute("BEGIN IMMEDIATE")
        try:
            if acked:
                self._delete_ids(conn, acked)
            ids = [self._insert(conn, m) for m in batch]
            if self._bytes > self.max_bytes:
                self._enforce_bound(conn)
            if self.last_seq != first_seq:
                self._set_meta(conn, {"seq": self.last_seq})
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite already rolled back on e.g. SQLITE_FULL
                conn.execute("ROLLBACK")
            self.last_seq = first_seq  # the numbers of a rolled-back batch were never used
            self._reload_counters(conn)  # the rolled-back batch changed them in memory
            raise
        return ids

    def _insert(self, conn: sqlite3.Connection, m: OutgoingMessage) -> int:
        payload, seq = m.payload, None
        if m.sequenced and m.is_json and payload.startswith(b"{"):
            self.last_seq = seq = self.last_seq + 1
            rest = payload[1:].lstrip()
            payload = b'{"seq":%d' % seq + (b"," if rest != b"}" else b"") + rest
        size = len(payload) + len(m.topic)
        cur = conn.execute(
            "INSERT INTO messages(topic, payload, qos, retain, cls, is_json, props, "
            "accepted_at, size, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (m.topic, payload, m.qos, int(m.retain), int(m.message_class), int(m.is_json),
             json.dumps(m.props) if m.props else None, m.accepted_at, size, seq))
        self._depth += 1
        self._bytes += size
        if self._oldest is None or m.accepted_at < self._oldest:
            self._oldest = m.accepted_at
        return int(cur.lastrowid or 0)

    def _reload_counters(self, conn: sqlite3.Connection) -> None:
        depth, size, oldest = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(accepted_at) FROM messages").fetchone()
        self._depth, self._bytes, self._oldest = depth, size, oldest
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
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
        """Drop by policy until under the bound, leaving room for the drop notice that
        names the dropped seq ranges; counters persist with the same commit."""
        dropped_seqs: list[int] = []
        classes: dict[str, int] = {}
        reserve = NOTICE_RESERVE if self._dropped_topic is not None else 0
        while True:
            self._drop_until(conn, self.max_bytes - reserve, dropped_seqs, classes)
            if not dropped_seqs or self._dropped_topic is None:
                break
            notice = self._drop_notice(dropped_seqs, classes)
            size = len(notice.payload) + len(notice.topic) + 20  # + its seq field
            if self._bytes + size <= self.max_bytes or self._bytes == 0:
                self._insert(conn, notice)
                break
            reserve = size + NOTICE_RESERVE  # many ranges: make more room, one notice
        self._set_meta(conn, {f"dropped_{k}": v for k, v in self._dropped.items()})
        log.warning("outbox: full (%d bytes max); dropped so far %s", self.max_bytes,
                    self._dropped)

    def _drop_until(self, conn: sqlite3.Connection, target: int, dropped_seqs: list[int],
                    classes: dict[str, int]) -> None:
        victim_queries = [
            ("telemetry", "SELECT id, size, seq FROM messages WHERE cls = 0 "
                          "ORDER BY id LIMIT 1000"),
            ("state", "SELECT m.id, m.size, m.seq FROM messages m WHERE m.cls = 1 "
                      "AND m.retain = 1 AND EXISTS (SELECT 1 FROM messages n "
                      "WHERE n.topic = m.topic AND n.id > m.id) ORDER BY m.id LIMIT 1000"),
            ("state", "SELECT id, size, seq FROM messages WHERE cls = 1 ORDER BY id LIMIT 1000"),
            ("event", "SELECT id, size, seq FROM messages WHERE cls = 2 ORDER BY id LIMIT 1000"),
        ]
        for class_name, query in victim_queries:
            while self._bytes > target:
                rows = conn.execute(query).fetchall()
                if not rows:
                    break
                victims: list[int] = []
                freed = 0
                for row_id, size, seq in rows:
                    if self._bytes - freed <= target:
                        break
                    victims.append(row_id)
                    freed += size
                    if seq is not None:
                        dropped_seqs.append(seq)
                self._delete_ids(conn, victims)
                self._dropped[class_name] += len(victims)
                classes[class_name] = classes.get(class_name, 0) + len(victims)

    def _drop_notice(self, seqs: list[int], classes: dict[str, int]) -> OutgoingMessage:
        """The ``outbox/dropped`` message for this commit's drops (stored in the same
        transaction, so the notice exists if and only if the drop happened)."""
        notice = OutboxDropped(ranges=seq_ranges(seqs), count=len(seqs), classes=classes,
                               reason=f"outbox full ({self.max_bytes / 2**20:g} MB)")
        assert self._dropped_topic is not None
        body = wrap(notice.model_dump(mode="json"), now=datetime.now(UTC))
        return OutgoingMessage(self._dropped_topic, encode(body),
                               message_class=MessageClass.EVENT, sequenced=True)

    def _fetch_sync(self, after_id: int, limit: int,
                    skip: frozenset[int]) -> list[StoredMessage]:
        conn = self._require_conn()
        rows = conn.execute(
            "SELECT id, topic, payload, qos, retain, is_json, props, accepted_at FROM messages "
            "WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
        return [StoredMessage(r[0], r[1], bytes(r[2]), r[3], bool(r[4]), bool(r[5]),
                              json.loads(r[6]) if r[6] else None, r[7])
                for r in rows if r[0] not in skip]

    def _require_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("outbox is not open")
        return self._conn
