"""Single-stream adaptive decode: motion onset without waiting for a key frame.

The clip is CBR 720p with a 4 s GOP and the walker enters right after a key frame, so a
source that waits for the next key frame sees it ~3.5 s late; the slice-QP trigger has to
fire on inter frames. First the source alone on the file, then the real agent process over
the GStreamer RTSP server and the broker.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from drivers.cameras.pyav_source import PyAVSource, PyAVSourceConfig
from tests.infra import adaptive_sets
from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker
from tests.infra.motion_scoring import iou
from tests.infra.mqtt_client import ControlRoom
from tests.infra.rtsp_server import RtspServer

pytestmark = pytest.mark.timeout(180)
# What this test proves: the start comes from an inter frame, long before the next key frame
# (3.8 s after the onset with the trigger off). Measured 0.75-0.84 s (6 of 7 runs), 1.05 s at
# load 13; the 1.0 s p95 is a latency figure for benchmarks/camera.py, not for a test
# sharing the machine with the suite.
ONSET_BOUND_S = 2.0
# A look-back start's ``started_at`` against the onset: ``started_at`` is the analysed frame
# before the walker was first seen (8.13 s offline, every frame decoded or with the
# look-back alike), plus the RTSP delay to the agent (0.3-0.4 s here).
LOOK_BACK_DATE_S = 0.8


@pytest.fixture(scope="module")
def walker_clip(artifacts_dir: Path) -> Path:
    return adaptive_sets.make(adaptive_sets.RTSP_WALKER, artifacts_dir / "adaptive-clips")


def _emitted(clip: Path, trigger: str) -> tuple[list[float], PyAVSource]:
    """Frame times an adaptive file source hands out, nobody calling ``hold_active``."""
    times: list[float] = []
    done = threading.Event()

    def on_frame(_frame: Any, pts: float) -> None:
        times.append(pts)
        if pts >= 12.5:
            done.set()

    src = PyAVSource(PyAVSourceConfig(url=str(clip), decode="adaptive", realtime=False,
                                      loop=False, activity_trigger=trigger),  # type: ignore[arg-type]
                     on_frame, lambda s, e: None)
    src.start()
    done.wait(60)
    src.stop()
    return times, src


@pytest.mark.parametrize("trigger", ["bitstream", "off"])
def test_source_decodes_inter_frames_once_the_walker_enters(walker_clip: Path,
                                                            trigger: str) -> None:
    frames = adaptive_sets.read_frames(walker_clip)
    onset = next(f.t for f in frames if f.moving)
    keys = {round(f.t, 2) for f in frames if f.key}
    times, src = _emitted(walker_clip, trigger)
    inter = [t for t in times if round(t, 2) not in keys]
    between = [t for t in inter if onset - 0.5 <= t < 12.0]  # before the next key frame
    assert {round(t, 2) for t in times} >= {k for k in keys if k <= 12.0}
    if trigger == "off":  # key frames only: nothing between them (what the old code did)
        assert inter == [] and src.stats.triggers == 0
        return
    assert src.stats.activity == "bitstream"
    assert src.stats.triggers >= 1
    assert between and between[0] <= onset + 0.6, between[:3]
    assert not [t for t in inter if t < onset - 0.5], "a catch-up while the street was empty"


def test_adaptive_single_stream_publishes_start_before_the_next_key_frame(
        broker: Broker, control_room: ControlRoom, tmp_path: Path, walker_clip: Path) -> None:
    frames = adaptive_sets.read_frames(walker_clip)
    onset = next(f.t for f in frames if f.moving)
    next_key = next(f.t for f in frames if f.key and f.t > onset)
    assert next_key - onset > 3.0  # waiting for it would miss the bound by far
    server = RtspServer(walker_clip).start()
    gw = "gw-cam-adaptive"
    cfg = base_config(tmp_path, broker.url, gateway=gw, cameras=[{
        "id": "lane", "url": server.url, "decode": "adaptive", "status_interval_s": 1,
        "read_timeout_s": 4}], health={"interval_s": 60})
    agent = AgentProcess(write_config(tmp_path / "gw.yaml", cfg), tmp_path / "gw.log").start()
    try:
        topic = f"{gw}/camera/lane/motion"
        control_room.wait_for(lambda m: m.topic.endswith(topic) and
                              m.json()["event"] == "start", 40)
        arrived = time.time()
        t0 = server.client_times[0]  # wall time of the clip's first frame at the server
        late = arrived - t0 - onset
        print(f"onset {onset:.2f} s, start published {late:.3f} s later")
        assert late <= ONSET_BOUND_S, f"start {late:.2f} s after the onset at {onset:.2f} s"
        assert late > -0.5, "a start before the walker is in view"
        _status_reports_the_trigger_and_its_counts_move(control_room, gw)
    finally:
        agent.stop()
        server.stop()


def test_trigger_off_look_back_dates_the_start_where_the_walker_entered(
        broker: Broker, control_room: ControlRoom, tmp_path: Path, walker_clip: Path) -> None:
    """With the trigger off, the walker (entering mid-GOP) is first seen on the next key
    frame, 3.5 s later; the look-back then analyses the GOP before it, so the event's
    ``started_at`` is the walker's entry, not the key frame's arrival or the pass's time."""
    frames = adaptive_sets.read_frames(walker_clip)
    onset = next(f.t for f in frames if f.moving)
    next_key = next(f.t for f in frames if f.key and f.t > onset)
    server = RtspServer(walker_clip).start()
    gw = "gw-cam-look-back"
    cfg = base_config(tmp_path, broker.url, gateway=gw, cameras=[{
        "id": "lane", "url": server.url, "decode": "adaptive", "activity_trigger": "off",
        "status_interval_s": 1, "read_timeout_s": 4}], health={"interval_s": 60})
    agent = AgentProcess(write_config(tmp_path / "gw.yaml", cfg), tmp_path / "gw.log").start()
    try:
        topic = f"{gw}/camera/lane/motion"
        start = control_room.wait_for(lambda m: m.topic.endswith(topic) and
                                      m.json()["event"] == "start", 40)[0]
        arrived = time.time()
        t0 = server.client_times[0]
        started = datetime.fromisoformat(start.json()["started_at"]).timestamp() - t0
        print(f"onset {onset:.2f} s, next key frame {next_key:.2f} s: started_at "
              f"{started:.3f} s, published {arrived - t0 - next_key:.3f} s after the key frame")
        assert arrived - t0 >= next_key - 0.2, "a start before the key frame: a trigger fired?"
        assert onset - 0.5 <= started <= onset + LOOK_BACK_DATE_S, (started, onset)
        # The start shows the walker where it was when confirmed (its boxes, its snapshot),
        # in the GOP before the key frame: without the look-back, right after the key frame.
        seen_at = _best_truth_time(walker_clip, start.json()["boxes"])
        print(f"the start's boxes are the walker's at {seen_at:.2f} s")
        assert seen_at < next_key - 1.0, (seen_at, start.json()["boxes"])
        # The status counts it: 0 before the onset, then at least this one look-back.
        status = f"{gw}/camera/lane/status"
        counted = control_room.wait_for(lambda m: m.topic.endswith(status) and
                                        (m.json().get("look_backs") or 0) >= 1, 10)[0].json()
        first = next(m.json() for m in control_room.messages if m.topic.endswith(status)
                     and m.json().get("activity_trigger"))
        assert first["look_backs"] == 0 and counted["activity_trigger"] == "off", (first,
                                                                                   counted)
    finally:
        agent.stop()
        server.stop()


