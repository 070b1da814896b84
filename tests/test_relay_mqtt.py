"""MQTT smart-relay driver (Tasmota topics) against the real test broker.

The driver talks through a port object with ``publish_raw``/``subscribe_raw``, as the
agent's MQTT link provides; here a small paho client plays that port, and another paho
client plays the Tasmota plug.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest

from drivers.relays.base import RelayError
from drivers.relays.mqtt_relay import MqttRelay, MqttRelayConfig
from tests.infra.broker import Broker
from tests.infra.mqtt_client import SubAcks


def _client(port: int) -> paho.Client:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert connected.wait(30)
    return client


class PahoPort:
    """publish_raw / subscribe_raw over paho; callbacks run on the asyncio loop."""

    def __init__(self, port: int, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.client = _client(port)
        self.subacks = SubAcks(self.client)
        self.subs: list[tuple[str, Any]] = []
        self.client.on_message = self._on_message

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        for topic_filter, callback in self.subs:
            if paho.topic_matches_sub(topic_filter, msg.topic):
                self.loop.call_soon_threadsafe(callback, msg.topic, bytes(msg.payload))

    async def publish_raw(self, topic: str, payload: bytes, *, qos: int = 1,
                          retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        await asyncio.to_thread(info.wait_for_publish, 30)

    def subscribe_raw(self, topic_filter: str, callback: Any) -> Callable[[], None]:
        entry = (topic_filter, callback)
        self.subs.append(entry)
        self.subacks.subscribe(topic_filter)
        return lambda: self.subs.remove(entry)

    async def settled(self) -> None:
        """Every subscription made so far is acknowledged by the broker."""
        await asyncio.to_thread(self.subacks.wait)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Plug:
    """A Tasmota plug with ``relays`` outputs: answers cmnd/<topic>/POWERn on stat/..."""

    def __init__(self, port: int, topic: str, relays: int = 2) -> None:
        self.topic = topic
        self.power = {n: False for n in range(1, relays + 1)}
        self.online = True
        self.client = _client(port)
        self.client.on_message = self._on_message
        subacks = SubAcks(self.client)
        subacks.subscribe(f"cmnd/{topic}/+")
        subacks.wait()

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        if not self.online:
            return
        leaf = msg.topic.rsplit("/", 1)[-1].upper()
        n = int(leaf[5:] or 1)
        word = msg.payload.decode().upper()
        if word in ("ON", "OFF"):
            self.power[n] = word == "ON"
        self.client.publish(f"stat/{self.topic}/RESULT",
                            f'{{"POWER{n}":"{"ON" if self.power[n] else "OFF"}"}}')
        self.client.publish(f"stat/{self.topic}/POWER{n}", "ON" if self.power[n] else "OFF")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def plug(broker: Broker) -> Iterator[Plug]:
    p = Plug(broker.port, f"tasmota_{uuid.uuid4().hex[:6]}")
    yield p
    p.close()


async def test_switch_and_read_back_over_the_broker(broker: Broker, plug: Plug) -> None:
    port = PahoPort(broker.port, asyncio.get_running_loop())
    try:
        relay = MqttRelay(MqttRelayConfig(driver="mqtt", topic=plug.topic, channel=2,
                                          timeout_s=3), port)
        await port.settled()  # the relay's stat/ subscription is in place
        await relay.set(2, True)
        assert plug.power == {1: False, 2: True}
        assert await relay.read(2) is True
        await relay.set(2, False)
        assert plug.power[2] is False
        assert await relay.read(1) is False
    finally:
        port.close()


async def test_offline_plug_is_a_clear_error(broker: Broker, plug: Plug) -> None:
    port = PahoPort(broker.port, asyncio.get_running_loop())
    try:
        relay = MqttRelay(MqttRelayConfig(driver="mqtt", topic=plug.topic, channel=1,
                                          timeout_s=0.5), port)
        await port.settled()
        plug.online = False
        with pytest.raises(RelayError, match=r"did not confirm within 0.5 s \(offline\?\)"):
            await relay.set(1, True)
        plug.online = True
        await relay.set(1, True)
        assert plug.power[1] is True
    finally:
        port.close()


async def test_hostile_result_payloads_are_ignored_not_raised(broker: Broker,
                                                              plug: Plug) -> None:
    """A device (or anyone on the broker) sending deep JSON, NaN or junk on stat/.../RESULT:
    the driver ignores it; the strict parser never reaches the recursion limit."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    port = PahoPort(broker.port, loop)
    try:
        relay = MqttRelay(MqttRelayConfig(driver="mqtt", topic=plug.topic, channel=1,
                                          timeout_s=3), port)
        await port.settled()
        for junk in (b"[" * 100_000, b'{"POWER1": NaN}', b"\xff\xfe", b'{"POWER1":' * 5000):
            await port.publish_raw(f"stat/{plug.topic}/RESULT", junk)
        await relay.set(1, True)  # the callback still runs: junk before, an answer after
        assert plug.power[1] is True and await relay.read(1) is True
        await asyncio.sleep(0.2)
        assert errors == [], errors[0].get("exception")
    finally:
        loop.set_exception_handler(None)
        port.close()
