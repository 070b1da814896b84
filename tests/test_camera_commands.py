"""Camera command payloads through the real command router (no camera needs to run: the
payload is checked before the camera is looked up)."""

from __future__ import annotations

from typing import Any

from edge_agent.cameras.component import CameraFleet
from edge_agent.commands import CommandRouter


async def router() -> CommandRouter:
    async def no_reply(*_: Any) -> None:
        return None

    commands = CommandRouter("base", no_reply)
    fleet = CameraFleet([])  # no camera runs
    for action in ("arm", "disarm"):
        commands.register("camera", action, fleet.arm)
    return commands


async def test_misspelt_arm_field_is_refused_not_ignored() -> None:
    commands = await router()
    reply = await commands.execute("camera/market-gate/disarm",
                                   {"untill": "2026-11-23T05:00:00+07:00"})
    assert reply["ok"] is False and "untill" in reply["error"], reply


async def test_arm_needs_an_offset_then_looks_for_the_camera() -> None:
    commands = await router()
    naive = await commands.execute("camera/market-gate/arm", {"until": "2026-11-23T05:00:00"})
    assert naive["ok"] is False and "UTC offset" in naive["error"], naive
    unknown = await commands.execute("camera/market-gate/arm",
                                     {"until": "2026-11-23T05:00:00+07:00", "id": "r1"})
    assert unknown["ok"] is False and "unknown camera" in unknown["error"], unknown
    assert unknown["request_id"] == "r1"  # envelope keys are the router's, not refused
