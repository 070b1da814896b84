"""The aiohttp application: page, JSON API, commands, snapshots, /healthz, /metrics."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from contract import ContractError, decode
from edge_agent.runtime import AgentContext
from edge_agent.web.config import HttpConfig
from edge_agent.web.health_check import HealthJudge, HealthVerdict
from edge_agent.web.metrics import make_registry, render
from edge_agent.web.page import render_page
from edge_agent.web.view import api_status

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
WRONG_TOKEN_DELAY_S = 0.5  # slows down guessing without a lock-out a technician could trip
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")
SECURITY_HEADERS = {
    # nothing but this gateway: no CDN, no fonts, no trackers (and no framing)
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src 'self'; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebApp:
    def __init__(self, ctx: AgentContext, config: HttpConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ctx = ctx
        self.config = config
        self._clock = clock
        self.judge = HealthJudge(config.crash_loop_restarts, config.crash_loop_window_s,
                                 config.outbox_unhealthy_percent)
        self.registry = make_registry(ctx, lambda: self.verdict().as_dict())
        self._page = render_page(ctx.config.gateway.id, config.refresh_s).encode()

    def verdict(self) -> HealthVerdict:
        return self.judge.judge(self.ctx.status(), self._clock())

    def build(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[_security_headers])
        app.router.add_get("/", self.page)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/api/status", self.status)
        app.router.add_post("/api/command/{path:.+}", self.command)
        app.router.add_get("/snapshot/{camera}.jpg", self.snapshot)
        return app

    # -- read-only ---------------------------------------------------------------------
    async def page(self, request: web.Request) -> web.Response:
        return web.Response(body=self._page, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    async def healthz(self, request: web.Request) -> web.Response:
        verdict = self.verdict()
        return web.json_response(verdict.as_dict(), status=200 if verdict.healthy else 503,
                                 headers={"Cache-Control": "no-store"})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=render(self.registry),
                            headers={"Content-Type": "text/plain; version=0.0.4; "
                                                     "charset=utf-8"})

    async def status(self, request: web.Request) -> web.Response:
        body = api_status(self.ctx, self.verdict().as_dict(), self.config.token is not None)
        return web.json_response(body, dumps=_dumps, headers={"Cache-Control": "no-store"})

    async def snapshot(self, request: web.Request) -> web.Response:
        camera = request.match_info["camera"]
        jpeg = self.ctx.state.get(f"camera/{camera}/snapshot") if _ID.match(camera) else None
        if not isinstance(jpeg, bytes):
            raise web.HTTPNotFound(text=f"no snapshot for camera {camera!r} yet")
        # versioned URLs (?v=checksum) never change content: let the phone cache them
        cache = "max-age=86400" if "v" in request.query else "no-cache"
        return web.Response(body=jpeg, content_type="image/jpeg",
                            headers={"Cache-Control": cache})

    # -- writes ------------------------------------------------------------------------
    async def command(self, request: web.Request) -> web.Response:
        refusal = self._authorise(request.headers.get("Authorization"))
        if refusal is not None:
            status, message = refusal
            log.warning("web: refused command from %s: %s", request.remote, message)
            if status == 403:
                await asyncio.sleep(WRONG_TOKEN_DELAY_S)
            headers = {"WWW-Authenticate": 'Bearer realm="edge-agent"'} if status == 401 else {}
            return web.json_response({"ok": False, "error": message}, status=status,
                                     headers=headers)
        path = request.match_info["path"]
        if not _PATH.match(path):
            return web.json_response({"ok": False, "error": f"bad command path {path!r}"},
                                     status=400)
        payload = await _json_object(request)
        if isinstance(payload, str):
            return web.json_response({"ok": False, "error": payload}, status=400)
        reply = await self.ctx.commands.execute(path, payload)
        log.info("web: command %s from %s: %s", path, request.remote,
                 "ok" if reply.get("ok") else reply.get("error"))
        return web.json_response(reply, status=200 if reply.get("ok") else 400, dumps=_dumps)

    def _authorise(self, header: str | None) -> tuple[int, str] | None:
        token = self.config.token
        if token is None:
            return 403, "write actions are disabled: no http.token is configured"
        if not header or not header.startswith("Bearer "):
            return 401, "write actions need 'Authorization: Bearer <token>'"
        given = header.removeprefix("Bearer ").strip().encode()
        if not hmac.compare_digest(given, token.get_secret_value().encode()):
            return 403, "wrong token"
        return None


async def _json_object(request: web.Request) -> dict[str, Any] | str:
    """The request body as a JSON object ({} when empty), or an error message."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return decode(raw)
    except ContractError as exc:  # depth, size, encoding, NaN: one line, never a traceback
        return f"body: {exc}"


def _dumps(value: Any) -> str:
    """Standard JSON only (a browser's JSON.parse refuses NaN); other types as text."""
    return json.dumps(value, default=str, allow_nan=False)


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.update(SECURITY_HEADERS)
    return response
