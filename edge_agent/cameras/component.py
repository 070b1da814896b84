"""The camera fleet: one supervised component per configured camera, and the commands and
health summary registered once for all of them.

``cmd/camera/{id}/arm`` / ``disarm`` (optional ``{"until": ISO time}``) and
``cmd/camera/{id}/snapshot`` find the camera by its id among the cameras running now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.cameras.config import CameraConfig
from edge_agent.config.model import AgentConfig
from edge_agent.runtime import AgentContext, CommandError, CommandRequest, Component


class ArmRequest(BaseModel):
    # forbid: a typo such as "untill" must be refused, not silently arm/disarm for ever
    model_config = ConfigDict(extra="forbid")
    until: datetime | None = Field(None, description="Keep this until then (ISO 8601 with "
                                   "offset); without it, until the next arm/disarm command.")


class CameraFleet:
    """The cameras of one config: which run now, their commands and their health line."""

    def __init__(self, configured: list[str]) -> None:
        self.configured = configured  # camera ids in the config (a crashed one is not running)
        self.running: dict[str, Any] = {}  # camera id -> CameraService
        self._attached: AgentContext | None = None

    def attach(self, ctx: AgentContext) -> None:
        """Register the commands and the health source, once per agent context (the first
        camera to start does it; a reload builds a new fleet, which registers itself)."""
        if self._attached is ctx:
            return
        self._attached = ctx
        for action in ("arm", "disarm"):
            ctx.commands.register("camera", action, self.arm)
        ctx.commands.register("camera", "snapshot", self.snapshot)
        ctx.health.add_source("cameras", self.health)

    def _service(self, req: CommandRequest) -> Any:
        service = self.running.get(req.subject or "")
        if service is None:
            known = ", ".join(sorted(self.running)) or "none"
            raise CommandError(f"unknown camera {req.subject!r} (cameras: {known})")
        return service

    async def arm(self, req: CommandRequest) -> dict[str, Any]:
        body = ArmRequest.model_validate(req.payload)
        if body.until is not None and body.until.tzinfo is None:
            raise CommandError("'until' needs a UTC offset, e.g. 2026-11-23T05:00:00+07:00")
        result: dict[str, Any] = await self._service(req).set_override(req.action == "arm",
                                                                      body.until)
        return result

    async def snapshot(self, req: CommandRequest) -> dict[str, Any]:
        result: dict[str, Any] = await self._service(req).snapshot()
        return result

    def health(self) -> dict[str, Any]:
        """The ``cameras`` part of ``health``: how many watch, and each camera in one line. A
        camera whose component is down (crashed, waiting to restart) shows as ``failed``."""
        per_camera = {cam_id: self.running[cam_id].health() if cam_id in self.running else
                      {"state": "failed"} for cam_id in self.configured}
        return {"online": sum(c["state"] == "online" for c in per_camera.values()),
                "total": len(per_camera), "per_camera": per_camera}


class CameraComponent:
    def __init__(self, cfg: CameraConfig, fleet: CameraFleet) -> None:
        self.cfg = cfg
        self.fleet = fleet
        self.name = f"camera:{cfg.id}"

    async def run(self, ctx: AgentContext) -> None:
        from edge_agent.cameras.service import CameraService  # loads PyAV, OpenCV, numpy

        self.fleet.attach(ctx)
        service = CameraService(self.cfg, ctx)
        self.fleet.running[self.cfg.id] = service
        try:
            await service.run()
        finally:
            if self.fleet.running.get(self.cfg.id) is service:
                del self.fleet.running[self.cfg.id]


def build_components(config: AgentConfig) -> list[Component]:
    if config.cameras:
        from edge_agent.cameras.memory import tune_heap

        tune_heap()  # before any camera thread allocates (see memory.py)
    fleet = CameraFleet([cam.id for cam in config.cameras])
    return [CameraComponent(cam, fleet) for cam in config.cameras]
