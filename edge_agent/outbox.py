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
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contract import encode, wrap
from contract.core import OutboxDropped, seq_ranges
from edge_agent.outbox_messages import OutboxStats, OutgoingMessage, StoredMessage
from edge_agent.runtime import MessageClass

log = logging.getLogger(__name__)

REOPEN_INTERVAL_S = 5.0  # a database that could not be opened: next try after this
NOTICE_RESERVE = 1024  # bytes kept free under the bound for the outbox/dropped notice


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
        self._reopen_at = 0.0  # while the database could not be opened: next attempt

    # -- lifecycle ---------------------------------------------------------------------
    async def open(self) -> None:
        """Open the database; when it cannot be opened (a full disk, a read-only card), the
        agent still starts: messages go live (``storage_error`` says why) and the writer
        opens the database as soon as it can."""
        try:
            await self._run(self._open_sync)
        except (sqlite3.Error, OSError) as exc:
            self._open_failed(exc)
            # the start counter of the file, read without writing (in the database thread),
            # so the birth still says which life this is (the next start counts it again)
            self.boot = await self._run(self._read_boot) + 1
        self._writer = asyncio.create_task(self._writer_loop(), name="outbox-writer")

    def _open_failed(self, exc: BaseException) -> None:
        self._reopen_at = time.monotonic() + REOPEN_INTERVAL_S
        reason = f"cannot open {self._path.name}: {exc} (disk full or read-only?)"
        if reason != self.storage_error:
            log.error("outbox: %s; sending messages live without the delivery guarantee "
                      "and retrying every %.0f s", reason, REOPEN_INTERVAL_S)
        self.storage_error = reason

    def _read_boot(self) -> int:
        try:
            with closing(sqlite3.connect(f"file:{self._path}?immutable=1", uri=True)) as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = 'boot'").fetchone()
            return int(row[0]) if row else 0
        except sqlite3.Error:
            return 0

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
        if self._conn is None and time.monotonic() >= self._reopen_at:
            try:
                await self._run(self._open_sync)
                log.info("outbox: %s is open again; messages are stored", self._path.name)
            except (sqlite3.Error, OSError) as exc:
                self._open_failed(exc)
        if self._conn is None:  # still not open: the producers send live (bus._put)
            self._fail(batch, acked, RuntimeError(self.storage_error or "outbox not open"))
            return
        try:
            ids = await self._run(self._commit_sync, [m for m, _ in batch], acked)
        except BaseException as exc:
            self.storage_error = f"cannot store messages in {self._path.name}: " \
                f"{str(exc) or type(exc).__name__}"
            self._fail(batch, acked, exc if isinstance(exc, Exception) else
                       RuntimeError("outbox closed"))
            raise
        self.storage_error = None
        self._acked_pending.difference_update(acked)
        for (_, fut), row_id in zip(batch, ids, strict=True):
            if not fut.done():
                fut.set_result(row_id)
        if batch:
            self._new_rows.set()

    def _fail(self, batch: list[tuple[OutgoingMessage, asyncio.Future[int]]],
              acked: list[int], exc: Exception) -> None:
        """Tell the batch's producers it was not stored; keep the acks for the next try."""
        self.write_failures += len(batch)
        for _, fut in batch:
            if not fut.done():
                fut.set_exception(exc)
        self._acked = acked + self._acked

    # -- database thread ---------------------------------------------------------------
    def _open_sync(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()  # e.g. the disk is full: open() goes on without it
            raise
        self._conn = conn
        if self._depth:
            log.info("outbox: %d message(s) from before the restart will be replayed",
                     self._depth)

    def _prepare(self, conn: sqlite3.Connection) -> None:
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
        if self._conn is None:
            return []  # not open (see open()): nothing is stored, so nothing to send
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
