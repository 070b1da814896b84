"""Sending fired/resolved alerts to people: webhooks (JSON POST) and apprise URLs.

``submit()`` never blocks and never raises: it puts the transition on one bounded queue per
channel. ``run()`` (its own task) drains each channel on its own task, in order, so a hung
webhook delays nothing but itself and a channel never says "resolved" before "fired".

* Failures are retried with full-jitter exponential backoff (``retry_base_s`` doubling up to
  ``retry_cap_s``, ``max_attempts`` in all). HTTP 2xx is success; 408/425/429/5xx, timeouts
  and connection errors are retried; any other status is final (a 400 will not get better).
* A success is never sent again. A send that timed out may still have arrived: webhooks carry
  an ``Idempotency-Key`` (also the body's ``id``: alert life + kind) to de-duplicate on.
* After each delivery ``on_delivered(transition, channel)`` is awaited: the control room
  persists "notified" flags there, and after a restart submits only what a channel has not
  delivered (``submit(t, channels=[...])``), so nothing is notified twice.
* A full queue drops its oldest waiting ("pending", not yet in flight) notification first and
  counts it in ``counters.dropped``.
* apprise's ``notify`` blocks: it runs in a small thread pool of its own, bounded by
  ``apprise_timeout_s``. Channel names hide URLs (they hold tokens): ``webhook:HOST#hash``,
  ``apprise:SCHEMA#hash``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
import apprise

from contract.reconnect import full_jitter
from control_room.alerts.config import NotificationsConfig, WebhookConfig
from control_room.alerts.message import body_text, notification_id, payload, titles
from control_room.alerts.model import Severity, Transition

log = logging.getLogger(__name__)

OnDelivered = Callable[[Transition, str], Awaitable[None]]
SEVERITY_RANK: dict[Severity, int] = {"info": 0, "warning": 1, "critical": 2}
RETRY_STATUS = frozenset({408, 425, 429})
DROP_LOG_EVERY_S = 60.0


class DeliveryError(Exception):
    def __init__(self, reason: str, *, retry: bool = True) -> None:
        super().__init__(reason)
        self.retry = retry


@dataclass
class NotifyCounters:
    """For the metrics: notifications delivered, given up, retry attempts, dropped unsent."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0


