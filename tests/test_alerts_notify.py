"""Notifications against a real local HTTP server (aiohttp on 127.0.0.1, a free port): the
webhook channel and apprise's json:// and form:// schemas post to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from control_room.alerts.config import NotificationsConfig
from control_room.alerts.model import AlertState, Transition
from control_room.alerts.notify import Notifier

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@dataclass
class Hook:
    """A local HTTP endpoint: fails the first ``fail_first`` requests with ``fail_status``,
    or never answers (``hang``); records every request."""

    fail_first: int = 0
    fail_status: int = 503
    hang: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body: Any = dict(await request.post()) if request.content_type.endswith(
            "form-urlencoded") else json.loads(raw or b"null")
        self.requests.append({"path": request.path, "headers": dict(request.headers),
                              "body": body})
        self.arrived.set()
        if self.hang:
            await asyncio.sleep(3600)
        if len(self.requests) <= self.fail_first:
            return web.Response(status=self.fail_status, text="try later")
        return web.json_response({"ok": True})

    def url(self, path: str = "/hook", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def bodies(self) -> list[Any]:
        return [r["body"] for r in self.requests]


@contextlib.asynccontextmanager
async def serve(hook: Hook) -> AsyncIterator[Hook]:
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", hook.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    hook.port = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    try:
        yield hook
    finally:
        await runner.cleanup()


def alert(status: str = "firing", **fields: Any) -> AlertState:
    base: dict[str, Any] = dict(
        key="camera_offline:xa-a/gw1:gate", rule="camera_offline", site="xa-a", gateway="gw1",
        subject="gate", severity="warning", status=status,
        message="camera gate offline: connection refused", since=T0,
        fired_at=T0 + timedelta(seconds=60))
    base.update(fields)
    return AlertState(**base)


FIRED = Transition("fired", alert(), T0 + timedelta(seconds=60))
RESOLVED = Transition("resolved", alert("resolved", resolved_at=T0 + timedelta(minutes=9)),
                      T0 + timedelta(minutes=9))


def config(**fields: Any) -> NotificationsConfig:
    fields.setdefault("retry_base_s", 0.01)
    fields.setdefault("retry_cap_s", 0.05)
    return NotificationsConfig.model_validate(fields)


class Deliveries:
    """The on_delivered callback: what the store would persist as "notified" flags."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str, str]] = []
        self.changed = asyncio.Event()

    async def __call__(self, transition: Transition, channel: str) -> None:
        self.done.append((transition.alert.incident, transition.kind, channel))
        self.changed.set()

    async def wait_for(self, count: int, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.done) < count:
                self.changed.clear()
                await self.changed.wait()


async def until(done: Callable[[], bool], timeout: float = 20.0) -> None:
    """Waits for a counter the notifier bumps (it has no event to wait on)."""
    async with asyncio.timeout(timeout):
        while True:
            if done():
                return
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(notifier: Notifier) -> AsyncIterator[Notifier]:
    task = asyncio.create_task(notifier.run())
    try:
        yield notifier
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_webhook_failing_first_requests_is_retried_and_delivered_once() -> None:
    async with serve(Hook(fail_first=3)) as hook:
        delivered = Deliveries()
        notifier = Notifier(config(webhooks=[{"url": hook.url(), "headers": {"X-Token": "t"}}]),
                            delivered)
        async with running(notifier):
            assert notifier.submit(FIRED) and notifier.submit(RESOLVED)
            await delivered.wait_for(2)
        ids = [b["id"] for b in hook.bodies()]
        incident = FIRED.alert.incident
        # 3 refusals of 'fired', then 'fired' once, then 'resolved' once: in order
        assert ids == [f"{incident}:fired"] * 4 + [f"{incident}:resolved"]
        assert delivered.done == [(incident, "fired", notifier.channel_names[0]),
                                  (incident, "resolved", notifier.channel_names[0])]
        assert (notifier.counters.sent, notifier.counters.retried, notifier.counters.failed) == (
            2, 3, 0)
        last = hook.requests[-2]
        assert last["headers"]["X-Token"] == "t"
        assert last["headers"]["Idempotency-Key"] == f"{incident}:fired"
        assert notifier.channel_names[0].startswith("webhook:127.0.0.1#")


