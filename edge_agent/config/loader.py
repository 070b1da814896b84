"""The agent's config file: the shared YAML loader with the agent's model."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config.model import AgentConfig
from yaml_config import ConfigError, Loaded, load_file, parse_text

LoadedConfig = Loaded[AgentConfig]
EMPTY_HINT = "'gateway: {id, site}'"


def load_config(path: str | Path) -> LoadedConfig:
    return load_file(path, AgentConfig, EMPTY_HINT)


def parse_config(text: str, file: str = "<config>") -> AgentConfig:
    return parse_text(text, AgentConfig, file, EMPTY_HINT)


__all__ = ["ConfigError", "LoadedConfig", "load_config", "parse_config"]
