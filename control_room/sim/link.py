"""One simulated gateway's MQTT connection: aiomqtt 2.5, one ``aiomqtt.Client`` per gateway.

Like a real gateway: MQTT 5, persistent session (clean start off, 24 h expiry), client id
per gateway, retained birth ``status`` after subscribing to its ``cmd/#``, a retained Last
Will, then the outbox drained in order with many QoS 1 messages in flight; a message leaves
the outbox on its PUBACK. Reconnects wait a full-jitter exponential backoff so a fleet that
lost the broker together does not come back in step.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import aiomqtt
import paho.mqtt.client as paho_mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from control_room.sim.outbox import Pending, SimOutbox

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 24 * 3600
STABLE_SESSION_S = 60.0  # only a session that lasted resets the backoff
PUBACK_TIMEOUT_S = 30.0
MqttErrors = (aiomqtt.MqttError, OSError, ssl.SSLError)


@dataclass(frozen=True, slots=True)
class LinkSettings:
    host: str
    port: int
    tls: ssl.SSLContext | None = None
    keepalive_s: int = 30
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    max_inflight: int = 100


class Inflight:
    """Outbox messages in flight on one connection (paho mid -> outbox key), at most
    ``limit``. Publishes go straight to paho (aiomqtt's ``publish`` costs a task and an
    Event per message); PUBACKs come back through paho's ``on_publish`` on the event loop."""

    def __init__(self, client: aiomqtt.Client, limit: int,
                 on_ack: Callable[[int], None]) -> None:
        self._paho = client._client
        self._limit = limit
        self._on_ack = on_ack
        self._keys: dict[int, int] = {}
        self._open = asyncio.Event()
        self._open.set()
        self._progress = time.monotonic()
        # aiomqtt's own handler: the birth's PUBACK goes there
        self._fallback: Callable[..., None] | None = self._paho.on_publish
        self._paho.on_publish = self._on_publish

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any,
                    properties: Any) -> None:
        key = self._keys.pop(mid, None)
        if key is None:
            if self._fallback is not None:
                self._fallback(client, userdata, mid, reason, properties)
            return
        self._progress = time.monotonic()
        if getattr(reason, "is_failure", False):
            log.warning("sim: broker refused a message: %s (not retried)", reason)
        self._on_ack(key)
        if len(self._keys) < self._limit:
            self._open.set()

    def publish(self, p: Pending, payload: bytes, props: Properties) -> None:
        info = self._paho.publish(p.topic, payload, 1, p.retain, props)
        if info.rc != paho_mqtt.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "could not publish")
        if not self._keys:
            self._progress = time.monotonic()
        self._keys[info.mid] = p.key
        if len(self._keys) >= self._limit:
            self._open.clear()

    async def wait_open(self) -> None:
        while not self._open.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._open.wait(), 1.0)
            self.check_stuck()

    def check_stuck(self) -> None:
        if self._keys and time.monotonic() - self._progress > PUBACK_TIMEOUT_S:
            raise aiomqtt.MqttError(f"no PUBACK for {PUBACK_TIMEOUT_S:.0f} s")

    def close(self) -> None:
        self._paho.on_publish = self._fallback


def connect_client(settings: LinkSettings, client_id: str, username: str | None,
                   password: str | None, will: aiomqtt.Will) -> aiomqtt.Client:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S
    client = aiomqtt.Client(
        settings.host, settings.port, identifier=client_id, username=username,
        password=password, protocol=aiomqtt.ProtocolVersion.V5, will=will,
        clean_start=False, properties=props, keepalive=settings.keepalive_s, timeout=10,
        max_inflight_messages=0, tls_context=settings.tls)
    client.pending_calls_threshold = 1000  # many in flight is normal, not worth a warning
    client._client.disable_logger()  # no debug line per packet for thousands of clients
    return client


def watch_receive_maximum(client: aiomqtt.Client, found: list[int]) -> None:
    """Note the broker's MQTT 5 Receive Maximum (more in flight is a protocol error)."""
    aiomqtt_on_connect = client._client.on_connect

    def on_connect(*args: Any) -> None:
        props = args[4] if len(args) > 4 else None
        value = getattr(props, "ReceiveMaximum", None)
        if value:
            found.append(int(value))
        if aiomqtt_on_connect is not None:
            aiomqtt_on_connect(*args)

    client._client.on_connect = on_connect


def publish_props(p: Pending) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    props.ContentType = "application/json" if p.body is not None else "application/octet-stream"
    if p.correlation is not None:
        props.CorrelationData = p.correlation
    return props


async def drain(client: aiomqtt.Client, outbox: SimOutbox, wake: asyncio.Event,
                limit: int, connected_since: float, on_ack: Callable[[int], None]) -> None:
    """Send every unacknowledged message in acceptance order, then whatever comes next."""
    window = Inflight(client, limit, on_ack)
    cursor = 0
    try:
        while True:
            wake.clear()
            batch = list(outbox.after(cursor))
            if not batch:
                with suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), 1.0)
                window.check_stuck()
                continue
            for index, p in enumerate(batch):
                await window.wait_open()
                cursor = p.key
                if p.key not in outbox:
                    continue  # dropped by the bound while we waited
                window.publish(p, p.payload(p.accepted_at < connected_since),
                               publish_props(p))
                if index % 100 == 99:
                    await asyncio.sleep(0)
    finally:
        window.close()
