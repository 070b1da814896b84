"""Pydantic models of the core's MQTT payloads, and the registry of every capability's.

``edge-agent schema --payloads`` exports JSON Schemas from these same models.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Envelope(BaseModel):
    """Fields every JSON payload carries."""

    model_config = ConfigDict(extra="allow")
    v: int = Field(description="Payload schema version.")
    ts: str = Field(description="When the message was made, UTC ISO 8601.")
    seq: int = Field(description="Per-gateway counter; survives restarts; never goes back.")
    id: str = Field(description="Unique message id; de-duplicate on it.")
    replayed: bool | None = Field(None, description="True when sent after an outage.")


class StatusPayload(Envelope):
    state: Literal["online", "offline", "stopped"]
    version: str
    config_hash: str | None = None
    boot_time: str | None = None
    clock_synced: bool | None = None
    gateway: str | None = None
    site: str | None = None


class CommandReply(Envelope):
    ok: bool
    error: str | None = Field(None, description="Why the command was refused (ok=false).")
    command: str = Field(description="The command path after cmd/.")
    request_id: Any = Field(None, description="The request's 'id', echoed.")


class HealthPayload(Envelope):
    cpu_percent: float
    ram_used_mb: float
    ram_total_mb: float
    disk_free_mb: float | None
    disk_used_percent: float | None
    soc_temp_c: float | None
    uptime_s: float
    process_rss_mb: float
    outbox: dict[str, Any]
    clock_synced: bool
    mqtt: dict[str, Any]
    components: dict[str, Any]


CORE_PAYLOADS: dict[str, type[BaseModel]] = {
    "status": StatusPayload,
    "health": HealthPayload,
    "cmd/{path}/result": CommandReply,
}

CAPABILITY_MESSAGE_MODULES = [
    "edge_agent.lighting.messages",
    "edge_agent.cameras.messages",
    "edge_agent.hotspots.messages",
]


def all_payload_models() -> dict[str, type[BaseModel]]:
    models = dict(CORE_PAYLOADS)
    for name in CAPABILITY_MESSAGE_MODULES:
        models.update(importlib.import_module(name).PAYLOADS)
    return models


def payload_schemas() -> dict[str, Any]:
    return {topic: model.model_json_schema() for topic, model in all_payload_models().items()}
