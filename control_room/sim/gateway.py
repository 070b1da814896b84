"""One simulated gateway: its devices, its outbox, its connection loop and its counters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import aiomqtt

from contract import encode, wrap
from contract.reconnect import full_jitter
from control_room.sim import payloads
from control_room.sim.link import (
    STABLE_SESSION_S,
    LinkSettings,
    MqttErrors,
    connect_client,
    drain,
    watch_receive_maximum,
)
from control_room.sim.outbox import MessageClass, SimOutbox

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    site: str
    gateway: str
    circuits: int = 5
    cameras: int = 3
    hotspots: int = 5
    username: str | None = None
    password: str | None = None
    root: str = "commune"

    @property
    def base(self) -> str:
        return f"{self.root}/{self.site}/{self.gateway}"

    @property
    def client_id(self) -> str:
        # site + gateway: gateway ids repeat across communes (gw-1 in every commune), and
        # two clients with one id throw each other off the broker in turn
        return f"edge-{self.site}.{self.gateway}"


def utc_now() -> datetime:
    return datetime.now(UTC)


class SimGateway:
    def __init__(self, spec: GatewaySpec, link: LinkSettings, *, rng: random.Random,
                 health_interval_s: float = 30.0, outbox_max: int = 20000,
                 boot: int = 1) -> None:
        self.spec = spec
        self.link = link
        self.rng = rng
        self.health_interval_s = health_interval_s
        self.boot = boot
        self.started = time.time()
        self.boot_time = utc_now()
        self.devices = payloads.Devices.make(spec.circuits, spec.cameras, spec.hotspots,
                                             self.boot_time)
        self.outbox = SimOutbox(spec.base, outbox_max)
        self.figures = payloads.LinkFigures()
        self.wake = asyncio.Event()
        self.connected = asyncio.Event()
        self.drained = asyncio.Event()  # set while the outbox is empty
        self.drained.set()
        self.connected_at: list[float] = []  # Unix time of every birth
        self._client: aiomqtt.Client | None = None
        self.commands: Any = None  # set by control_room.sim.commands.attach

    # -- what the behaviour and the command handlers call --------------------------------
    def publish(self, relative: str, payload: dict[str, Any], *, retain: bool = False,
                cls: MessageClass = "state", now: datetime | None = None) -> None:
        self.outbox.add_json(f"{self.spec.base}/{relative}", payload, now=now or utc_now(),
                             retain=retain, cls=cls)
        self._woken()

    def _woken(self) -> None:
        self.drained.clear()
        self.wake.set()

    def publish_raw(self, relative: str, data: bytes, *, retain: bool = True) -> None:
        self.outbox.add_raw(f"{self.spec.base}/{relative}", data, now=utc_now(),
                            retain=retain)
        self._woken()

    def reply(self, topic: str, body: dict[str, Any], correlation: bytes | None) -> None:
        """A command reply: durable, with the request's correlation data (MQTT 5)."""
        self.outbox.add_json(topic, body, now=utc_now(), retain=False, cls="event",
                             correlation=correlation)
        self._woken()

    @property
    def uptime_s(self) -> float:
        return time.time() - self.started

    def link_figures(self) -> payloads.LinkFigures:
        f = self.figures
        f.depth, f.bytes = len(self.outbox), self.outbox.bytes()
        f.oldest_age_s = self.outbox.oldest_age_s(utc_now())
        f.dropped, f.last_seq = dict(self.outbox.dropped), self.outbox.last_seq
        f.connected = self.connected.is_set()
        return f

    def status_body(self, state: Literal["online", "offline", "stopped"]) -> dict[str, Any]:
        payload = payloads.status(state, boot=self.boot,
                                  last_seq=self.outbox.last_seq, site=self.spec.site,
                                  gateway=self.spec.gateway, boot_time=self.boot_time,
                                  health_interval_s=self.health_interval_s)
        return wrap(payload, now=utc_now())

    # -- connection loop -----------------------------------------------------------------
    async def run(self, first_delay_s: float = 0.0) -> None:
        await asyncio.sleep(first_delay_s)  # a fleet that starts together must not connect so
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                await self._connect_once()
            except MqttErrors as exc:
                self.figures.last_error = str(exc) or type(exc).__name__
            finally:
                self._client = None
                self.connected.clear()
            if time.monotonic() - started > STABLE_SESSION_S:
                attempt = 0
            delay = full_jitter(attempt, self.link.reconnect_min_s, self.link.reconnect_max_s,
                                self.rng)
            attempt += 1
            await asyncio.sleep(delay)

    async def _connect_once(self) -> None:
        s = self.spec
        will = aiomqtt.Will(f"{s.base}/status", encode(self.status_body("offline")), qos=1,
                            retain=True)
        client = connect_client(self.link, s.client_id, s.username, s.password, will)
        receive_max: list[int] = []
        watch_receive_maximum(client, receive_max)
        async with client:
            await client.subscribe(f"{s.base}/cmd/#", qos=1)
            await client.publish(f"{s.base}/status", encode(self.status_body("online")),
                                 qos=1, retain=True, timeout=30)
            since = time.time()
            self.connected_at.append(since)
            self._client = client
            self.figures.connects += 1
            self.figures.last_error = None
            self.connected.set()
            limit = min([self.link.max_inflight, *receive_max])
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._receive(client))
                    tg.create_task(drain(client, self.outbox, self.wake, limit, since,
                                         self._acked))
            except* MqttErrors as group:
                raise group.exceptions[0] from None

    def _acked(self, key: int) -> None:
        self.outbox.ack(key)
        self.figures.sent += 1
        if not len(self.outbox):
            self.drained.set()

    async def _receive(self, client: aiomqtt.Client) -> None:
        prefix = f"{self.spec.base}/cmd/"
        async for message in client.messages:
            topic = message.topic.value
            if not topic.startswith(prefix) or self.commands is None:
                continue
            payload = message.payload if isinstance(message.payload, bytes) else \
                str(message.payload or "").encode()
            props = message.properties
            self.commands.handle(topic[len(prefix):], payload,
                                 getattr(props, "ResponseTopic", None) if props else None,
                                 getattr(props, "CorrelationData", None) if props else None)

    async def stop(self, flush_s: float = 10.0) -> None:
        """Wait (bounded) until the outbox is empty, then say ``stopped`` (retained)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drained.wait(), flush_s)
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(f"{self.spec.base}/status",
                                     encode(self.status_body("stopped")), qos=1,
                                     retain=True, timeout=3)

    def stats(self) -> dict[str, Any]:
        return {"last_seq": self.outbox.last_seq, "pending": len(self.outbox),
                "accepted": self.outbox.accepted, "sent": self.figures.sent,
                "connects": self.figures.connects, "connected": self.connected.is_set(),
                "dropped": dict(self.outbox.dropped), "last_connect": (
                    self.connected_at[-1] if self.connected_at else None)}
