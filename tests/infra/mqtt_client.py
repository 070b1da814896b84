"""A plain paho client for tests: plays the control room (subscribe, send commands)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    properties: Any

    def json(self) -> Any:
        return json.loads(self.payload)


def json_on(topic: str, **fields: Any) -> Callable[[Received], bool]:
    """A ``wait_for`` predicate: a message on ``topic`` whose JSON has these field values."""
    def match(m: Received) -> bool:
        if m.topic != topic:
            return False
        body = m.json()
        return all(body.get(k) == v for k, v in fields.items())
    return match


class SubAcks:
    """Subscribes through ``client`` and waits for the broker's SUBACKs: from then on nothing
    published to those filters is missed (a fixed short sleep was not enough on a loaded
    machine)."""

    def __init__(self, client: paho.Client) -> None:
        self._client = client
        self._acked: set[int] = set()
        self._pending: set[int] = set()
        self._cond = threading.Condition()
        client.on_subscribe = self._on_subscribe

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, *rest: Any) -> None:
        with self._cond:
            self._acked.add(mid)
            self._cond.notify_all()

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe without waiting (``wait`` waits for every subscription so far)."""
        _, mid = self._client.subscribe(topic_filter, qos=qos)
        with self._cond:
            self._pending.add(mid)

    def wait(self, timeout: float = 30.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._pending <= self._acked, timeout):
                raise TimeoutError("the broker did not acknowledge a subscription")


class ControlRoom:
    """Subscribes to ``topic_filter`` and records every message (thread-safe)."""

    def __init__(self, port: int, topic_filter: str = "#", *, v5: bool = True,
                 client_id: str | None = None, clean: bool = True, host: str = "127.0.0.1",
                 **tls_and_auth: Any) -> None:
        self.messages: list[Received] = []
        self.v5 = v5
        self._cond = threading.Condition()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
                                  protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
                                  clean_session=None if v5 else clean)
        self.client.max_queued_messages_set(0)
        if "username" in tls_and_auth:
            self.client.username_pw_set(tls_and_auth["username"], tls_and_auth.get("password"))
        if "ca_certs" in tls_and_auth:
            self.client.tls_set(ca_certs=tls_and_auth["ca_certs"],
                                certfile=tls_and_auth.get("certfile"),
                                keyfile=tls_and_auth.get("keyfile"))
        self.client.on_message = self._on_message
        self._subacks = SubAcks(self.client)
        connected = threading.Event()
        self.client.on_connect = lambda *a: connected.set()
        props = None
        if v5 and not clean:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        if v5:
            self.client.connect(host, port, clean_start=clean, properties=props)
        else:
            self.client.connect(host, port)
        self.client.loop_start()
        if not connected.wait(30):
            raise TimeoutError("control room could not connect")
        self.subscribe(topic_filter)

    def subscribe(self, topic_filter: str, timeout: float = 30.0) -> None:
        """Subscribe and wait for the broker's SUBACK."""
        self._subacks.subscribe(topic_filter)
        self._subacks.wait(timeout)

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain),
                                          getattr(msg, "properties", None)))
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 30.0,
                 count: int = 1) -> list[Received]:
        """Wait until ``count`` messages match; return them (raises TimeoutError)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages if predicate(m)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"got {len(found)}/{count} matching messages; last "
                                       f"topics: {[m.topic for m in self.messages[-5:]]}")
                self._cond.wait(remaining)

    def topic(self, suffix: str) -> Callable[[Received], bool]:
        return lambda m: m.topic.endswith(suffix)

    def publish(self, topic: str, payload: Any, *, qos: int = 1, retain: bool = False,
                properties: Properties | None = None) -> None:
        data = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        info = self.client.publish(topic, data, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(30)

    def command(self, base: str, path: str, payload: Any = None, *,
                response_topic: str | None = None, correlation: bytes | None = None,
                expiry_s: int | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """Send ``{base}/cmd/{path}`` and return the one reply's JSON."""
        props = None
        if response_topic or expiry_s is not None:
            props = Properties(PacketTypes.PUBLISH)
            if response_topic:
                props.ResponseTopic = response_topic
                props.CorrelationData = correlation or uuid.uuid4().bytes
            if expiry_s is not None:
                props.MessageExpiryInterval = expiry_s
        request_id = uuid.uuid4().hex
        body = dict(payload or {})
        body.setdefault("id", request_id)
        if response_topic:
            self.subscribe(response_topic)
            expected = getattr(props, "CorrelationData", None)
            self.publish(f"{base}/cmd/{path}", body, properties=props)
            reply = self.wait_for(lambda m: m.topic == response_topic and m.properties is
                                  not None and getattr(m.properties, "CorrelationData", None)
                                  == expected, timeout)
        else:
            self.publish(f"{base}/cmd/{path}", body, properties=props)
            reply = self.wait_for(lambda m: m.topic == f"{base}/cmd/{path}/result" and
                                  m.json().get("request_id") == body["id"], timeout)
        return dict(reply[0].json())

    def barrier(self, base: str, timeout: float = 30.0) -> None:
        """Wait for the reply to one more ``ping`` instead of sleeping before counting replies:
        the agent's replies leave its outbox in order and the broker keeps that order to one
        subscriber, so a second reply to any command answered before has arrived by then."""
        tag = uuid.uuid4().hex[:8]
        if self.v5:
            reply = self.command(base, "ping", {}, response_topic=f"reply/barrier/{tag}",
                                 timeout=timeout)
        else:
            reply = self.command(base, "ping", {"id": f"barrier-{tag}"}, timeout=timeout)
        assert reply["ok"] is True, reply

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
