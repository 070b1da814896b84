"""This capability's ``edge-agent`` sub-commands (filled in by the capability)."""

from __future__ import annotations

import argparse
from typing import Any


def register_cli(subparsers: Any) -> None:
    del subparsers


__all__ = ["argparse", "register_cli"]
