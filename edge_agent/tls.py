"""TLS for the broker link: verify the broker against a CA, optionally present a client cert."""

from __future__ import annotations

import ssl

from edge_agent.config.model import MqttConfig


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


def client_cert_hint(mqtt: MqttConfig, error: str) -> str:
    """Over TLS 1.3 a broker that wants a client certificate rejects it only after the
    handshake: without one, the link sees its CONNECT answered by a closed connection (the
    link says "closed the connection before CONNACK") or not at all ("Operation timed out":
    TCP and TLS went through; a broker or uplink that is down fails earlier with "timed out"
    / "Connection refused"), so only then, or on the TLS alert itself, is the hint worth
    giving instead of a bare error."""
    if not mqtt.uses_tls or mqtt.tls.cert_file is not None:
        return ""
    text = error.lower()
    if "operation timed out" in text or "certificate required" in text or \
            "before connack" in text:
        return (" (if the broker requires client certificates, set mqtt.tls.cert_file and "
                "mqtt.tls.key_file)")
    return ""
