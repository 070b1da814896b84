"""The JSON API's handlers. Reads go through ``control_room.store.queries``."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from control_room.alerting import acknowledge
from control_room.api.app import CONTEXT, actor, error, json_body
from control_room.commands import CommandRefused
from control_room.console.data import light_on_seconds
from control_room.console.stats import day_starts
from control_room.store import queries
from control_room.store import schema as t


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/healthz", healthz)
    r.add_get("/metrics", metrics)
    r.add_get("/api/status", status)
    r.add_get("/api/gateways", gateways)
    r.add_get("/api/gateways/{site}/{gateway}", gateway)
    r.add_get("/api/gateways/{gateway}", gateway)
    r.add_get("/api/alerts", alerts)
    r.add_post("/api/alerts/ack", alert_ack)
    r.add_get("/api/events", events)
    r.add_get("/api/loss", loss)
    r.add_get("/api/quarantine", quarantine)
    r.add_get("/api/energy", energy)
    r.add_get("/api/commands", command_log)
    r.add_post("/api/commands", send_command)
    r.add_get("/api/snapshots/{sha256}", snapshot)


def _int(request: web.Request, name: str, default: int, high: int = 10000) -> int:
    try:
        return max(1, min(high, int(request.query.get(name, default))))
    except ValueError:
        raise web.HTTPBadRequest(reason=f"{name} must be a number") from None


def _float(request: web.Request, name: str) -> float | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"{name} must be a number (Unix seconds)") from None


async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    state = ctx.status()
    healthy = state["mqtt_connected"] and not state["database_error"]
    return web.json_response({"ok": healthy, **state}, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    if ctx.ingest is not None:
        ctx.metrics.pending.set(ctx.ingest.pending)
    return web.Response(body=ctx.metrics.render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def status(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    async with ctx.db.connect() as conn:
        counts = {"quarantined": await queries.quarantine_count(conn),
                  "messages": await queries.message_count(conn)}
    return web.json_response({**ctx.status(), **counts})


async def gateways(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    async with ctx.db.connect() as conn:
        rows = await queries.fleet(conn, ctx.clock(), ctx.config.fleet)
    return web.json_response({"gateways": queries.json_fleet(rows)})


async def _key(request: web.Request) -> str:
    ctx = request.app[CONTEXT]
    site = request.match_info.get("site")
    ident = f"{site}/{request.match_info['gateway']}" if site else request.match_info["gateway"]
    async with ctx.db.connect() as conn:
        try:
            key = await queries.resolve_gateway(conn, ident)
        except queries.Ambiguous as exc:
            raise web.HTTPConflict(reason=str(exc)) from None
    if key is None:
        raise web.HTTPNotFound(reason=f"no gateway {ident!r}")
    return key


async def gateway(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    key = await _key(request)
    async with ctx.db.connect() as conn:
        rows = await queries.fleet(conn, ctx.clock(), ctx.config.fleet, keys=[key])
        detail = queries.json_fleet(rows, detail=True)[0]
        detail["events"] = await queries.events(conn, gateway=key, limit=50)
        detail["loss"] = await queries.losses(conn, gateway=key)
        detail["dropped"] = await queries.dropped(conn, gateway=key)
        detail["commands"] = await queries.commands(conn, gateway=key, limit=20)
        detail["lights"] = await queries.light_history(conn, key, limit=50)
    return web.json_response(detail)


async def alerts(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    async with ctx.db.connect() as conn:
        rows = await queries.alerts(conn, request.query.get("status"))
        history = await queries.alert_history(conn, _int(request, "history", 50))
    return web.json_response({"alerts": rows, "history": history,
                              "engine": ctx.alerts is not None})


async def alert_ack(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = await json_body(request)
    key, by = body.get("key"), actor(request, body.get("by"), "")
    if not isinstance(key, str) or not isinstance(by, str) or not by:
        return error(400, "give {\"key\": ALERT_KEY, \"by\": NAME, \"note\": TEXT}")
    note = body.get("note")
    if not await acknowledge(ctx.db, key, by, str(note) if note else None, time.time()):
        return error(404, f"no alert {key!r}")
    return web.json_response({"ok": True})


async def events(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    gateway = request.query.get("gateway")
    async with ctx.db.connect() as conn:
        if gateway and "/" not in gateway:
            gateway = await queries.resolve_gateway(conn, gateway) or gateway
        rows = await queries.events(conn, gateway=gateway, kind=request.query.get("kind"),
                                    since=_float(request, "since"),
                                    limit=_int(request, "limit", 200))
    return web.json_response({"events": rows})


async def loss(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    async with ctx.db.connect() as conn:
        rows = await queries.losses(conn, request.query.get("gateway"))
        dropped = await queries.dropped(conn, request.query.get("gateway"))
    return web.json_response({"loss": rows, "dropped": dropped,
                              "unexplained": sum(r["count"] - r["recovered"] for r in rows)})


async def quarantine(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    async with ctx.db.connect() as conn:
        rows = await queries.quarantine(conn, _int(request, "limit", 100))
        total = await queries.quarantine_count(conn)
    return web.json_response({"total": total, "quarantine": rows})


async def energy(request: web.Request) -> web.Response:
    """On-hours per circuit per local day (the console's zone), as the lights page counts
    them; today so far is the last day."""
    ctx = request.app[CONTEXT]
    days = _int(request, "days", 7, 366)
    now = ctx.clock()
    tz = ZoneInfo(ctx.config.console.timezone)
    bounds = day_starts(now, days, tz)
    async with ctx.db.connect() as conn:
        keys = list(await conn.scalars(select(t.gateways.c.gateway_key)))
        on = await light_on_seconds(conn, keys, bounds, now)
    rows = [{"gateway_key": key, "circuit": circuit,
             "day": datetime.fromtimestamp(bounds[i], tz).date().isoformat(),
             "on_hours": round(seconds / 3600, 3)}
            for (key, circuit), per_day in sorted(on.items())
            for i, seconds in enumerate(per_day) if seconds is not None]
    rows.sort(key=lambda r: (r["day"], r["gateway_key"], r["circuit"]))
    return web.json_response({"energy": rows, "timezone": ctx.config.console.timezone})


async def command_log(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    async with ctx.db.connect() as conn:
        rows = await queries.commands(conn, request.query.get("gateway"),
                                      _int(request, "limit", 200))
    return web.json_response({"commands": rows})


async def send_command(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = await json_body(request)
    gateway, path = body.get("gateway"), body.get("command")
    args: Any = body.get("args") or {}
    if not isinstance(gateway, str) or not isinstance(path, str) or not isinstance(args, dict):
        return error(400, "give {\"gateway\": \"site/id\", \"command\": \"light/C/override\", "
                          "\"args\": {...}}")
    timeout = body.get("timeout_s")
    if ctx.commander is None:
        return error(503, "commands are not available on this worker")
    try:
        row = await ctx.commander.send(gateway, path, args,
                                       actor(request, body.get("actor"), "api"),
                                       float(timeout) if timeout else None)
    except CommandRefused as exc:
        return error(400, str(exc))
    code = {"ok": 200, "error": 422, "timeout": 504}.get(row["status"], 200)
    return web.json_response(row, status=code)


async def snapshot(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    try:
        path = ctx.snapshots.path(request.match_info["sha256"])
    except ValueError:
        return error(400, "not a sha256")
    if not path.is_file():
        return error(404, "no such snapshot (expired by the quota?)")
    return web.FileResponse(path, headers={"Content-Type": "image/jpeg",
                                           "Cache-Control": "max-age=31536000, immutable"})
