"""Frame scores in ``decode: adaptive``: the agent's real PyAV source on the clip file.

The clip is read by ``PyAVSource`` itself (file path, ``loop`` off, ``realtime`` off), so the
key-frame-only decoding, the activity trigger (slice QP from the bitstream), the catch-up
from the key frame, the look-back and ``fast_decode`` are the agent's code, not a copy.
The owner's rule (analysis cadence, ``hold_active`` when the detector sees activity, the
look-back at a key frame that shows motion, the burnt-in overlay held still) is
``CameraService``'s own ``FrameAnalysis``.
Only the clock is supplied here. Read as fast as possible, the source's wall-clock holds
(``activity_hold_s``, the owner's tail) would cover far more frames than on a camera.
``StreamClock`` replaces the source module's ``time`` with the stream time of the packet
being handled: the clock a camera delivering at its own pace gives, with decoding and
analysis taking no time (on a loaded gateway the holds end a little earlier in stream
time, so this is the best case).

Scoring is ``motion_scoring.score``'s. The frames scored are ``run_clip``'s (the frames the
agent analyses when it decodes everything); the adaptive run's cadence can drift off that
grid after a catch-up (it restarts at whatever frame is decoded first), so each grid frame
takes the adaptive result of the frame analysed in its slot (the grid frame or the one after
it, scored against that frame's own truth), and a slot with no analysed frame counts as "no
motion reported". Events come from the analysed results only, as in the agent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from drivers.cameras import pyav_source
from drivers.cameras.pyav_source import PyAVSource, PyAVSourceConfig
from edge_agent.cameras.analysis import FrameAnalysis
from edge_agent.cameras.config import MotionConfig
from edge_agent.cameras.frames import luma
from edge_agent.cameras.motion import MotionResult
from tests.infra.motion_scoring import HIT_IOU, Box, ClipRun, iou, labelled, overlay_finder


class StreamClock:
    """Stands in for the ``time`` module inside ``pyav_source``: ``monotonic()`` is the
    stream time of the packet the source is handling."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


@dataclass
class SourceRun:
    run: ClipRun
    decoded: int  # frames the decoder produced (catch-up frames included)
    analysed: int
    triggers: int  # times the activity watch started a catch-up
    activity: str | None  # "bitstream", "size" or "off"
    # Stream seconds from the last hold's start (a frame the detector saw move, or a
    # trigger) to the latest inter frame decoded under it. Over 1 s means the holds did not
    # run on stream time (e.g. on the wall clock while the file is read at full speed).
    longest_hold_s: float
    replayed: int = 0  # frames a look-back decoded again (the previous GOP's)
    look_backs: int = 0


def grid(frames: int, fps: float, analysis_fps: float) -> list[int]:
    """The frames ``run_clip`` (and the agent decoding everything) analyses."""
    out: list[int] = []
    next_at = -1.0
    for i in range(frames):
        pts = i / fps
        if pts >= next_at:
            next_at = max(pts, next_at) + 1.0 / analysis_fps - 1e-3
            out.append(i)
    return out


def run_source(clip: Path, decode: str = "adaptive", cfg: MotionConfig | None = None,
               analysis_fps: float = 10.0, picture: Callable[[Any], Any] = luma,
               width: int | None = None, overlay: str | None = None,
               **source: Any) -> SourceRun:
    """Play ``clip`` through the real source in ``decode`` mode from a cold start.
    ``picture``: the agent's (``luma``: the Y plane at full range) unless told otherwise."""
    meta, fps, truth, det = labelled(clip, cfg, width)
    analysed: dict[int, MotionResult] = {}
    clock = StreamClock()
    holds: list[float] = [-1e9]  # stream times a hold started
    longest = 0.0
    triggers = look_backs = 0
    replayed = [0]

    def on_frame(frame: Any, pts: float) -> None:  # CameraService._on_frame
        nonlocal longest, triggers, look_backs
        if src.stats.triggers > triggers:  # this packet fired the activity watch
            triggers = src.stats.triggers
            holds.append(pts)
        if src.stats.look_backs > look_backs:  # the source holds from the key frame on
            look_backs = src.stats.look_backs
            holds.append(rule.look_back_from)
        if src.replaying:
            replayed[0] += 1
        elif not frame.key_frame:
            longest = max(longest, pts - holds[-1])
        done = rule.frame(frame, pts)
        if done is None:
            return
        index = round(pts * fps)
        if index in analysed or not 0 <= index < len(truth):
            raise AssertionError(f"{clip.name}: frame {index} (pts {pts:.3f}) does not line "
                                 f"up with the {len(truth)} labelled frames")
        analysed[index] = done.result
        if decode == "adaptive" and done.result.activity:
            # the hold runs from the source's clock: a replayed frame's own time is up to a
            # GOP earlier than the packet being handled when its result asks for the hold
            holds.append(clock.now)

    def on_packet(_packet: Any, pts: float) -> None:
        clock.now = pts  # called before the source decides whether to decode this packet

    src = PyAVSource(PyAVSourceConfig(url=str(clip), decode=decode,
                                      loop=False, realtime=False, **source),
                     on_frame, lambda _state, _error: None, name=clip.stem)
    src.on_packet = on_packet
    rule = FrameAnalysis(det, analysis_fps, picture, src if decode == "adaptive" else None,
                         overlay_finder(overlay, clip))
    with mock.patch.object(pyav_source, "time", clock):
        src._session()  # one session, in this thread: the file ends, the session returns
    return SourceRun(_slots(analysed, truth, grid(len(truth), fps, analysis_fps), meta),
                     src.stats.decoded, len(analysed), src.stats.triggers, src.stats.activity,
                     longest, replayed[0], src.stats.look_backs)


def _slots(analysed: dict[int, MotionResult], truth: list[list[Box]], frames: list[int],
           meta: dict[str, Any]) -> ClipRun:
    results: list[MotionResult] = []
    kept: list[list[Box]] = []
    ends = [*frames[1:], len(truth)]
    for start, end in zip(frames, ends, strict=True):
        inside = [i for i in range(start, end) if i in analysed]
        if len(inside) > 1:
            raise AssertionError(f"frames {inside} analysed in one slot: cadence broken")
        if inside:
            results.append(analysed[inside[0]])
            kept.append(truth[inside[0]])
        else:  # not analysed: no motion reported
            results.append(MotionResult(start / float(meta["fps"]), False, (), 0.0, 0.0, False))
            kept.append(truth[start])
    still = [(float(a), float(b)) for a, b in meta["still"]]
    return ClipRun(results, kept, still, events_from=[analysed[i] for i in sorted(analysed)])


def first_hit_s(run: ClipRun) -> float | None:
    """Stream time of the first scored frame that is a hit (motion_scoring's rule)."""
    for r, boxes in zip(run.results, run.truth, strict=True):
        reported = [b.box for b in r.blobs] if r.motion else []
        if any(iou(t, b) >= HIT_IOU for t in boxes for b in reported):
            return round(r.ts, 2)
    return None
