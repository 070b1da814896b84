"""Configuration: YAML → validated models, with errors a technician can act on."""

from __future__ import annotations

from edge_agent.config.loader import ConfigError, LoadedConfig, load_config, parse_config
from edge_agent.config.model import AgentConfig, redacted_dump

__all__ = ["AgentConfig", "ConfigError", "LoadedConfig", "load_config", "parse_config",
           "redacted_dump"]
