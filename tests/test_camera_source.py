"""The PyAV source and the clip writer, in-process, on files and on the real RTSP server."""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import pytest

from drivers.cameras.pyav_source import PyAVSource, PyAVSourceConfig, redact
from edge_agent.cameras.media import MediaStore
from tests.infra.clips import make_clip
from tests.infra.recorded import record_from_file
from tests.infra.rtsp_server import RtspServer


@pytest.fixture(scope="module")
def moving_clip(artifacts_dir: Path) -> Path:
    return make_clip("moving", artifacts_dir / "camera-clips")


def _run(cfg: PyAVSourceConfig, until: float, hold_from: float | None = None
         ) -> tuple[list[float], PyAVSource, list[tuple[str, str | None]]]:
    frames: list[float] = []
    states: list[tuple[str, str | None]] = []
    done = threading.Event()
    src: PyAVSource

    def on_frame(frame: Any, pts: float) -> None:
        frames.append(pts)
        if hold_from is not None and pts >= hold_from:
            src.hold_active(10)
        if pts >= until:
            done.set()

    src = PyAVSource(cfg, on_frame, lambda s, e: states.append((s, e)))
    src.start()
    done.wait(20)
    src.stop()
    return frames, src, states


def test_keyframes_mode_decodes_only_key_frames(moving_clip: Path) -> None:
    frames, src, _ = _run(PyAVSourceConfig(url=str(moving_clip), decode="keyframes",
                                           realtime=False), until=14.0)
    assert frames[:4] == [0.0, 2.0, 4.0, 6.0]  # GOP 20 at 10 fps
    assert src.stats.packets >= 140 and src.stats.decoded == len(frames)


def test_adaptive_decodes_every_frame_once_active_with_correct_pictures(
        moving_clip: Path) -> None:
    # Activity from 4.0 s (a key frame showed motion): from then on every frame is decoded.
    frames, _, _ = _run(PyAVSourceConfig(url=str(moving_clip), decode="adaptive",
                                         realtime=False), until=6.0, hold_from=4.0)
    still = [p for p in frames if p < 4.0]
    assert still == [0.0, 2.0]
    after = [round(p, 1) for p in frames if p >= 4.0]
    assert after[:5] == [4.0, 4.1, 4.2, 4.3, 4.4]


def _adaptive_mid_gop(clip: Path, *, fast_decode: bool) -> dict[float, Any]:
    """Adaptive source on ``clip``, activity from 4.5 s (mid-GOP): the frames it emits."""
    got: dict[float, Any] = {}
    src: PyAVSource

    def on_frame(frame: Any, pts: float) -> None:
        got[round(pts, 1)] = frame.to_ndarray(format="gray")

    src = PyAVSource(PyAVSourceConfig(url=str(clip), decode="adaptive", realtime=False,
                                      fast_decode=fast_decode), on_frame, lambda s, e: None)
    original = src._should_decode

    def should(ctx: Any, packet: Any, pts: float, tb: float, st: Any) -> bool:
        if 4.45 < pts < 4.55:
            src.hold_active(10)
        result: bool = original(ctx, packet, pts, tb, st)
        return result

    src._should_decode = should  # type: ignore[method-assign]
    src.start()
    deadline = time.monotonic() + 10
    while 5.0 not in got and time.monotonic() < deadline:
        time.sleep(0.02)
    src.stop()
    return got


def _reference_frames(clip: Path) -> list[Any]:
    with av.open(str(clip)) as c:
        return [f.to_ndarray(format="gray") for f in c.decode(video=0)]


def test_adaptive_catch_up_mid_gop_decodes_a_clean_current_frame(moving_clip: Path) -> None:
    # Activity starts in the middle of a GOP (key frame at 4.0 s, activity at 4.5 s): the
    # source decodes 4.0-4.4 again without emitting them, and the frames it emits must equal
    # a full decode's frames, not smeared ones with missing references.
    import numpy as np

    got = _adaptive_mid_gop(moving_clip, fast_decode=False)
    assert 4.5 in got and 4.6 in got and 4.3 not in got
    assert np.array_equal(got[4.6], _reference_frames(moving_clip)[46])


