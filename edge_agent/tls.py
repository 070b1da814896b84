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
