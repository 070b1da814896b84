"""Config section ``hotspots`` (owned by the hotspot capability)."""

from __future__ import annotations

from pydantic import Field

from edge_agent.config.base import StrictModel


class HotspotConfig(StrictModel):
    id: str = Field(description="Hotspot id used in topics, e.g. 'pagoda'.")
