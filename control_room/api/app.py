"""The aiohttp application factory: ``/healthz``, ``/metrics`` and the JSON API under
``/api`` (bearer token). Later features (users, console pages) add their routes and
middlewares through ``extensions`` and read the running service from ``app[CONTEXT]``."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from control_room.context import ServiceContext

log = logging.getLogger(__name__)
CONTEXT: web.AppKey[ServiceContext] = web.AppKey("control_room_context", ServiceContext)
MAX_BODY = 256 * 1024
WRONG_TOKEN_DELAY_S = 0.5
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Extension = Callable[[web.Application], None]
API_USER = "api_user"  # request key: the console user whose own API token was given


def create_app(ctx: ServiceContext, extensions: Iterable[Extension] = ()) -> web.Application:
    from control_room.api import routes

    app = web.Application(client_max_size=MAX_BODY,
                          middlewares=[error_middleware, token_middleware])
    app[CONTEXT] = ctx
    routes.add_routes(app)
    for extend in extensions:
        extend(app)
    return app


def actor(request: web.Request, claimed: object, default: str) -> str:
    """Who did it: a user's own token names them; the service token may claim a name."""
    user = request.get(API_USER)
    if user is not None:
        return str(user.name)
    return str(claimed or default)


def error(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/api/"):
            return error(exc.status, exc.reason)
        raise
    except Exception as exc:  # one line for the client, the traceback in the log
        log.exception("api: %s %s failed", request.method, request.path)
        return error(500, f"{type(exc).__name__}: {exc}"[:300])


@web.middleware
async def token_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/") or request.get(API_USER) is not None:
        return await handler(request)  # a console user's own token (control_room.auth)
    token = request.app[CONTEXT].config.http.token
    if token is None:
        return error(403, "the API is disabled: set http.token (or http.token_file)")
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        await asyncio.sleep(WRONG_TOKEN_DELAY_S)
        return error(401, "missing or wrong bearer token (Authorization: Bearer TOKEN)")
    return await handler(request)


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(reason="the body is not JSON") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(reason="the body must be a JSON object")
    return data
