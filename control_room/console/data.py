"""What the console's pages show, read from the store: villages and their gateways with
counts, one gateway, the lights with their day, the alerts. Times stay Unix seconds (the
templates format them in the configured zone)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from control_room.config import ControlRoomConfig
from control_room.console import stats
from control_room.store import queries
from control_room.store import schema as t

ENERGY_DAYS = 14
CONNECTED = frozenset({"online", "disarmed"})  # a disarmed camera still delivers frames


async def keys_of(conn: AsyncConnection, site: str | None = None,
                  gateway: str | None = None) -> list[str] | None:
    """Gateway keys for a filter (None: every gateway)."""
    if gateway:
        return [gateway]
    if not site:
        return None
    rows = await conn.scalars(select(t.gateways.c.gateway_key)
                              .where(t.gateways.c.site == site))
    return list(rows)


def counts(gateways: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Lights on/off against what is due, cameras connected, hotspots up."""
    out: dict[str, int] = defaultdict(int)
    for g in gateways:
        out["gateways"] += 1
        out["gateways_online"] += g["state"] == "online"
        for c in g["circuits"]:
            out["lights"] += 1
            out["lights_on"] += c["state"] == "on"
            out["lights_off"] += c["state"] == "off"
            out["lights_due_on"] += c["desired"] == "on"
            out["lights_wrong"] += bool(c["desired"]) and c["desired"] != c["state"]
        for c in g["cameras"]:
            out["cameras"] += 1
            out["cameras_online"] += (c["state"] or "") in CONNECTED
        for h in g["hotspots"]:
            out["hotspots"] += 1
            out["hotspots_up"] += h["state"] == "up"
    return dict(out)


def villages(rows: list[dict[str, Any]], cfg: ControlRoomConfig) -> list[dict[str, Any]]:
    by_site: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_site[row["site"]].append(row)
    out = []
    for site, gws in sorted(by_site.items()):
        flagged = [problem(g) for g in gws]
        out.append({"site": site, "name": cfg.console.site_name(site), "gateways": gws,
                    "counts": counts(gws),
                    "problems": [g for g, bad in zip(gws, flagged, strict=True) if bad],
                    "fine": [g for g, bad in zip(gws, flagged, strict=True) if not bad]})
    return out


_SUMMARY = {  # the overview needs no payloads: JSON decoding 5,000 of them was half its time
    # name: the one payload field it shows (the problem line names what is wrong)
    t.circuits: ("circuit", "state", "desired", "driver_ok", "name"),
    t.cameras: ("camera", "state", "name"),
    t.hotspots: ("hotspot", "state", "name"),
}


def _summary_column(table: Any, name: str) -> Any:
    return table.c.payload["name"].as_string() if name == "name" else table.c[name]


async def summary(conn: AsyncConnection, now: float, cfg: ControlRoomConfig
                  ) -> list[dict[str, Any]]:
    """Every gateway with the state of its circuits, cameras and hotspots (no payloads)."""
    g = t.gateways
    query = select(g.c.gateway_key, g.c.site, g.c.gateway, g.c.state, g.c.last_seen,
                   g.c.health_interval_s).order_by(g.c.gateway_key)
    rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    children: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for table, columns in _SUMMARY.items():
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        query = select(table.c.gateway_key, *(_summary_column(table, c) for c in columns)) \
            .order_by(table.c.gateway_key, table.c[columns[0]])
        for key, *values in await conn.execute(query):  # tuples: 3x cheaper than mappings
            found[key].append(dict(zip(columns, values, strict=True)))
        children[table.name] = found
    for row in rows:
        key = row["gateway_key"]
        row["state"] = queries.effective_state(row, now, cfg.fleet)
        for name in ("circuits", "cameras", "hotspots"):
            row[name] = children[name].get(key, [])
    return rows


async def sites(conn: AsyncConnection, cfg: ControlRoomConfig) -> list[tuple[str, str]]:
    rows = await conn.scalars(select(t.gateways.c.site).distinct().order_by(t.gateways.c.site))
    return [(site, cfg.console.site_name(site)) for site in rows]


def problem(g: dict[str, Any]) -> bool:
    """Worth a line of its own on the overview (the rest are a name to tap)."""
    return g["state"] != "online" or any(
        (c["desired"] and c["desired"] != c["state"]) or c["driver_ok"] is False
        for c in g["circuits"]) or any(
        (c["state"] or "") not in CONNECTED for c in g["cameras"]) or any(
        h["state"] in ("down", "degraded") for h in g["hotspots"])


async def active_alerts(conn: AsyncConnection, keys: Sequence[str] | None = None
                        ) -> list[dict[str, Any]]:
    query = select(t.alerts).where(t.alerts.c.status.in_(("pending", "firing"))) \
        .order_by(t.alerts.c.severity, t.alerts.c.since.desc())
    rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    if keys is not None:
        wanted = set(keys)
        rows = [r for r in rows if f"{r['site']}/{r['gateway']}" in wanted]
    order = {"critical": 0, "warning": 1, "info": 2}
    rows.sort(key=lambda r: (r["status"] != "firing", order.get(r["severity"], 3),
                             -(r["fired_at"] or r["since"])))
    return rows


async def overview(conn: AsyncConnection, now: float, cfg: ControlRoomConfig
                   ) -> dict[str, Any]:
    rows = await summary(conn, now, cfg)
    return {"alerts": await active_alerts(conn), "villages": villages(rows, cfg),
            "totals": counts(rows)}


