"""Retention and roll-ups: raw telemetry becomes hourly min/max/mean per metric, then goes
after ``raw_telemetry_days``; roll-ups after ``rollup_days``; the message-id log, quarantine
and old snapshot files after theirs."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from control_room.config import StorageSection
from control_room.store import schema as t
from control_room.store.db import upsert

HOUR = 3600.0
MAX_HOURS_PER_PASS = 48  # a long backlog is rolled up over several passes


def aggregate(rows: list[tuple[str, str, str, float, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Raw samples ``(gateway_key, kind, subject, ts, {metric: value})`` → hourly rows."""
    acc: dict[tuple[str, str, str, str, float], list[float]] = defaultdict(list)
    for key, kind, subject, ts, data in rows:
        hour = ts - ts % HOUR
        for metric, value in (data or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                acc[(key, kind, subject, metric, hour)].append(float(value))
    return [{"gateway_key": k[0], "kind": k[1], "subject": k[2], "metric": k[3], "hour": k[4],
             "count": len(v), "sum": sum(v), "min": min(v), "max": max(v)}
            for k, v in acc.items()]


async def roll_up(conn: AsyncConnection, now: float) -> int:
    """Roll up every complete hour not rolled up yet; returns the rows written."""
    last = await conn.scalar(select(func.max(t.rollups.c.hour)))
    start = (last + HOUR) if last is not None else \
        await conn.scalar(select(func.min(t.telemetry.c.ts)))
    if start is None:
        return 0
    start -= start % HOUR
    end = min(now - now % HOUR, start + MAX_HOURS_PER_PASS * HOUR)
    if end <= start:
        return 0
    query = select(t.telemetry.c.gateway_key, t.telemetry.c.kind, t.telemetry.c.subject,
                   t.telemetry.c.ts, t.telemetry.c.data) \
        .where(t.telemetry.c.ts >= start, t.telemetry.c.ts < end)
    rows = aggregate([tuple(r) for r in await conn.execute(query)])
    if rows:
        stmt = upsert(conn, t.rollups)
        stmt = stmt.on_conflict_do_update(
            index_elements=["gateway_key", "kind", "subject", "metric", "hour"],
            set_={c: stmt.excluded[c] for c in ("count", "sum", "min", "max")})
        await conn.execute(stmt, rows)
    return len(rows)


async def expire(conn: AsyncConnection, now: float, cfg: StorageSection) -> dict[str, int]:
    day = 86400.0
    done = {}
    for name, table, column, days in (
            ("telemetry", t.telemetry, t.telemetry.c.ts, cfg.raw_telemetry_days),
            ("rollups", t.rollups, t.rollups.c.hour, cfg.rollup_days),
            ("messages", t.messages, t.messages.c.received_at, cfg.message_log_days),
            ("quarantine", t.quarantine, t.quarantine.c.received_at, cfg.raw_telemetry_days)):
        result = await conn.execute(delete(table).where(column < now - days * day))
        done[name] = int(result.rowcount or 0)
    return done


async def current_snapshots(conn: AsyncConnection) -> set[str]:
    rows = await conn.scalars(select(t.cameras.c.snapshot_sha)
                              .where(t.cameras.c.snapshot_sha.is_not(None)))
    return {str(r) for r in rows}


async def forget_snapshots(conn: AsyncConnection, hashes: list[str]) -> None:
    if hashes:
        await conn.execute(delete(t.snapshots).where(t.snapshots.c.sha256.in_(hashes)))
        await conn.execute(delete(t.snapshot_sightings)
                           .where(t.snapshot_sightings.c.sha256.in_(hashes)))
