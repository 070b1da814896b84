"""The control room's one YAML file, validated with the shared loader (``yaml_config``).

The alert rules and notification channels have their own models (``control_room.alerts.config``,
written with the rule engine); until that module is installed their sections are kept as
plain mappings and checked when the engine starts.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from control_room.alerts.config import AlertRulesConfig, NotificationsConfig
from control_room.console.config import ConsoleSection
from yaml_config import Loaded, Secret, SecretsModel, StrictModel, load_file
from yaml_config.broker_url import BrokerUrl, check_broker_url

DEFAULT_CONFIG = Path(os.environ.get("CONTROL_ROOM_CONFIG", "/etc/control-room/config.yaml"))


class MqttSection(BrokerUrl, SecretsModel):
    url: str = Field("mqtt://127.0.0.1:1883", description="Broker URL: mqtt://host[:port] or "
                     "mqtts://host[:port] (TLS, verified).")
    username: str | None = Field(None, description="Broker user name.")
    password: Secret | None = Field(None, description="Broker password (or password_file).")
    ca_file: Path | None = Field(None, description="CA certificate for mqtts:// (default: "
                                 "the system CAs).")
    client_id: str | None = Field(None, description="Client id of this worker; default "
                                  "'control-room-{instance}'. Keep it fixed: the broker keeps "
                                  "the persistent session (unacknowledged messages) under it.")
    root: str = Field("commune", description="Topic root of the gateways: they publish under "
                      "{root}/{site}/{gateway}/...")
    shared_group: str | None = Field(None, description="Run as one of N workers: subscribe "
                                     "with $share/{shared_group}/... (each message to one).")
    session_expiry_s: int = Field(7 * 24 * 3600, ge=60, description="How long the broker "
                                  "keeps this worker's session (and its messages) while it is "
                                  "down.")
    receive_maximum: int = Field(4000, ge=10, le=65535, description="Messages the broker may "
                                 "send before we acknowledge (bounds memory during a DB outage).")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive (s).")

    _valid_url = field_validator("url")(check_broker_url)


class DatabaseSection(SecretsModel):
    url: str = Field("sqlite:////var/lib/control-room/control-room.db", description=
                     "sqlite:///PATH (embedded, default) or postgresql://user@host:port/db.")
    password: Secret | None = Field(None, description="PostgreSQL password (or password_file), "
                                    "if not in the URL.")
    pool_size: int = Field(5, ge=1, le=100, description="PostgreSQL connections per worker.")
    retry_max_s: float = Field(10.0, gt=0, description="Longest wait between attempts while "
                               "the database is down (messages stay unacknowledged meanwhile).")

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        scheme = urlsplit(value).scheme.split("+")[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("expected sqlite:///PATH or postgresql://user@host:port/db")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


class IngestSection(StrictModel):
    batch_ms: int = Field(50, ge=1, le=5000, description="Collect messages this long into one "
                          "transaction (then acknowledge them all).")
    batch_max: int = Field(1000, ge=1, le=20000, description="At most this many per "
                           "transaction.")
    loss_grace_s: float = Field(60.0, ge=0, description="Judge a seq hole only this long after "
                                "the message above it arrived (replays arrive out of order).")
    quarantine_keep_bytes: int = Field(4096, ge=0, description="Bytes of a quarantined "
                                       "payload kept for diagnosis.")
    snapshot_max_mb: float = Field(8.0, gt=0, description="Largest snapshot accepted.")


class StorageSection(StrictModel):
    data_dir: Path = Field(Path("/var/lib/control-room"), description="Snapshots (files named "
                           "by their sha256) and the SQLite database by default.")
    snapshot_quota_mb: float = Field(2048, gt=0, description="Disk quota of the snapshot "
                                     "files; the oldest unreferenced go first.")
    raw_telemetry_days: int = Field(14, ge=1, description="Keep health and hotspot samples "
                                    "this long, hourly roll-ups after.")
    rollup_days: int = Field(365, ge=1, description="Keep hourly roll-ups this long.")
    message_log_days: int = Field(14, ge=1, description="Keep message ids (de-duplication, "
                                  "seq completeness) this long.")


class FleetSection(StrictModel):
    stale_factor: float = Field(3.0, ge=1, description="A gateway with no message for this "
                                "many health intervals is stale.")
    default_health_interval_s: float = Field(60.0, gt=0, description="Used until a gateway's "
                                             "status says its health_interval_s.")


class HttpSection(SecretsModel):
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8780, ge=0, le=65535, description="Port (0: any free port).")
    token: Secret | None = Field(None, description="Bearer token for /api/* (or token_file); "
                                 "without one the API refuses every request but /healthz and "
                                 "/metrics.")


class CommandsSection(StrictModel):
    timeout_s: float = Field(30.0, gt=0, le=3600, description="How long to wait for a "
                             "gateway's reply; also the command's MQTT message expiry.")


class ControlRoomConfig(StrictModel):
    instance: str = Field(default_factory=lambda: socket.gethostname().split(".")[0],
                          description="Name of this worker, unique among the workers (client "
                          "id, reply topic); default: the host name.")
    mqtt: MqttSection = Field(default_factory=MqttSection, description="Broker.")
    database: DatabaseSection = Field(default_factory=DatabaseSection, description="Store.")
    ingest: IngestSection = Field(default_factory=IngestSection, description="Ingest.")
    storage: StorageSection = Field(default_factory=StorageSection, description="Files.")
    fleet: FleetSection = Field(default_factory=FleetSection, description="Fleet state.")
    http: HttpSection = Field(default_factory=HttpSection, description="JSON API.")
    commands: CommandsSection = Field(default_factory=CommandsSection, description="Commands.")
    console: ConsoleSection = Field(default_factory=ConsoleSection, description="Console "
                                    "pages, sessions, site locations.")
    alerts: AlertRulesConfig = Field(default_factory=AlertRulesConfig,
                                     description="Alert rules and thresholds.")
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig,
                                               description="Notification channels.")
    alert_interval_s: float = Field(5.0, gt=0, description="How often the alerts are "
                                    "evaluated.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info",
                                                                   description="Log level.")

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"control-room-{self.instance}"

    @property
    def reply_topic(self) -> str:
        """Replies come to ``{reply_topic}/{site}/{gateway}``: the shipped broker ACL lets a
        gateway logged in as ``{site}/{gateway}`` write there and nowhere else outside its
        own base topic (config/mosquitto/acl)."""
        return f"control-room/{self.instance}/replies"


def load(path: str | Path) -> Loaded[ControlRoomConfig]:
    """The validated config, or ``ConfigError`` listing every problem (file:line, path)."""
    return load_file(path, ControlRoomConfig)
