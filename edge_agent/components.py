"""Which components a config asks for, from the capability table."""

from __future__ import annotations

import importlib

from edge_agent.capabilities import CAPABILITIES
from edge_agent.config.model import AgentConfig
from edge_agent.runtime import Component


def wanted(config: AgentConfig, section: str) -> bool:
    value = getattr(config, section)
    if isinstance(value, list):
        return bool(value)
    return bool(getattr(value, "enabled", True))


def build_components(config: AgentConfig) -> list[Component]:
    components: list[Component] = []
    for capability in CAPABILITIES:
        if wanted(config, capability.section):
            module = importlib.import_module(capability.component)
            components.extend(module.build_components(config))
    return components
