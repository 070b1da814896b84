"""Cameras (latest snapshot per camera, the motion event timeline with a thumbnail per
event) and wifi hotspots (RTT and loss over 24 h, uptime per day over 30 days)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from control_room.config import ControlRoomConfig
from control_room.console import stats
from control_room.console.data import keys_of, subject_names, villages
from control_room.store import queries
from control_room.store import schema as t

SNAPSHOT_BEFORE_S = 5.0  # a snapshot this long before an event's start still belongs to it
SNAPSHOT_AFTER_S = 60.0
UPTIME_DAYS = 30
UP = frozenset({"up", "degraded"})  # as the gateway counts uptime


async def cameras(conn: AsyncConnection, now: float, cfg: ControlRoomConfig,
                  site: str | None = None) -> dict[str, Any]:
    keys = await keys_of(conn, site)
    rows = await queries.fleet(conn, now, cfg.fleet, keys=keys)
    grid = [{"gateway_key": g["gateway_key"], "site": g["site"], "gateway": g["gateway"],
             "gateway_state": g["state"], **c,
             "name": camera_name(c.get("payload"), c["camera"])}
            for g in rows for c in g["cameras"]]
    return {"grid": grid, "site": site}


def camera_name(payload: dict[str, Any] | None, camera: str) -> str:
    """What people call a camera ("Cổng làng"): its configured name, else its id (an agent
    too old to send one, or a camera known only from its events)."""
    return str((payload or {}).get("name") or camera)


async def camera_names(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every camera for the filter: value ``site/gateway:camera``, by name."""
    c = t.cameras
    query = select(c.c.gateway_key, c.c.camera, c.c.payload) \
        .order_by(c.c.gateway_key, c.c.camera)
    return [{"value": f"{k}:{cam}", "camera": cam, "name": camera_name(payload, cam),
             "gateway_key": k} for k, cam, payload in await conn.execute(query)]


async def events(conn: AsyncConnection, *, camera: str | None = None, zone: str | None = None,
                 since: float | None = None, until: float | None = None, limit: int = 50,
                 keys: list[str] | None = None) -> list[dict[str, Any]]:
    """Motion events, newest first, one row per event (its latest message), each with the
    snapshot the camera sent while it lasted. ``camera`` is ``site/gateway:camera``."""
    e = t.events
    query = select(e.c.id, e.c.gateway_key, e.c.subject, e.c.ts, e.c.data) \
        .where(e.c.kind == "motion").order_by(e.c.ts.desc(), e.c.id.desc())
    if camera and ":" in camera:
        key, cam = camera.rsplit(":", 1)
        query = query.where(e.c.gateway_key == key, e.c.subject == cam)
    elif keys is not None:
        query = query.where(e.c.gateway_key.in_(keys))
    if since is not None:
        query = query.where(e.c.ts >= since)
    if until is not None:
        query = query.where(e.c.ts <= until)
    found: dict[str, dict[str, Any]] = {}
    # several messages per event (start/update/end) and the zone filter: read in pages
    offset, page = 0, limit * 4
    while len(found) < limit:
        rows = (await conn.execute(query.offset(offset).limit(page))).mappings().all()
        for row in rows:
            data = row["data"] or {}
            event_id = str(data.get("event_id") or row["id"])
            if event_id in found or (zone and zone not in (data.get("zones") or [])):
                continue
            found[event_id] = {"gateway_key": row["gateway_key"], "camera": row["subject"],
                               "ts": row["ts"], "event_id": event_id, **data}
            if len(found) >= limit:
                break
        if len(rows) < page:
            break
        offset += page
    out = list(found.values())
    # the name as the camera page shows it now (a renamed camera: its old events too)
    names = await subject_names(conn, [r["gateway_key"] for r in out])
    for item in out:
        item["name"] = names.get(item["gateway_key"], {}).get(f"camera/{item['camera']}") \
            or item["camera"]
    await _attach_snapshots(conn, out)
    return out


