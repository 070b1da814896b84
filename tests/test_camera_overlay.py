"""The burnt-in overlay finder (``edge_agent/cameras/overlay.py``) in front of the real detector.

Pictures are drawn here (grey 640x360, sensor noise, a street's levels) with a camera-style
clock: white Hershey text with a dark outline, its seconds ticking. They go through the
agent's own ``FrameAnalysis`` (cadence, overlay, detector) at 10 frames a second. Pure: no
fakes, nothing to seam.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pytest

from edge_agent.cameras.analysis import FrameAnalysis, camera_analysis
from edge_agent.cameras.config import CameraConfig, MotionConfig
from edge_agent.cameras.motion import MotionDetector, MotionResult
from edge_agent.cameras.overlay import OverlayFinder, find_lines
from tests.infra.motion_scoring import iou

W, H, FPS = 640, 360, 10
CLOCK_AT = (8, 30)  # the text's baseline origin: top-left
CLOCK_BOX = (0.0, 0.0, 0.66, 0.13)  # where it lies, relative, generously


def _clock(img: np.ndarray, t: float, at: tuple[int, int] = CLOCK_AT, scale: float = 1.0) -> None:
    s = 21 * 3600 + 14 * 60 + 7 + int(t)
    text = f"2026-12-02 {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
    cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, 16, 4, cv2.LINE_AA)
    cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, 235, 2, cv2.LINE_AA)


def _scene(seconds: float, level: Callable[[float], float] = lambda t: 50.0,
           clock: bool = True, extra: Callable[[np.ndarray, float], None] | None = None,
           seed: int = 0) -> Iterator[tuple[np.ndarray, float]]:
    """Frames of a still street (a darker road below a wall, noise) at stream times."""
    rng = np.random.default_rng(seed)
    base = np.zeros((H, W), np.float32)
    base[H // 2:] = -15.0
    for i in range(int(seconds * FPS)):
        t = i / FPS
        img = np.clip(base + level(t) + rng.normal(0, 3.0, (H, W)), 0, 255).astype(np.uint8)
        if extra is not None:
            extra(img, t)
        if clock:
            _clock(img, t)
        yield img, t


def _run(frames: Iterator[tuple[np.ndarray, float]], overlay: OverlayFinder | None
         ) -> list[MotionResult]:
    rule = FrameAnalysis(MotionDetector(MotionConfig(), width=160), FPS, lambda f: f,
                         overlay=overlay)
    out = []
    for img, t in frames:
        done = rule.frame(img, t)
        if done is not None:
            out.append(done.result)
    return out


def _covers(found: tuple[float, float, float, float], want: tuple[float, ...]) -> bool:
    x, y, w, h = found
    return want[0] <= x and want[1] <= y and x + w <= want[0] + want[2] and \
        y + h <= want[1] + want[3]


def test_a_ticking_clock_alone_makes_no_motion() -> None:
    finder = OverlayFinder()
    results = _run(_scene(12.0), finder)
    moving = [round(r.ts, 1) for r in results if r.motion]
    assert moving == [], moving
    boxes = [(b.x, b.y, b.w, b.h) for b in finder.boxes]
    assert len(boxes) == 1 and _covers(boxes[0], CLOCK_BOX), boxes
    assert finder.boxes[0].describe().startswith("top-left")


def test_without_the_finder_the_same_clock_makes_motion() -> None:
    # what the test above guards against (overlay: off)
    assert any(r.motion for r in _run(_scene(12.0), None))


PERSON = (60, 110)  # w, h in pixels: from the top edge down through the clock's band


def _person_box(t: float) -> tuple[int, int] | None:
    """Left edge and top of a person walking across the top band from 4 s to 9 s."""
    if not 4.0 <= t < 9.0:
        return None
    return int(-PERSON[0] + (t - 4.0) / 5.0 * (W + PERSON[0])), 0


def _person(img: np.ndarray, t: float) -> None:
    at = _person_box(t)
    if at is not None:
        x = max(0, at[0])
        img[0:PERSON[1], x:max(0, at[0] + PERSON[0])] = 235  # a white shirt


def test_a_person_crossing_the_clocks_band_is_found_and_not_taken_for_text() -> None:
    finder = OverlayFinder()
    results = _run(_scene(14.0, extra=_person), finder)
    inside = [r for r in results if 4.3 <= r.ts < 8.7]  # wholly in view
    hits = 0
    for r in inside:
        at = _person_box(r.ts)
        assert at is not None
        x0, x1 = max(0, at[0]), min(W, at[0] + PERSON[0])
        truth = (x0 / W, 0.0, (x1 - x0) / W, PERSON[1] / H)
        hits += any(iou(truth, b.box) >= 0.2 for b in r.blobs) and r.motion
    assert hits >= 0.9 * len(inside), (hits, len(inside))
    # the shirt passed once: still only the clock is held
    boxes = [(b.x, b.y, b.w, b.h) for b in finder.boxes]
    assert len(boxes) == 1 and _covers(boxes[0], CLOCK_BOX), boxes
    assert not any(r.motion for r in results if r.ts >= 10.5)  # and it ticks on unseen


def test_an_ir_switch_does_not_lose_the_overlay() -> None:
    finder = OverlayFinder()
    seen: list[tuple[float, int]] = []
    rule = FrameAnalysis(MotionDetector(MotionConfig(), width=160), FPS, lambda f: f,
                         overlay=finder)
    # night at level 40, the IR illuminator at 5 s: the picture turns bright and grey
    for img, t in _scene(32.0, level=lambda t: 40.0 if t < 5.0 else 130.0):
        rule.frame(img, t)
        seen.append((t, len(finder.boxes)))
    assert finder.checks >= 3  # re-checked after the switch (every 10 s)
    lost = [t for t, n in seen if t >= 1.2 and n != 1]
    assert lost == [], lost
    assert _covers((finder.boxes[0].x, finder.boxes[0].y, finder.boxes[0].w,
                    finder.boxes[0].h), CLOCK_BOX)


def test_scenery_is_no_overlay() -> None:
    # a lamp's bright pool, a sharp white sign on a dark wall, no clock: nothing found
    def scenery(img: np.ndarray, t: float) -> None:
        cv2.circle(img, (500, 60), 25, 250, -1)
        cv2.rectangle(img, (100, 20), (180, 50), 240, -1)
        cv2.rectangle(img, (96, 16), (184, 54), 10, 2)

    finder = OverlayFinder()
    _run(_scene(12.0, clock=False, extra=scenery), finder)
    assert finder.boxes == ()


def test_find_lines_keeps_text_shaped_lines_near_an_edge_only() -> None:
    text = np.zeros((H, W), np.uint8)
    _clock(text, 0.0)
    _clock(text, 0.0, at=(200, 200))  # the same line in the middle of the picture
    found = find_lines(text >= 200, (H, W))
    assert len(found) == 1 and found[0][1] < H * 0.25, found


@pytest.mark.parametrize(("mode", "held"), [("auto", True), ("off", False)])
def test_the_camera_key_turns_it_on_and_off(mode: str, held: bool) -> None:
    cfg = CameraConfig(id="gate", url="rtsp://127.0.0.1/x", overlay=mode)
    analysis = camera_analysis(cfg, lambda f: f, None)
    assert (analysis.overlay is not None) is held
    # off unless asked for: on pictures without an overlay it can hold text-like scenery
    assert CameraConfig(id="gate", url="rtsp://127.0.0.1/x").overlay == "off"


def test_lettering_that_passes_once_is_not_held() -> None:
    # a lorry with its name painted on (white letters, dark outline: text-like) drives along
    # the top band once, from 3 s to 8 s: seen moving, never taken for the camera's overlay
    def lorry(img: np.ndarray, t: float) -> None:
        if 3.0 <= t < 8.0:
            x = int(-300 + (t - 3.0) / 5.0 * (W + 300))
            cv2.rectangle(img, (x, 45), (x + 300, 85), 90, -1)
            _clock_like(img, "XE TAI HOA BINH", (x + 10, 75))

    finder = OverlayFinder()
    results = _run(_scene(14.0, extra=lorry), finder)
    assert sum(r.motion for r in results if 3.5 <= r.ts < 7.5) >= 35
    boxes = [(b.x, b.y, b.w, b.h) for b in finder.boxes]
    assert len(boxes) == 1 and _covers(boxes[0], CLOCK_BOX), boxes


def _clock_like(img: np.ndarray, text: str, at: tuple[int, int]) -> None:
    cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.8, 16, 4, cv2.LINE_AA)
    cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.8, 235, 2, cv2.LINE_AA)


def test_bright_sky_through_dark_branches_and_wires_is_no_overlay() -> None:
    # the top band: a white sky behind a tree's dark twigs and two sagging wires, a roof's
    # dark edge below it: bright next to dark everywhere, fixed in place, but no bright
    # stroke is outlined on both sides (the sky's patches are wider than a glyph's stroke)
    rng = np.random.default_rng(5)
    twigs = [(int(rng.integers(0, W)), int(rng.integers(0, 45)), int(rng.integers(-40, 40)),
              int(rng.integers(5, 30))) for _ in range(40)]

    def sky(img: np.ndarray, t: float) -> None:
        img[0:50] = 235
        for x, y, dx, dy in twigs:
            cv2.line(img, (x, y), (x + dx, y + dy), 20, 2)
        for y in (18, 32):
            cv2.line(img, (0, y), (W, y + 6), 15, 1)
        img[50:56] = 20  # the roof's edge

    finder = OverlayFinder()
    _run(_scene(12.0, clock=False, extra=sky), finder)
    assert finder.boxes == (), [b.describe() for b in finder.boxes]