def _best_truth_time(clip: Path, boxes: list[list[float]]) -> float:
    """The time of the labelled frame whose walker box overlaps the reported boxes most."""
    truth = json.loads(clip.with_suffix(".json").read_text())["boxes"]
    overlap = [max((iou(tuple(t), tuple(b)) for t in frame for b in boxes), default=0.0)
               for frame in truth]
    return overlap.index(max(overlap)) / adaptive_sets.FPS


def _status_reports_the_trigger_and_its_counts_move(control_room: ControlRoom,
                                                    gw: str) -> None:
    """``camera/{id}/status`` names the trigger; its fire count is 0 while the lane is still
    (the statuses before the onset) and moves once the walker made it fire, and the detector
    confirms it (it saw the walker: the start above)."""
    topic = f"{gw}/camera/lane/status"
    fired = control_room.wait_for(lambda m: m.topic.endswith(topic) and
                                  (m.json().get("activity_confirmed") or 0) >= 1, 20)
    body = fired[0].json()
    assert body["activity_trigger"] == "bitstream", body
    assert 1 <= body["activity_confirmed"] <= body["activity_fired"], body
    statuses = [m.json() for m in control_room.messages if m.topic.endswith(topic)]
    before = [b for b in statuses if b.get("activity_trigger")]
    assert before and before[0]["activity_fired"] == 0, before[:1]
