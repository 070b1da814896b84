"""Adaptive decode's look-back: a key frame decoded while idle that shows motion makes the
source decode the previous GOP again (its packets were kept) and the owner analyse it.

Real parts: the agent's ``PyAVSource`` on a labelled street clip from the tuning set (file,
read as fast as possible, the source's clock on stream time as in ``adaptive_scoring``), the
agent's ``FrameAnalysis`` and ``MotionDetector``, and the pure ``EventTracker``. The
activity trigger is off, so the only way to see inter frames before the next key frame is
the look-back (a silent trigger is what the night clips gave: once in 31).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import pytest

from edge_agent.cameras.config import MotionConfig
from edge_agent.cameras.events import EventTracker
from tests.infra import street_sets
from tests.infra.adaptive_scoring import first_hit_s, run_source
from tests.infra.clip_lock import COLD_CLIPS_TIMEOUT_S
from tests.infra.look_back import look_back_at

pytestmark = pytest.mark.timeout(COLD_CLIPS_TIMEOUT_S)  # may build the clip
# t-ir-two: two walkers under IR; the first enters at 2.53 s, mid-GOP (key frames every 2 s),
# and is first hit at 2.67 s decoding every frame. Waiting for the next key frame: 4.13 s.
CLIP = "t-ir-two"


@pytest.fixture(scope="module")
def clip(artifacts_dir: Path) -> Path:
    return street_sets.make_street_clip(street_sets.TUNING[CLIP], artifacts_dir / "camera-clips")


def _key_times(clip: Path) -> list[float]:
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        return [float(p.pts * stream.time_base) for p in container.demux(stream)
                if p.pts is not None and p.is_keyframe]


def _starts(events_from: list[Any]) -> list[tuple[float, float]]:
    """(started_ts, ts) of each event start the agent's tracker makes of these results, and
    every end's duration checked on the way."""
    tracker = EventTracker(MotionConfig())
    starts = []
    for result in events_from:
        for msg in tracker.feed(result):
            if msg.kind == "start":
                starts.append((msg.started_ts, msg.ts))
            assert msg.kind != "end" or msg.duration_s > 0, msg
    return starts


def test_mid_gop_onset_is_reported_within_two_frames_with_the_trigger_off(clip: Path) -> None:
    full = run_source(clip, "all")
    keys = _key_times(clip)
    truth_hit = first_hit_s(full.run)
    assert truth_hit is not None
    next_key = min(k for k in keys if k > truth_hit)
    assert next_key - truth_hit > 1.0, "the onset must be well inside a GOP"
    waited = run_source(clip, "adaptive", activity_trigger="off", look_back=False)
    looked = run_source(clip, "adaptive", activity_trigger="off")
    assert looked.triggers == waited.triggers == 0
    # Without the look-back the mover is first seen at (or after) the next key frame.
    late = first_hit_s(waited.run)
    assert late is not None and late >= next_key - 1e-6, late
    hit = first_hit_s(looked.run)
    assert hit is not None and hit <= truth_hit + 2 / 15 + 1e-6, (hit, truth_hit)
    # The event starts where the motion did (stream time), as decoding every frame does,
    # and none lasts 0 s.
    start_all, start = _starts(full.run.events_from)[0], _starts(looked.run.events_from)[0]
    assert start[0] <= start_all[0] + 2 / 15 + 1e-6, (start, start_all)
    assert start[0] < next_key - 1.0, start


@pytest.mark.parametrize("threads", [1, 4])
def test_frames_after_a_look_back_are_decoded_whole(clip: Path, threads: int) -> None:
    """Every frame handed out during and after a look-back is bit-identical to the same
    frame decoded in ``all`` mode: the previous GOP from its own key frame, and the frames
    after the current key frame from this GOP's references (not the previous GOP's last
    pictures, not a missing reference). With several decoder threads too: frame threads
    would hold frames back, and the look-back's flushes would drop them."""
    keys = _key_times(clip)
    run = look_back_at(clip, 4.0, decode_threads=threads)  # one look-back, the source says
    key = min(k for k in keys if k >= 4.0)
    previous = max(k for k in keys if k < key)
    gop = [t for t in run.shown if previous <= t < key]
    assert run.replayed == sorted(gop)
    assert not run.differ, f"frames not as decoded in 'all' mode: {run.differ[:5]}"
    # The key frame again, then every frame of the hold (activity_hold_s = 1 s) and more.
    assert run.after[0] == round(key, 3) and len(run.after) >= 15, run.after[:3]
