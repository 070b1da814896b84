"""Camera config: one URL as before, or a detect and/or a record stream; check-config says
what is wrong in one line per problem; the hardware decoder falls back to software."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from drivers.cameras.pyav_source import PyAVSource, PyAVSourceConfig
from edge_agent.cameras.config import CameraConfig
from tests.infra.clips import make_clip

HEAD = "gateway:\n  id: gw1\n  site: s1\n"


def test_one_url_keeps_working_and_streams_pick_the_roles() -> None:
    one = CameraConfig.model_validate({"id": "a", "url": "rtsp://h/1"})
    assert (one.detect_stream, one.record_stream, one.decode_mode) == \
        ("rtsp://h/1", None, "adaptive")
    two = CameraConfig.model_validate({"id": "b", "username": "u", "password": "p w",
                                       "streams": {"detect": "rtsp://h/102",
                                                   "record": "rtsp://h/101"}})
    assert (two.detect_stream, two.record_stream, two.decode_mode) == \
        ("rtsp://h/102", "rtsp://h/101", "all")  # the sub-stream is decoded in full
    assert two.source_url(two.record_stream) == "rtsp://u:p%20w@h/101"
    # url + a detect stream: url is the record stream; an explicit decode mode wins
    mixed = CameraConfig.model_validate({"id": "c", "url": "rtsp://h/101", "decode":
                                         "keyframes", "streams": {"detect": "rtsp://h/102"}})
    assert (mixed.record_stream, mixed.decode_mode) == ("rtsp://h/101", "keyframes")
    # only a record stream (or the same URL twice): one stream does everything
    same = CameraConfig.model_validate({"id": "d", "streams": {"record": "rtsp://h/101"}})
    assert (same.detect_stream, same.record_stream) == ("rtsp://h/101", None)


def test_check_config_reports_a_camera_without_any_stream(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HEAD + "cameras:\n  - id: gate\n    streams: {detect: }\n"
                    "  - id: ok\n    streams:\n      detect: rtsp://h/102\n"
                    "      recrd: rtsp://h/101\n    hwaccel: gpu\n")
    out = subprocess.run([sys.executable, "-m", "edge_agent", "check-config", str(path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 4, out.stderr
    assert "cameras[0]" in lines[1] and "give the camera a 'url'" in lines[1]
    assert "cameras[1].streams.recrd" in lines[2] and "did you mean 'record'" in lines[2]
    assert "cameras[1].hwaccel" in lines[3] and "v4l2m2m" in lines[3]


@pytest.mark.parametrize("hwaccel", ["v4l2m2m", "auto", "off"])
def test_hardware_decoder_falls_back_to_software(artifacts_dir: Path, hwaccel: str) -> None:
    """Only the fallback can be tested here: this machine has no V4L2 memory-to-memory
    decoder (/dev/video*), so h264_v4l2m2m exists in FFmpeg but does not open. On a Pi 4
    the same code runs the hardware decoder. Frames must come either way."""
    clip = make_clip("moving", artifacts_dir / "camera-clips")
    frames: list[float] = []
    done = threading.Event()

    def on_frame(frame: Any, pts: float) -> None:
        frames.append(pts)
        if len(frames) >= 5:
            done.set()

    cfg = PyAVSourceConfig.model_validate({"url": str(clip), "decode": "all",
                                           "realtime": False, "hwaccel": hwaccel})
    src = PyAVSource(cfg, on_frame, lambda s, e: None)
    src.start()
    try:
        assert done.wait(15)
    finally:
        src.stop()
    assert frames[:3] == [0.0, 0.1, 0.2]
    decoder = src.stats.decoder or ""
    if hwaccel == "off":
        assert decoder == "h264 (software)"
    else:
        assert decoder.startswith("h264 (software; h264_v4l2m2m unavailable"), decoder
    if hwaccel == "auto":  # key-frame modes stay in software with auto (no hardware tried)
        keys = PyAVSource(PyAVSourceConfig(url=str(clip), decode="keyframes", realtime=False),
                          on_frame, lambda s, e: None)
        done.clear()
        keys.start()
        try:
            assert done.wait(15)
        finally:
            keys.stop()
        assert keys.stats.decoder == "h264 (software)"


def test_vendor_patterns_name_the_other_stream() -> None:
    from edge_agent.cameras.substreams import other_stream

    dahua = other_stream("rtsp://u:p@10.0.0.5:554/cam/realmonitor?channel=1&subtype=0")
    assert dahua is not None and dahua.given == "main" and \
        dahua.url == "rtsp://u:p@10.0.0.5:554/cam/realmonitor?channel=1&subtype=1"
    hik = other_stream("rtsp://10.0.0.6/Streaming/Channels/302")
    assert hik is not None and hik.given == "sub" and hik.url.endswith("/Channels/301")
    assert other_stream("rtsp://10.0.0.7/live") is None
    assert other_stream("rtsp://10.0.0.7/Streaming/Channels/1") is None


def test_probe_finds_the_hikvision_sub_stream(artifacts_dir: Path) -> None:
    from tests.infra.rtsp_server import RtspServer

    folder = artifacts_dir / "camera-clips"
    main, sub = make_clip("moving", folder, width=640, height=480), make_clip("moving", folder)
    server = RtspServer(main, extra={"/Streaming/Channels/101": main,
                                     "/Streaming/Channels/102": sub}).start()
    try:
        url = server.url_for("/Streaming/Channels/101").replace("rtsp://", "rtsp://t:pw77@")
        out = subprocess.run([sys.executable, "-m", "edge_agent", "camera", "probe", url,
                              "--seconds", "1"], capture_output=True, text=True, timeout=40)
        plain = subprocess.run([sys.executable, "-m", "edge_agent", "camera", "probe",
                                server.url, "--seconds", "1"], capture_output=True,
                               text=True, timeout=40)
    finally:
        server.stop()
    assert out.returncode == 0, out.stderr
    assert "resolution: 640x480" in out.stdout
    assert "Hikvision-style" in out.stdout and "this is the main stream" in out.stdout
    assert "sub-stream: rtsp://****@127.0.0.1" in out.stdout and "h264 320x240" in out.stdout
    assert "streams: {detect: rtsp://****@127.0.0.1:" in out.stdout
    assert "pw77" not in out.stdout + out.stderr
    assert plain.returncode == 0 and "no known vendor path" in plain.stdout


def test_fleet_registers_commands_and_health_once_for_all_cameras() -> None:
    """Issue 9: the handlers and the health source were registered again by every camera."""
    from types import SimpleNamespace

    from edge_agent.cameras.component import CameraComponent, CameraFleet, build_components
    from edge_agent.config.model import AgentConfig

    config = AgentConfig.model_validate({
        "gateway": {"id": "g", "site": "s"},
        "cameras": [{"id": "a", "url": "rtsp://h/1"}, {"id": "b", "url": "rtsp://h/2"}]})
    components = build_components(config)
    assert all(isinstance(c, CameraComponent) for c in components)
    fleets = {id(c.fleet) for c in components if isinstance(c, CameraComponent)}
    assert len(fleets) == 1
    # Spies at the seam: the real router and health reporter replace on re-registration, so
    # only counting the calls shows whether each camera registered again.
    calls: list[tuple[str, ...]] = []
    ctx = SimpleNamespace(
        commands=SimpleNamespace(register=lambda t, a, h: calls.append((t, a))),
        health=SimpleNamespace(add_source=lambda name, fn: calls.append((name,))))
    fleet = CameraFleet(["a", "b"])
    for _ in range(3):
        fleet.attach(ctx)  # type: ignore[arg-type]
    assert sorted(calls) == [("camera", "arm"), ("camera", "disarm"), ("camera", "snapshot"),
                             ("cameras",)]
    assert fleet.health() == {"online": 0, "total": 2, "per_camera": {
        "a": {"state": "failed"}, "b": {"state": "failed"}}}


def test_record_buffer_decodes_one_key_frame_for_an_event_and_a_gop_for_now(
        artifacts_dir: Path) -> None:
    """The record stream is never decoded as it comes: an event snapshot costs one key
    frame, a snapshot command the current GOP up to the newest frame; both pictures equal a
    full decode of the clip."""
    import time

    import av
    import numpy as np

    from drivers.cameras.record_buffer import RecordBuffer

    clip = make_clip("moving", artifacts_dir / "camera-clips", width=640, height=480)
    with av.open(str(clip)) as c:
        reference = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    buf = RecordBuffer()
    with av.open(str(clip)) as c:
        stream = c.streams.video[0]
        buf.set_stream(stream)
        tb = float(stream.time_base)
        marks: dict[int, float] = {}
        for i, packet in enumerate(p for p in c.demux(stream) if p.size):
            if i in (35, 47):
                marks[i] = time.monotonic()
                time.sleep(0.002)  # arrival times strictly after the mark
            buf.feed(packet, packet.pts * tb)
            if i == 47:
                break
    assert buf.decoded == 0  # buffering decodes nothing
    key = buf.next_key_frame(marks[35], timeout=0.1)  # key frames at 0, 20, 40: the 40th
    assert buf.decoded == 1 and np.array_equal(key.to_ndarray(format="gray"), reference[40])
    now = buf.frame_now(marks[47], timeout=0.1)  # packets 40..47: the newest is frame 47
    assert buf.decoded == 1 + 8
    assert np.array_equal(now.to_ndarray(format="gray"), reference[47])
    with pytest.raises(LookupError):
        buf.next_key_frame(time.monotonic(), timeout=0.05)  # none after now