async def gateway(conn: AsyncConnection, key: str, now: float, cfg: ControlRoomConfig
                  ) -> dict[str, Any] | None:
    rows = await queries.fleet(conn, now, cfg.fleet, keys=[key])
    if not rows:
        return None
    return {"g": rows[0], "alerts": await active_alerts(conn, [key]),
            "events": await queries.events(conn, gateway=key, limit=20),
            "commands": await queries.commands(conn, gateway=key, limit=10),
            "names": (await subject_names(conn, [key])).get(key, {})}


async def subject_names(conn: AsyncConnection, keys: Sequence[str]
                        ) -> dict[str, dict[str, str]]:
    """Gateway key -> {"light/<circuit>" / "camera/<camera>" / "hotspot/<hotspot>": its name},
    for the commands and alerts of those gateways in the reader's words (only what has a
    name: the rest keep their id)."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    if not keys:
        return out
    for table, column, kind in ((t.circuits, "circuit", "light"), (t.cameras, "camera", "camera"),
                                (t.hotspots, "hotspot", "hotspot")):
        # the name alone, as the overview reads it: not every state's whole payload
        query = select(table.c.gateway_key, table.c[column], _summary_column(table, "name")) \
            .where(table.c.gateway_key.in_(sorted(set(keys))))
        for key, ident, name in await conn.execute(query):
            if name:
                out[key][f"{kind}/{ident}"] = name
    return out


async def lights(conn: AsyncConnection, now: float, cfg: ControlRoomConfig,
                 site: str | None = None, gateway: str | None = None) -> dict[str, Any]:
    keys = await keys_of(conn, site, gateway)
    rows = await queries.fleet(conn, now, cfg.fleet, keys=keys)
    tz = ZoneInfo(cfg.console.timezone)
    bounds = stats.day_starts(now, ENERGY_DAYS, tz)
    energy = await light_on_seconds(conn, [r["gateway_key"] for r in rows], bounds, now)
    out = villages(rows, cfg)
    today = datetime.fromtimestamp(now, tz).date()
    for village in out:
        place = cfg.console.location(village["site"])
        village["sun"] = stats.sun_times(*place, today, tz) if place else None
        hours = [0.0] * ENERGY_DAYS
        seen = [False] * ENERGY_DAYS
        for g in village["gateways"]:
            for c in g["circuits"]:
                per_day = energy.get((g["gateway_key"], c["circuit"]), [])
                c["energy"] = per_day
                for i, value in enumerate(per_day):
                    if value is not None:
                        hours[i] += value / 3600
                        seen[i] = True
        village["energy"] = [(b, h if s else None)
                             for b, h, s in zip(bounds[:-1], hours, seen, strict=True)]
    return {"villages": out, "site": site, "gateway": gateway}


async def light_on_seconds(conn: AsyncConnection, keys: list[str], bounds: list[float],
                           now: float) -> dict[tuple[str, str], list[float | None]]:
    """Seconds on per circuit per interval of ``bounds`` (local days), from the recorded
    switches: the one definition of on-hours (the lights page and ``/api/energy``)."""
    if not keys:
        return {}
    h = t.light_history
    changes: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    query = select(h.c.gateway_key, h.c.circuit, h.c.ts, h.c.state) \
        .where(h.c.gateway_key.in_(keys), h.c.ts >= bounds[0]).order_by(h.c.ts)
    for key, circuit, ts, state in await conn.execute(query):
        changes[(key, circuit)].append((ts, state))
    before = await _state_before(conn, keys, bounds[0])
    return {pair: stats.time_in_state(items, frozenset({"on"}), bounds, now, before.get(pair))
            for pair, items in changes.items()}


async def _state_before(conn: AsyncConnection, keys: list[str], at: float
                        ) -> dict[tuple[str, str], str]:
    h = t.light_history
    last = select(h.c.gateway_key, h.c.circuit, func.max(h.c.ts).label("ts")) \
        .where(h.c.gateway_key.in_(keys), h.c.ts < at) \
        .group_by(h.c.gateway_key, h.c.circuit).subquery()
    query = select(h.c.gateway_key, h.c.circuit, h.c.state).join(
        last, (h.c.gateway_key == last.c.gateway_key) & (h.c.circuit == last.c.circuit)
        & (h.c.ts == last.c.ts))
    return {(k, c): s for k, c, s in await conn.execute(query)}


# a rule's first word that is the kind its subject is named under in ``subject_names``
_SUBJECT_KINDS = frozenset({"camera", "light", "hotspot"})


async def alerts(conn: AsyncConnection, limit: int = 100) -> dict[str, Any]:
    history = await queries.alert_history(conn, limit)
    # an alert's line names its camera, circuit or hotspot as its page does (the key holds
    # its id)
    parts = [str(h["key"]).split(":", 2) for h in history]
    names = await subject_names(conn, [p[1] for p in parts if len(p) == 3])
    for h, (rule, place, *subject) in zip(history, parts, strict=True):
        kind = rule.split("_", 1)[0]
        if subject and kind in _SUBJECT_KINDS:
            h["subject_name"] = names.get(place, {}).get(f"{kind}/{subject[0]}")
    return {"active": await active_alerts(conn), "history": history}


async def change_mark(conn: AsyncConnection) -> tuple[Any, ...]:
    """Changes whenever anything a live page shows may have changed: every ingested
    message moves a gateway's ``last_seen``; alert changes move ``updated_at``."""
    g = await conn.execute(select(func.max(t.gateways.c.last_seen),
                                  func.count(t.gateways.c.gateway_key)))
    a = await conn.execute(select(func.max(t.alerts.c.updated_at), func.count(t.alerts.c.key)))
    c = await conn.scalar(select(func.max(t.commands.c.requested_at)))
    return (*g.one(), *a.one(), c)
