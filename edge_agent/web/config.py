"""Config sections ``http`` (local web page) and ``homeassistant`` (MQTT discovery)."""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator

from yaml_config.base import Secret, SecretsModel, StrictModel


class HttpConfig(SecretsModel):
    enabled: bool = Field(True, description="Serve the local web page, /healthz and /metrics.")
    bind: str = Field(
        "127.0.0.1",
        description="Address to listen on. 127.0.0.1 = only this box; 0.0.0.0 = the local "
        "network too (a technician's phone on the gateway's wifi). IPv6: ::1 or ::; or a "
        "host name.",
    )
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0 picks a free one).")
    token: Secret | None = Field(
        None,
        description="Bearer token for write actions (relay test, override, snapshot). "
        "Without a token every write is refused. Or token_file: PATH (systemd credential).",
    )
    refresh_s: float = Field(
        3.0, ge=1, le=60, description="How often the page refreshes its data, in seconds."
    )
    crash_loop_restarts: int = Field(
        3, ge=1, le=1000, description="/healthz fails when a component restarted this many times..."
    )
    crash_loop_window_s: float = Field(
        600, gt=0, le=7 * 86400, description="...within this many seconds."
    )
    outbox_unhealthy_percent: float = Field(
        90, gt=0, le=100,
        description="/healthz fails when the link is down and the outbox is this full (%).",
    )

    @field_validator("bind")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        return valid_host(value)

    @field_validator("token")
    @classmethod
    def _token_long_enough(cls, value: object) -> object:
        secret = getattr(value, "get_secret_value", None)
        if secret is not None and len(secret()) < 12:
            raise ValueError("the token must be at least 12 characters "
                             "(e.g. from: openssl rand -hex 16)")
        return value


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def valid_host(value: str) -> str:
    """An IP address (v4 or v6, without brackets) or a DNS host name, else ValueError:
    a bind address the web server could not listen on must fail check-config, not start."""
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    if text and len(text) <= 253 and all(_HOST_LABEL.match(label) for label in labels) \
            and not labels[-1].isdigit():
        return text
    hint = " (write IPv6 addresses without brackets, e.g. ::1)" if "[" in text or \
        ":" in text else ""
    raise ValueError(f"not an IP address or host name: {value!r}{hint}")


_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")


class HomeAssistantConfig(StrictModel):
    enabled: bool = Field(
        False, description="Publish Home Assistant MQTT discovery messages (retained)."
    )
    prefix: str = Field("homeassistant", description="Home Assistant's discovery prefix.")
    node_id: str | None = Field(
        None, description="Node id in discovery topics; default 'edge_{gateway.id}'."
    )
    device_name: str | None = Field(
        None, description="Device name shown in Home Assistant; default 'Gateway {gateway.id}'."
    )

    @field_validator("prefix")
    @classmethod
    def _valid_prefix(cls, value: str) -> str:
        if not _PREFIX_RE.match(value):
            raise ValueError("letters, digits, '_', '-' and '/' between words, e.g. "
                             "'homeassistant'")
        return value