def _tag(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


class Channel(Protocol):
    name: str

    async def send(self, session: aiohttp.ClientSession, transition: Transition) -> None:
        """Deliver once or raise DeliveryError."""


class WebhookChannel:
    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.name = f"webhook:{urlsplit(config.url).hostname}#{_tag(config.url)}"

    async def send(self, session: aiohttp.ClientSession, transition: Transition) -> None:
        body = payload(transition)
        headers = {"Idempotency-Key": body["id"], **self.config.headers}
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with session.post(self.config.url, json=body, headers=headers,
                                    timeout=timeout) as response:
                status = response.status
        except TimeoutError:
            raise DeliveryError(f"no answer within {self.config.timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        if status >= 300:
            retry = status >= 500 or status in RETRY_STATUS
            raise DeliveryError(f"HTTP {status}", retry=retry)


APPRISE_TYPE: dict[Severity, apprise.NotifyType] = {
    "critical": apprise.NotifyType.FAILURE, "warning": apprise.NotifyType.WARNING,
    "info": apprise.NotifyType.INFO}


class AppriseChannel:

    def __init__(self, url: str, timeout_s: float, executor: Callable[[], ThreadPoolExecutor],
                 ) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._executor = executor
        self.name = f"apprise:{url.split('://', 1)[0]}#{_tag(url)}"
        if self._instance() is None:
            raise ValueError(f"{self.name}: not a URL apprise can send to")

    def _instance(self) -> apprise.Apprise | None:
        sender = apprise.Apprise()
        return sender if sender.add(self._url) else None

    def _notify(self, transition: Transition) -> bool:
        sender = self._instance()  # one per send: a timed-out thread may still be using one
        if sender is None:
            return False
        vi, en = titles(transition)
        kind = (apprise.NotifyType.SUCCESS if transition.kind == "resolved"
                else APPRISE_TYPE[transition.alert.severity])
        # Our text is plain: saying so makes apprise escape it for targets that read HTML or
        # Markdown (Telegram refuses a message with a bare '<' or '&' from a camera's name).
        return bool(sender.notify(body=body_text(transition), title=f"{vi} / {en}",
                                  notify_type=kind, body_format=apprise.NotifyFormat.TEXT))

    async def send(self, session: aiohttp.ClientSession, transition: Transition) -> None:
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._executor(), partial(self._notify, transition))
        try:
            ok = await asyncio.wait_for(job, self._timeout_s)
        except TimeoutError:
            raise DeliveryError(f"no answer within {self._timeout_s:g} s") from None
        except Exception as exc:  # a plugin bug must not end the channel
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        if not ok:
            raise DeliveryError("apprise reported a failed send (see its log)")


class Notifier:
    def __init__(self, config: NotificationsConfig, on_delivered: OnDelivered | None = None,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.on_delivered = on_delivered
        self._rng = rng or random.Random()
        self._pool: ThreadPoolExecutor | None = None
        self.channels: list[Channel] = [WebhookChannel(w) for w in config.webhooks]
        self.channels += [AppriseChannel(u.get_secret_value(), config.apprise_timeout_s,
                                         self._executor) for u in config.apprise]
        self._queues: dict[str, deque[Transition]] = {c.name: deque() for c in self.channels}
        self._wake = {c.name: asyncio.Event() for c in self.channels}
        self.counters = NotifyCounters()
        self._dropped_logged_at = -DROP_LOG_EVERY_S

    @property
    def channel_names(self) -> list[str]:
        return [c.name for c in self.channels]

    def queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def wants(self, transition: Transition) -> bool:
        """Whether this transition is notified at all (kind and severity filter)."""
        return (transition.kind in self.config.kinds and SEVERITY_RANK[transition.alert.severity]
                >= SEVERITY_RANK[self.config.min_severity])

    def submit(self, transition: Transition, channels: Iterable[str] | None = None) -> bool:
        """Queue for every channel (or the named ones); True if queued anywhere. Never blocks.

        Call it from the event loop's thread (it wakes the channel tasks)."""
        if not self.wants(transition):
            return False
        names = self.channel_names if channels is None else [
            n for n in channels if n in self._queues]
        for name in names:
            queue = self._queues[name]
            if len(queue) >= self.config.queue_size:
                lost = queue.popleft()
                self.counters.dropped += 1
                self._log_drop(name, lost)
            queue.append(transition)
            self._wake[name].set()
        return bool(names)

    def _log_drop(self, channel: str, lost: Transition) -> None:
        now = time.monotonic()
        if now - self._dropped_logged_at >= DROP_LOG_EVERY_S:
            self._dropped_logged_at = now
            log.warning("notifications: %s queue full, dropped %s (%d dropped so far)",
                        channel, notification_id(lost), self.counters.dropped)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="apprise")
        return self._pool

    async def run(self) -> None:
        """Deliver until cancelled: one task per channel."""
        try:
            async with aiohttp.ClientSession() as session, asyncio.TaskGroup() as group:
                for channel in self.channels:
                    group.create_task(self._worker(channel, session),
                                      name=f"notify {channel.name}")
                if not self.channels:
                    await asyncio.Event().wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    async def _worker(self, channel: Channel, session: aiohttp.ClientSession) -> None:
        queue, wake = self._queues[channel.name], self._wake[channel.name]
        while True:
            while not queue:
                wake.clear()
                await wake.wait()
            await self._deliver(channel, session, queue.popleft())

    async def _deliver(self, channel: Channel, session: aiohttp.ClientSession,
                       transition: Transition) -> None:
        what = notification_id(transition)
        for attempt in range(self.config.max_attempts):
            try:
                await channel.send(session, transition)
            except DeliveryError as exc:
                last = not exc.retry or attempt + 1 >= self.config.max_attempts
                if last:
                    self.counters.failed += 1
                    log.warning("notifications: %s gave up on %s after %d attempt(s): %s",
                                channel.name, what, attempt + 1, exc)
                    return
                self.counters.retried += 1
                log.info("notifications: %s failed %s (%s), retrying", channel.name, what, exc)
                await asyncio.sleep(full_jitter(attempt, self.config.retry_base_s,
                                                self.config.retry_cap_s, self._rng))
                continue
            self.counters.sent += 1
            await self._delivered(transition, channel.name)
            return

    async def _delivered(self, transition: Transition, channel: str) -> None:
        if self.on_delivered is None:
            return
        try:
            await self.on_delivered(transition, channel)
        except Exception as exc:  # the send happened: never resend because a store failed
            log.error("notifications: recording delivery of %s on %s failed: %s",
                      notification_id(transition), channel, exc)
