"""Streams coded unlike the labelled clips: B-frames (libx264's default, and some cameras'
"smart" codecs) and H.265 (most Hikvision/Dahua main streams today).

Real parts: the agent's ``PyAVSource`` and ``FrameAnalysis`` on a tuning clip re-encoded by
Debian's ffmpeg (one libx264/libx265 thread, so the bytes repeat), read as fast as possible
with the source's clock on stream time (``adaptive_scoring``). A decoder with a reorder delay
(B-frames) hands frames out later than their packets: before this was handled the key frames
of an idle adaptive camera came out a whole GOP late, the look-back's flushes dropped frames,
and adaptive mode scored 0.70 where `all` scores 0.98 on the same clip.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import av
import cv2
import numpy as np
import pytest

from drivers.cameras import pyav_source
from drivers.cameras.clip_writer import ClipRecorder
from drivers.cameras.connect import source_decoder
from drivers.cameras.pyav_source import PyAVSource, PyAVSourceConfig
from tests.infra import street_sets
from tests.infra.adaptive_scoring import StreamClock, first_hit_s, run_source
from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker
from tests.infra.clip_lock import COLD_CLIPS_TIMEOUT_S
from tests.infra.look_back import look_back_at
from tests.infra.motion_scoring import score
from tests.infra.mqtt_client import ControlRoom
from tests.infra.recorded import once_closed, recoded, record_from_file
from tests.infra.rtsp_server import RtspServer

pytestmark = pytest.mark.timeout(COLD_CLIPS_TIMEOUT_S)  # may build the clip
CLIP = "t-ir-two"  # two walkers, the first entering mid-GOP (test_camera_look_back)
CODINGS = {
    "bframes": ["-c:v", "libx264", "-threads", "1", "-g", "30", "-bf", "2", "-b:v", "800k"],
    "hevc": ["-c:v", "libx265", "-x265-params",
             "keyint=30:min-keyint=30:bframes=0:pools=1:frame-threads=1:log-level=error",
             "-b:v", "800k"],
    # x265's defaults: open GOPs (CRA key frames; the B-frames after one in decode order,
    # shown before it, are RASL pictures predicted from the previous GOP) and 4 B-frames
    "hevc-open": ["-c:v", "libx265", "-x265-params",
                  "keyint=30:min-keyint=30:pools=1:frame-threads=1:log-level=error",
                  "-b:v", "800k"],
}


@pytest.fixture(scope="module")
def original(artifacts_dir: Path) -> Path:
    return street_sets.make_street_clip(street_sets.TUNING[CLIP], artifacts_dir / "camera-clips")


def _recoded(original: Path, coding: str) -> Path:
    return recoded(original, coding, CODINGS[coding])


@pytest.mark.parametrize("coding", sorted(CODINGS))
def test_adaptive_mode_scores_as_on_the_plain_stream(original: Path, coding: str) -> None:
    """Adaptive decoding (key frames while still, the look-back, the catch-up) finds the
    walkers as on the clip without B-frames, and as early: every frame lines up with the
    truth once (``run_source`` fails on a frame out of place or analysed twice)."""
    clip = _recoded(original, coding)
    plain, coded = run_source(original, "adaptive"), run_source(clip, "adaptive")
    every = run_source(clip, "all")
    f1_plain, f1_coded = score(plain.run)["f1"], score(coded.run)["f1"]
    print(f"{coding}: adaptive F1 {f1_coded:.3f} (plain stream {f1_plain:.3f}, all "
          f"{score(every.run)['f1']:.3f}), look-backs {coded.look_backs}")
    assert f1_coded >= f1_plain - 0.02, (f1_coded, f1_plain)
    hit, plain_hit = first_hit_s(coded.run), first_hit_s(plain.run)
    assert hit is not None and plain_hit is not None and hit <= plain_hit + 0.2, (hit, plain_hit)
    assert coded.look_backs >= 1


def _handed_out(clip: Path, decode: str, look_back: bool = False) -> list[tuple[float, float]]:
    """(frame time, stream time of the packet being read when it was handed out); the owner
    holds every frame decoded while a frame is handed out after 2.5 s of each clip pass."""
    clock = StreamClock()
    out: list[tuple[float, float]] = []

    def on_frame(_frame: Any, pts: float) -> None:
        out.append((pts, clock.now))
        if decode == "adaptive" and pts % 12.0 >= 2.5:
            src.hold_active(1.0)

    src = PyAVSource(PyAVSourceConfig(url=str(clip), decode=decode, loop=False,
                                      realtime=False, activity_trigger="off",
                                      look_back=look_back),
                     on_frame, lambda _s, _e: None)

    def on_packet(_packet: Any, pts: float) -> None:
        # B-frames' packets come out of time order; a clock that restarts starts it again
        clock.now = pts if pts < clock.now - 5 else max(clock.now, pts)

    src.on_packet = on_packet
    with mock.patch.object(pyav_source, "time", clock):
        src._session()
    return out


def test_every_frame_once_in_time_order_and_key_frames_without_delay(original: Path) -> None:
    """With B-frames, `all` hands out every frame (the last ones too, drained at the end)
    once and in time order; in `keyframes` mode each key frame comes out while its own GOP
    is read, not when the next key frame arrives."""
    clip = _recoded(original, "bframes")
    frames = len(json.loads(clip.with_suffix(".json").read_text())["boxes"])
    every = [pts for pts, _now in _handed_out(clip, "all")]
    assert len(every) == frames and every == sorted(set(every)), (len(every), frames)
    keys = _handed_out(clip, "keyframes")
    late = [(pts, now) for pts, now in keys if now - pts > 0.2]
    assert len(keys) >= 5 and not late, (keys, late)


def test_open_gop_h265_hands_every_frame_out_once_in_order(original: Path) -> None:
    """x265's default coding: open GOPs, whose CRA key frames are followed in decode order
    by RASL pictures shown before them (predicted from the previous GOP too), and B-frames.
    `all` hands out every frame once, in time order, as does adaptive mode from the hold
    on; a look-back on the key frame at 4 s hands out the whole previous GOP, in order, as
    decoded in `all` mode. Its last frames are the current key frame's RASL pictures: the
    look-back restarted the decoder at the key frame, which drops them, so they were lost.
    The detector scores on it as on the plain stream in both modes."""
    clip = _recoded(original, "hevc-open")
    truth = json.loads(clip.with_suffix(".json").read_text())
    frames, fps = len(truth["boxes"]), int(truth["fps"])
    every = [pts for pts, _now in _handed_out(clip, "all")]
    assert len(every) == frames and every == sorted(set(every)), (len(every), frames)
    held = [round(pts, 3) for pts, _now in _handed_out(clip, "adaptive")]
    assert held == sorted(set(held)), held
    # held from the first key frame after 2.5 s (4 s) to the end: every one of those frames
    assert set(round(i / fps, 3) for i in range(4 * fps, frames)) <= set(held)
    run = look_back_at(clip, 4.0)
    assert run.replayed == [round(i / fps, 3) for i in range(2 * fps, 4 * fps)], run.replayed
    assert run.after[0] == 4.0 and run.after == sorted(set(run.after)), run.after
    assert len(run.after) >= fps, run.after
    assert not run.differ, f"frames not as decoded in 'all' mode: {run.differ[:5]}"
    for decode in ("all", "adaptive"):
        f1_plain = score(run_source(original, decode).run)["f1"]
        f1_open = score(run_source(clip, decode).run)["f1"]
        print(f"open-GOP H.265, {decode}: F1 {f1_open:.3f} (plain stream {f1_plain:.3f})")
        assert f1_open >= f1_plain - 0.02, (decode, f1_open, f1_plain)


def _gray_frames(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [hashlib.md5(f.to_ndarray(format="gray").tobytes()).hexdigest()
                for f in container.decode(video=0)]


def test_a_clip_of_a_stream_with_b_frames_plays_every_frame(original: Path,
                                                            tmp_path: Path) -> None:
    """The clip writer keeps each packet's decode-to-show offset: the B-frames, shown before
    frames decoded ahead of them, are written too, and a player shows the source's frames
    of that stretch, in order, the last one included."""
    clip = _recoded(original, "bframes")
    rec, _packets = record_from_file(clip, tmp_path / "ev.mp4", 3.0, 6.0, pre_s=1.0,
                                     post_s=1.0)
    assert rec.finished == [tmp_path / "ev.mp4"] and rec.last_error is None
    source, written = _gray_frames(clip), _gray_frames(tmp_path / "ev.mp4")
    first = source.index(written[0])  # the key frame at 2.0 s (1 s of pre-capture)
    assert first == 30 and len(written) >= 60, (first, len(written))
    assert written == source[first:first + len(written)]


# The test server (GStreamer) answers PLAY with 503 for B-frames beside a live audio track,
# so the B-frame stream goes without one.
@pytest.mark.parametrize(("coding", "audio"), [("bframes", False), ("hevc", True)])
def test_a_camera_over_rtsp_reports_the_walkers_and_records_them(
        broker: Broker, control_room: ControlRoom, tmp_path: Path, original: Path,
        coding: str, audio: bool) -> None:
    """A fresh agent in the default decode mode (adaptive) on one RTSP stream (H.265 with a
    G.711 audio track beside the picture, or H.264 with B-frames): the first walker's event
    starts about when he enters (2.53 s; key frames every 2 s), its clip plays every frame
    it holds, the snapshot comes."""
    clip = _recoded(original, coding)
    server = RtspServer(clip, audio=audio).start()
    gw = f"gw-cam-{coding}"
    cam = {"id": "lane", "url": server.url, "status_interval_s": 1,
           "clips": {"enabled": True, "pre_s": 1, "post_s": 1}}
    cfg = base_config(tmp_path, broker.url, gateway=gw, cameras=[cam])
    agent = AgentProcess(write_config(tmp_path / "a.yaml", cfg), tmp_path / "a.log").start()
    try:
        motion = f"{gw}/camera/lane/motion"
        start = control_room.wait_for(lambda m: m.topic.endswith(motion) and
                                      m.json()["event"] == "start", 30)[0].json()
        began = datetime.fromisoformat(start["started_at"]).timestamp() - server.client_times[0]
        assert 2.0 <= began <= 3.2, began
        status = control_room.wait_for(lambda m: m.topic.endswith(f"{gw}/camera/lane/status")
                                       and m.json()["state"] == "online", 10)[-1].json()
        assert status["codec"] == {"bframes": "h264", "hevc": "hevc"}[coding], status
        snap = control_room.wait_for(lambda m: m.topic.endswith(f"{gw}/camera/lane/snapshot"),
                                     10)[0].payload
        picture = cv2.imdecode(np.frombuffer(snap, np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None and picture.shape[:2] == (360, 640), len(snap)
        control_room.wait_for(lambda m: m.topic.endswith(motion) and
                              m.json()["event"] == "end" and
                              m.json()["event_id"] == start["event_id"], 30)
        recorded = tmp_path / f"data-{gw}" / "media" / start["clip"]
        shown = len(once_closed(_gray_frames, recorded))
        with av.open(str(recorded)) as container:
            packets = sum(1 for p in container.demux(video=0) if p.size)
        assert packets >= 30 and shown == packets, (shown, packets)
    finally:
        agent.stop()
        server.stop()


def test_a_stream_whose_clock_jumps_back_is_still_watched(original: Path,
                                                          tmp_path: Path) -> None:
    """A camera whose timestamps restart (here: two MPEG-TS recordings of the clip one after
    the other, the second starting at 0 again) keeps its frames coming in adaptive mode:
    the second walker onset is decoded and handed out like the first, and nothing waits
    for the stream's clock to pass the old times."""
    parts = []
    for i in range(2):
        part = tmp_path / f"part{i}.ts"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(original), "-c", "copy",
                        "-bsf:v", "h264_mp4toannexb", "-f", "mpegts", str(part)], check=True)
        parts.append(part.read_bytes())
    joined = tmp_path / "restarted.ts"
    joined.write_bytes(b"".join(parts))
    handed = [pts for pts, _now in _handed_out(joined, "adaptive", look_back=True)]
    jump = next(i for i in range(1, len(handed)) if handed[i] < handed[i - 1] - 5)
    first, second = handed[:jump], handed[jump:]
    # the walkers make every frame decoded from the onset (about 2.5 s) in both halves
    assert len(first) >= 60 and len(second) >= 0.9 * len(first), (len(first), len(second))


