"""Builds the lighting component: one service for all circuits, isolated per relay."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from drivers.relays.base import Relay
from drivers.relays.registry import connection_key, create_or_broken
from edge_agent.config.model import AgentConfig
from edge_agent.lighting.commands import LightingCommands
from edge_agent.lighting.schedule import Location
from edge_agent.lighting.service import LightingService
from edge_agent.lighting.store import LightingStore
from edge_agent.runtime import AgentContext, Component, MessageClass

log = logging.getLogger("edge_agent.lighting")
LOCK_NAME = "lighting.lock"
STORE_NAME = "lighting.json"


def build_relays(config: AgentConfig, mqtt_port: Any = None) -> dict[str, Relay]:
    """One driver per connection, shared by the circuits on it; keyed by circuit id."""
    shared: dict[str, Relay] = {}
    out: dict[str, Relay] = {}
    for circuit in config.lighting.circuits:
        key = connection_key(circuit.relay)
        if key not in shared:
            shared[key] = create_or_broken(circuit.relay, mqtt_port=mqtt_port)
        out[circuit.id] = shared[key]
    return out


def take_lock(data_dir: Path) -> int | None:
    """An exclusive lock while the agent owns the relays (the ``relay`` CLI checks it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def release_lock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


class LightingComponent:
    name = "lighting"

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.service: LightingService | None = None

    async def run(self, ctx: AgentContext) -> None:
        fd = take_lock(ctx.data_dir)
        if fd is None:
            raise RuntimeError(f"{ctx.data_dir / LOCK_NAME} is held by another process "
                               "(an 'edge-agent relay' test running?)")
        try:
            await self._run_locked(ctx)
        finally:
            # Whatever fails (a bad relay config, a driver bug, a register clash), the lock
            # goes: a leaked flock would make every restart fail "held by another process".
            release_lock(fd)

    async def _run_locked(self, ctx: AgentContext) -> None:
        gw = self.config.gateway

        async def publish(circuit: str, payload: Mapping[str, Any]) -> None:
            await ctx.bus.publish(f"light/{circuit}/state", payload, retain=True,
                                  message_class=MessageClass.STATE)

        relays = build_relays(self.config, ctx.mqtt_port)
        try:
            service = LightingService(
                self.config.lighting, Location(gw.latitude, gw.longitude),
                ZoneInfo(gw.timezone), relays=relays,
                store=LightingStore(ctx.data_dir / STORE_NAME), publish=publish,
                clock_synced=ctx.clock_synced)
        except BaseException:  # the relays are open (serial ports): give them back
            for relay in {id(r): r for r in relays.values()}.values():
                with contextlib.suppress(Exception):
                    await relay.close()
            raise
        self.service = service
        try:
            LightingCommands(service).register(ctx.commands)
            ctx.health.add_source("lighting", service.health)
            await service.run()
        finally:
            # On cancellation relays stay as they are (street lights keep their scheduled
            # state across an agent restart), unless a circuit sets on_stop.
            await service.stop()


def build_components(config: AgentConfig) -> list[Component]:
    if not config.lighting.circuits:
        return []
    return [LightingComponent(config)]
