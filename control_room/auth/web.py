"""Logins on the console: the session middleware (HttpOnly SameSite cookie, Secure behind
TLS, CSRF token on every write), per-user API tokens on ``/api/*``, the login and logout
pages, and the audit of every write."""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import time
from typing import Any
from urllib.parse import quote

from aiohttp import web

from control_room.api.app import API_USER, CONTEXT, Handler, error
from control_room.auth import roles, store
from control_room.auth.ratelimit import LoginLimiter
from control_room.console.config import ConsoleSection

SESSION_COOKIE = "cr_session"
LOGIN_COOKIE = "cr_login"  # double-submit token of the login form (no session yet)
LANG_COOKIE = "cr_lang"
SESSION = "console_session"
LIMITER: web.AppKey[LoginLimiter] = web.AppKey("console_login_limiter", LoginLimiter)
PUBLIC = ("/login", "/static/", "/healthz", "/metrics", "/lang", "/favicon.ico")


def console_cfg(request: web.Request) -> ConsoleSection:
    return request.app[CONTEXT].config.console


def address(request: web.Request) -> str:
    remote = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded and _trusted(remote, console_cfg(request).trusted_proxies):
        return forwarded.split(",")[0].strip()[:64]
    return remote


def _trusted(remote: str, proxies: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(p, strict=False) for p in proxies)


def is_tls(request: web.Request) -> bool:
    mode = console_cfg(request).secure_cookies
    if mode != "auto":
        return mode == "always"
    if request.secure:
        return True
    return (request.headers.get("X-Forwarded-Proto") == "https"
            and _trusted(request.remote or "", console_cfg(request).trusted_proxies))


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               max_age: float | None) -> None:
    response.set_cookie(name, value, max_age=int(max_age) if max_age else None, path="/",
                        httponly=True, samesite="Lax", secure=is_tls(request))


def current(request: web.Request) -> store.Session | None:
    found = request.get(SESSION)
    return found if isinstance(found, store.Session) else None


def user(request: web.Request) -> store.User:
    found = current(request)
    if found is None:
        raise web.HTTPUnauthorized()
    return found.user


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if path.startswith("/api/"):
        return await _api(request, handler)
    if path == "/" or not path.startswith(PUBLIC):
        ctx = request.app[CONTEXT]
        cookie = request.cookies.get(SESSION_COOKIE)
        found = await store.session(ctx.db, cookie, time.time(),
                                    ctx.config.console.session_days * 86400) if cookie else None
        if found is None:
            if request.method == "GET" and path != "/live":
                raise web.HTTPSeeOther(f"/login?next={quote(path_qs(request), safe='')}")
            raise web.HTTPUnauthorized(text="log in first")
        request[SESSION] = found
        if request.method == "POST" and not await _csrf_ok(request, found.csrf):
            raise web.HTTPForbidden(text="the form is stale: reload the page")
    return await handler(request)


def path_qs(request: web.Request) -> str:
    return request.rel_url.path_qs


async def _csrf_ok(request: web.Request, expected: str) -> bool:
    given = request.headers.get("X-CSRF-Token")
    if given is None:
        form = await request.post()
        value = form.get("csrf")
        given = value if isinstance(value, str) else None
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def _api(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    given = request.headers.get("Authorization", "")
    if not given.startswith("Bearer "):
        return await handler(request)  # the service token middleware answers
    token = given[7:].strip()
    service = ctx.config.http.token
    if service is not None and hmac.compare_digest(token.encode(),
                                                   service.get_secret_value().encode()):
        return await handler(request)
    found = await store.user_by_token(ctx.db, token)
    if found is None:
        return await handler(request)  # refused there, with its delay
    command = None
    if request.method == "POST" and request.path == "/api/commands":
        try:
            body = await request.json()
            command = str(body.get("command")) if isinstance(body, dict) else None
        except ValueError:
            command = None
    if not roles.api_allows(found.role, request.method, request.path, command):
        return error(403, f"user {found.name} ({found.role}) may not "
                          f"{request.method} {request.path}")
    request[API_USER] = found
    response = await handler(request)
    if request.method == "POST":
        await store.audit(ctx.db, time.time(), found.name, "api", request.path,
                          response.status < 400, {"status": response.status,
                                                  "command": command}, address(request))
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    from control_room.console.app import page

    # one token per browser, kept: a second tab (or a favicon fetch) must not spoil the first
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    response = await page(request, "login.html", status=200, login_token=token,
                          next=request.query.get("next", ""), message=None)
    set_cookie(request, response, LOGIN_COOKIE, token, 3600)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    from control_room.console.app import page

    ctx = request.app[CONTEXT]
    form = await request.post()
    name = str(form.get("name") or "").strip().lower()[:64]
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or ""))
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(),
                                             str(form.get("login_token") or "").encode()):
        raise web.HTTPSeeOther("/login")  # stale or forged form: a fresh one
    limiter, now, addr = request.app[LIMITER], time.time(), address(request)
    keys = limiter.keys(name, addr)
    wait = limiter.wait_s(keys, now)
    if wait > 0:
        await store.audit(ctx.db, now, name or "?", "login_failed", None, False,
                          {"reason": "rate limited"}, addr)
        return await page(request, "login.html", status=429, login_token=cookie,
                          next=target, message=("wait", int(wait // 60) + 1))
    found = await store.check_password(ctx.db, name, password) if name else None
    if found is None:
        limiter.failed(keys, now)
        await store.audit(ctx.db, now, name or "?", "login_failed", None, False,
                          {"reason": "wrong name or password"}, addr)
        return await page(request, "login.html", status=401, login_token=cookie,
                          next=target, message=("wrong", 0))
    limiter.succeeded(keys[0])
    lifetime = ctx.config.console.session_days * 86400
    value = await store.open_session(ctx.db, found, now, lifetime, addr)
    await store.audit(ctx.db, now, found.name, "login", None, True, None, addr)
    response = web.HTTPSeeOther(target or roles.home(found.role))
    set_cookie(request, response, SESSION_COOKIE, value, lifetime)
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


def _safe_next(target: str) -> str:
    """Only a path on this site (no //evil.example)."""
    return target if target.startswith("/") and not target.startswith("//") else ""


async def logout(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    found = current(request)
    if found is not None:
        await store.close_session(ctx.db, found.id_hash)
        await store.audit(ctx.db, time.time(), found.user.name, "logout", None, True, None,
                          address(request))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def json_ok(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")
