"""A two-stream camera end to end (real agent, real broker, one real RTSP server with two
mounts of one scene): detection on the sub-stream, clips and snapshots from the main stream."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker
from tests.infra.clips import make_clip
from tests.infra.mqtt_client import ControlRoom, Received
from tests.infra.recorded import once_closed, recoded
from tests.infra.rtsp_server import RtspServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def two_streams(artifacts_dir: Path) -> tuple[Path, Path]:
    """The 'moving' scene rendered twice from the same frames: main 640x480, sub 320x240."""
    folder = artifacts_dir / "camera-clips"
    return make_clip("moving", folder, width=640, height=480), make_clip("moving", folder)


@pytest.fixture(scope="module")
def hevc_main(two_streams: tuple[Path, Path]) -> Path:
    """The main stream as most Hikvision/Dahua cameras send it today: H.265 (same frames,
    GOP 20, no B-frames, one libx265 thread so the bytes repeat)."""
    return recoded(two_streams[0], "hevc", [
        "-c:v", "libx265", "-x265-params",
        "keyint=20:min-keyint=20:bframes=0:pools=1:frame-threads=1:log-level=error",
        "-b:v", "600k"])


def vcl_nal_units(data: bytes, codec: str = "h264") -> list[bytes]:
    """The coded slices of an MP4 (length-prefixed) H.264 packet (NAL types 1 and 5) or
    H.265 one (types 0-31). The RTP payloader puts the parameter sets in front of every key
    frame in-band; the slices are the picture itself and must be byte-identical when
    nothing was re-encoded."""
    out, i = [], 0
    while i + 4 <= len(data):
        (size,) = struct.unpack(">I", data[i:i + 4])
        nal = data[i + 4:i + 4 + size]
        if nal and (nal[0] & 0x1F in (1, 5) if codec == "h264" else nal[0] >> 1 < 32):
            out.append(nal)
        i += 4 + size
    return out


def _packets(path: Path) -> list[list[bytes]]:
    with av.open(str(path)) as c:
        codec = c.streams.video[0].codec_context.name
        return [vcl_nal_units(bytes(p), codec) for p in c.demux(video=0) if p.size]


def _wall(m: Received) -> float:
    from datetime import datetime

    return datetime.fromisoformat(m.json()["ts"].replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("main_stream", ["h264", "h265-with-audio"])
def test_two_stream_camera_detects_on_sub_records_main_bit_identical(
        broker: Broker, control_room: ControlRoom, tmp_path: Path,
        two_streams: tuple[Path, Path], hevc_main: Path, main_stream: str) -> None:
    """Also with the main stream in H.265 and a G.711 audio track on both streams, as a
    commune's Hikvision/Dahua camera sends them: the clip keeps the H.265 slices as sent."""
    main, sub = two_streams
    if main_stream != "h264":
        main = hevc_main
    server = RtspServer(main, extra={"/sub": sub}, audio=main_stream != "h264").start()
    gw = f"gw-cam-two-{main_stream}"
    cam: dict[str, Any] = {
        "id": "gate", "streams": {"detect": server.url_for("/sub"), "record": server.url},
        "status_interval_s": 1, "motion": {"end_s": 1.0},
        "clips": {"enabled": True, "pre_s": 1, "post_s": 1}}
    cfg = base_config(tmp_path, broker.url, gateway=gw, cameras=[cam])
    agent = AgentProcess(write_config(tmp_path / "a.yaml", cfg), tmp_path / "a.log").start()
    try:
        motion = f"{gw}/camera/gate/motion"
        events = control_room.wait_for(lambda m: m.topic.endswith(motion) and
                                       m.json()["event"] in ("start", "end"), 30, count=2)
        start, end = (e.json() for e in events[:2])
        assert start["event"] == "start" and end["event"] == "end"
        # detection on the sub-stream at full rate: the object enters at 3.2 s (clip time of
        # the sub-stream's first frame) and is seen without waiting for a key frame (4.0 s)
        onset = _wall(events[0]) - server.mount_clients["/sub"][0]
        assert 3.2 <= onset <= 4.2, onset
        status = control_room.wait_for(
            lambda m: m.topic.endswith(f"{gw}/camera/gate/status") and
            m.json()["state"] == "online" and m.json()["fps_decoded"] >= 8, 10)[-1].json()
        assert (status["width"], status["height"], status["decode"]) == (320, 240, "all")
        assert status["record"]["connected"] is True
        assert (status["record"]["width"], status["record"]["height"]) == (640, 480)
        assert status["record"]["fps_in"] >= 8
        # the event snapshot is the main stream's picture, full resolution
        snap = control_room.wait_for(lambda m: m.topic.endswith(f"{gw}/camera/gate/snapshot"),
                                     10)[0].payload
        img = cv2.imdecode(np.frombuffer(snap, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape[:2] == (480, 640)
        # the clip: the main stream's own coded slices, bit for bit, in order
        clip = tmp_path / f"data-{gw}" / "media" / start["clip"]
        got = once_closed(_packets, clip)
        source = _packets(main)
        assert len(got) >= 40 and all(got), len(got)  # every packet holds its slices
        first = source.index(got[0])
        assert source[first:first + len(got)] == got
        assert first % 20 == 0  # starts on a key frame (GOP 20)
        with av.open(str(clip)) as played:  # and a player decodes it
            assert sum(1 for _ in played.decode(video=0)) == len(got)
        # a snapshot command: a fresh main-stream frame, full resolution
        reply = control_room.command(f"commune/testsite/{gw}", "camera/gate/snapshot")
        assert reply["ok"] and (reply["width"], reply["height"]) == (640, 480), reply
    finally:
        agent.stop()
        server.stop()


def test_record_stream_down_detection_goes_on_snapshot_from_the_detect_stream(
        broker: Broker, control_room: ControlRoom, tmp_path: Path,
        two_streams: tuple[Path, Path]) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on: the main stream is gone
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    _, sub = two_streams
    server = RtspServer(sub).start()
    gw = "gw-cam-norecord"
    cam = {"id": "gate", "streams": {"detect": server.url,
                                     "record": f"rtsp://127.0.0.1:{dead}/main"},
           "status_interval_s": 1}
    cfg = base_config(tmp_path, broker.url, gateway=gw, cameras=[cam])
    agent = AgentProcess(write_config(tmp_path / "a.yaml", cfg), tmp_path / "a.log").start()
    try:
        status = control_room.wait_for(
            lambda m: m.topic.endswith(f"{gw}/camera/gate/status") and
            m.json()["state"] == "online" and (m.json()["record"] or {}).get("last_error"),
            20)[-1].json()
        assert status["record"]["connected"] is False
        assert "TCP connect failed" in status["record"]["last_error"]
        start = control_room.wait_for(lambda m: m.topic.endswith(f"{gw}/camera/gate/motion")
                                      and m.json()["event"] == "start", 20)
        assert start
        reply = control_room.command(f"commune/testsite/{gw}", "camera/gate/snapshot")
        assert reply["ok"] and (reply["width"], reply["height"]) == (320, 240), reply
    finally:
        agent.stop()
        server.stop()
