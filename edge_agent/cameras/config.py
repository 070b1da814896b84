"""Config section ``cameras`` (owned by the camera capability)."""

from __future__ import annotations

from pydantic import Field

from edge_agent.config.base import StrictModel


class CameraConfig(StrictModel):
    id: str = Field(description="Camera id used in topics, e.g. 'market-gate'.")
