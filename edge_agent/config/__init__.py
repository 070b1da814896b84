"""Configuration: YAML → validated models, with errors a technician can act on.

Names are loaded lazily: capability config modules import ``edge_agent.config.base``, and an
eager import of the loader here (→ model → every capability's config) would be circular.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_agent.config.loader import ConfigError, LoadedConfig, load_config, parse_config
    from edge_agent.config.model import AgentConfig, redacted_dump

_WHERE = {
    "ConfigError": "edge_agent.config.loader", "LoadedConfig": "edge_agent.config.loader",
    "load_config": "edge_agent.config.loader", "parse_config": "edge_agent.config.loader",
    "AgentConfig": "edge_agent.config.model", "redacted_dump": "edge_agent.config.model",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'edge_agent.config' has no attribute {name!r}")


__all__ = ["AgentConfig", "ConfigError", "LoadedConfig", "load_config", "parse_config",
           "redacted_dump"]
