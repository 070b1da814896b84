"""Hotspots: the ``hotspot/{id}/state`` payload and ``cmd/hotspot/{id}/probe``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ProbeReport(BaseModel):
    probe: str = Field(description="Probe name from the config (e.g. 'icmp', 'portal').")
    kind: str = Field(description="icmp | tcp | http | ubus | dns.")
    ok: bool = Field(description="The probe succeeded this round.")
    sent: int = Field(description="Packets / attempts / requests sent this round.")
    received: int = Field(description="Of those, how many got an answer.")
    rtts_ms: list[float] = Field(default_factory=list, description="Network RTTs (ms).")
    latency_ms: float | None = Field(None, description="Whole probe time (ms).")
    error: str | None = Field(None, description="Why it failed, in plain words.")
    clients_per_radio: dict[str, int] | None = Field(None, description="ubus only.")
    clients_per_ssid: dict[str, int] | None = Field(None, description="ubus only.")
    signal_dbm: dict[str, float] | None = Field(None, description="ubus: mean signal/radio.")
    detail: dict[str, Any] | None = Field(None, description="e.g. {'status': 200}.")


class HotspotStatePayload(BaseModel):
    hotspot: str = Field(description="Hotspot id.")
    name: str | None = Field(None, description="Human name.")
    state: Literal["unknown", "up", "degraded", "down"] = Field(
        description="unknown until the first round; then up / degraded / down."
    )
    since: str | None = Field(None, description="When the state began (UTC ISO 8601).")
    reasons: list[str] = Field(
        default_factory=list, description="Why degraded/down (threshold or failing probe)."
    )
    rtt_median_ms: float | None = Field(None, description="Median RTT over the window (ms).")
    rtt_p95_ms: float | None = Field(None, description="95th percentile RTT (ms).")
    jitter_ms: float | None = Field(None, description="Mean |ΔRTT| between packets (ms).")
    loss_pct: float | None = Field(None, description="Packet loss over the window (%).")
    clients: int | None = Field(None, description="Associated wifi clients (ubus), total.")
    clients_per_radio: dict[str, int] = Field(default_factory=dict, description="Per radio.")
    clients_per_ssid: dict[str, int] = Field(default_factory=dict, description="Per SSID.")
    uptime_24h_pct: float | None = Field(None, description="Up or degraded, last 24 h (%).")
    uptime_30d_pct: float | None = Field(None, description="Up or degraded, last 30 days (%).")
    flaps_1h: int = Field(0, description="State changes in the last hour.")
    rounds: int = Field(0, description="Rounds in the statistics window.")
    last_round: str | None = Field(None, description="When the last round ended (UTC).")
    last_error: str | None = Field(None, description="The latest probe error, if any.")


class ProbeCommandReply(BaseModel):
    """Reply fields of ``cmd/hotspot/{id}/probe`` (``ok`` is added by the router)."""

    hotspot: str
    reachable: bool = Field(description="Something answered in this round.")
    probes: list[ProbeReport] = Field(description="Each probe's result of this round.")
    state: HotspotStatePayload = Field(description="The state after this round.")


class ProbeRequest(BaseModel):
    """``cmd/hotspot/{id}/probe``: probe now and reply with the round's results."""

    model_config = ConfigDict(extra="forbid")
