"""The control room's MQTT client: the only module on this side that imports paho.

MQTT 5, persistent session (fixed client id, ``clean_start=False``, a session expiry), QoS 1
with **manual acknowledgement**: a message is acknowledged only when ``ack()`` is called
after its batch committed, so a crash loses nothing (the broker redelivers). paho's network
loop runs in its own thread; deliveries are handed to asyncio with
``call_soon_threadsafe``. Acknowledgements carry the connection generation they belong to:
after a reconnect the broker redelivers, and a packet id of the old connection must not
acknowledge a different message of the new one.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from control_room.config import ControlRoomConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    topic: str
    payload: bytes
    qos: int
    mid: int
    generation: int
    received_at: float
    retain: bool


@dataclass(frozen=True, slots=True)
class Reply:
    correlation: bytes
    payload: bytes
    received_at: float


class MqttClient:
    def __init__(self, config: ControlRoomConfig, loop: asyncio.AbstractEventLoop,
                 on_delivery: Callable[[Delivery], None],
                 on_reply: Callable[[Reply], None],
                 on_state: Callable[[bool], None] | None = None) -> None:
        self._cfg = config
        self._loop = loop
        self._on_delivery = on_delivery
        self._on_reply = on_reply
        self._on_state = on_state
        self._generation = 0
        self._lock = threading.Lock()
        self._inbox: deque[Delivery] = deque()  # paho's thread appends, the loop drains
        self._drain_scheduled = False
        self.connected = asyncio.Event()
        self.last_error: str | None = None
        mqtt = config.mqtt
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=config.client_id,
                                   protocol=paho.MQTTv5, manual_ack=True)
        self._client.max_queued_messages_set(0)
        self._client.max_inflight_messages_set(0)
        self._client.reconnect_delay_set(1, 30)
        if mqtt.username:
            self._client.username_pw_set(
                mqtt.username, mqtt.password.get_secret_value() if mqtt.password else None)
        if mqtt.uses_tls:
            context = ssl.create_default_context(cafile=str(mqtt.ca_file) if mqtt.ca_file
                                                 else None)
            self._client.tls_set_context(context)
        self._client.on_connect = self._connected
        self._client.on_disconnect = self._disconnected
        self._client.on_message = self._message
        self._client.disable_logger()

    @property
    def subscription(self) -> str:
        topic = f"{self._cfg.mqtt.root.rstrip('/')}/+/+/#"
        group = self._cfg.mqtt.shared_group
        return f"$share/{group}/{topic}" if group else topic

    def start(self) -> None:
        mqtt = self._cfg.mqtt
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = mqtt.session_expiry_s
        props.ReceiveMaximum = mqtt.receive_maximum
        self._client.connect_async(mqtt.host, mqtt.port, keepalive=mqtt.keepalive_s,
                                   clean_start=False, properties=props)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    # -- paho's thread ---------------------------------------------------------------
    def _connected(self, client: paho.Client, _u: Any, flags: Any, reason: ReasonCode,
                   _props: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            log.warning("mqtt: %s", self.last_error)
            return
        with self._lock:
            self._generation += 1
        client.subscribe(self.subscription, qos=1)
        client.subscribe(f"{self._cfg.reply_topic}/#", qos=1)
        self.last_error = None
        log.info("mqtt: connected to %s:%d (session present: %s), subscribed to %s",
                 self._cfg.mqtt.host, self._cfg.mqtt.port, flags.session_present,
                 self.subscription)
        self._loop.call_soon_threadsafe(self._set_state, True)

    def _disconnected(self, _c: Any, _u: Any, _flags: Any, reason: ReasonCode,
                      _props: Any) -> None:
        self.last_error = f"disconnected: {reason}"
        log.warning("mqtt: %s (reconnecting; unacknowledged messages will be redelivered)",
                    reason)
        self._loop.call_soon_threadsafe(self._set_state, False)

    def _message(self, client: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        now = time.time()
        if msg.topic.startswith(self._cfg.reply_topic + "/"):
            correlation = getattr(msg.properties, "CorrelationData", None) or b""
            if msg.qos:
                client.ack(msg.mid, msg.qos)  # a lost reply only times its command out
            self._loop.call_soon_threadsafe(self._on_reply,
                                            Reply(bytes(correlation), bytes(msg.payload), now))
            return
        self._inbox.append(Delivery(msg.topic, bytes(msg.payload), msg.qos, msg.mid,
                                    self._generation, now, bool(msg.retain)))
        # wake the event loop once per burst, not once per message (each wake-up is a
        # write to its self-pipe)
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self._loop.call_soon_threadsafe(self._drain)

    # -- asyncio's thread ------------------------------------------------------------
    def _drain(self) -> None:
        self._drain_scheduled = False  # first: a message appended from now on re-schedules
        while self._inbox:
            self._on_delivery(self._inbox.popleft())

    def _set_state(self, up: bool) -> None:
        if up:
            self.connected.set()
        else:
            self.connected.clear()
        if self._on_state:
            self._on_state(up)

    def ack(self, deliveries: Iterable[Delivery]) -> int:
        """Acknowledge committed deliveries of the current connection; returns how many were
        acknowledged (the others will be redelivered and de-duplicated)."""
        done = 0
        with self._lock:
            generation = self._generation
        for d in deliveries:
            if d.qos and d.generation == generation:
                self._client.ack(d.mid, d.qos)
                done += 1
        return done

    def publish(self, topic: str, payload: bytes, *, response_topic: str | None = None,
                correlation: bytes | None = None, expiry_s: int | None = None) -> None:
        props = Properties(PacketTypes.PUBLISH)
        if response_topic:
            props.ResponseTopic = response_topic
            props.CorrelationData = correlation or b""
        if expiry_s:
            props.MessageExpiryInterval = expiry_s
        info = self._client.publish(topic, payload, qos=1, properties=props)
        if info.rc != paho.MQTT_ERR_SUCCESS and info.rc != paho.MQTT_ERR_NO_CONN:
            raise ConnectionError(f"publish failed: {paho.error_string(info.rc)}")
