"""Executed commands, remembered on disk: a redelivered command is answered, never run twice.

A command is acknowledged to the broker (PUBACK) only after it has been handled and its reply
stored, so a crash or power cut in between makes the broker deliver it again. This log tells
a redelivery from a new command: each command is recorded as *started* (committed before its
handler runs) and *done* with its reply. When the same command comes again,

- done: it gets the stored reply again, the handler is not called;
- started but never done (the process died while it ran): it is not run again, a relay pulse
  or an override must not happen twice; it gets an error saying so.

A command is identified by its request ``id`` (per command path), or else by its MQTT 5
correlation data; a command with neither cannot be told from a new one and is not logged.
SQLite (WAL, synchronous=FULL) in ``commands.sqlite3`` beside the outbox, on its own thread;
entries are pruned by age and bounded in number.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from contract import ContractError, decode

log = logging.getLogger(__name__)

KEEP_S = 7 * 24 * 3600.0  # longer than the broker keeps our session (24 h) plus outages
MAX_ENTRIES = 10_000
PRUNE_EVERY = 200  # finished commands between two prunes

INTERRUPTED = ("interrupted: the gateway restarted while this command ran; it is not run "
               "again (it may have taken effect in part; check the state and send it again "
               "with a new id)")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS commands (
    key TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    reply TEXT
)"""


def identify(path: str, payload: bytes,
             correlation_data: bytes | None) -> tuple[str, dict[str, Any]] | None:
    """The key that identifies one command across redeliveries, and the reply fields that
    name it (``command``, ``request_id``); None when nothing identifies it."""
    request_id = _request_id(payload)
    names: dict[str, Any] = {"command": path}
    if request_id is not None:
        raw = f"id\0{path}\0{json.dumps(request_id, sort_keys=True)}".encode()
        names["request_id"] = request_id
    elif correlation_data:
        raw = f"corr\0{path}\0".encode() + correlation_data
    else:
        return None
    return hashlib.sha256(raw).hexdigest(), names


def _request_id(payload: bytes) -> Any:
    try:
        data = decode(payload) if payload.strip() else None
    except ContractError:
        return None
    return data.get("id") if isinstance(data, dict) else None


async def run_once(command_log: CommandLog | None, identity: tuple[str, dict[str, Any]] | None,
                   run: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """``run()``'s reply, unless the log has seen this command: then its earlier reply.
    A log that cannot be written (disk full) does not stop commands: they run unlogged."""
    if command_log is None or identity is None:
        return await run()
    key, names = identity
    try:
        earlier = await command_log.begin(key, names)
    except (sqlite3.Error, OSError, RuntimeError) as exc:
        log.warning("command log unavailable (%s): running the command without it", exc)
        return await run()
    if earlier is not None:
        return earlier
    try:
        reply = await run()
    except BaseException:  # cancelled (the agent stops): stays 'started', i.e. interrupted
        command_log.abandon(key)
        raise
    try:
        await command_log.finish(key, reply)
    except (sqlite3.Error, OSError, RuntimeError) as exc:
        log.warning("command log: cannot store a reply (%s)", exc)
    return reply


class CommandLog:
    def __init__(self, path: Path, keep_s: float = KEEP_S,
                 max_entries: int = MAX_ENTRIES) -> None:
        self._path = path
        self._keep_s = keep_s
        self._max = max_entries
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="command-log")
        self._conn: sqlite3.Connection | None = None
        self._running: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._names: dict[str, dict[str, Any]] = {}
        self._since_prune = 0

    async def open(self) -> None:
        await self._run(self._open_sync)

    async def close(self) -> None:
        await self._run(self._close_sync)
        self._executor.shutdown(wait=True)

    async def begin(self, key: str, names: dict[str, Any]) -> dict[str, Any] | None:
        """Record ``key`` as started and return None (run it), or return the reply a
        command seen before gets (its stored reply, or the 'interrupted' error, which
        carries ``names``)."""
        running = self._running.get(key)
        if running is not None:  # sent again while it still runs here: the same reply
            return dict(await asyncio.shield(running))
        # registered before the database is asked, so a copy arriving meanwhile waits here
        future = self._running[key] = asyncio.get_running_loop().create_future()
        self._names[key] = names
        try:
            seen = await self._run(self._begin_sync, key, time.time(), names)
        except BaseException:
            self.abandon(key)
            raise
        if seen is not None:
            self._running.pop(key, None)
            self._names.pop(key, None)
            future.set_result(seen)
        return seen

    def abandon(self, key: str) -> None:
        """The command did not finish here; whoever waits for it hears so."""
        future = self._running.pop(key, None)
        names = self._names.pop(key, {})
        if future is not None and not future.done():
            future.set_result({"ok": False, "error": INTERRUPTED, **names})

    async def finish(self, key: str, reply: dict[str, Any]) -> None:
        """Store the reply of a command ``begin`` let run (before the reply is sent)."""
        future = self._running.pop(key, None)
        self._names.pop(key, None)
        try:
            await self._run(self._finish_sync, key, json.dumps(reply, default=str))
        finally:  # whoever waits for the same command gets this reply, stored or not
            if future is not None and not future.done():
                future.set_result(reply)
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY:
            self._since_prune = 0
            await self._run(self._prune_sync, time.time())

    # -- database thread ---------------------------------------------------------------
    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _open_sync(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # 'started' must be on disk before it runs
            conn.execute(_SCHEMA)
        except BaseException:
            conn.close()  # a full disk: the agent runs without it, holding no file open
            raise
        self._conn = conn
        self._prune_sync(time.time())

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _begin_sync(self, key: str, now: float,
                    names: dict[str, Any]) -> dict[str, Any] | None:
        conn = self._require()
        cur = conn.execute("INSERT INTO commands(key, started_at) VALUES (?, ?) "
                           "ON CONFLICT(key) DO NOTHING", (key, now))
        if cur.rowcount == 1:
            return None
        (reply,) = conn.execute("SELECT reply FROM commands WHERE key = ?", (key,)).fetchone()
        if reply is not None:
            log.info("command seen before (redelivered?): answered with its stored reply")
            return dict(json.loads(reply))
        log.warning("command redelivered after it was interrupted: not run again")
        stored = {"ok": False, "error": INTERRUPTED, **names}
        conn.execute("UPDATE commands SET reply = ? WHERE key = ?", (json.dumps(stored), key))
        return stored

    def _finish_sync(self, key: str, reply: str) -> None:
        self._require().execute("UPDATE commands SET reply = ? WHERE key = ?", (reply, key))

    def _prune_sync(self, now: float) -> None:
        conn = self._require()
        conn.execute("DELETE FROM commands WHERE started_at < ?", (now - self._keep_s,))
        conn.execute("DELETE FROM commands WHERE key IN (SELECT key FROM commands "
                     "ORDER BY started_at DESC LIMIT -1 OFFSET ?)", (self._max,))

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the command log is not open")
        return self._conn