async def test_webhook_json_carries_the_alert_and_both_titles() -> None:
    async with serve(Hook()) as hook:
        delivered = Deliveries()
        notifier = Notifier(config(webhooks=[{"url": hook.url()}]), delivered)
        acked = replace(RESOLVED, alert=replace(RESOLVED.alert, acked_by="lan", ack_note="ok"))
        async with running(notifier):
            notifier.submit(FIRED)
            notifier.submit(acked)
            await delivered.wait_for(2)
        fired, resolved = hook.bodies()
    assert fired["rule"] == "camera_offline" and fired["key"] == FIRED.alert.key
    assert (fired["site"], fired["gateway"], fired["subject"]) == ("xa-a", "gw1", "gate")
    assert (fired["severity"], fired["status"], fired["kind"]) == ("warning", "firing", "fired")
    assert fired["message"] == "camera gate offline: connection refused"
    assert fired["since"] == "2026-11-22T10:00:00.000Z"
    assert fired["fired_at"] == "2026-11-22T10:01:00.000Z" and fired["resolved_at"] is None
    assert fired["title_vi"] == "Cảnh báo: Camera mất tín hiệu — xa-a/gw1 gate"
    assert fired["title_en"] == "Alert: Camera offline — xa-a/gw1 gate"
    assert resolved["status"] == "resolved" and resolved["resolved_at"] == (
        "2026-11-22T10:09:00.000Z")
    assert resolved["title_vi"].startswith("Đã khắc phục: ")
    assert (resolved["acked_by"], resolved["ack_note"]) == ("lan", "ok")


async def test_a_final_http_error_is_not_retried_and_attempts_are_bounded() -> None:
    async with serve(Hook(fail_first=99, fail_status=400)) as bad, \
            serve(Hook(fail_first=99)) as down:
        notifier = Notifier(config(max_attempts=4, webhooks=[{"url": bad.url()},
                                                             {"url": down.url()}]))
        async with running(notifier):
            notifier.submit(FIRED)
            await until(lambda: notifier.counters.failed >= 2)
        assert len(bad.requests) == 1  # a 400 does not get better
        assert len(down.requests) == 4  # max_attempts
        assert (notifier.counters.sent, notifier.counters.retried) == (0, 3)


async def test_connection_refused_is_retried_until_the_endpoint_is_up() -> None:
    hook = Hook()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there yet
    delivered = Deliveries()
    notifier = Notifier(config(max_attempts=100, retry_base_s=0.05, retry_cap_s=0.2,
                               webhooks=[{"url": f"http://127.0.0.1:{port}/hook"}]), delivered)
    async with running(notifier):
        notifier.submit(FIRED)
        await until(lambda: notifier.counters.retried >= 2)
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", hook.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            await delivered.wait_for(1)
        finally:
            await runner.cleanup()
    assert len(hook.requests) == 1 and notifier.counters.sent == 1


@pytest.mark.parametrize("scheme", ["json", "form"])
async def test_apprise_posts_to_a_local_endpoint_with_retries(scheme: str) -> None:
    async with serve(Hook(fail_first=2)) as hook:
        delivered = Deliveries()
        notifier = Notifier(config(apprise=[hook.url("/apprise", scheme)]), delivered)
        async with running(notifier):
            notifier.submit(FIRED)
            await delivered.wait_for(1)
        assert len(hook.requests) == 3 and notifier.counters.retried == 2
        body = hook.requests[-1]["body"]
        assert hook.requests[-1]["path"] == "/apprise"
        assert body["title"] == ("Cảnh báo: Camera mất tín hiệu — xa-a/gw1 gate / "
                                 "Alert: Camera offline — xa-a/gw1 gate")
        assert "connection refused" in body["message"] and body["type"] == "warning"
        assert notifier.channel_names == [delivered.done[0][2]]
        assert notifier.channel_names[0].startswith(f"apprise:{scheme}#")


async def test_apprise_escapes_our_plain_text_for_a_target_that_reads_html() -> None:
    # Telegram reads HTML: a bare '<' or '&' (a camera named "Cổng <Đông> & Tây", an error
    # text) makes it refuse the whole message. json://?format=html stands in for such a target.
    odd = alert(message="camera Cổng <Đông> & Tây offline: <no route>")
    async with serve(Hook()) as hook:
        delivered = Deliveries()
        notifier = Notifier(config(apprise=[hook.url("/apprise?format=html", "json")]),
                            delivered)
        async with running(notifier):
            notifier.submit(Transition("fired", odd, T0 + timedelta(seconds=60)))
            await delivered.wait_for(1)
    message = hook.requests[-1]["body"]["message"]
    assert "&lt;Đông&gt;" in message and "&amp;" in message and "<no route>" not in message


