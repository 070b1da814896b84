"""End to end: a camera whose picture has a burnt-in clock, over the real RTSP server, to the
real agent process and broker. The status says where the overlay was found; the clock makes
no event. Two cameras watch the same stream, one with ``overlay: off``, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker
from tests.infra.clip_lock import COLD_CLIPS_TIMEOUT_S
from tests.infra.mqtt_client import ControlRoom, Received
from tests.infra.rtsp_server import RtspServer
from tests.infra.street_sets import TUNING_OSD, make_street_clip

pytestmark = pytest.mark.timeout(COLD_CLIPS_TIMEOUT_S)  # may build the clip


def _status(gw: str, cam: str, m: Received) -> dict[str, Any] | None:
    if not m.topic.endswith(f"{gw}/camera/{cam}/status"):
        return None
    body: dict[str, Any] = m.json()
    return body


def test_the_status_says_where_the_clock_is_and_the_clock_makes_no_event(
        broker: Broker, control_room: ControlRoom, tmp_path: Path, artifacts_dir: Path) -> None:
    clip = make_street_clip(TUNING_OSD["t-osd-still-night"], artifacts_dir / "camera-clips")
    server = RtspServer(clip).start()
    gw = "gw-cam-overlay"
    cams = [{"id": cam, "url": server.url, "status_interval_s": 1, "overlay": mode}
            for cam, mode in (("gate", "auto"), ("plain", "off"))]
    cfg = base_config(tmp_path, broker.url, gateway=gw, cameras=cams)
    agent = AgentProcess(write_config(tmp_path / "agent.yaml", cfg), tmp_path / "agent.log")
    agent.start()
    try:
        found = control_room.wait_for(
            lambda m: bool((_status(gw, "gate", m) or {}).get("overlay")), 25)[0].json()
        boxes = found["overlay"]
        # the clock top-left ("2026-12-02 21:14:07") and the camera's name top-right
        assert any(x < 0.05 and y < 0.05 and w > 0.4 for x, y, w, _h in boxes), boxes
        assert any(x > 0.7 and y < 0.05 for x, y, _w, _h in boxes), boxes
        plain = [m.json() for m in control_room.messages if _status(gw, "plain", m)]
        assert plain and all(s["overlay"] is None for s in plain), plain[-1:]
        # Over one more whole pass of the 12 s clip (the server loops it), 13 statuses a
        # camera: nothing may move in it (an absence: it is watched for as long as it lasts).
        later = len([m for m in control_room.messages if _status(gw, "gate", m)])
        control_room.wait_for(lambda m: _status(gw, "gate", m) is not None, 30,
                              count=later + 13)
        events = [m.json() for m in control_room.messages
                  if m.topic.endswith(f"{gw}/camera/gate/motion")]
        plain_events = [m.json() for m in control_room.messages
                        if m.topic.endswith(f"{gw}/camera/plain/motion")]
        print(f"overlay {boxes}; events with the finder {len(events)}, without "
              f"{len(plain_events)}")
        print([(e["event"], e["started_at"], e["boxes"]) for e in events], found["ts"])
        assert events == [], events
    finally:
        agent.stop()
        server.stop()