def test_a_session_over_rtsp_with_b_frames_starts_in_order_and_records_whole(
        original: Path, tmp_path: Path) -> None:
    """An RTSP session's first key frame comes before FFmpeg knows the clock (no time), and
    with B-frames the packets after it come without a decode time. The key frame used to be
    timed from the P-frame after it (shown 3 frames later): handed out after two B-frames
    shown before it, and a clip from the session's start lost most of its first GOP (the
    writer keeps rising decode times only). Now the frames come in time order from the
    first, and such a clip plays every packet it was given, in order."""
    server = RtspServer(_recoded(original, "bframes")).start()
    rec = ClipRecorder(pre_s=1.0, post_s=0.5, max_s=60)
    handed: list[float] = []
    fed = [0]
    got = threading.Event()

    def on_packet(packet: Any, pts: float) -> None:
        if rec.template is None:
            assert src.info is not None
            rec.template = src.info.stream
            rec.start(tmp_path / "start.mp4")
        if pts >= 3.0:
            rec.finish()
        rec.feed(packet, pts)
        if rec.finished:
            got.set()
        elif rec.recording:
            fed[0] += 1

    src = PyAVSource(PyAVSourceConfig(url=server.url, decode="all"),
                     lambda _f, pts: handed.append(pts), lambda _s, _e: None)
    src.on_packet = on_packet
    try:
        src.start()
        assert got.wait(30), (fed, handed[:5])
    finally:
        src.stop()
        server.stop()
    assert handed[:40] == sorted(set(handed[:40])) and abs(handed[0]) < 1e-6, handed[:10]
    assert rec.last_error is None
    with av.open(str(tmp_path / "start.mp4")) as container:
        packets = sum(1 for p in container.demux(video=0) if p.size)
        container.seek(0)
        shown = [f.pts for f in container.decode(video=0)]
    assert packets == fed[0] >= 45 and len(shown) == packets, (packets, fed[0], len(shown))
    assert shown == sorted(shown)


