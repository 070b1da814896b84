"""Which components a config asks for. Capability modules are imported only when used,
so a gateway without cameras never loads OpenCV or PyAV (memory on a 2 GB Pi)."""

from __future__ import annotations

import importlib

from edge_agent.config.model import AgentConfig
from edge_agent.runtime import Component

# (module exposing build_components(config) -> list[Component], is it wanted?)
CAPABILITIES: list[tuple[str, str]] = [
    ("edge_agent.lighting.component", "lighting"),
    ("edge_agent.cameras.component", "cameras"),
    ("edge_agent.hotspots.component", "hotspots"),
    ("edge_agent.web.component", "http"),
    ("edge_agent.web.ha_discovery", "homeassistant"),
]


def wanted(config: AgentConfig, section: str) -> bool:
    value = getattr(config, section)
    if isinstance(value, list):
        return bool(value)
    return bool(getattr(value, "enabled", True))


def build_components(config: AgentConfig) -> list[Component]:
    components: list[Component] = []
    for module_name, section in CAPABILITIES:
        if wanted(config, section):
            module = importlib.import_module(module_name)
            components.extend(module.build_components(config))
    return components
