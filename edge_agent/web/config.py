"""Config section ``http`` (owned by the web capability)."""

from __future__ import annotations

from pydantic import Field

from edge_agent.config.base import StrictModel


class HttpConfig(StrictModel):
    enabled: bool = Field(True, description="Serve the local web page.")
    bind: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0 picks a free one).")
