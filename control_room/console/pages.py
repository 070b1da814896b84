"""The console's GET pages: the live views, the live stream, snapshots, audit and users."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from control_room.api.app import CONTEXT, Handler
from control_room.auth import roles
from control_room.auth import store as users
from control_room.auth import web as auth
from control_room.console import data, live
from control_room.console.app import HUB, RENDERER, fragments, language, page
from control_room.console.i18n import LANGUAGES
from control_room.console.thumbs import WIDTHS, Thumbnails
from control_room.console.views import VIEWS, ViewKey, load, params_of

THUMBS: web.AppKey[Thumbnails] = web.AppKey("console_thumbs", Thumbnails)
AUDIT_PAGE = 100


def add_routes(app: web.Application) -> None:
    app[THUMBS] = Thumbnails(app[CONTEXT].config.storage.data_dir)
    r = app.router
    for path, name in (("/", "overview"), ("/lights", "lights"), ("/cameras", "cameras"),
                       ("/hotspots", "hotspots"), ("/alerts", "alerts"), ("/wall", "wall"),
                       ("/events", "events")):
        r.add_get(path, _view_handler(name))
    r.add_get("/g/{site}/{gateway}", gateway_page)
    r.add_get("/live", live_stream)
    r.add_get("/audit", audit_page)
    r.add_get("/users", users_page)
    r.add_get("/snap/{sha}", snapshot)
    r.add_get("/thumb/{sha}", thumbnail)
    r.add_post("/lang", set_language)


def _allowed(request: web.Request, page_name: str) -> users.User:
    user = auth.user(request)
    if not roles.can_view(user.role, page_name):
        raise web.HTTPForbidden(text="this page is not for your role")
    return user


def _view_handler(name: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        user = auth.user(request)
        if name == "overview" and not roles.can_view(user.role, name):
            raise web.HTTPSeeOther(roles.home(user.role))
        return await view_page(request, name, dict(request.query))
    return handler


async def view_page(request: web.Request, name: str, query: dict[str, str]
                    ) -> web.StreamResponse:
    view = VIEWS[name]
    _allowed(request, view.permission)
    started, cpu = time.perf_counter(), time.process_time()
    params = params_of(view, query)
    ctx = request.app[CONTEXT]
    async with ctx.db.connect() as conn:
        found = await load(view, conn, ctx.config, params)
    if found is None:
        raise web.HTTPNotFound(text="no such gateway")
    live_url = "/live?" + urlencode({"v": name, **dict(params)})
    user = auth.user(request)
    parts = fragments(request.app[RENDERER], view, language(request), user.role, found)
    response = await page(request, view.template, view=view.permission, live_url=live_url,
                          **found, frags={k: Markup(v[0]) for k, v in parts.items()},
                          hashes={k: v[1] for k, v in parts.items()})
    # for the benchmark and the browser's dev tools: wall and CPU time of this worker
    response.headers["Server-Timing"] = (
        f"app;dur={(time.perf_counter() - started) * 1000:.1f}, "
        f"cpu;dur={(time.process_time() - cpu) * 1000:.1f}")
    return response


async def gateway_page(request: web.Request) -> web.StreamResponse:
    key = f"{request.match_info['site']}/{request.match_info['gateway']}"
    return await view_page(request, "gateway", {"gw": key})


async def live_stream(request: web.Request) -> web.StreamResponse:
    user = auth.user(request)
    view = VIEWS.get(request.query.get("v", ""))
    if view is None:
        raise web.HTTPNotFound(text="no such view")
    if not roles.can_view(user.role, view.permission):
        raise web.HTTPForbidden(text="this page is not for your role")
    key = ViewKey(view.name, params_of(view, request.query), language(request), user.role)
    return await live.stream(request, request.app[HUB], key)


async def audit_page(request: web.Request) -> web.StreamResponse:
    _allowed(request, "audit")
    ctx = request.app[CONTEXT]
    before = request.query.get("before")
    async with ctx.db.connect() as conn:
        rows = await users.audit_rows(conn, AUDIT_PAGE, request.query.get("actor") or None,
                                      int(before) if before and before.isdigit() else None)
        names = await data.subject_names(conn, [
            str(r["target"]).partition(" ")[0] for r in rows
            if r["action"] == "command" and r["target"]])
    return await page(request, "audit.html", view="audit", rows=rows, names=names,
                      more=rows[-1]["id"] if len(rows) == AUDIT_PAGE else None)


async def users_page(request: web.Request) -> web.StreamResponse:
    _allowed(request, "users")
    ctx = request.app[CONTEXT]
    async with ctx.db.connect() as conn:
        rows = await users.list_users(conn)
    return await page(request, "users.html", view="users", rows=rows, roles=roles.ROLES,
                      token=None, message=None)


def _snapshot_file(request: web.Request) -> tuple[str, Path]:
    sha = request.match_info["sha"]
    try:
        path = request.app[CONTEXT].snapshots.path(sha)
    except ValueError:
        raise web.HTTPBadRequest(text="not a sha256") from None
    if not path.is_file():
        raise web.HTTPNotFound(text="this picture is no longer kept")
    return sha, path


IMMUTABLE = {"Cache-Control": "private, max-age=31536000, immutable"}


async def snapshot(request: web.Request) -> web.StreamResponse:
    _allowed(request, "cameras")
    _, path = _snapshot_file(request)
    return web.FileResponse(path, headers={"Content-Type": "image/jpeg", **IMMUTABLE})


async def thumbnail(request: web.Request) -> web.StreamResponse:
    _allowed(request, "cameras")
    sha, source = _snapshot_file(request)
    try:
        width = int(request.query.get("w", "320"))
    except ValueError:
        width = 320
    width = min(WIDTHS, key=lambda w: abs(w - width))
    path = await request.app[THUMBS].get(source, sha, width)
    return web.FileResponse(path, headers={"Content-Type": "image/jpeg", **IMMUTABLE})


async def set_language(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    lang = str(form.get("lang") or "")
    if lang not in LANGUAGES:
        raise web.HTTPBadRequest(text="unknown language")
    found = auth.current(request)
    if found is None:  # the login page: /lang is public, keep it to the cookie
        cookie = request.cookies.get(auth.SESSION_COOKIE)
        ctx = request.app[CONTEXT]
        found = await users.session(ctx.db, cookie, time.time(),
                                    ctx.config.console.session_days * 86400) if cookie else None
    if found is not None:
        await users.set_language(request.app[CONTEXT].db, found.user.name, lang)
    back = str(form.get("back") or "/")
    response = web.HTTPSeeOther(back if back.startswith("/") and not back.startswith("//")
                                else "/")
    auth.set_cookie(request, response, auth.LANG_COOKIE, lang, 400 * 86400)
    raise response