async def test_a_hung_endpoint_never_blocks_submit_nor_other_channels() -> None:
    async with serve(Hook(hang=True)) as hung, serve(Hook(hang=True)) as hung_apprise, \
            serve(Hook()) as fine:
        delivered = Deliveries()
        notifier = Notifier(config(
            queue_size=50, apprise_timeout_s=2.0,
            webhooks=[{"url": hung.url(), "timeout_s": 5.0}, {"url": fine.url()}],
            apprise=[hung_apprise.url("/a", "json")]), delivered)
        async with running(notifier):
            notifier.submit(FIRED)
            await hung.arrived.wait()  # the first 'fired' is in flight on the hung webhook
            await hung_apprise.arrived.wait()
            slowest = 0.0
            for i in range(1000):
                t = replace(FIRED, alert=replace(FIRED.alert, key=f"k{i}"))
                began = time.perf_counter()
                notifier.submit(t)
                slowest = max(slowest, time.perf_counter() - began)
            # a blocking submit would wait for the 5 s timeout at least once
            assert slowest < 0.1
            # the healthy webhook delivers its 50 newest while the others hang
            await delivered.wait_for(51)
            sent_fine = [b["key"] for b in fine.bodies()]
        assert sent_fine == [FIRED.alert.key] + [f"k{i}" for i in range(950, 1000)]
        # 2 hung channels x (1000 - 50 kept) + the fine one's 950, oldest first
        assert notifier.counters.dropped == 3 * 950
        assert len(hung.requests) == 1


async def test_only_fired_and_resolved_at_least_warning_are_sent() -> None:
    async with serve(Hook()) as hook:
        delivered = Deliveries()
        notifier = Notifier(config(webhooks=[{"url": hook.url()}]), delivered)
        info = replace(FIRED, alert=replace(FIRED.alert, severity="info", key="info"))
        pending = Transition("pending", alert("pending", fired_at=None), T0)
        async with running(notifier):
            assert not notifier.submit(info)
            assert not notifier.submit(pending)
            assert not notifier.submit(Transition("cancelled", pending.alert, T0))
            assert notifier.submit(FIRED)
            await delivered.wait_for(1)
        assert [b["kind"] for b in hook.bodies()] == ["fired"]


async def test_a_restart_notifies_only_channels_that_had_not_delivered() -> None:
    async with serve(Hook()) as up, serve(Hook(fail_first=10**6)) as broken:
        flags = Deliveries()  # persisted "notified" flags, e.g. in the store
        cfg = config(max_attempts=100, webhooks=[{"url": up.url()}, {"url": broken.url()}])
        first = Notifier(cfg, flags)
        async with running(first):
            first.submit(FIRED)
            await flags.wait_for(1)
        assert len(up.requests) == 1  # then the control room restarts
        broken.fail_first = 0
        second = Notifier(cfg, flags)
        assert second.channel_names == first.channel_names  # stable across restarts
        done = {ch for incident, kind, ch in flags.done
                if (incident, kind) == (FIRED.alert.incident, "fired")}
        missing = [ch for ch in second.channel_names if ch not in done]
        assert missing == [second.channel_names[1]]
        async with running(second):
            assert second.submit(FIRED, channels=missing)
            await flags.wait_for(2)
        assert len(up.requests) == 1
        assert [b["id"] for b in broken.bodies()][-1] == f"{FIRED.alert.incident}:fired"


async def test_a_failing_on_delivered_does_not_resend() -> None:
    async with serve(Hook()) as hook:
        calls: list[str] = []

        async def broken_store(transition: Transition, channel: str) -> None:
            calls.append(transition.kind)
            raise RuntimeError("database is locked")

        notifier = Notifier(config(webhooks=[{"url": hook.url()}]), broken_store)
        async with running(notifier):
            notifier.submit(FIRED)
            notifier.submit(RESOLVED)
            await until(lambda: len(calls) >= 2)
        assert [b["kind"] for b in hook.bodies()] == ["fired", "resolved"]
        assert notifier.counters.sent == 2 and notifier.counters.retried == 0


async def test_no_channels_run_idles_and_submit_is_refused() -> None:
    notifier = Notifier(config())
    assert not notifier.submit(FIRED)
    task = asyncio.create_task(notifier.run())
    await asyncio.sleep(0.05)
    assert not task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
