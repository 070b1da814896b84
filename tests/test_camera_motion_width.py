"""The detector's rules mean the same at every analysis width (issue 11, detector round 7).

At ``analysis_width`` 240 the tuning set's near movers, foliage and far dog fell against 160
(docs/cameras.md, "Detector round 7"): not from noise (the picture is a strided view of
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
from edge_agent.cameras.motion_filters import DropTest, downscale, merge_side

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
