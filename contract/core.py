"""The gateway's own messages: status, health, outbox drops and command replies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field


class StatusPayload(BaseModel):
    """Retained ``status``: birth, Last Will and clean stop. Not in the durable stream (no
    ``seq``); ``boot`` and ``last_seq`` tell a receiver where each life of the agent ended."""

    state: Literal["online", "offline", "stopped"] = Field(
        description="online: connected; offline: Last Will (lost); stopped: clean stop.")
    version: str = Field(description="Agent version.")
    boot: int = Field(description="Start counter of this gateway, +1 per agent start.")
    last_seq: int = Field(
        description="Last seq stored when this was made (the Last Will: at connect time).")
    config_hash: str | None = Field(None, description="Hash of the running config.")
    boot_time: str | None = Field(None, description="When the agent started (UTC).")
    clock_synced: bool | None = Field(None, description="The system clock is known good.")
    gateway: str | None = Field(None, description="Gateway id.")
    site: str | None = Field(None, description="Site (commune/village) code.")
    health_interval_s: float | None = Field(
        None, description="Seconds between health messages (a receiver's staleness clock).")


class OutboxSummary(BaseModel):
    depth: int = Field(description="Messages waiting in the outbox.")
    bytes: int = Field(description="Bytes waiting.")
    max_bytes: int = Field(description="The outbox bound.")
    oldest_age_s: float | None = Field(description="Age of the oldest waiting message (s).")
    dropped: dict[str, int] = Field(description="Dropped by policy so far, per class.")
    write_failures: int = Field(0, description="Messages the database refused (disk full).")
    last_seq: int | None = Field(None, description="Last seq stored.")


class HealthPayload(BaseModel):
    """``health``, every ``health.interval_s``."""

    cpu_percent: float
    ram_used_mb: float
    ram_total_mb: float
    disk_free_mb: float | None
    disk_used_percent: float | None
    soc_temp_c: float | None
    uptime_s: float
    process_rss_mb: float
    outbox: OutboxSummary
    clock_synced: bool
    mqtt: dict[str, Any]
    components: dict[str, Any]
    storage: dict[str, Any] | None = Field(
        None, description="ok: false with a reason while the outbox cannot store (disk full).")


class DroppedRange(BaseModel):
    first: int = Field(description="First dropped seq.")
    last: int = Field(description="Last dropped seq (inclusive).")


def seq_ranges(seqs: Sequence[int]) -> list[DroppedRange]:
    """Seq numbers as ascending inclusive ranges: [1, 2, 3, 7] -> 1-3, 7-7 (for the
    ``outbox/dropped`` notice of every sender: the agent's outbox and the simulator's)."""
    ranges: list[DroppedRange] = []
    for seq in sorted(set(seqs)):
        if ranges and ranges[-1].last == seq - 1:
            ranges[-1].last = seq
        else:
            ranges.append(DroppedRange(first=seq, last=seq))
    return ranges


class OutboxDropped(BaseModel):
    """``outbox/dropped``: the bounded outbox dropped these by its policy (not a loss)."""

    ranges: list[DroppedRange] = Field(description="The dropped seq ranges, ascending.")
    count: int = Field(description="How many messages.")
    classes: dict[str, int] = Field(description="How many of each class (telemetry, "
                                    "state, event).")
    reason: str = Field(description="Why, e.g. 'outbox full (16 MB)'.")


class CommandReply(BaseModel):
    """The one reply to a command: on the MQTT 5 response topic with the request's
    correlation data, otherwise on ``cmd/{path}/result``."""

    ok: bool
    error: str | None = Field(None, description="Why the command was refused (ok=false).")
    command: str = Field(description="The command path after cmd/.")
    request_id: str | int | None = Field(None, description="The request's 'id', echoed.")
