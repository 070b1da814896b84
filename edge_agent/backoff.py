"""Kept for imports of ``edge_agent.backoff``: the backoff lives in ``drivers.backoff``."""

from drivers.backoff import Backoff, full_jitter

__all__ = ["Backoff", "full_jitter"]
