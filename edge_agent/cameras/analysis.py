"""Which decoded frames the detector analyses, and what adaptive decode is told about them.

One rule, used by ``CameraService`` and by the adaptive scoring harness (so the harness
scores the agent's own logic, not a copy):

- cadence: at most ``analysis_fps`` frames a second, on the frames' stream times;
- adaptive decode: while the detector sees something move, the source decodes every frame
  for ``ACTIVE_TAIL_S`` more (``hold_active``);
- look-back: a key frame the source decoded while idle (``idle_key``: key frames only, the
  previous GOP kept) is analysed on a copy-backed detector. If it shows a moving blob, the
  source is asked to decode the previous GOP (``look_back``); the detector and the cadence
  go back to where they were before that key frame, its result is dropped, and the previous
  GOP's frames and the key frame again are analysed in order. Motion that began between two
  key frames is then reported from the frame where it began, with that frame's boxes. Each
  look-back frame's result says how far behind the newest frame it is (``age_s``), so the
  event is dated when the frame was taken, not when it was analysed.

- overlay: with an ``OverlayFinder``, the camera's burnt-in clock and name are found in the
  picture and held still before the detector sees it (``overlay.py``); frames analysed again
  in a look-back are not learned from (they are out of time order).

It runs in the source thread, inside ``on_frame``; no I/O, no clock (stream times only).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from edge_agent.cameras.config import CameraConfig
from edge_agent.cameras.motion import MotionDetector, MotionResult
from edge_agent.cameras.overlay import OverlayFinder

# Adaptive decode: seconds of every-frame decoding after the detector last saw movement.
ACTIVE_TAIL_S = 1.0


class AdaptiveSource(Protocol):
    """What the rule needs of ``PyAVSource`` (read in its thread, inside ``on_frame``)."""

    idle_key: bool
    replaying: bool

    def hold_active(self, seconds: float) -> None: ...

    def look_back(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Analysed:
    result: MotionResult
    age_s: float  # stream seconds this frame is behind the newest one (0 but in a look-back)


class FrameAnalysis:
    def __init__(self, detector: MotionDetector, analysis_fps: float,
                 picture: Callable[[Any], Any], source: AdaptiveSource | None = None,
                 overlay: OverlayFinder | None = None) -> None:
        """``source``: the adaptive source to hold and ask for look-backs (None: the stream
        is decoded in full, or in key frames only, whatever the detector sees). ``overlay``:
        the finder of the camera's burnt-in text (None: ``overlay: off``)."""
        self.detector = detector
        self.next_at = -1.0  # stream time of the next frame to analyse
        self._interval = 1.0 / analysis_fps - 1e-3
        self._picture = picture
        self._source = source
        self.overlay = overlay
        self.look_back_from = 0.0  # stream time of the key frame the last look-back ran for
        self.look_backs = 0

    def frame(self, frame: Any, pts: float) -> Analysed | None:
        """One decoded frame at stream time ``pts``; its result when it was analysed and
        should be offered to the events (None: skipped, or replaced by a look-back)."""
        src = self._source
        replaying = src is not None and src.replaying
        if pts < self.next_at - 1.0 and not replaying:  # the file looped / stream restarted
            self.next_at = pts
        if pts < self.next_at:
            return None
        saved = None
        if src is not None and src.idle_key:
            # A copy costs little next to a decode (measured in docs/cameras.md, look-back)
            # and is taken once per GOP, on the only frames a look-back can start from.
            saved = (copy.deepcopy(self.detector), self.next_at)
        self.next_at = max(pts, self.next_at) + self._interval
        picture = self._picture(frame)
        if self.overlay is not None:
            picture = self.overlay.apply(picture, pts, learn=not replaying)
        result = self.detector.analyse(picture, pts)
        if src is None:
            return Analysed(result, 0.0)
        if saved is not None and result.activity and src.look_back():
            self.look_backs += 1
            self.detector, self.next_at = saved
            self.look_back_from = pts
            return None  # analysed again once the previous GOP has been
        if result.activity:
            # Every frame is decoded only while the detector still sees something move: ~1 s
            # after the last moving blob the source drops back to key frames. The event's end
            # debounce (``end_s``) then runs on key frames (one per GOP), so an event ends at
            # most one key-frame interval later than in ``all`` mode.
            src.hold_active(ACTIVE_TAIL_S)
        return Analysed(result, max(0.0, self.look_back_from - pts) if replaying else 0.0)


def camera_analysis(cfg: CameraConfig, picture: Callable[[Any], Any],
                    source: AdaptiveSource | None,
                    timer: Callable[[], float] | None = None) -> FrameAnalysis:
    """The camera's analysis as the agent runs it (``CameraService``, ``camera replay``): its
    detector, its cadence, the adaptive source in adaptive mode, the overlay finder unless
    ``overlay: off`` (``timer``: the finder's CPU clock, to report its cost)."""
    return FrameAnalysis(
        MotionDetector(cfg.motion, cfg.masks, cfg.zones, cfg.analysis_width),
        cfg.analysis_fps, picture, source if cfg.decode_mode == "adaptive" else None,
        OverlayFinder(timer=timer) if cfg.overlay == "auto" else None)
