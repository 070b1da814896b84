"""Every read of the store, for the API, the CLI and the console (the alert engine's:
store/alert_view.py).

Rows come back as plain dicts with times as ISO 8601 strings (``*_at``, ``ts``, ``since``…)
so they can go straight to JSON. The fleet state (online / offline / stopped / stale) is
derived here from the stored status and ``now``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import RowMapping, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from contract import utc_iso
from control_room.config import FleetSection
from control_room.store import schema as t

TIME_COLUMNS = {"state_since", "last_seen", "health_at", "next_change", "override_until", "ts",
                "since", "last_event_at", "snapshot_at", "received_at", "detected_at",
                "requested_at", "replied_at", "fired_at", "resolved_at", "acked_at",
                "clear_since", "updated_at", "at", "stored_at", "hour"}


class Ambiguous(LookupError):
    """A bare gateway id that several sites use."""


def iso(row: Mapping[str, Any] | RowMapping) -> dict[str, Any]:
    return {k: (utc_iso(v) if k in TIME_COLUMNS and isinstance(v, int | float) else v)
            for k, v in row.items()}


def effective_state(row: Mapping[str, Any] | RowMapping, now: float, cfg: FleetSection) -> str:
    """online / offline / stopped from the status topic, stale when nothing arrived for
    ``stale_factor`` health intervals, unknown before any status."""
    state = str(row["state"] or "unknown")
    if state in ("offline", "stopped"):
        return state
    interval = row["health_interval_s"] or cfg.default_health_interval_s
    last = row["last_seen"]
    if last is not None and now - last > cfg.stale_factor * interval:
        return "stale"
    return state


async def resolve_gateway(conn: AsyncConnection, ident: str) -> str | None:
    """``site/id`` as is (if known), or a bare ``id`` if exactly one site has it."""
    if "/" in ident:
        found = await conn.scalar(select(t.gateways.c.gateway_key)
                                  .where(t.gateways.c.gateway_key == ident))
        return str(found) if found else None
    keys = (await conn.scalars(select(t.gateways.c.gateway_key)
                               .where(t.gateways.c.gateway == ident))).all()
    if len(keys) > 1:
        raise Ambiguous(f"gateway id {ident!r} is used by several sites: "
                        f"{', '.join(sorted(keys))}; give site/id")
    return str(keys[0]) if keys else None


async def _children(conn: AsyncConnection, table: Any,
                    keys: Sequence[str] | None) -> dict[str, list[dict[str, Any]]]:
    query = select(table)
    if keys is not None:
        query = query.where(table.c.gateway_key.in_(keys))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in (await conn.execute(query)).mappings():
        out[row["gateway_key"]].append(dict(row))
    return out


async def _unexplained_loss(conn: AsyncConnection) -> dict[str, int]:
    query = select(t.loss.c.gateway_key, func.sum(t.loss.c.count - t.loss.c.recovered)) \
        .group_by(t.loss.c.gateway_key)
    return {row[0]: int(row[1] or 0) for row in await conn.execute(query)}


async def fleet(conn: AsyncConnection, now: float, cfg: FleetSection,
                keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every gateway (or those in ``keys``) with its circuits, cameras and hotspots."""
    query = select(t.gateways).order_by(t.gateways.c.gateway_key)
    if keys is not None:
        query = query.where(t.gateways.c.gateway_key.in_(keys))
    rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    circuits = await _children(conn, t.circuits, keys)
    cameras = await _children(conn, t.cameras, keys)
    hotspots = await _children(conn, t.hotspots, keys)
    loss = await _unexplained_loss(conn)
    out = []
    for row in rows:
        key = row["gateway_key"]
        row["status"] = row["state"]
        row["state"] = effective_state(row, now, cfg)
        row["unexplained_loss"] = loss.get(key, 0)
        row["circuits"] = [_strip(c) for c in sorted(circuits[key], key=lambda c: c["circuit"])]
        row["cameras"] = [_strip(c) for c in sorted(cameras[key], key=lambda c: c["camera"])]
        row["hotspots"] = [_strip(h) for h in sorted(hotspots[key], key=lambda h: h["hotspot"])]
        out.append(row)
    return out


