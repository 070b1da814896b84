"""The MQTT link (with ``wire.py``, the only code that imports aiomqtt/paho).

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

from contract import encode
from drivers.backoff import Backoff
from edge_agent.commands import CommandRouter, IncomingCommand
from edge_agent.config.model import AgentConfig
from edge_agent.mqtt.wire import (
    BINARY_PROPS,
    JSON_PROPS,
    PUBLISH_TIMEOUT_S,
    InflightWindow,
    as_bytes,
    connack_future,
    content_type,
    paho_client,
)
from edge_agent.outbox import Outbox
from edge_agent.outbox_messages import StoredMessage
from edge_agent.runtime import MessageCallback
from edge_agent.tls import client_cert_hint, tls_context

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 24 * 3600  # the broker keeps our command subscription across outages
STABLE_SESSION_S = 60.0


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
        self.broker_receive_maximum: int | None = None

    @property
    def status_topic(self) -> str:
        return f"{self._cfg.base_topic}/status"

    # -- main loop ---------------------------------------------------------------------
    async def run(self) -> None:
        mqtt = self._cfg.mqtt
        # only a session that lasted resets the backoff (no kick storms)
        backoff = Backoff(mqtt.reconnect_min_s, mqtt.reconnect_max_s, stable_s=STABLE_SESSION_S)
        while True:
            started = time.monotonic()
            try:
                async with self._connect() as client:
                    await self._session(client)
            except (aiomqtt.MqttError, OSError, ssl.SSLError) as exc:
                error = _describe(exc)
                self.last_error = error + client_cert_hint(mqtt, error)
                log.warning("mqtt: %s:%d unavailable: %s (messages are kept in the outbox)",
                            mqtt.host, mqtt.port, self.last_error)
            except Exception as exc:  # the link must never take the whole agent down
                self.last_error = f"{type(exc).__name__}: {_describe(exc)}"
                log.exception("mqtt: link failed, reconnecting")
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(backoff.failed(time.monotonic() - started))

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
            max_inflight_messages=0,  # unlimited in paho: InflightWindow bounds it
            tls_context=tls_context(mqtt) if mqtt.uses_tls else None,
            tls_insecure=mqtt.tls.insecure_skip_verify if mqtt.uses_tls else None,
        )
        # aiomqtt logs a warning for every publish once more than 10 await their PUBACK;
        # many in flight is this link's normal state, not a problem worth a log line each
        client.pending_calls_threshold = 2 * mqtt.max_inflight + 100
        if not logging.getLogger("mqtt").isEnabledFor(logging.DEBUG):
            paho_client(client).disable_logger()  # paho formats a line per packet otherwise
        # PUBACK a command only once it has been handled and its reply stored (_receive): if
        # the gateway dies before, the broker delivers it again (the command log answers it)
        paho_client(client).manual_ack_set(True)
        self._watch_connack(client)
        async with client:
            yield client

    def _watch_connack(self, client: aiomqtt.Client) -> None:
        """Note the broker's MQTT 5 Receive Maximum: sending more in flight is a protocol
        error that a strict broker answers by disconnecting. And a broker that hangs up
        before its CONNACK fails the attempt at once (aiomqtt would wait its full timeout,
        10 s per attempt whatever the backoff says)."""
        self.broker_receive_maximum = None
        paho = paho_client(client)
        aiomqtt_on_connect = paho.on_connect
        aiomqtt_on_disconnect = paho.on_disconnect
        connected = connack_future(client)

        def on_disconnect(*args: Any) -> None:
            if not connected.done():
                connected.set_exception(
                    aiomqtt.MqttError("the broker closed the connection before CONNACK"))
            elif aiomqtt_on_disconnect is not None:
                aiomqtt_on_disconnect(*args)

        paho.on_disconnect = on_disconnect

        def on_connect(*args: Any) -> None:
            props = args[4] if len(args) > 4 else None
            self.broker_receive_maximum = getattr(props, "ReceiveMaximum", None)
            if aiomqtt_on_connect is not None:
                aiomqtt_on_connect(*args)

        paho.on_connect = on_connect

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
        limit = min(self._cfg.mqtt.max_inflight, self.broker_receive_maximum or 65535)
        window = InflightWindow(client, limit, self._acked)
        cursor = 0  # each connection starts over: unacknowledged rows are sent again
        new_rows = self._outbox.new_rows
        try:
            while True:
                new_rows.clear()
                rows = await self._outbox.fetch_after(cursor, limit=1000)
                if not rows:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(new_rows.wait(), 1.0)
                    window.check_stuck()
                    continue
                for index, row in enumerate(rows):
                    await window.wait_open()
                    replayed = row.accepted_at < self.connected_since
                    cursor = row.id
                    try:
                        window.publish(row.id, row.topic, row.payload_for_send(replayed),
                                       row.qos, row.retain, self._properties(row))
                    except (ValueError, TypeError) as exc:  # e.g. a topic MQTT cannot carry
                        log.error("mqtt: outbox message %d to %r can never be sent (%s): "
                                  "dropped", row.id, row.topic[:80], exc)
                        self._outbox.ack(row.id)
                    if index % 100 == 99:
                        await asyncio.sleep(0)  # publishing 1000 rows must not hog the loop
        finally:
            window.close()

    def _acked(self, row_id: int) -> None:
        self._outbox.ack(row_id)
        self.sent += 1

    def _properties(self, row: StoredMessage) -> Properties | None:
        if self._cfg.mqtt.protocol != "5":
            return None
        if not (row.props and row.props.get("correlation_data")):
            return JSON_PROPS if row.is_json else BINARY_PROPS  # shared: paho only reads
        props = content_type(row.is_json)
        props.CorrelationData = bytes.fromhex(row.props["correlation_data"])
        return props

    def send_nowait(self, topic: str, payload: bytes, *, retain: bool,
                    props: Mapping[str, Any] | None = None) -> bool:
        """QoS 0, not stored: for high-rate stats and the full-disk fall-back (``props``
        keeps a reply's correlation data). False when there is no connection."""
        client = self._client
        if client is None:
            return False
        properties = None
        if props and props.get("correlation_data") and self._cfg.mqtt.protocol == "5":
            properties = content_type(True)
            properties.CorrelationData = bytes.fromhex(props["correlation_data"])
        self._spawn(client.publish(topic, payload, qos=0, retain=retain,
                                   properties=properties))
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

    def subscribe_raw(self, topic_filter: str,
                      callback: MessageCallback) -> Callable[[], None]:
        entry = (topic_filter, callback)
        self._raw_subs.append(entry)
        if self._client is not None:
            self._spawn(self._client.subscribe(topic_filter, qos=1))

        def unsubscribe() -> None:
            if entry in self._raw_subs:
                self._raw_subs.remove(entry)
            still_wanted = any(f == topic_filter for f, _ in self._raw_subs)
            if self._client is not None and not still_wanted:
                self._spawn(self._client.unsubscribe(topic_filter))

        return unsubscribe

    # -- incoming ----------------------------------------------------------------------
    async def _receive(self, client: aiomqtt.Client) -> None:
        prefix = f"{self._cfg.base_topic}/cmd/"
        async for message in client.messages:
            topic = message.topic.value
            payload = as_bytes(message.payload)
            if topic.startswith(prefix):
                self._spawn(self._handle_then_ack(client, message, topic[len(prefix):],
                                                  payload))
                continue
            for topic_filter, callback in self._raw_subs:
                if message.topic.matches(topic_filter):
                    try:
                        callback(topic, payload)
                    except Exception:
                        log.exception("mqtt: handler for %s failed", topic_filter)
            self._ack(client, message)

    async def _handle_then_ack(self, client: aiomqtt.Client, message: aiomqtt.Message,
                               path: str, payload: bytes) -> None:
        await self._router.handle(_incoming_command(path, payload, message))
        self._ack(client, message)  # the reply is in the outbox (on disk) by now

    def _ack(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        # a PUBACK belongs to the connection that delivered the message; after a reconnect
        # the broker delivers it again instead
        if message.qos > 0 and self._client is client:
            paho_client(client).ack(message.mid, message.qos)

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


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("mqtt: background publish failed: %s", _describe(task.exception()))


def _describe(exc: BaseException | None) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("\n", " ")


