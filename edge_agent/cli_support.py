"""What every ``edge-agent`` sub-command shares: the default config path and loading it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from edge_agent.config import ConfigError, LoadedConfig, load_config

DEFAULT_CONFIG = Path(os.environ.get("EDGE_AGENT_CONFIG", "/etc/edge-agent/config.yaml"))


def load_or_report(path: Path) -> LoadedConfig | None:
    """The loaded config, or None after printing the readable problem block to stderr."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None
