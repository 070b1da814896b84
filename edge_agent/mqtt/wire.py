"""What the link needs of paho beneath aiomqtt 2.5: its client and CONNACK future, the
window of outbox rows in flight with PUBACKs straight from paho, the packed publish
properties; and a plain subscriber for the ``watch`` command."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Any

import aiomqtt
import paho.mqtt.client as paho_mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT_S = 30.0  # a broker that acknowledges nothing this long is a dead link


def paho_client(client: aiomqtt.Client) -> paho_mqtt.Client:
    """The paho client inside an aiomqtt 2.5 client: the one place we reach into aiomqtt.

    The link needs paho's ``on_connect`` (the broker's Receive Maximum), ``on_publish``
    (PUBACKs without aiomqtt's per-message task) and ``disable_logger``. If an aiomqtt
    release moves them this fails loudly here (and in tests/test_mqtt_link.py), not
    silently somewhere in the send path.
    """
    inner = getattr(client, "_client", None)
    if not isinstance(inner, paho_mqtt.Client):
        raise RuntimeError(f"aiomqtt {getattr(aiomqtt, '__version__', '?')} no longer keeps "
                           "its paho client in '_client': update edge_agent/mqtt/wire.py")
    return inner


def connack_future(client: aiomqtt.Client) -> asyncio.Future[Any]:
    """aiomqtt 2.5's future for the CONNACK (private, like ``_client``: checked here)."""
    future = getattr(client, "_connected", None)
    if not isinstance(future, asyncio.Future):
        raise RuntimeError("aiomqtt no longer keeps its CONNACK future in '_connected': "
                           "update edge_agent/mqtt/wire.py")
    return future


def content_type(is_json: bool) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    props.ContentType = "application/json" if is_json else "application/octet-stream"
    return props


class PackedProperties(Properties):
    """Properties shared by every plain row, packed once (paho packs them per publish)."""

    _packed: bytes

    def __init__(self, is_json: bool) -> None:
        super().__init__(PacketTypes.PUBLISH)
        self.ContentType = "application/json" if is_json else "application/octet-stream"
        object.__setattr__(self, "_packed", super().pack())  # Properties vets attribute names

    def pack(self) -> bytes:
        return self._packed


JSON_PROPS = PackedProperties(True)
BINARY_PROPS = PackedProperties(False)


class InflightWindow:
    """Outbox rows in flight on one connection: paho mid → row id, at most ``limit`` of them.

    Rows go to paho's ``publish`` directly and their PUBACKs come back through paho's
    ``on_publish`` (both on the event loop: aiomqtt drives paho from it). aiomqtt's own
    ``publish`` costs a task, an Event, a timer and a scan of every pending call per message,
    which capped the drain far below a plain paho loop. Other PUBACKs (birth, raw publishes)
    go on to aiomqtt's handler.
    """

    def __init__(self, client: aiomqtt.Client, limit: int,
                 on_ack: Callable[[int], None]) -> None:
        self._paho = paho_client(client)
        self._limit = limit
        self._on_ack = on_ack
        self._rows: dict[int, int] = {}
        self._open = asyncio.Event()
        self._open.set()
        self._progress = time.monotonic()
        self._fallback: Callable[..., None] | None = self._paho.on_publish
        self._paho.on_publish = self._on_publish

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any,
                    properties: Any) -> None:
        row_id = self._rows.pop(mid, None)
        if row_id is None:
            if self._fallback is not None:
                self._fallback(client, userdata, mid, reason, properties)
            return
        self._progress = time.monotonic()
        if getattr(reason, "is_failure", False):
            log.warning("mqtt: broker refused outbox row %d: %s (dropped)", row_id, reason)
        self._on_ack(row_id)
        if len(self._rows) < self._limit:
            self._open.set()

    def publish(self, row_id: int, topic: str, payload: bytes, qos: int, retain: bool,
                properties: Properties | None) -> None:
        info = self._paho.publish(topic, payload, qos, retain, properties)
        if info.rc != paho_mqtt.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        if qos == 0:
            self._on_ack(row_id)  # nothing to wait for
            return
        if not self._rows:
            self._progress = time.monotonic()
        self._rows[info.mid] = row_id
        if len(self._rows) >= self._limit:
            self._open.clear()

    async def wait_open(self) -> None:
        while not self._open.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._open.wait(), 1.0)
            self.check_stuck()

    def check_stuck(self) -> None:
        """A broker that stops acknowledging is treated as a dead link: reconnect."""
        if self._rows and time.monotonic() - self._progress > PUBLISH_TIMEOUT_S:
            raise aiomqtt.MqttError(f"no PUBACK for {PUBLISH_TIMEOUT_S:.0f} s "
                                    f"({len(self._rows)} message(s) in flight)")

    def close(self) -> None:
        self._paho.on_publish = self._fallback
        self._rows.clear()


def as_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()


async def watch_messages(host: str, port: int, topic_filter: str, *,
                         tls: ssl.SSLContext | None = None, username: str | None = None,
                         password: str | None = None
                         ) -> AsyncIterator[tuple[str, bytes, bool]]:
    """Yield (topic, payload, retained) for every message under ``topic_filter``."""
    async with aiomqtt.Client(host, port, username=username, password=password,
                              tls_context=tls, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.subscribe(topic_filter, qos=1)
        async for message in client.messages:
            yield message.topic.value, as_bytes(message.payload), bool(message.retain)


MqttErrors: tuple[type[BaseException], ...] = (aiomqtt.MqttError, OSError, ssl.SSLError)