class _M2MLike:
    """Stands in for h264_v4l2m2m, which needs a V4L2 M2M device (a Pi 4) this machine has
    not: the software decoder inside, with the wrapper's end-of-stream rule (FFmpeg's
    v4l2_m2m_dec.c has no flush callback, so a flush leaves the device's frames in it, and
    once sent the end of the stream it takes no input again: ``draining`` stays set until
    the decoder is closed)."""

    def __init__(self, soft: Any) -> None:
        self._soft, self._ended = soft, False

    @property
    def skip_frame(self) -> Any:
        return self._soft.skip_frame

    @skip_frame.setter
    def skip_frame(self, value: Any) -> None:
        self._soft.skip_frame = value

    def decode(self, packet: Any) -> list[Any]:
        if self._ended:
            return []
        self._ended = packet is None
        return list(self._soft.decode(packet))

    def flush_buffers(self) -> None:
        pass  # no flush callback: what the device holds stays in it


@pytest.mark.parametrize(("decode", "loop"), [("keyframes", False), ("all", True)])
def test_a_hardware_decoder_is_never_sent_the_end_of_the_stream(
        original: Path, decode: str, loop: bool) -> None:
    """The drains (an idle key frame held back by the B-frames' delay, a file's end before
    it loops) must not end a hardware decoder's input: it decoded nothing more for the rest
    of the session (after the first key frame in `keyframes` mode; after the first pass of
    a looped file in `all` mode, the default's hardware mode), while still online."""
    clip = _recoded(original, "bframes")
    frames: list[float] = []
    done = threading.Event()

    def hardware(stream: Any, cfg: PyAVSourceConfig, failed: bool) -> tuple[Any, str]:
        soft, _ = source_decoder(stream, cfg.model_copy(update={"hwaccel": "off"}), failed)
        return _M2MLike(soft), "h264_v4l2m2m (hardware)"

    def on_frame(_frame: Any, pts: float) -> None:
        frames.append(pts)
        # (a session that went blind ends with the file, and the next one starts again at 0)
        if pts > 14.0 or (decode == "keyframes" and len(set(frames)) >= 5):
            done.set()

    src = PyAVSource(PyAVSourceConfig(url=str(clip), decode=decode, loop=loop,
                                      realtime=False), on_frame, lambda _s, _e: None)
    with mock.patch.object(pyav_source, "source_decoder", hardware):
        src.start()
        try:
            finished = done.wait(60)
        finally:
            src.stop()
    assert finished and src.stats.decoder == "h264_v4l2m2m (hardware)", frames[-5:]
