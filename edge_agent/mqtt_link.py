"""The MQTT link: the only module that imports aiomqtt/paho.

One reconnect loop (full-jitter exponential backoff, so a province's gateways do not
reconnect in step). Per connection: subscribe to commands, publish the retained birth,
then drain the outbox in id order with many QoS 1 messages in flight; a row leaves the
outbox only after its PUBACK.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.backoff import full_jitter
from edge_agent.commands import CommandRouter, IncomingCommand
from edge_agent.config.model import AgentConfig, MqttConfig
from edge_agent.envelope import encode
from edge_agent.outbox import Outbox, StoredMessage
from edge_agent.runtime import MessageCallback

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 24 * 3600  # the broker keeps our command subscription across outages
PUBLISH_TIMEOUT_S = 30.0


class LinkDown(ConnectionError):
    """Raised by raw publishes while there is no broker connection."""


class MqttLink:
    def __init__(self, config: AgentConfig, outbox: Outbox, router: CommandRouter,
                 birth: Callable[[], Mapping[str, Any]],
                 last_will: Callable[[], Mapping[str, Any]]) -> None:
        self._cfg = config
        self._outbox = outbox
        self._router = router
        self._birth = birth
        self._last_will = last_will
        self._client: aiomqtt.Client | None = None
        self._raw_subs: list[tuple[str, MessageCallback]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self.connected = asyncio.Event()
        self.connected_since = 0.0
        self.connects = 0
        self.last_error: str | None = None
        self.sent = 0

    @property
    def status_topic(self) -> str:
        return f"{self._cfg.base_topic}/status"

    # -- main loop ---------------------------------------------------------------------
    async def run(self) -> None:
        mqtt = self._cfg.mqtt
        attempt = 0
        while True:
            try:
                async with self._connect() as client:
                    attempt = 0
                    await self._session(client)
            except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
                self.last_error = _describe(exc)
                log.warning("mqtt: %s:%d unavailable: %s (messages are kept in the outbox)",
                            mqtt.host, mqtt.port, self.last_error)
            finally:
                self._client = None
                self.connected.clear()
            delay = full_jitter(attempt, mqtt.reconnect_min_s, mqtt.reconnect_max_s)
            attempt += 1
            await asyncio.sleep(delay)

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[aiomqtt.Client]:
        mqtt = self._cfg.mqtt
        v5 = mqtt.protocol == "5"
        props = None
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S
        client = aiomqtt.Client(
            mqtt.host, mqtt.port,
            username=mqtt.username,
            password=mqtt.password.get_secret_value() if mqtt.password else None,
            identifier=self._cfg.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(self.status_topic, encode(self._last_will()), qos=1, retain=True),
            clean_session=None if v5 else False,
            clean_start=False if v5 else 3,
            properties=props,
            keepalive=mqtt.keepalive_s,
            timeout=10,
            max_inflight_messages=mqtt.max_inflight,
            tls_context=tls_context(mqtt) if mqtt.uses_tls else None,
            tls_insecure=mqtt.tls.insecure_skip_verify if mqtt.uses_tls else None,
        )
        # aiomqtt logs a warning for every publish once more than 10 await their PUBACK;
        # many in flight is this link's normal state, not a problem worth a log line each
        client.pending_calls_threshold = 2 * mqtt.max_inflight + 100
        async with client:
            yield client

    async def _session(self, client: aiomqtt.Client) -> None:
        await client.subscribe(f"{self._cfg.base_topic}/cmd/#", qos=1)
        for topic_filter, _ in self._raw_subs:
            await client.subscribe(topic_filter, qos=1)
        await client.publish(self.status_topic, encode(self._birth()), qos=1, retain=True,
                             timeout=PUBLISH_TIMEOUT_S)
        self._client = client
        self.connected_since = time.time()
        self.connects += 1
        self.last_error = None
        self.connected.set()
        log.info("mqtt: connected to %s:%d as %s", self._cfg.mqtt.host, self._cfg.mqtt.port,
                 self._cfg.client_id)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._receive(client), name="mqtt-receive")
                tg.create_task(self._drain_outbox(client), name="mqtt-send")
        except* (aiomqtt.MqttError, OSError) as group:
            raise group.exceptions[0] from None

    # -- outgoing ----------------------------------------------------------------------
    async def _drain_outbox(self, client: aiomqtt.Client) -> None:
        window = asyncio.Semaphore(self._cfg.mqtt.max_inflight)
        cursor = 0  # each connection starts over: unacknowledged rows are sent again
        new_rows = self._outbox.new_rows
        async with asyncio.TaskGroup() as sends:
            while True:
                new_rows.clear()
                rows = await self._outbox.fetch_after(cursor, limit=1000)
                if not rows:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(new_rows.wait(), 1.0)
                    continue
                for row in rows:
                    await window.acquire()
                    cursor = row.id
                    sends.create_task(self._send_one(client, row, window))

    async def _send_one(self, client: aiomqtt.Client, row: StoredMessage,
                        window: asyncio.Semaphore) -> None:
        try:
            replayed = row.accepted_at < self.connected_since
            await client.publish(row.topic, row.payload_for_send(replayed), qos=row.qos,
                                 retain=row.retain, properties=self._properties(row),
                                 timeout=PUBLISH_TIMEOUT_S)
            self._outbox.ack(row.id)
            self.sent += 1
        finally:
            window.release()

    def _properties(self, row: StoredMessage) -> Properties | None:
        if self._cfg.mqtt.protocol != "5":
            return None
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/json" if row.is_json else "application/octet-stream"
        if row.props and row.props.get("correlation_data"):
            props.CorrelationData = bytes.fromhex(row.props["correlation_data"])
        return props

    def send_nowait(self, topic: str, payload: bytes, *, retain: bool) -> bool:
        """QoS 0, not stored: for high-rate stats. False when there is no connection."""
        client = self._client
        if client is None:
            return False
        self._spawn(client.publish(topic, payload, qos=0, retain=retain))
        return True

    async def publish_status(self, body: Mapping[str, Any], timeout: float = 3.0) -> bool:
        """Publish the retained status directly (e.g. ``stopped`` on the way out)."""
        client = self._client
        if client is None:
            return False
        try:
            await client.publish(self.status_topic, encode(body), qos=1, retain=True,
                                 timeout=timeout)
        except aiomqtt.MqttError:
            return False
        return True

    # -- MqttPort: absolute topics for drivers ------------------------------------------
    async def publish_raw(self, topic: str, payload: bytes, *, qos: int = 1,
                          retain: bool = False) -> None:
        client = self._client
        if client is None:
            raise LinkDown("MQTT link is down")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=10)
        except aiomqtt.MqttError as exc:
            raise LinkDown(f"MQTT publish failed: {exc}") from None

    def subscribe_raw(self, topic_filter: str, callback: MessageCallback) -> None:
        self._raw_subs.append((topic_filter, callback))
        if self._client is not None:
            self._spawn(self._client.subscribe(topic_filter, qos=1))

    # -- incoming ----------------------------------------------------------------------
    async def _receive(self, client: aiomqtt.Client) -> None:
        prefix = f"{self._cfg.base_topic}/cmd/"
        async for message in client.messages:
            topic = message.topic.value
            payload = _as_bytes(message.payload)
            if topic.startswith(prefix):
                self._spawn(self._router.handle(_incoming_command(topic[len(prefix):],
                                                                  payload, message)))
                continue
            for topic_filter, callback in self._raw_subs:
                if message.topic.matches(topic_filter):
                    try:
                        callback(topic, payload)
                    except Exception:
                        log.exception("mqtt: handler for %s failed", topic_filter)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)


def _incoming_command(path: str, payload: bytes, message: aiomqtt.Message) -> IncomingCommand:
    props = message.properties
    return IncomingCommand(
        path=path,
        payload=payload,
        response_topic=getattr(props, "ResponseTopic", None) if props else None,
        correlation_data=getattr(props, "CorrelationData", None) if props else None,
        expiry_s=getattr(props, "MessageExpiryInterval", None) if props else None,
        received_monotonic=time.monotonic(),
    )


def _as_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("mqtt: background publish failed: %s", _describe(task.exception()))


def _describe(exc: BaseException | None) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("\n", " ")


def tls_context(mqtt: MqttConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=str(mqtt.tls.ca_file) if mqtt.tls.ca_file else None)
    if mqtt.tls.cert_file:
        context.load_cert_chain(str(mqtt.tls.cert_file),
                                str(mqtt.tls.key_file) if mqtt.tls.key_file else None)
    if mqtt.tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@asynccontextmanager
async def watch_client(url_host: str, port: int, *, tls: ssl.SSLContext | None = None,
                       username: str | None = None, password: str | None = None
                       ) -> AsyncIterator[aiomqtt.Client]:
    """A plain subscriber connection, for ``edge-agent watch``."""
    async with aiomqtt.Client(url_host, port, username=username, password=password,
                              tls_context=tls, protocol=aiomqtt.ProtocolVersion.V5) as client:
        yield client


async def watch_messages(host: str, port: int, topic_filter: str, *,
                         tls: ssl.SSLContext | None = None, username: str | None = None,
                         password: str | None = None
                         ) -> AsyncIterator[tuple[str, bytes, bool]]:
    """Yield (topic, payload, retained) for every message under ``topic_filter``."""
    async with watch_client(host, port, tls=tls, username=username,
                            password=password) as client:
        await client.subscribe(topic_filter, qos=1)
        async for message in client.messages:
            yield message.topic.value, _as_bytes(message.payload), bool(message.retain)


MqttErrors: tuple[type[BaseException], ...] = (aiomqtt.MqttError, OSError, ssl.SSLError)
