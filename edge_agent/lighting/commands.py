"""Command handlers: ``cmd/light/{circuit}/override``, ``/clear`` and ``/pulse``."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from contract.lighting import ClearRequest, OverrideRequest, PulseRequest
from drivers.relays.base import RelayError
from edge_agent.lighting.circuit import Circuit, on_off
from edge_agent.lighting.schedule import Override
from edge_agent.lighting.service import SWITCH_TIMEOUT_S, LightingService
from edge_agent.runtime import CommandError, CommandRegistry, CommandRequest

log = logging.getLogger("edge_agent.lighting")
MAX_OVERRIDE = timedelta(days=31)


class LightingCommands:
    def __init__(self, service: LightingService) -> None:
        self.service = service

    def register(self, registry: CommandRegistry) -> None:
        registry.register("light", "override", self.override)
        registry.register("light", "clear", self.clear)
        registry.register("light", "pulse", self.pulse)

    def _circuit(self, request: CommandRequest) -> Circuit:
        circuits = self.service.circuits
        if request.subject not in circuits:
            known = ", ".join(sorted(circuits)) or "none"
            raise CommandError(f"unknown circuit {request.subject!r} (known: {known})")
        return circuits[request.subject]

    def _summary(self, c: Circuit) -> dict[str, Any]:
        return {"circuit": c.id, "state": on_off(c.actual) or "unknown",
                "desired": on_off(c.target), "reason": c.reason,
                "pending_until": c.pending_until.isoformat(timespec="seconds")
                if c.pending_until else None,
                "driver_ok": c.driver_ok, "driver_error": c.driver_error}

    async def override(self, request: CommandRequest) -> dict[str, Any]:
        c = self._circuit(request)
        req = OverrideRequest.model_validate(request.payload)
        now = self.service.now()
        if req.until <= now:
            raise CommandError(f"'until' {req.until.isoformat()} is already past (gateway "
                               f"time {now.astimezone(self.service.tz).isoformat()})")
        if req.until - now > MAX_OVERRIDE:
            raise CommandError("'until' is more than 31 days ahead")
        if req.start is not None and req.start >= req.until:
            raise CommandError("'start' must be before 'until'")
        self.service.store.overrides[c.id] = Override(req.state == "on", req.until, req.start)
        await self.service.store.save()
        log.info("circuit %s: override %s until %s", c.id, req.state, req.until.isoformat())
        await self.service.reconcile()
        return {**self._summary(c), "override": {"state": req.state,
                                                 "until": req.until.isoformat()}}

    async def clear(self, request: CommandRequest) -> dict[str, Any]:
        c = self._circuit(request)
        ClearRequest.model_validate(request.payload)
        existed = self.service.store.overrides.pop(c.id, None) is not None
        if existed:
            await self.service.store.save()
            log.info("circuit %s: override cleared; back to schedule", c.id)
        await self.service.reconcile()
        return {**self._summary(c), "cleared": existed}

    async def pulse(self, request: CommandRequest) -> dict[str, Any]:
        """Switch for a moment and back (technician test). Bypasses the minimum switch
        interval on purpose: someone is standing at the cabinet watching the contactor."""
        c = self._circuit(request)
        req = PulseRequest.model_validate(request.payload)
        async with self.service.lock:
            if c.pulsing:
                raise CommandError(f"circuit {c.id} is already being pulsed")
            c.pulsing = True
        before = c.actual
        state = (req.state == "on") if req.state else not bool(before)
        try:
            await self._set(c, state)
            c.actual, c.reason = state, "manual"
            self.service.wake()
            await self.service.reconcile()  # publish the manual state
            await asyncio.sleep(req.seconds)
            restore = before if before is not None else not state
            await self._set(c, restore)
            c.actual = restore
        finally:
            c.pulsing = False
        await self.service.reconcile()
        return {**self._summary(c), "pulsed": on_off(state), "seconds": req.seconds}

    async def _set(self, c: Circuit, state: bool) -> None:
        try:
            await asyncio.wait_for(c.relay.set(c.channel, state), SWITCH_TIMEOUT_S)
        except (RelayError, TimeoutError) as exc:
            raise CommandError(f"relay of circuit {c.id} failed: "
                               f"{exc or 'no answer'}") from None
        c.count_switch(self.service.now(), self.service.tz)
        self.service.store.switch_count[c.id] = c.switch_count
