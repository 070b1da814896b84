"""The console's writes: light and camera commands (through the service's ``Commander``,
so they share the command audit), alert acknowledgement, users. Each is checked against
the user's role, needs the session's CSRF token (the middleware), and lands in the audit
log with the user's name."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from control_room.alerting import acknowledge
from control_room.api.app import CONTEXT
from control_room.auth import roles
from control_room.auth import store as users
from control_room.auth import web as auth
from control_room.commands import CommandRefused
from control_room.console.app import language, page
from control_room.console.i18n import N_, translations
from control_room.store import schema

PULSE_S = 5.0
MAX_NOTE = 500


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/act/light", light_action)
    r.add_post("/act/camera", camera_action)
    r.add_post("/act/ack", ack_action)
    r.add_post("/users", users_action)


def until_local(now: float, hhmm: str, tz: ZoneInfo) -> datetime:
    """The next moment the local clock shows ``hhmm`` (today, or tomorrow if passed)."""
    try:
        hour, minute = (int(x) for x in hhmm.split(":")[:2])
        here = datetime.fromtimestamp(now, tz)
        target = here.replace(hour=hour, minute=minute, second=0, microsecond=0)
    except ValueError:
        raise web.HTTPBadRequest(text="give the time as HH:MM") from None
    if target <= here:
        target += timedelta(days=1)
    # a wall-clock time in the zone: normalise across a DST change (none in Vietnam)
    return datetime.fromtimestamp(target.timestamp(), tz)


async def _form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: str(v)[:MAX_NOTE * 2] for k, v in form.items() if isinstance(v, str)}


def _reply(request: web.Request, ok: bool, message: str, status: int = 200
           ) -> web.StreamResponse:
    if request.headers.get("X-Requested-With") == "fetch":
        return auth.json_ok({"ok": ok, "message": message}, status)
    back = request.headers.get("Referer", "/")
    raise web.HTTPSeeOther(back if back.startswith(("/", "http")) else "/")


async def _command(request: web.Request, key: str, path: str, args: dict[str, Any],
                   what: str) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    user = auth.user(request)
    _ = translations(language(request)).gettext
    if not roles.can(user.role, roles.command_action(path)):
        raise web.HTTPForbidden(text="your role may not send this")
    detail: dict[str, Any] = {"path": path, "args": args}
    reason = ""
    if ctx.commander is None:
        ok, detail["status"] = False, "refused"
        reason = _("Commands are not available here")
    else:
        try:
            row = await ctx.commander.send(key, path, args, user.name)
        except CommandRefused as exc:
            row = {"status": "refused", "error": str(exc), "id": None}
        detail.update(status=row["status"], error=row.get("error"), command_id=row.get("id"))
        ok, reason = row["status"] == "ok", str(row.get("error") or "")
    await users.audit(ctx.db, time.time(), user.name, "command", f"{key} {path}", ok, detail,
                      auth.address(request))
    subject = await _subject(request, key, path)
    return _reply(request, ok, outcome(_, detail["status"], f"{subject} — {what}", reason),
                  200 if ok else 502)


def outcome(gettext: Any, status: str, what: str, reason: str = "") -> str:
    """One sentence for the toast: what was asked of which light or camera, and how it went
    (after a refusal the gateway's own reason, in its words: it is not in the catalog)."""
    _ = gettext
    sentence = {
        "ok": _("Done: %(what)s"),
        "timeout": _("No answer from the gateway: %(what)s"),
        "error": _("The gateway refused: %(what)s"),
    }.get(status, _("Not sent: %(what)s")) % {"what": what}
    return f"{sentence} ({reason})" if reason and status != "ok" else sentence


async def _subject(request: web.Request, key: str, path: str) -> str:
    """«Street light Main road» · Thôn Đông (gw-a): names, not the command path."""
    ctx = request.app[CONTEXT]
    _ = translations(language(request)).gettext
    kind, ident = (path.split("/") + ["", ""])[:2]
    table, column = (schema.circuits, "circuit") if kind == "light" else \
        (schema.cameras, "camera")
    async with ctx.db.connect() as conn:
        payload = await conn.scalar(select(table.c.payload).where(
            table.c.gateway_key == key, table.c[column] == ident))
    name = (payload or {}).get("name") or ident
    site, _slash, gateway = key.rpartition("/")
    place = ctx.config.console.site_name(site) if site else ""
    noun = _("Street light") if kind == "light" else _("Camera")
    return f"{noun} «{name}» · {place} ({gateway})" if place else f"{noun} «{name}» ({gateway})"


async def light_action(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    _ = translations(language(request)).gettext
    key, circuit, op = form.get("gw", ""), form.get("circuit", ""), form.get("op", "")
    if op == "override":
        state = form.get("state", "")
        if state not in ("on", "off"):
            raise web.HTTPBadRequest(text="state: on or off")
        tz = ZoneInfo(request.app[CONTEXT].config.console.timezone)
        until = until_local(time.time(), form.get("until", ""), tz)
        args: dict[str, Any] = {"state": state, "until": until.isoformat()}
        verb = _("On until %(time)s") if state == "on" else _("Off until %(time)s")
        what = verb % {"time": until.strftime("%H:%M %d/%m")}
    elif op == "pulse":
        args, what = {"seconds": PULSE_S}, _("Test switch")
    elif op == "clear":
        args, what = {}, _("Back to schedule")
    else:
        raise web.HTTPBadRequest(text="op: override, pulse or clear")
    return await _command(request, key, f"light/{circuit}/{op}", args, what)


async def camera_action(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    _ = translations(language(request)).gettext
    key, camera, op = form.get("gw", ""), form.get("camera", ""), form.get("op", "")
    words = {"arm": N_("Watch"), "disarm": N_("Stop watching"),
             "snapshot": N_("Take a picture")}
    if op not in words:
        raise web.HTTPBadRequest(text="op: arm, disarm or snapshot")
    return await _command(request, key, f"camera/{camera}/{op}", {}, _(words[op]))


async def ack_action(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    user = auth.user(request)
    _ = translations(language(request)).gettext
    if not roles.can(user.role, "ack"):
        raise web.HTTPForbidden(text="your role may not acknowledge alerts")
    form = await _form(request)
    key, note = form.get("key", ""), form.get("note", "").strip()[:MAX_NOTE] or None
    ok = await acknowledge(ctx.db, key, user.name, note, time.time())
    await users.audit(ctx.db, time.time(), user.name, "alert_ack", key, ok, {"note": note},
                      auth.address(request))
    return _reply(request, ok, _("Acknowledged") if ok else _("No such alert"),
                  200 if ok else 404)


async def users_action(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    user = auth.user(request)
    if not roles.can(user.role, "users"):
        raise web.HTTPForbidden(text="only an administrator manages users")
    form = await _form(request)
    op, name = form.get("op", ""), form.get("name", "").strip().lower()
    token, message, now = None, None, time.time()
    try:
        if op == "add":
            await users.add_user(ctx.db, name, form.get("role", ""), form.get("password", ""),
                                 now)
        elif op == "passwd":
            await users.set_password(ctx.db, name, form.get("password", ""), now)
        elif op == "role":
            await users.set_role(ctx.db, name, form.get("role", ""))
        elif op == "remove":
            if name == user.name:
                raise users.UserError(N_("You cannot remove yourself"))
            await users.remove_user(ctx.db, name)
        elif op == "token":
            token = await users.new_api_token(ctx.db, name)
        else:
            raise web.HTTPBadRequest(text="unknown operation")
        ok = True
    except users.UserError as exc:
        ok, message = False, exc.translated(translations(language(request)).gettext)
    await users.audit(ctx.db, now, user.name, f"user_{op}"[:64], name, ok,
                      {"role": form.get("role")} if op in ("add", "role") else
                      ({"error": message} if message else None), auth.address(request))
    async with ctx.db.connect() as conn:
        rows = await users.list_users(conn)
    return await page(request, "users.html", status=200 if ok else 400, view="users",
                      rows=rows, roles=roles.ROLES, token=(name, token) if token else None,
                      message=message)
