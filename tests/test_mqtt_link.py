"""The MQTT link against a TLS + password mosquitto: verified mqtts://, auth, clear errors."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker
from tests.infra.mqtt_client import ControlRoom
from tests.infra.tls import PASSWORD, USER, TlsFiles, make_tls


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, TlsFiles]]:
    tmp = tmp_path_factory.mktemp("tls-broker")
    files = make_tls(tmp / "pki")
    broker = Broker(tmp / "mosquitto", extra_conf=files.broker_conf(), anonymous=False).start()
    yield broker, files
    broker.stop()


@pytest.fixture
def tls_room(tls_broker: tuple[Broker, TlsFiles]) -> Iterator[ControlRoom]:
    broker, files = tls_broker
    room = ControlRoom(broker.port, "commune/#", username=USER, password=PASSWORD,
                       ca_certs=str(files.ca))
    yield room
    room.close()


def _agent(tmp: Path, broker: Broker, gateway: str, mqtt: dict[str, Any]) -> AgentProcess:
    config = write_config(tmp / f"{gateway}.yaml",
                          base_config(tmp, broker.url, gateway=gateway, mqtt=mqtt))
    return AgentProcess(config, tmp / f"{gateway}.log").start()


def _status(room: ControlRoom, gateway: str, state: str, timeout: float = 30.0
            ) -> dict[str, Any]:
    topic = f"commune/testsite/{gateway}/status"
    found = room.wait_for(lambda m: m.topic == topic and m.json().get("state") == state,
                          timeout)
    return dict(found[-1].json())


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_mqtts_with_ca_verification_and_password(
        tmp_path: Path, tls_broker: tuple[Broker, TlsFiles], tls_room: ControlRoom,
        protocol: str) -> None:
    broker, files = tls_broker
    assert broker.url.startswith("mqtts://")
    secret = tmp_path / "mqtt_password"
    secret.write_text(PASSWORD + "\n")
    gateway = f"gw-tls-{protocol.replace('.', '')}"
    agent = _agent(tmp_path, broker, gateway,
                   {"protocol": protocol, "username": USER, "password_file": str(secret),
                    "tls": {"ca_file": str(files.ca)}})
    try:
        birth = _status(tls_room, gateway, "online")
        assert birth["clock_synced"] is True and len(birth["config_hash"]) == 12
        assert {"v", "ts", "id", "version", "boot_time", "boot", "last_seq"} <= set(birth)
        assert "seq" not in birth, "status is not in the durable seq stream"
        reply = tls_room.command(f"commune/testsite/{gateway}", "ping", {})
        assert reply["ok"] is True
        assert PASSWORD not in agent.log()
    finally:
        assert agent.stop() == 0
    stopped = _status(tls_room, gateway, "stopped", 15)
    assert stopped["state"] == "stopped"


def test_wrong_ca_is_a_clear_error_and_retried(
        tmp_path: Path, tls_broker: tuple[Broker, TlsFiles]) -> None:
    broker, files = tls_broker
    agent = _agent(tmp_path, broker, "gw-wrong-ca",
                   {"username": USER, "password": PASSWORD,
                    "tls": {"ca_file": str(files.other_ca)}})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and \
                agent.log().count("certificate verify failed") < 3:
            time.sleep(0.1)
        failures = [line for line in agent.log().splitlines()
                    if "certificate verify failed" in line]
        assert len(failures) >= 3, agent.log()[-2000:]  # it keeps trying
        assert re.search(r"mqtt: 127\.0\.0\.1:\d+ unavailable: .*certificate verify failed",
                         failures[0])
        assert "Traceback" not in agent.log()
        assert "connected to" not in agent.log()
    finally:
        assert agent.stop() == 0


def test_wrong_password_is_a_clear_error_and_retried(
        tmp_path: Path, tls_broker: tuple[Broker, TlsFiles]) -> None:
    broker, files = tls_broker
    agent = _agent(tmp_path, broker, "gw-wrong-pw",
                   {"username": USER, "password": "not-the-password",
                    "tls": {"ca_file": str(files.ca)}})
    try:
        # it keeps trying: a second failure, however long a loaded machine takes for it
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and agent.log().count("unavailable") < 2:
            time.sleep(0.1)
        failures = [line for line in agent.log().splitlines() if "unavailable" in line]
        assert len(failures) >= 2, agent.log()[-2000:]
        assert re.search(r"not authori[sz]ed|bad user name or password", failures[0], re.I), \
            failures[0]
        assert "not-the-password" not in agent.log()
        assert "Traceback" not in agent.log()
    finally:
        assert agent.stop() == 0


def test_mutual_tls_with_client_certificate(tmp_path: Path,
                                           tls_broker: tuple[Broker, TlsFiles]) -> None:
    _, files = tls_broker
    broker = Broker(tmp_path / "mtls", extra_conf=files.mutual_tls_conf(),
                    anonymous=False).start()
    room = ControlRoom(broker.port, "commune/#", ca_certs=str(files.ca),
                       certfile=str(files.client_cert), keyfile=str(files.client_key))
    with_cert = _agent(tmp_path, broker, "gw-mtls",
                       {"tls": {"ca_file": str(files.ca), "cert_file": str(files.client_cert),
                                "key_file": str(files.client_key)}})
    without_cert = _agent(tmp_path, broker, "gw-nocert", {"tls": {"ca_file": str(files.ca)}})
    try:
        _status(room, "gw-mtls", "online")
        # TLS 1.3 rejects the missing certificate after the handshake: the link sees the
        # broker close the connection before its CONNACK (or, on some brokers, no answer:
        # "Operation timed out" after 10 s), then retries; the log line says what to check
        without_cert.wait_log("unavailable", 45)  # up to a 10 s timeout after a slow start
        assert "set mqtt.tls.cert_file and mqtt.tls.key_file" in without_cert.log()
        assert "connected to" not in without_cert.log()
        assert "Traceback" not in without_cert.log()
    finally:
        assert with_cert.stop() == 0
        assert without_cert.stop() == 0
        room.close()
        broker.stop()


async def test_the_paho_hooks_the_link_relies_on_are_where_it_expects() -> None:
    """aiomqtt 2.5 keeps a paho client in ``_client``; the link hooks its on_connect and
    on_publish. A new aiomqtt that moves them must fail here, loudly."""
    import aiomqtt
    import paho.mqtt.client as paho_mqtt

    from edge_agent.mqtt import paho_client

    client = aiomqtt.Client("127.0.0.1", 1, protocol=aiomqtt.ProtocolVersion.V5)
    paho = paho_client(client)
    assert isinstance(paho, paho_mqtt.Client)
    assert callable(paho.on_connect), "aiomqtt installs its own on_connect we chain to"
    assert callable(paho.on_publish), "aiomqtt's on_publish is our fallback for other PUBACKs"
    assert callable(paho.disable_logger)

    class Moved:
        _client = object()

    with pytest.raises(RuntimeError, match="no longer keeps its paho client"):
        paho_client(Moved())  # type: ignore[arg-type]