def _strip(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("gateway_key", None)
    return row


def json_fleet(rows: list[dict[str, Any]], detail: bool = False) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        item = iso({k: v for k, v in row.items() if detail or k not in ("health",)})
        for child in ("circuits", "cameras", "hotspots"):
            item[child] = [iso({k: v for k, v in c.items() if detail or k != "payload"})
                           for c in row[child]]
        out.append(item)
    return out


async def events(conn: AsyncConnection, *, gateway: str | None = None, kind: str | None = None,
                 since: float | None = None, limit: int = 200) -> list[dict[str, Any]]:
    query = select(t.events).order_by(t.events.c.ts.desc(), t.events.c.id.desc()).limit(limit)
    if gateway:
        query = query.where(t.events.c.gateway_key == gateway)
    if kind:
        query = query.where(t.events.c.kind == kind)
    if since is not None:
        query = query.where(t.events.c.ts >= since)
    return [iso(r) for r in (await conn.execute(query)).mappings()]


async def light_history(conn: AsyncConnection, gateway: str, circuit: str | None = None,
                        limit: int = 500) -> list[dict[str, Any]]:
    query = select(t.light_history).where(t.light_history.c.gateway_key == gateway) \
        .order_by(t.light_history.c.ts.desc()).limit(limit)
    if circuit:
        query = query.where(t.light_history.c.circuit == circuit)
    return [iso(r) for r in (await conn.execute(query)).mappings()]


async def losses(conn: AsyncConnection, gateway: str | None = None,
                 limit: int = 500) -> list[dict[str, Any]]:
    query = select(t.loss).order_by(t.loss.c.detected_at.desc()).limit(limit)
    if gateway:
        query = query.where(t.loss.c.gateway_key == gateway)
    return [iso(r) for r in (await conn.execute(query)).mappings()]


async def dropped(conn: AsyncConnection, gateway: str | None = None) -> list[dict[str, Any]]:
    query = select(t.dropped).order_by(t.dropped.c.first)
    if gateway:
        query = query.where(t.dropped.c.gateway_key == gateway)
    return [iso(r) for r in (await conn.execute(query)).mappings()]


async def quarantine(conn: AsyncConnection, limit: int = 100) -> list[dict[str, Any]]:
    query = select(t.quarantine).order_by(t.quarantine.c.id.desc()).limit(limit)
    rows = []
    for r in (await conn.execute(query)).mappings():
        row = iso(r)
        raw = row.pop("payload") or b""
        row["payload_head"] = bytes(raw[:200]).decode("utf-8", "replace")
        rows.append(row)
    return rows


async def quarantine_count(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.count()).select_from(t.quarantine)) or 0)


async def commands(conn: AsyncConnection, gateway: str | None = None,
                   limit: int = 200) -> list[dict[str, Any]]:
    query = select(t.commands).order_by(t.commands.c.requested_at.desc()).limit(limit)
    if gateway:
        query = query.where(t.commands.c.gateway_key == gateway)
    return [iso(r) for r in (await conn.execute(query)).mappings()]


async def command(conn: AsyncConnection, command_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(t.commands).where(t.commands.c.id == command_id))) \
        .mappings().first()
    return iso(row) if row else None


async def alerts(conn: AsyncConnection, status: str | None = None) -> list[dict[str, Any]]:
    query = select(t.alerts).order_by(t.alerts.c.since.desc())
    if status == "active":
        query = query.where(t.alerts.c.status.in_(("pending", "firing")))
    elif status:
        query = query.where(t.alerts.c.status == status)
    return [iso(r) for r in (await conn.execute(query)).mappings()]


async def alert_rows(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Raw alert rows (times as floats) for rebuilding the engine's previous states."""
    return [dict(r) for r in (await conn.execute(select(t.alerts))).mappings()]


async def alert_history(conn: AsyncConnection, limit: int = 200) -> list[dict[str, Any]]:
    query = select(t.alert_history).order_by(t.alert_history.c.id.desc()).limit(limit)
    return [iso(r) for r in (await conn.execute(query)).mappings()]


async def message_count(conn: AsyncConnection, gateway: str | None = None) -> int:
    query = select(func.count()).select_from(t.messages)
    if gateway:
        query = query.where(t.messages.c.gateway_key == gateway)
    return int(await conn.scalar(query) or 0)
