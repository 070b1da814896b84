"""The shipped broker config (config/mosquitto/): per-gateway ACLs on a real mosquitto.

Started from config/mosquitto/mosquitto.conf with only ports and paths changed, the ACL file
exactly as shipped and credentials from config/mosquitto/make-credentials.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from tests.infra.fleet import FleetCredentials, ShippedBroker, make_credentials
from tests.infra.mqtt_client import ControlRoom, SubAcks

GW1, GW2 = "sim-c0000/gw-1", "sim-c0000/gw-2"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShippedBroker]:
    work = tmp_path_factory.mktemp("shipped-broker")
    broker = ShippedBroker(work, make_credentials(work / "creds", 3))
    broker.start()
    yield broker
    broker.stop()


def _room(broker: ShippedBroker, topic: str) -> ControlRoom:
    return ControlRoom(broker.port, topic, username="control-room",
                       password=broker.credentials.room_password)


class Gateway:
    """A paho MQTT 5 client logged in as one gateway; records PUBACK reason codes."""

    def __init__(self, port: int, creds: FleetCredentials, user: str, *,
                 tls: ssl.SSLContext | None = None) -> None:
        self.acks: dict[int, Any] = {}
        self.received: list[str] = []
        self._event = threading.Condition()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2,
                                  client_id=f"edge-{user.replace('/', '.')}",
                                  protocol=paho.MQTTv5)
        self.client.username_pw_set(user, creds.gateways[user])
        if tls is not None:
            self.client.tls_set_context(tls)
        self.client.on_publish = self._on_publish
        self.client.on_message = lambda c, u, m: self.received.append(m.topic)
        connected = threading.Event()
        self.client.on_connect = lambda *args: connected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert connected.wait(30), "no CONNACK"

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any,
                    props: Any) -> None:
        with self._event:
            self.acks[mid] = reason
            self._event.notify_all()

    def publish(self, topic: str, payload: bytes = b"{}") -> Any:
        """Publish QoS 1 and return the broker's PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1)
        with self._event:
            assert self._event.wait_for(lambda: info.mid in self.acks, 30), "no PUBACK"
            return self.acks[info.mid]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_gateway_writes_only_under_its_own_base_topic(shipped: ShippedBroker) -> None:
    room = _room(shipped, "commune/#")
    gw1 = Gateway(shipped.port, shipped.credentials, GW1)
    try:
        own = gw1.publish(f"commune/{GW1}/health", b'{"own":1}')
        other = gw1.publish(f"commune/{GW2}/status", b'{"forged":1}')
        command = gw1.publish(f"commune/{GW2}/cmd/light/c1/override", b'{"forged":2}')
        outside = gw1.publish("commune/sim-c0001/gw-1/health", b'{"forged":3}')
        assert not own.is_failure
        # MQTT 5: the broker says so in the PUBACK (0x87 Not authorized) ...
        for reason in (other, command, outside):
            assert reason.is_failure and reason.value == 0x87, reason
        room.wait_for(room.topic(f"{GW1}/health"))
        # ... and delivers nothing: the control room never sees a forged message
        marker = gw1.publish(f"commune/{GW1}/health", b'{"marker":1}')
        assert not marker.is_failure
        room.wait_for(lambda m: m.payload == b'{"marker":1}')
        assert not [m for m in room.messages if b"forged" in m.payload]
    finally:
        gw1.close()
        room.close()


def test_a_gateway_reads_only_its_own_commands(shipped: ShippedBroker) -> None:
    gw1 = Gateway(shipped.port, shipped.credentials, GW1)
    subacks = SubAcks(gw1.client)
    subacks.subscribe("commune/#")  # mosquitto grants it; the read rules filter delivery
    subacks.wait()
    room = _room(shipped, "nothing/#")
    try:
        room.publish(f"commune/{GW2}/cmd/ping", {"id": "for-gw2"})
        room.publish(f"commune/{GW2}/health", b"{}")  # needs a gateway's write: refused
        room.publish(f"commune/{GW1}/cmd/ping", {"id": "for-gw1"})
        deadline_topic = f"commune/{GW1}/cmd/ping"
        for _ in range(300):
            if deadline_topic in gw1.received:
                break
            threading.Event().wait(0.05)
        assert gw1.received == [deadline_topic]  # not gw2's command, nothing else
    finally:
        gw1.close()
        room.close()


def test_the_control_room_cannot_pose_as_a_gateway(shipped: ShippedBroker) -> None:
    room = _room(shipped, "commune/#")
    try:
        room.publish(f"commune/{GW1}/status", b'{"forged":"room"}')
        room.publish(f"commune/{GW1}/cmd/ping", b'{"id":"ok"}')
        room.wait_for(lambda m: m.topic.endswith("cmd/ping"))
        assert not [m for m in room.messages if b"forged" in m.payload]
    finally:
        room.close()


def _connack(port: int, user: str | None, password: str | None,
             client_id: str = "probe") -> Any:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5)
    if user is not None:
        client.username_pw_set(user, password)
    reasons: list[Any] = []
    done = threading.Event()

    def on_connect(c: Any, u: Any, f: Any, reason: Any, p: Any) -> None:
        reasons.append(reason)
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert done.wait(30), "no CONNACK"
    finally:
        client.loop_stop()
    return reasons[0]


def test_wrong_password_and_anonymous_are_refused(shipped: ShippedBroker) -> None:
    good = shipped.credentials.gateways[GW1]
    assert not _connack(shipped.port, GW1, good).is_failure
    assert _connack(shipped.port, GW1, good + "x").is_failure
    assert _connack(shipped.port, GW2, good).is_failure  # another gateway's password
    assert _connack(shipped.port, None, None).is_failure  # anonymous
    # no client id: refused (a gateway's persistent session hangs on its id)
    assert _connack(shipped.port, GW1, good, client_id="").is_failure


def test_gateways_connect_over_the_tls_listener(shipped: ShippedBroker, tmp_path: Path) -> None:
    context = ssl.create_default_context(cafile=str(shipped.tls.ca))
    room = _room(shipped, f"commune/{GW2}/#")
    gw2 = Gateway(shipped.tls_port, shipped.credentials, GW2, tls=context)
    try:
        assert not gw2.publish(f"commune/{GW2}/health", b'{"tls":1}').is_failure
        room.wait_for(lambda m: m.payload == b'{"tls":1}')
    finally:
        gw2.close()
        room.close()


def test_a_gateway_replies_only_on_its_own_control_room_reply_topic(
        shipped: ShippedBroker) -> None:
    """The control room names ``control-room/{instance}/replies/{site}/{gateway}`` as the
    MQTT 5 response topic; a gateway may write its own replies there, not another's."""
    room = _room(shipped, "control-room/+/replies/#")
    gw1 = Gateway(shipped.port, shipped.credentials, GW1)
    try:
        own = gw1.publish(f"control-room/main/replies/{GW1}", b'{"own":1}')
        forged = gw1.publish(f"control-room/main/replies/{GW2}", b'{"forged":1}')
        elsewhere = gw1.publish("control-room/main/anything", b'{"forged":2}')
        assert not own.is_failure
        assert forged.is_failure and elsewhere.is_failure
        room.wait_for(lambda m: m.payload == b'{"own":1}')
        assert not [m for m in room.messages if b"forged" in m.payload]
    finally:
        gw1.close()
        room.close()