async def _attach_snapshots(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    s = t.snapshot_sightings  # each arrival: the same picture may belong to two events
    low = min(r["ts"] for r in rows) - SNAPSHOT_BEFORE_S - 600
    high = max(r["ts"] for r in rows) + SNAPSHOT_AFTER_S
    pairs = sorted({(r["gateway_key"], r["camera"]) for r in rows})
    by_pair: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    query = select(s.c.gateway_key, s.c.camera, s.c.seen_at, s.c.sha256) \
        .where(s.c.gateway_key.in_(sorted({p[0] for p in pairs})),
               s.c.seen_at >= low, s.c.seen_at <= high).order_by(s.c.seen_at)
    for key, cam, at, sha in await conn.execute(query):
        by_pair[(key, cam)].append((at, sha))
    for row in rows:
        shots = by_pair.get((row["gateway_key"], row["camera"]), [])
        start = _started(row)
        i = bisect.bisect_left(shots, (start - SNAPSHOT_BEFORE_S, ""))
        row["snapshot_sha"] = shots[i][1] if i < len(shots) and \
            shots[i][0] <= row["ts"] + SNAPSHOT_AFTER_S else None


def _started(row: dict[str, Any]) -> float:
    from contract import parse_time

    text = row.get("started_at")
    if isinstance(text, str):
        try:
            return parse_time(text).timestamp()
        except ValueError:
            pass
    return float(row["ts"])


async def zones(conn: AsyncConnection, since: float) -> list[str]:
    """Zones named by recent events (for the filter)."""
    query = select(t.events.c.data).where(t.events.c.kind == "motion",
                                          t.events.c.ts >= since).limit(2000)
    seen: set[str] = set()
    for (data,) in await conn.execute(query):
        seen.update((data or {}).get("zones") or [])
    return sorted(seen)


async def hotspots(conn: AsyncConnection, now: float, cfg: ControlRoomConfig,
                   site: str | None = None) -> dict[str, Any]:
    keys = await keys_of(conn, site)
    rows = await queries.fleet(conn, now, cfg.fleet, keys=keys)
    tz = ZoneInfo(cfg.console.timezone)
    bounds = stats.day_starts(now, UPTIME_DAYS, tz)
    series = await _hotspot_series(conn, [r["gateway_key"] for r in rows], now - 86400)
    uptime = await _uptime(conn, [r["gateway_key"] for r in rows], bounds, now)
    for g in rows:
        for h in g["hotspots"]:
            pair = (g["gateway_key"], h["hotspot"])
            h["series"] = series.get(pair, [])
            spans = uptime.get(pair) or stats.time_in_state(
                [(h["since"] or h["ts"], h["state"])], UP, bounds, now)
            h["uptime"] = [(b, None if v is None else 100 * v / (bounds[i + 1] - b))
                           for i, (b, v) in enumerate(zip(bounds[:-1], spans, strict=True))]
            payload = h.get("payload") or {}
            h["name"] = payload.get("name") or h["hotspot"]
            h["per_ssid"] = payload.get("clients_per_ssid") or {}
    return {"villages": villages(rows, cfg), "site": site, "day_start": now - 86400}


async def _hotspot_series(conn: AsyncConnection, keys: list[str], since: float
                          ) -> dict[tuple[str, str], list[tuple[float, dict[str, Any]]]]:
    if not keys:
        return {}
    m = t.telemetry
    query = select(m.c.gateway_key, m.c.subject, m.c.ts, m.c.data) \
        .where(m.c.kind == "hotspot", m.c.gateway_key.in_(keys), m.c.ts >= since) \
        .order_by(m.c.ts)
    out: dict[tuple[str, str], list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    for key, subject, ts, data in await conn.execute(query):
        out[(key, subject)].append((ts, data or {}))
    return out


async def _uptime(conn: AsyncConnection, keys: list[str], bounds: list[float], now: float
                  ) -> dict[tuple[str, str], list[float | None]]:
    if not keys:
        return {}
    e = t.events
    query = select(e.c.gateway_key, e.c.subject, e.c.ts, e.c.data) \
        .where(e.c.kind == "hotspot_state", e.c.gateway_key.in_(keys), e.c.ts >= bounds[0]) \
        .order_by(e.c.ts)
    changes: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    first_from: dict[tuple[str, str], str | None] = {}
    for key, subject, ts, data in await conn.execute(query):
        pair = (key, subject)
        if pair not in changes:
            first_from[pair] = (data or {}).get("from")
        changes[pair].append((ts, str((data or {}).get("to"))))
    return {pair: stats.time_in_state(items, UP, bounds, now, first_from.get(pair))
            for pair, items in changes.items()}