def test_adaptive_fast_decode_skips_deblocking_on_inter_frames_only(moving_clip: Path) -> None:
    # fast_decode (off by default): key frames are bit-exact, inter frames are close to a full
    # decode (>= 35 dB PSNR) but not identical, which proves the decoder option took effect.
    import numpy as np

    got = _adaptive_mid_gop(moving_clip, fast_decode=True)
    reference = _reference_frames(moving_clip)
    assert np.array_equal(got[4.0], reference[40])  # the key frame (decoded while still)
    frames = [(got[t], reference[round(t * 10)]) for t in (4.6, 4.9)]
    mse = [float(np.mean((a.astype(np.float64) - b) ** 2)) for a, b in frames]
    psnr = [10 * np.log10(255 ** 2 / m) if m else 99.0 for m in mse]
    assert any(m > 0 for m in mse), "fast_decode had no effect"
    assert min(psnr) >= 35.0, psnr


def test_clip_writer_remuxes_packets_with_pre_and_post_capture(
        moving_clip: Path, tmp_path: Path) -> None:
    rec, src_packets = record_from_file(moving_clip, tmp_path / "ev.mp4", 5.0, 8.0,
                                        pre_s=2.0, post_s=1.0)
    assert rec.finished == [tmp_path / "ev.mp4"] and rec.last_error is None
    with av.open(str(tmp_path / "ev.mp4")) as out:
        vs = out.streams.video[0]
        assert vs.codec_context.name == "h264"
        packets = [bytes(p) for p in out.demux(vs) if p.size]
    # pre-capture starts at the key frame at 4.0 s (>= 2 s before 5.0 is the one at 2.0 s),
    # post-capture runs to 9.0 s: frames 20..89 → 70 packets, byte-identical (no re-encode)
    assert len(packets) == 70
    assert packets == src_packets[20:90]
    with av.open(str(tmp_path / "ev.mp4")) as out:  # a player shows every one, the last too
        assert sum(1 for _ in out.decode(video=0)) == 70


def test_redact_hides_credentials() -> None:
    text = "cannot open rtsp://admin:s3cret@10.0.0.9:554/ch1 and rtsp://u@h/x"
    assert "s3cret" not in redact(text) and "admin" not in redact(text)
    assert "rtsp://****@10.0.0.9:554/ch1" in redact(text)


def test_media_quota_deletes_oldest_first(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, "cam", max_age_days=7, quota_mb=0.05, min_free_mb=0)
    now = time.time()
    for i in range(8):  # 8 x 10 kB = 80 kB > 50 kB quota
        path = store.path_for(f"ev{i}", ".jpg", datetime.now())
        assert store.save(path, b"x" * 10_000)
        os.utime(path, (now - 100 + i, now - 100 + i))
    names = sorted(p.name for p in (tmp_path / "cam").rglob("*.jpg"))
    assert len(names) <= 5 and "ev0.jpg" not in names and "ev7.jpg" in names
    store.enforce(now=now + 8 * 86400)  # everything is older than max_age now
    assert not list((tmp_path / "cam").rglob("*.jpg"))
    full = MediaStore(tmp_path, "cam2", max_age_days=7, quota_mb=10, min_free_mb=10**9)
    assert not full.save(full.path_for("e", ".jpg", datetime.now()),
                         b"y" * 100)
    assert "free-space" in (full.stats.last_error or "")


