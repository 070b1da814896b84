"""A fresh agent pulling a labelled clip over the local RTSP server in real time (a cold
start, as the issue scores each scene): the motion events it publishes, in clip seconds
(from the server's first frame pushed to the agent to the event's ``ts``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker
from tests.infra.mqtt_client import ControlRoom, Received
from tests.infra.rtsp_server import RtspServer


@contextmanager
def _agent_on(broker: Broker, tmp_path: Path, clip: Path, decode: str
              ) -> Iterator[tuple[RtspServer, str]]:
    server = RtspServer(clip).start()
    gw = f"gw-{clip.stem[:20]}-{decode}"
    cam = {"id": "street", "url": server.url, "decode": decode, "status_interval_s": 1,
           "read_timeout_s": 4, "reconnect_min_s": 0.5, "reconnect_max_s": 2}
    cfg = base_config(tmp_path, broker.url, gateway=gw, cameras=[cam],
                      health={"interval_s": 60}, fast_reconnect=True)
    agent = AgentProcess(write_config(tmp_path / f"{gw}.yaml", cfg), tmp_path / f"{gw}.log")
    agent.start()
    try:
        yield server, f"{gw}/camera/street/motion"
    finally:
        agent.stop()
        server.stop()


def _clip_s(server: RtspServer, m: Received, field: str = "ts") -> float:
    at = datetime.fromisoformat(m.json()[field].replace("Z", "+00:00")).timestamp()
    return round(at - server.client_times[0], 2)


def starts_over_rtsp(control_room: ControlRoom, broker: Broker, tmp_path: Path, clip: Path,
                     decode: str, n: int, timeout: float) -> list[float]:
    """The agent's first ``n`` event starts (waiting at most ``timeout`` seconds)."""
    with _agent_on(broker, tmp_path, clip, decode) as (server, topic):
        starts = control_room.wait_for(lambda m: m.topic.endswith(topic) and
                                       m.json()["event"] == "start", timeout, count=n)
        return [_clip_s(server, m) for m in starts[:n]]


def events_over_rtsp(control_room: ControlRoom, broker: Broker, tmp_path: Path, clip: Path,
                     decode: str, seconds: float) -> list[dict[str, Any]]:
    """Every start and end the agent publishes while ``seconds`` of the clip play (the
    server loops the clip: stop before its end to see one pass): kind, clip time and the
    end's ``duration_s``; ``at_s`` when it was published, ``started_s`` when it says the
    motion began."""
    with _agent_on(broker, tmp_path, clip, decode) as (server, topic):
        deadline = time.monotonic() + 30
        while not server.client_times and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.client_times, "the agent never pulled the clip"
        time.sleep(max(0.0, server.client_times[0] + seconds - time.time()))
        out = []
        for m in list(control_room.messages):
            if m.topic.endswith(topic) and m.json()["event"] in ("start", "end"):
                out.append({"event": m.json()["event"], "at_s": _clip_s(server, m),
                            "started_s": _clip_s(server, m, "started_at"),
                            "duration_s": m.json().get("duration_s")})
        return out
