"""Cameras: RTSP ingest, motion events, snapshots and clips."""

# Load the root config package first: it imports ``cameras.config`` itself, and importing
# ``cameras.config`` first would otherwise hit a circular import (config -> model -> here).
import edge_agent.config  # noqa: F401