def test_hung_rtsp_server_is_detected_and_reconnected(moving_clip: Path) -> None:
    server = RtspServer(moving_clip).start()
    states: list[tuple[float, str, str | None]] = []
    src = PyAVSource(PyAVSourceConfig(url=server.url.replace("rtsp://", "rtsp://bob:pw9@"),
                                      decode="keyframes", read_timeout_s=3,
                                      reconnect_min_s=0.5, reconnect_max_s=1),
                     lambda f, p: None, lambda s, e: states.append((time.monotonic(), s, e)))
    try:
        src.start()
        deadline = time.monotonic() + 10
        while not states and time.monotonic() < deadline:
            time.sleep(0.05)
        assert states and states[0][1] == "online"
        hung_at = time.monotonic()
        server.hang()
        while len(states) < 2 and time.monotonic() < hung_at + 15:
            time.sleep(0.05)
        assert len(states) >= 2 and states[1][1] == "offline"
        # the source itself gives up (no thread stuck) within its read timeout (3 s), with
        # 1.5 s margin for a loaded machine
        assert states[1][0] - hung_at < 3 + 1.5, states[1][0] - hung_at
        assert "pw9" not in str(states) and "bob" not in str(states)
        server.resume()
        while not any(s == "online" for _, s, _ in states[2:]) and \
                time.monotonic() < hung_at + 25:
            time.sleep(0.05)
        assert any(s == "online" for _, s, _ in states[2:])
    finally:
        src.stop()
        server.stop()


def test_probe_cli_over_rtsp_prints_stream_facts_and_saves_a_frame(
        moving_clip: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    server = RtspServer(moving_clip).start()
    try:
        url = server.url.replace("rtsp://", "rtsp://tech:hunter2@")
        out = subprocess.run([sys.executable, "-m", "edge_agent", "camera", "probe", url,
                              "--save", str(tmp_path / "f.jpg"), "--seconds", "4.5"],
                             capture_output=True, text=True, timeout=30)
    finally:
        server.stop()
    assert out.returncode == 0, out.stderr
    assert "codec:      h264" in out.stdout and "resolution: 320x240" in out.stdout
    assert re.search(r"key frames: every 2\.0\d s", out.stdout), out.stdout
    assert "hunter2" not in out.stdout
    assert (tmp_path / "f.jpg").read_bytes()[:2] == b"\xff\xd8"
    refused = subprocess.run([sys.executable, "-m", "edge_agent", "camera", "probe",
                              "rtsp://tech:hunter2@127.0.0.1:1/x"], capture_output=True,
                             text=True, timeout=30)
    assert refused.returncode == 1 and "hunter2" not in refused.stderr
    assert "hint: nothing listens there" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_stop_leaves_a_thread_stuck_in_a_hung_read_and_joins_a_working_one(
        moving_clip: Path) -> None:
    """SIGTERM must not depend on a hung camera: ``stop`` returns at once for a thread
    blocked in the read of a stopped server (it notices only at its read timeout) instead of
    spending its join timeout on it, and still joins a thread that is receiving."""
    from drivers.cameras.pyav_source import STOP_JOIN_S

    server = RtspServer(moving_clip).start()
    states: list[str] = []
    sources = [PyAVSource(PyAVSourceConfig(url=server.url, decode="keyframes",
                                           read_timeout_s=10), lambda f, p: None,
                          lambda s, e: states.append(s), name=f"cam{n}") for n in range(2)]
    try:
        working, hung = sources
        working.start()
        deadline = time.monotonic() + 10
        while not states and time.monotonic() < deadline:
            time.sleep(0.05)
        assert states == ["online"]
        started = time.monotonic()
        working.stop(STOP_JOIN_S)
        assert working._thread is not None and not working._thread.is_alive()
        print(f"stop of a working source: {time.monotonic() - started:.3f} s")
        hung.start()
        while len(states) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert states == ["online", "online"]
        server.hang()
        time.sleep(1.0)  # no packet for a second: the thread waits in its read
        started = time.monotonic()
        hung.stop(STOP_JOIN_S)
        took = time.monotonic() - started
        print(f"stop of a source in a hung read: {took:.3f} s")
        assert hung._thread is not None and hung._thread.is_alive()  # left behind, as said
        assert took < STOP_JOIN_S / 2, took
    finally:
        server.resume()
        for source in sources:
            source.stop()
        server.stop()
