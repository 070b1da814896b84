"""Config section ``lighting`` (owned by the lighting capability)."""

from __future__ import annotations

from pydantic import Field

from edge_agent.config.base import StrictModel


class LightingConfig(StrictModel):
    enabled: bool = Field(True, description="Run the lighting service.")
