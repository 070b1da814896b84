"""Opening the database: the async engine for SQLite (aiosqlite, WAL) or PostgreSQL
(asyncpg), Alembic migrations at start, the dialect's upsert, and a retry for outages."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from control_room.config import DatabaseSection

log = logging.getLogger(__name__)
T = TypeVar("T")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# PostgreSQL: the key of the advisory lock held by the one worker that evaluates alerts
LEADER_LOCK_KEY = 0x43524C44  # "CRLD"
# Rows per INSERT ... RETURNING statement (SQLAlchemy's "insertmanyvalues"; its default is
# 1,000). Every distinct row count is a distinct SQL text, and each connection keeps its
# last 100 texts prepared (asyncpg, through SQLAlchemy's cache; sqlite3 keeps 128): an
# ingest batch of up to 1,000 messages made statements of up to 8,000 parameters, about a
# megabyte each with their codecs, and every pooled connection filled its cache with them
# over time (one connection, batches of 1-1,000 rows: +25 MB and growing; a minor part of
# the soak's RSS growth, whose main cause was the judge's: ingest/completeness.py). 50 rows:
# at most 400 parameters a statement, the caches stay small (+10 MB, flat), and a full batch
# costs 20 statements instead of one.
INSERT_PAGE_ROWS = 50


def async_url(config: DatabaseSection) -> str:
    url = make_url(config.url)
    if url.drivername in ("sqlite", "sqlite+pysqlite"):
        url = url.set(drivername="sqlite+aiosqlite")
    elif url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+asyncpg")
    if config.password is not None and url.password is None:
        url = url.set(password=config.password.get_secret_value())
    return url.render_as_string(hide_password=False)


def redacted(config: DatabaseSection) -> str:
    return make_url(config.url).render_as_string(hide_password=True)


def create_engine(config: DatabaseSection) -> AsyncEngine:
    url = async_url(config)
    if config.is_sqlite:
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30},
                                     insertmanyvalues_page_size=INSERT_PAGE_ROWS)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=config.pool_size, max_overflow=2,
                               pool_pre_ping=True, pool_recycle=1800,
                               insertmanyvalues_page_size=INSERT_PAGE_ROWS,
                               connect_args={"timeout": 10, "command_timeout": 60})


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers (the API) never wait for the ingest writer
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before we acknowledge the messages it holds
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def upsert(conn_or_engine: Any, table: Any) -> Any:
    """``INSERT`` of the connection's dialect, with ``on_conflict_do_*`` (same API on both)."""
    name = conn_or_engine.dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(table)


def _upgrade(connection: Connection) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent; run at every start)."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # several workers may start together: one migrates, the others wait for it
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LEADER_LOCK_KEY + 1})")
        await conn.run_sync(_upgrade)


_OUTAGE_WORDS = ("connection", "shutting down", "terminat", "database is locked", "closed",
                 "cannot connect", "starting up", "deadlock detected", "could not serialize",
                 "disk i/o error", "unable to open", "timeout", "timed out")


def is_outage(exc: BaseException) -> bool:
    """The database is unreachable or restarting (retry), as opposed to a bug or a bad row
    (raise: retrying a syntax error would stall ingest for ever)."""
    if isinstance(exc, OSError | ConnectionError | asyncio.TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        cause = exc.orig if exc.orig is not None else exc.__cause__
        if isinstance(cause, OSError | ConnectionError | asyncio.TimeoutError):
            return True
        text = str(cause or exc).lower()
        return any(word in text for word in _OUTAGE_WORDS)
    return False


async def with_retry(action: Callable[[], Awaitable[T]], what: str, max_delay: float,
                     on_outage: Callable[[str | None], None] | None = None) -> T:
    """Run ``action`` until it succeeds while the database is down (exponential backoff up to
    ``max_delay``); anything that is not an outage is raised."""
    delay = 0.2
    started = None
    while True:
        try:
            result = await action()
        except Exception as exc:
            if not is_outage(exc):
                raise
            if started is None:
                started = time.monotonic()
                log.warning("database unavailable during %s: %s (retrying; messages stay "
                            "unacknowledged at the broker)", what, _one_line(exc))
            if on_outage:
                on_outage(_one_line(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
            continue
        if started is not None:
            log.warning("database back after %.1f s (%s)", time.monotonic() - started, what)
            if on_outage:
                on_outage(None)
        return result


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return text.splitlines()[0][:300]
