"""Home Assistant MQTT discovery (filled in next)."""

from __future__ import annotations

from edge_agent.config.model import AgentConfig
from edge_agent.runtime import Component


def build_components(config: AgentConfig) -> list[Component]:
    return []
