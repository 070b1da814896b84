"""The console's tables: users, login sessions, the audit log. On the store's ``metadata``
(one schema, one migration history); migration ``c001`` creates them."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Index, String, Table

from control_room.store.schema import Id, metadata

users = Table(
    "users", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # admin | operator | viewer | police
    Column("password_hash", String(200), nullable=False),  # argon2id
    Column("api_token_hash", String(64)),  # sha256 of the per-user API token
    Column("language", String(8)),
    Column("created_at", Float, nullable=False),
    Column("password_changed_at", Float),
    Index("ux_users_token", "api_token_hash", unique=True),
)

sessions = Table(
    "sessions", metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie value
    Column("user", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("address", String(64)),
    Index("ix_sessions_user", "user"),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),  # login, command, alert_ack, user_add, …
    Column("target", String(300)),
    Column("ok", Boolean, nullable=False),
    Column("detail", JSON),
    Column("address", String(64)),
    Index("ix_audit_at", "at"),
)

__all__ = ["audit_log", "sessions", "users"]
