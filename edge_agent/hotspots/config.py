"""Config section ``hotspots`` (owned by the hotspot capability)."""

from __future__ import annotations

from pydantic import Field, model_validator

from drivers.probes import ProbeConfig
from yaml_config.base import StrictModel


class Thresholds(StrictModel):
    """When a reachable hotspot counts as degraded."""

    loss_pct: float = Field(
        10.0, ge=0, le=100, description="Degraded when packet loss over the window is above."
    )
    rtt_ms: float = Field(
        200.0, gt=0, le=60_000,
        description="Degraded when the median RTT over the window is above (ms)."
    )


class HotspotConfig(StrictModel):
    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Hotspot id used in topics, e.g. 'pagoda'.",
    )
    name: str | None = Field(None, description="Human name, e.g. 'Pagoda free wifi'.")
    probes: list[ProbeConfig] = Field(
        min_length=1,
        description="What to measure each round: icmp, tcp, http, ubus, dns probes.",
    )
    interval_s: float = Field(30.0, ge=0.05, le=3600, description="Seconds between rounds.")
    window: int = Field(
        20, ge=1, le=1000, description="Rounds in the rolling window for RTT/loss/jitter."
    )
    thresholds: Thresholds = Field(
        default_factory=Thresholds, description="Loss and RTT above which it is degraded."
    )
    degraded_after: int = Field(
        2, ge=1, le=100, description="Consecutive poor-quality rounds before 'degraded'."
    )
    down_after: int = Field(
        3, ge=1, le=100, description="Consecutive failed rounds before 'down'."
    )
    up_after: int = Field(
        2, ge=1, le=100, description="Consecutive good rounds before 'up' again."
    )
    stats_period_s: float = Field(
        60.0, ge=0.1, le=3600,
        description="Publish the state at least this often, even when nothing changed (s).",
    )

    @model_validator(mode="after")
    def _unique_probe_names(self) -> HotspotConfig:
        seen: set[str] = set()
        for cfg in self.probes:
            name = probe_name(cfg)
            if name in seen:
                raise ValueError(f"two probes are named {name!r}: give them distinct 'name's")
            seen.add(name)
        return self


def probe_name(cfg: object) -> str:
    """The name a probe reports under (mirrors each driver's default)."""
    name = getattr(cfg, "name", None)
    if name:
        return str(name)
    kind = str(getattr(cfg, "probe", "probe"))
    return f"tcp:{getattr(cfg, 'port', '')}" if kind == "tcp" else kind

