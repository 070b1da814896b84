"""The root config model: one YAML file, one section per capability."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from drivers.redact import redact_urls
from edge_agent.cameras.config import CameraConfig
from edge_agent.hotspots.config import HotspotConfig
from edge_agent.lighting.config import LightingConfig
from edge_agent.web.config import HomeAssistantConfig, HttpConfig
from yaml_config.base import Secret, SecretsModel, StrictModel
from yaml_config.broker_url import BrokerUrl, check_broker_url

_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class GatewayConfig(StrictModel):
    id: str = Field(pattern=_ID_RE, description="This gateway's id, unique in the commune.")
    site: str = Field(pattern=_ID_RE, description="Commune or village code, e.g. 'xuan-truong'.")
    timezone: str = Field("Asia/Ho_Chi_Minh", description="IANA timezone of the site.")
    latitude: float = Field(19.9, ge=-90, le=90, description="Site latitude (sunset/sunrise).")
    longitude: float = Field(105.4, ge=-180, le=180, description="Site longitude.")
    clock_sync: Literal["detect", "assume_synced"] = Field(
        "detect",
        description="How to know the clock is right: 'detect' asks the kernel/timesyncd; "
        "'assume_synced' trusts it (boxes with an RTC, demos).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (e.g. 'Asia/Ho_Chi_Minh')") from None
        return value


class TlsConfig(StrictModel):
    ca_file: Path | None = Field(None, description="CA bundle to verify the broker (PEM).")
    cert_file: Path | None = Field(None, description="Client certificate (PEM), for mutual TLS.")
    key_file: Path | None = Field(None, description="Client private key (PEM).")
    insecure_skip_verify: bool = Field(
        False, description="Do not verify the broker certificate. Never in production."
    )


class MqttConfig(BrokerUrl, SecretsModel):
    url: str = Field(
        "mqtt://127.0.0.1:1883",
        description="Broker URL: mqtt://host[:port] or mqtts://host[:port] (TLS, verified).",
    )
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT protocol version.")
    client_id: str | None = Field(None, description="Client id; default "
                                  "'edge-{gateway.site}.{gateway.id}'.")
    username: str | None = Field(None, description="Broker user name.")
    password: Secret | None = Field(
        None, description="Broker password (or password_file: PATH, or ${ENV_VAR})."
    )
    base_topic: str | None = Field(
        None, description="Topic prefix; default 'commune/{gateway.site}/{gateway.id}'."
    )
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive in seconds.")
    tls: TlsConfig = Field(default_factory=TlsConfig, description="TLS settings for mqtts://.")
    reconnect_min_s: float = Field(1.0, gt=0, le=3600,
                                   description="First reconnect delay cap (s).")
    reconnect_max_s: float = Field(60.0, gt=0, le=3600,
                                   description="Largest reconnect delay cap (s).")
    max_inflight: int = Field(
        1000, ge=1, le=65535, description="QoS 1 messages sent but not yet acknowledged."
    )

    _valid_url = field_validator("url")(check_broker_url)


class StorageConfig(StrictModel):
    data_dir: Path = Field(
        Path("/var/lib/edge-agent"), description="Where the outbox, uptime and media live."
    )
    outbox_max_mb: float = Field(
        64, gt=0, le=1_000_000,
        description="Largest size of unsent messages kept on disk, in MB."
    )
    outbox_commit_ms: int = Field(
        50, ge=1, le=5000,
        description="Group-commit window: accepted messages are fsynced together (ms).",
    )


class HealthConfig(StrictModel):
    interval_s: float = Field(60, ge=1, le=86400, description="Seconds between health messages.")


class AgentConfig(StrictModel):
    """The whole config file."""

    gateway: GatewayConfig = Field(description="Who and where this gateway is.")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="Control-room broker.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Local storage.")
    health: HealthConfig = Field(default_factory=HealthConfig, description="Health reports.")
    lighting: LightingConfig = Field(default_factory=LightingConfig, description="Street lights.")
    cameras: list[CameraConfig] = Field(default_factory=list, description="RTSP cameras.")
    hotspots: list[HotspotConfig] = Field(default_factory=list, description="Wifi hotspots.")
    http: HttpConfig = Field(default_factory=HttpConfig, description="Local web page.")
    homeassistant: HomeAssistantConfig = Field(
        default_factory=HomeAssistantConfig, description="Home Assistant MQTT discovery."
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> AgentConfig:
        for section in ("cameras", "hotspots"):
            seen: set[str] = set()
            for item in getattr(self, section):
                if item.id in seen:
                    raise ValueError(f"{section}: id {item.id!r} is used twice")
                seen.add(item.id)
        return self

    @property
    def base_topic(self) -> str:
        if self.mqtt.base_topic:
            return self.mqtt.base_topic.rstrip("/")
        return f"commune/{self.gateway.site}/{self.gateway.id}"

    @property
    def client_id(self) -> str:
        # site and id: gateway ids repeat across communes (gw-1 everywhere), and two clients
        # with one id keep throwing each other off the broker
        return self.mqtt.client_id or f"edge-{self.gateway.site}.{self.gateway.id}"


def redacted_dump(config: AgentConfig) -> dict[str, object]:
    """The config as JSON-able data with every secret (and URL password) hidden."""
    redacted = _redact(config.model_dump(mode="json"))
    assert isinstance(redacted, dict)
    return redacted


def _redact(value: object) -> object:
    if isinstance(value, dict):
        return {
            k: ("**********" if _is_secret_key(k) and v is not None else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, str):
        return redact_urls(value)
    return value


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in ("password", "token", "secret")) and not \
        lowered.endswith("_file")
