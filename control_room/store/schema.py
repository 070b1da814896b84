"""The control room's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are Unix seconds (float): one representation on both databases, cheap to compare,
turned into ISO 8601 only at the API. A gateway is keyed ``"{site}/{gateway}"``.
Changing a table here needs a migration in ``migrations/versions`` (``alembic revision
--autogenerate``, see docs/control-room.md).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()
Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only


def _key() -> Column[str]:
    return Column("gateway_key", String(200), nullable=False)


gateways = Table(
    "gateways", metadata,
    Column("gateway_key", String(200), primary_key=True),
    Column("site", String(100), nullable=False),
    Column("gateway", String(100), nullable=False),
    Column("state", String(16), nullable=False, default="unknown"),  # status topic
    Column("state_since", Float),
    Column("last_seen", Float),
    Column("boot", Integer),
    Column("status_last_seq", BigInteger),
    Column("status_at", Float),  # when the latest status was received
    Column("version", String(50)),
    Column("config_hash", String(64)),
    Column("clock_synced", Boolean),
    Column("health_interval_s", Float),
    Column("boot_time", String(40)),
    Column("outbox_depth", Integer),
    Column("outbox_oldest_age_s", Float),
    Column("disk_free_mb", Float),
    Column("max_seq", BigInteger),
    Column("seq_checked", BigInteger),  # loss judged up to (inclusive)
    Column("health_at", Float),
    Column("health", JSON),
)

circuits = Table(
    "circuits", metadata, _key(),
    Column("circuit", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("desired", String(16)),
    Column("reason", String(32)),
    Column("rule", String(200)),
    Column("next_change", Float),
    Column("next_state", String(16)),
    Column("override_until", Float),
    Column("driver_ok", Boolean),
    Column("driver_error", Text),
    Column("on_hours_today", Float),
    Column("ts", Float, nullable=False),
    Column("payload", JSON),
    Index("ux_circuits", "gateway_key", "circuit", unique=True),
)

cameras = Table(
    "cameras", metadata, _key(),
    Column("camera", String(100), nullable=False),
    Column("state", String(16)),
    Column("armed", Boolean),
    Column("since", Float),
    Column("last_error", Text),
    Column("ts", Float),
    Column("payload", JSON),
    Column("last_event_id", String(100)),
    Column("last_event_at", Float),
    Column("snapshot_sha", String(64)),
    Column("snapshot_at", Float),
    Index("ux_cameras", "gateway_key", "camera", unique=True),
)

hotspots = Table(
    "hotspots", metadata, _key(),
    Column("hotspot", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("since", Float),
    Column("rtt_median_ms", Float),
    Column("loss_pct", Float),
    Column("uptime_24h_pct", Float),
    Column("clients", Integer),
    Column("ts", Float, nullable=False),
    Column("payload", JSON),
    Index("ux_hotspots", "gateway_key", "hotspot", unique=True),
)

# every envelope id seen: de-duplication and the seq completeness check
messages = Table(
    "messages", metadata,
    Column("id", String(64), primary_key=True),
    _key(),
    Column("seq", BigInteger),
    Column("topic", String(300), nullable=False),
    Column("ts", Float),
    Column("received_at", Float, nullable=False),
    # when its batch began to be written (its transaction commits right after): received
    # -> stored is the time queued in the ingest; the fleet benchmark reads both back
    Column("stored_at", Float),
    Column("replayed", Boolean),  # the envelope's flag: sent from the gateway's outbox
    Index("ix_messages_seq", "gateway_key", "seq"),
    Index("ix_messages_received", "received_at"),
)

light_history = Table(
    "light_history", metadata,
    Column("id", Id, primary_key=True, autoincrement=True), _key(),
    Column("circuit", String(100), nullable=False),
    Column("ts", Float, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(32)),
    Column("rule", String(200)),
    Column("on_hours_today", Float),
    Index("ix_light_history", "gateway_key", "circuit", "ts"),
)

# motion, camera/hotspot/gateway state changes, command results, outbox drops, losses
events = Table(
    "events", metadata,
    Column("id", Id, primary_key=True, autoincrement=True), _key(),
    Column("kind", String(32), nullable=False),
    Column("subject", String(100)),
    Column("ts", Float, nullable=False),
    Column("data", JSON),
    Index("ix_events_ts", "ts"),
    Index("ix_events_gw", "gateway_key", "ts"),
)

telemetry = Table(
    "telemetry", metadata,
    Column("id", Id, primary_key=True, autoincrement=True), _key(),
    Column("kind", String(16), nullable=False),  # health | hotspot
    Column("subject", String(100), nullable=False),  # "" for the gateway itself
    Column("ts", Float, nullable=False),
    Column("data", JSON, nullable=False),  # metric name -> number
    Index("ix_telemetry_ts", "ts"),
)

rollups = Table(
    "telemetry_hourly", metadata, _key(),
    Column("kind", String(16), nullable=False),
    Column("subject", String(100), nullable=False),
    Column("metric", String(50), nullable=False),
    Column("hour", Float, nullable=False),  # start of the hour (UTC)
    Column("count", Integer, nullable=False),
    Column("sum", Float, nullable=False),
    Column("min", Float, nullable=False),
    Column("max", Float, nullable=False),
    Index("ux_rollups", "gateway_key", "kind", "subject", "metric", "hour", unique=True),
)

dropped = Table(
    "seq_dropped", metadata,
    Column("id", Id, primary_key=True, autoincrement=True), _key(),
    Column("first", BigInteger, nullable=False),
    Column("last", BigInteger, nullable=False),
    Column("reason", Text),
    Column("ts", Float),
    Index("ix_dropped", "gateway_key", "first"),
)

loss = Table(
    "seq_loss", metadata,
    Column("id", Id, primary_key=True, autoincrement=True), _key(),
    Column("first", BigInteger, nullable=False),
    Column("last", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("detected_at", Float, nullable=False),
    Column("recovered", BigInteger, nullable=False, default=0),  # arrived after judging
    Index("ix_loss", "gateway_key", "first"),
)

quarantine = Table(
    "quarantine", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("received_at", Float, nullable=False),
    Column("topic", String(1000), nullable=False),
    Column("gateway_key", String(200)),
    Column("reason", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("payload", LargeBinary),
    Index("ix_quarantine_at", "received_at"),
)

snapshots = Table(
    "snapshots", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("stored_at", Float, nullable=False),
    _key(),
    Column("camera", String(100), nullable=False),
)

# every snapshot as it arrived: the file store above keeps one row per picture, but the
# same picture can come again (a looping test clip, a frozen camera) and each arrival
# belongs to its own motion event, which finds its picture by time
snapshot_sightings = Table(
    "snapshot_sightings", metadata, _key(),
    Column("camera", String(100), nullable=False),
    Column("seen_at", Float, nullable=False),
    Column("sha256", String(64), nullable=False),
    Index("ix_snapshot_sightings_camera", "gateway_key", "camera", "seen_at"),
    Index("ix_snapshot_sightings_sha", "sha256"),
)

# the audit log: who sent what to which gateway, when, and what came back
commands = Table(
    "commands", metadata,
    Column("id", String(64), primary_key=True),  # also the MQTT 5 correlation data
    _key(),
    Column("path", String(300), nullable=False),
    Column("args", JSON),
    Column("actor", String(100), nullable=False),
    Column("requested_at", Float, nullable=False),
    Column("status", String(16), nullable=False),  # sent | ok | error | timeout | refused
    Column("replied_at", Float),
    Column("result", JSON),
    Column("error", Text),
    Index("ix_commands_at", "requested_at"),
)

alerts = Table(
    "alerts", metadata,
    Column("key", String(400), primary_key=True),
    Column("rule", String(64), nullable=False),
    Column("site", String(100), nullable=False),
    Column("gateway", String(100), nullable=False),
    Column("subject", String(100)),
    Column("subject_name", String(200)),  # what people call the subject, if it has a name
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("since", Float, nullable=False),
    Column("fired_at", Float),
    Column("resolved_at", Float),
    Column("acked_by", String(100)),
    Column("acked_at", Float),
    Column("ack_note", Text),
    Column("clear_since", Float),
    Column("suppressed_by", String(400)),  # the gateway alert that silences it, if any
    Column("updated_at", Float, nullable=False),
)

alert_history = Table(
    "alert_history", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(400), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", Float, nullable=False),
    Column("severity", String(16)),
    Column("message", Text),
    Index("ix_alert_history_at", "at"),
)
