"""The console on the service's aiohttp app: ``setup(app)`` is the extension that
``control-room run`` installs (routes, the login middleware, the live-update task)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from control_room.api.app import CONTEXT, Extension
from control_room.auth import web as auth
from control_room.auth.ratelimit import LoginLimiter
from control_room.auth.store import User
from control_room.console import data
from control_room.console.i18n import LANGUAGES
from control_room.console.live import Hub
from control_room.console.render import STATIC, Renderer, static_version
from control_room.console.views import VIEWS, View, ViewKey, load

RENDERER: web.AppKey[Renderer] = web.AppKey("console_renderer", Renderer)
HUB: web.AppKey[Hub] = web.AppKey("console_hub", Hub)


def default_extensions() -> tuple[Extension, ...]:
    return (setup,)


def setup(app: web.Application) -> None:
    from control_room.console import actions, pages

    ctx = app[CONTEXT]
    cfg = ctx.config.console
    if not cfg.enabled:
        return
    app.middlewares.insert(1, auth.auth_middleware)  # after the error middleware
    app[auth.LIMITER] = LoginLimiter(cfg.login_max_failures, cfg.login_window_s)
    renderer = Renderer(cfg.timezone, cfg.site_name)
    app[RENDERER] = renderer

    async def build(key: ViewKey) -> Parts:
        view = VIEWS[key.view]
        async with ctx.db.connect() as conn:
            found = await load(view, conn, ctx.config, key.params)
        return fragments(renderer, view, key.lang, key.role, found or {})

    async def mark() -> Any:
        async with ctx.db.connect() as conn:
            return await data.change_mark(conn)

    app[HUB] = Hub(build, mark, cfg.live_poll_s, static_version())
    app.on_shutdown.append(app[HUB].close)
    app.cleanup_ctx.append(_hub_task)
    app.router.add_static("/static/", STATIC, append_version=False)
    app.router.add_get("/login", auth.login_page)
    app.router.add_post("/login", auth.login)
    app.router.add_post("/logout", auth.logout)
    pages.add_routes(app)
    actions.add_routes(app)


async def _hub_task(app: web.Application) -> AsyncIterator[None]:
    from control_room.console.pages import THUMBS
    from control_room.console.thumbs import warm

    ctx = app[CONTEXT]
    tasks = [asyncio.create_task(app[HUB].run(), name="console-live"),
             asyncio.create_task(warm(app[THUMBS], ctx.snapshots, ctx.db),
                                 name="console-thumbnails")]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


PART = re.compile(r"<!--part:([\w-]+)-->(.*?)<!--/part-->", re.S)
Parts = dict[str, tuple[str, str]]  # element id -> (html, digest)


def fragments(renderer: Renderer, view: View, lang: str, role: str, found: dict[str, Any]
              ) -> Parts:
    """A view's live parts. They depend only on the data, the language and the role (no
    user name, no CSRF token: the script adds it when a form is sent), so one rendering
    serves every browser watching the view, and a page's parts equal what the stream sends.

    A fragment may mark parts of itself (``<!--part:ID-->…<!--/part-->``, e.g. one village
    of the overview): each becomes an element of its own, so one gateway's change sends that
    village (a kB) instead of the whole fleet (a hundred kB over 3G, times every browser)."""
    user = User("", role)
    out: Parts = {}
    for element, name in view.fragments.items():
        html = renderer.render(name, lang, user, **found)
        parts: Parts = {}

        def cut(match: re.Match[str], parts: Parts = parts) -> str:
            inner = match.group(2)
            parts[match.group(1)] = (inner, digest(inner))
            return f'<div id="{match.group(1)}" data-h="{parts[match.group(1)][1]}">{inner}</div>'

        whole = PART.sub(cut, html)
        # the fragment itself changes only when its skeleton (which parts, in which order) does
        skeleton = PART.sub(lambda m: f"<{m.group(1)}>", html)
        out[element] = (whole, digest(skeleton))
        out.update(parts)
    return out


def digest(html: str) -> str:
    return hashlib.sha1(html.encode(), usedforsecurity=False).hexdigest()[:12]


def language(request: web.Request) -> str:
    found = auth.current(request)
    for choice in (found.user.language if found else None,
                   request.cookies.get(auth.LANG_COOKIE),
                   request.app[CONTEXT].config.console.default_language):
        if choice in LANGUAGES:
            return str(choice)
    return LANGUAGES[0]


async def page(request: web.Request, template: str, status: int = 200,
               **context: Any) -> web.Response:
    found = auth.current(request)
    html = request.app[RENDERER].render(
        template, language(request), found.user if found else None,
        csrf=found.csrf if found else "", path=request.rel_url.path_qs, **context)
    response = web.Response(text=html, status=status, content_type="text/html",
                            headers={"Cache-Control": "no-store",
                                     "Content-Security-Policy": CSP,
                                     "X-Content-Type-Options": "nosniff",
                                     "Referrer-Policy": "same-origin"})
    response.enable_compression()  # gzip when the browser takes it: slow 3G links
    return response


# inline styles/scripts are not needed: everything comes from /static
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
