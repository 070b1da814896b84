"""The detector's rules mean the same at every analysis width (issue 11, detector round 7).

At ``analysis_width`` 240 the tuning set's near movers, foliage and far dog fell against 160
(docs/detection-quality.md, "Detector round 7"): not from noise (the picture is a strided view of
the frame, one camera pixel per analysis pixel at any width, and the noise measured per
frame was the same or lower at 240), but from rules that counted pixels: the drop test's
share of edge pixels and ``min_area`` on a blob joined by a 5 px square at both widths.
Each test here fails with the rule as it was.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.cameras.config import MotionConfig
from edge_agent.cameras.motion import MotionDetector
from edge_agent.cameras.motion_filters import DropTest, downscale, merge_side, slid_down

_GAUSS3 = np.array([0.25, 0.5, 0.25], np.float32)  # the detector's light blur
H, W = 720, 1280  # a commune camera's frame


def _street(rng: np.random.Generator) -> np.ndarray:
    grain = rng.normal(0, 1, (H // 8, W // 8)).astype(np.float32)
    return 60 + 12 * cv2.resize(grain, (W, H), interpolation=cv2.INTER_CUBIC)


def _drop_verdict(frame: np.ndarray, bg: np.ndarray, width: int) -> int:
    """``DropTest``'s verdict on the largest blob of ``frame`` against ``bg`` (both 720p),
    analysed ``width`` px wide the way the detector does: strided downscale, light blur,
    opening, the blob-joining dilation, labels at half resolution."""
    def small(img: np.ndarray) -> np.ndarray:
        grey = downscale(np.clip(img, 0, 255).astype(np.uint8), width)
        out: np.ndarray = cv2.sepFilter2D(grey, cv2.CV_32F, _GAUSS3, _GAUSS3)
        return out

    f, b = small(frame), small(bg)
    changed = (np.abs(f - b) > 15).astype(np.uint8) * 255
    k3 = np.ones((3, 3), np.uint8)
    core = cv2.dilate(cv2.erode(changed, k3), k3)
    joined = cv2.dilate(core, np.ones((merge_side(width),) * 2, np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(np.ascontiguousarray(joined[::2, ::2]))
    i = int(np.argmax(stats[1:, 4])) + 1
    test = DropTest()
    test.start(f, b)
    return test.looks_like_drop(labels, i, stats[i], float(labels.size))


def test_the_drop_test_judges_an_object_and_a_drop_alike_at_every_width() -> None:
    # A walker whose edge the camera softens a little (6 px of 1280) against a lens drop
    # (45 px). Judged per analysis pixel, the walker was a drop at 240 and 320 (his edge a
    # smaller share of his blob there) and no drop at 160; judged at the 160 px scale
    # (``at_reference_scale``) he is no drop at any width, and the drop still is one.
    rng = np.random.default_rng(7)
    bg = _street(rng)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    figure = (((xx - 400) / 50) ** 2 + ((yy - 400) / 150) ** 2 < 1).astype(np.float32)
    walker = bg + 110 * cv2.GaussianBlur(figure, (0, 0), 6)
    drop = bg + 90 * np.exp(-((xx - 900) ** 2 + (yy - 300) ** 2) / (2 * 45.0 ** 2))
    widths = (160, 240, 320)
    assert [_drop_verdict(walker, bg, w) for w in widths] == [0, 0, 0]
    assert [_drop_verdict(drop, bg, w) for w in widths] == [1, 1, 1]


def _small_mover(width: int, frames: int = 24) -> list[bool]:
    """A small dark thing (1.6 % x 4 % of the picture, a far person) crossing a 720p street
    from frame 4 on; motion per analysed frame at ``width``."""
    rng = np.random.default_rng(4)
    bg = _street(rng)
    det = MotionDetector(MotionConfig(), width=width)
    out = []
    for i in range(frames):
        img = bg.copy()
        if i >= 4:
            x, y = int((0.2 + 0.01 * (i - 4)) * W), H // 2
            img[y:y + int(0.04 * H), x:x + int(0.016 * W)] = 20
        frame = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
        out.append(det.analyse(frame, i / 10).motion)
    return out


def test_min_area_is_the_same_share_of_the_picture_at_240_as_at_160() -> None:
    # ``min_area`` is measured on the joined blob. The join was 5 px at 160 and at 240, a
    # smaller share of the wider picture, so this far person's blob fell under ``min_area``
    # at 240 (reported in 5 of 20 frames, 16 at 160); measured with the join's share at 160
    # (``area_joined_as_at_reference``) it is reported as at 160.
    at_160, at_240 = sum(_small_mover(160)), sum(_small_mover(240))
    assert at_160 >= 14
    assert at_240 >= at_160 - 2, (at_160, at_240)


def test_a_walker_coming_in_at_the_edge_does_not_slide_like_a_drop_at_240() -> None:
    # Detector round 8 (t-ir-mover at 240): a walker coming in at the left edge is seen a
    # frame sooner at 240, his head and shoulders first, then whole. His box's middle goes
    # down 4.5 % of the height and its width grows 1.5x: within what ``slid_down`` allows a
    # drop, so his track was vetoed as a drop running down the lens. His top rose; a drop's
    # top goes down with it. At 240 that tells them apart; at 160 the verdict is as it was.
    head = (0.0, 0.30, 0.04, 0.10)  # x, y, w, h: only his head and shoulders in the picture
    whole = (0.0, 0.29, 0.06, 0.21)  # then whole: top 1 % higher, middle 4.5 % lower
    assert slid_down(head, whole, 240) is False
    assert slid_down(head, whole, 320) is False
    assert slid_down(head, whole, 160) is True  # (the rule does not run at 160)
    drop, later = (0.50, 0.20, 0.03, 0.05), (0.505, 0.26, 0.035, 0.06)  # slid 6.5 % down
    assert all(slid_down(drop, later, w) for w in (160, 240, 320))


def _coming_in(width: int, glow_car: bool, frames: int = 20) -> list[bool]:
    """Motion per analysed frame at ``width``: from frame 4 on, either a car seen through its
    own lamp's glow (soft-edged like a lens drop, 25 % x 19 % of the picture, its light
    replacing the street's texture) coming in at the left side 3 % of the width a frame, or a
    lens drop at the left side that spreads for 0.7 s and goes (the street seen through it)."""
    rng = np.random.default_rng(5)
    bg = _street(rng) - 20
    det = MotionDetector(MotionConfig(), width=width)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = []
    for i in range(frames):
        img = bg.copy()
        if glow_car and i >= 4:
            right = int((0.03 + 0.03 * (i - 4)) * W)
            shape = np.zeros((H, W), np.float32)
            shape[int(0.66 * H):int(0.85 * H), max(0, right - W // 4):right] = 1
            a = cv2.GaussianBlur(shape, (0, 0), 20)
            img = img * (1 - a) + 200 * a
        elif not glow_car and 4 <= i < 11:
            r = 25.0 + 8 * (i - 4)
            img = img + 90 * np.exp(-(xx ** 2 + (yy - 400) ** 2) / (2 * r ** 2))
        frame = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
        out.append(det.analyse(frame, i / 10).motion)
    return out


def test_a_soft_edged_car_coming_in_at_the_side_is_no_lens_drop_at_240() -> None:
    # Detector round 8 (t-car-glow, t-headlights, t-car-beam at 240): the car, soft-edged by
    # its glow, is judged a lens drop and must last a drop's 8 frames (at 160 its run went on
    # from blobs of its beam). A lens drop appears where it is; something that keeps a side of
    # its box on the picture's edge, grows inward and replaces the street's texture came into
    # view (``came_in``): at 240 it needs only ``persistence_frames``. Without: first reported
    # 7 frames after it came in, as at 160 (where the rule does not run).
    at_160, at_240 = _coming_in(160, True), _coming_in(240, True)
    assert at_240.index(True) <= 7, at_240  # 2-3 frames after it came in at frame 4
    assert at_160.index(True) >= 11, at_160  # 160 as before: a drop's wait
    assert sum(at_240) >= 12
    assert not any(_coming_in(240, False))  # the spreading lens drop at the side still waits
