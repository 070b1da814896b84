"""Live pages over Server-Sent Events. One task watches the store for changes
(``data.change_mark``, every ``console.live_poll_s``); on a change it renders each watched
view once (per language and role) and hands the fragments that changed to every browser
watching it. A slow browser only delays itself: each has a mailbox that keeps the newest
fragment per element, never a growing queue."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from control_room.console.views import ViewKey

log = logging.getLogger(__name__)
HEARTBEAT_S = 15.0  # a comment line: proxies keep the stream open, the page sees life
REFRESH_S = 10.0  # re-render anyway: "last seen 3 min ago" and staleness move with time
Parts = dict[str, tuple[str, str]]  # element id -> (html, digest)
Build = Callable[[ViewKey], Awaitable[Parts]]


class Mailbox:
    def __init__(self) -> None:
        self.pending: Parts = {}
        self.changed_at = 0.0
        self.event = asyncio.Event()

    def put(self, fragments: Parts, at: float) -> None:
        self.pending.update(fragments)
        self.changed_at = self.changed_at or at
        self.event.set()

    def take(self) -> tuple[Parts, float]:
        out, at = self.pending, self.changed_at
        self.pending, self.changed_at = {}, 0.0
        self.event.clear()
        return out, at


class Hub:
    def __init__(self, build: Build, mark: Callable[[], Awaitable[Any]], poll_s: float,
                 version: str) -> None:
        self._build = build
        self._mark = mark
        self.poll_s = poll_s
        self.version = version
        self.watchers: dict[ViewKey, set[Mailbox]] = {}
        self.last: dict[ViewKey, Parts] = {}
        self._pending: dict[ViewKey, asyncio.Future[Parts]] = {}
        self.renders = 0
        self.closed = False

    async def close(self, _app: object = None) -> None:
        """The service is stopping: end every stream now (browsers reconnect to the next
        start), instead of holding the shutdown until its timeout."""
        self.closed = True
        for boxes in self.watchers.values():
            for box in boxes:
                box.event.set()

    def watch(self, key: ViewKey) -> Mailbox:
        box = Mailbox()
        self.watchers.setdefault(key, set()).add(box)
        return box

    def unwatch(self, key: ViewKey, box: Mailbox) -> None:
        boxes = self.watchers.get(key)
        if boxes is not None:
            boxes.discard(box)
            if not boxes:
                del self.watchers[key]
                self.last.pop(key, None)

    async def current(self, key: ViewKey) -> Parts:
        """The view's fragments for a new browser: the last ones sent, or one rendering
        shared by every browser arriving meanwhile (200 wall screens reconnecting after a
        restart must not start 200 renderings)."""
        if key in self.last:
            return self.last[key]
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._build(key))
            self._pending[key] = pending
            pending.add_done_callback(lambda _f: self._pending.pop(key, None))
        fragments = await asyncio.shield(pending)
        if key in self.watchers:
            self.last.setdefault(key, fragments)
        return fragments

    async def run(self) -> None:
        previous: Any = None
        refreshed = 0.0
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                mark = await self._mark()
                now = time.monotonic()
                if mark != previous or now - refreshed >= REFRESH_S:
                    previous, refreshed = mark, now
                    await self.publish(time.time())
            except Exception as exc:  # the database may be down: try again next tick
                log.warning("console live updates: %s", str(exc).splitlines()[0][:300])

    async def publish(self, at: float) -> None:
        for key in list(self.watchers):
            fragments = await self._build(key)
            self.renders += 1
            before = self.last.get(key, {})
            changed = {k: v for k, v in fragments.items()
                       if k not in before or before[k][1] != v[1]}
            self.last[key] = fragments
            if changed:
                for box in list(self.watchers.get(key, ())):
                    box.put(changed, at)


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def _swap(fragments: Parts, at: float) -> bytes:
    return _event("swap", {"f": {k: v[0] for k, v in fragments.items()},
                           "h": {k: v[1] for k, v in fragments.items()}, "t": at})


async def stream(request: web.Request, hub: Hub, key: ViewKey) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache, no-store",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    box = hub.watch(key)
    try:
        await response.write(b"retry: 3000\n\n" + _event("hello", {"version": hub.version}))
        await response.write(_swap(await hub.current(key), time.time()))
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(box.event.wait(), HEARTBEAT_S)
            if hub.closed:
                break
            if not box.event.is_set():
                await response.write(b": ping\n\n")
                continue
            fragments, at = box.take()
            await response.write(_swap(fragments, at))
    except ConnectionResetError:  # the browser went away
        pass
    finally:
        hub.unwatch(key, box)
    return response
