"""Builds this capability's components from the config (filled in by the capability)."""

from __future__ import annotations

from edge_agent.config.model import AgentConfig
from edge_agent.runtime import Component


def build_components(config: AgentConfig) -> list[Component]:
    return []
