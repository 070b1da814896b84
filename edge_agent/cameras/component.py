"""Builds one supervised component per configured camera, and the camera commands.

``cmd/camera/{id}/arm`` / ``disarm`` (optional ``{"until": ISO time}``) and
``cmd/camera/{id}/snapshot``. The handlers are shared: they find the camera by its id among the
cameras running in this process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.cameras.config import CameraConfig
from edge_agent.config.model import AgentConfig
from edge_agent.runtime import AgentContext, CommandError, CommandRequest, Component

RUNNING: dict[str, Any] = {}  # camera id -> CameraService of the running agent
CONFIGURED: list[str] = []  # camera ids in the config (a crashed one is not in RUNNING)


class ArmRequest(BaseModel):
    # forbid: a typo such as "untill" must be refused, not silently arm/disarm for ever
    model_config = ConfigDict(extra="forbid")
    until: datetime | None = Field(None, description="Keep this until then (ISO 8601 with "
                                   "offset); without it, until the next arm/disarm command.")


def _service(req: CommandRequest) -> Any:
    service = RUNNING.get(req.subject or "")
    if service is None:
        known = ", ".join(sorted(RUNNING)) or "none"
        raise CommandError(f"unknown camera {req.subject!r} (cameras: {known})")
    return service


async def _arm(req: CommandRequest) -> dict[str, Any]:
    body = ArmRequest.model_validate(req.payload)
    if body.until is not None and body.until.tzinfo is None:
        raise CommandError("'until' needs a UTC offset, e.g. 2026-11-23T05:00:00+07:00")
    result: dict[str, Any] = await _service(req).set_override(req.action == "arm", body.until)
    return result


def cameras_health() -> dict[str, Any]:
    """The ``cameras`` part of ``health``: how many watch, and each camera in one line. A
    camera whose component is down (crashed, waiting to restart) shows as ``failed``."""
    per_camera = {cam_id: RUNNING[cam_id].health() if cam_id in RUNNING else
                  {"state": "failed"} for cam_id in CONFIGURED}
    return {"online": sum(c["state"] == "online" for c in per_camera.values()),
            "total": len(per_camera), "per_camera": per_camera}


async def _snapshot(req: CommandRequest) -> dict[str, Any]:
    result: dict[str, Any] = await _service(req).snapshot()
    return result


class CameraComponent:
    def __init__(self, cfg: CameraConfig) -> None:
        self.cfg = cfg
        self.name = f"camera:{cfg.id}"

    async def run(self, ctx: AgentContext) -> None:
        from edge_agent.cameras.service import CameraService  # loads PyAV, OpenCV, numpy

        for action, handler in (("arm", _arm), ("disarm", _arm), ("snapshot", _snapshot)):
            ctx.commands.register("camera", action, handler)
        ctx.health.add_source("cameras", cameras_health)  # one source for all cameras
        service = CameraService(self.cfg, ctx)
        RUNNING[self.cfg.id] = service
        try:
            await service.run()
        finally:
            if RUNNING.get(self.cfg.id) is service:
                del RUNNING[self.cfg.id]


def build_components(config: AgentConfig) -> list[Component]:
    if config.cameras:
        from edge_agent.cameras.memory import tune_heap

        tune_heap()  # before any camera thread allocates (see memory.py)
    CONFIGURED[:] = [cam.id for cam in config.cameras]
    return [CameraComponent(cam) for cam in config.cameras]
