"""An MQTT broker URL in a config file (``mqtt://host[:port]`` or ``mqtts://...``): checked
once and read the same way by the agent and the control room."""

from __future__ import annotations

from urllib.parse import urlsplit


def check_broker_url(value: str) -> str:
    """The URL unchanged, or ``ValueError`` with what is expected (for a field validator)."""
    parts = urlsplit(value)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("expected mqtt://host[:port] or mqtts://host[:port]")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError("port must be a number from 1 to 65535") from None
    return value


class BrokerUrl:
    """``host``, ``port`` and ``uses_tls`` of a model's ``url`` field."""

    url: str

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def uses_tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"
