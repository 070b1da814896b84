"""Tests the motion detector applies to changed pixels and blobs (pure numpy/OpenCV).

- ``DropTest``: a drop of rain on or near the lens is out of focus: a blob whose change falls
  off gently from its middle, with no sharp edge; an object in focus has edges (the change's
  steepest slope is a large part of its height). Measured on the street tuning clips
  (``tests/infra/street_sets.py``, style A): the 95th percentile of |gradient| over the 95th
  percentile of |change| was 0.28 or more for 95 % of the blobs on a mover and 0.25 or less
  for 95 % of the others (nearly all lens drops); the cut is between the two.
- (``LitTest``, light falling on a surface, is in ``motion_light``.)
- ``Evidence``: the recent frames' average, for faint, slow movers in noise.
- ``robust_noise``, ``blob_box``, box helpers, ``downscale``, ``polygon_mask``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h relative to the frame
Polygon = Sequence[tuple[float, float]]

DROP_MIN_AREA = 0.004  # of the picture (the default min_area): smaller blobs are not judged
DROP_SHARPNESS = 0.265


class DropTest:
    """Per analysed frame: ``start`` with the frame and background, then ask per blob."""

    def __init__(self) -> None:
        self._norm: np.ndarray | None = None
        self._bg: np.ndarray | None = None

    def start(self, norm: np.ndarray, bg: np.ndarray) -> None:
        self._norm, self._bg = norm, bg

    def looks_like_drop(self, labels: np.ndarray, i: int, stat: np.ndarray,
                        frame_area: float) -> int:
        """Is blob ``i`` of the half-resolution ``labels`` a large, blurred blob? 1 if it is
        brighter than the background (a drop), -1 if darker (a drop that the background had
        learnt and that has gone: its ghost), 0 if it is no drop."""
        crop = self._crop(labels, i, stat, frame_area)
        if crop is None:
            return 0
        d, px = at_reference_scale(cv2.subtract(crop[0], crop[1]), crop[2],
                                   self._norm.shape[1] if self._norm is not None else 0)
        if not px.any():
            return 0
        signed = d[px]
        gx = cv2.Sobel(d, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
        gy = cv2.Sobel(d, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
        grad = cv2.magnitude(gx, gy)[px]
        if _p95(grad) >= DROP_SHARPNESS * max(_p95(np.abs(signed)), 1e-3):
            return 0
        return 1 if float(signed.mean()) > 0 else -1

    def brighter(self, labels: np.ndarray, i: int, stat: np.ndarray, frame_area: float
                 ) -> bool:
        """Is blob ``i`` brighter than the background on the whole (a drop's lift)?"""
        crop = self._crop(labels, i, stat, frame_area)
        return crop is not None and float(cv2.mean(crop[0] - crop[1],
                                                     mask=crop[2].view(np.uint8))[0]) > 0

    def texture_kept(self, labels: np.ndarray, i: int, stat: np.ndarray, frame_area: float
                     ) -> float:
        """How much of the background's fine structure blob ``i`` kept: the normalised
        correlation of the high-passed frame and background over all its pixels (light on
        a surface keeps it, an object replaces it: near 0). Over a whole blob, hundreds of
        pixels, it holds in a dark, noisy street where small windows are lost in noise.
        0 for a blob too small to judge."""
        crop = self._crop(labels, i, stat, frame_area)
        if crop is None:
            return 0.0
        norm, bg, px = crop
        hp_f = (norm - cv2.blur(norm, (5, 5)))[px]
        hp_b = (bg - cv2.blur(bg, (5, 5)))[px]
        den = float(np.sqrt(np.dot(hp_f, hp_f) * np.dot(hp_b, hp_b)))
        return float(np.dot(hp_f, hp_b)) / den if den > 1e-6 else 0.0

    def _crop(self, labels: np.ndarray, i: int, stat: np.ndarray, frame_area: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Blob ``i``'s crop of the frame and background at full analysis resolution (one
        pixel wider for a gradient) and its pixels there; None for a small blob."""
        x, y, bw, bh, area = (int(v) for v in stat)
        if area < DROP_MIN_AREA * frame_area or self._norm is None or self._bg is None:
            return None
        full_h, full_w = self._norm.shape
        y0, y1 = max(0, 2 * y - 1), min(full_h, 2 * (y + bh) + 1)
        x0, x1 = max(0, 2 * x - 1), min(full_w, 2 * (x + bw) + 1)
        px = np.zeros((y1 - y0, x1 - x0), bool)
        inside = np.repeat(np.repeat(labels[y:y + bh, x:x + bw] == i, 2, 0), 2, 1)
        h, w = min(inside.shape[0], y1 - 2 * y), min(inside.shape[1], x1 - 2 * x)
        px[2 * y - y0:2 * y - y0 + h, 2 * x - x0:2 * x - x0 + w] = inside[:h, :w]
        if not px.any():
            return None
        return self._norm[y0:y1, x0:x1], self._bg[y0:y1, x0:x1], px


def at_reference_scale(d: np.ndarray, px: np.ndarray, width: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """A blob's change ``d`` and its pixels ``px`` (a crop of a picture ``width`` wide) as
    they would be in a picture ``REF_WIDTH`` wide (area-averaged; as they are when it is no
    wider). The drop test's sharpness is the 95th percentile of the slope over the blob's
    pixels: an object's edge is a band about as many pixels wide at any width, so in a wider
    picture it is a smaller share of the blob and the percentile falls off it (a walker at
    240 px was judged a drop); at the reference scale the share is what it was tuned on."""
    scale = REF_WIDTH / width if width > REF_WIDTH else 1.0
    if scale == 1.0:
        return d, px
    size = (max(3, round(d.shape[1] * scale)), max(3, round(d.shape[0] * scale)))
    small: np.ndarray = cv2.resize(d, size, interpolation=cv2.INTER_AREA)
    inside = cv2.resize(px.view(np.uint8) * np.uint8(255), size, interpolation=cv2.INTER_AREA)
    return small, inside > 127


def _p95(values: np.ndarray) -> float:
    k = (values.size * 95) // 100
    return float(np.partition(values, min(k, values.size - 1))[min(k, values.size - 1)])


# Median of |noise| over mean of |noise| for Gaussian noise (0.674 / 0.798): the robust
# estimate stays on the scale the thresholds were set with.
_MEDIAN_TO_MEAN = 1.184


def robust_noise(diff: np.ndarray, valid: np.ndarray | None, step: int = 4) -> float:
    """The noise level (on the scale of the mean absolute difference) from the median of
    every ``step``-th pixel's difference: robust to changes over up to half the picture."""
    sub = diff[::step, ::step]
    values = sub[valid] if valid is not None else sub.ravel()
    if values.size == 0:
        return 0.0
    k = values.size // 2
    return float(np.partition(values, k)[k]) * _MEDIAN_TO_MEAN


_ACC_RATE = 0.3  # the recent frames' average: ~3 frames, 0.42 x one frame's noise
_LAG_RATE = 0.15  # the same average seen ~7 frames later, for "has it moved?"
_ACC_FLOOR = 0.5  # of the detector's threshold floor
_ACC_MIN_PX = 4  # fewer changed pixels in the average (half size) cannot make a blob


class Evidence:
    """Evidence that adds up over frames, for a faint, slow mover in a noisy picture.

    The average of the last few frames has far less noise than one frame; a mover that stays
    about in place for those frames stands out in it against the background while the noise
    averages away. Its pixels must also differ in this frame the same way, so a fast mover's
    trail is not taken. A lagging copy of the average tells a slow mover (it differs) from a
    change that stays put. All at half the analysis size (2x2 averages: less noise again, a
    quarter of the cost).
    """

    def __init__(self) -> None:
        self._acc = np.zeros((1, 1), np.float32)
        self._lag = np.zeros((1, 1), np.float32)
        self._now = np.zeros((1, 1), np.float32)

    def reset(self, frame: np.ndarray) -> None:
        self._acc = _half(frame)
        self._lag, self._now = self._acc.copy(), self._acc.copy()

    def update(self, norm: np.ndarray) -> None:
        self._now = _half(norm)
        cv2.accumulateWeighted(self._now, self._acc, _ACC_RATE)
        cv2.accumulateWeighted(self._acc, self._lag, _LAG_RATE)

    def slow(self, bg: np.ndarray, floor: float, thr: float, noise_factor: float,
             valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
        """(changed, moved) uint8 masks at ``bg``'s size from the average, or None when it
        would not see more than one frame does (a clean picture). ``valid``: the unmasked
        pixels of every 4th row and column of ``bg``."""
        bg_h = _half(bg)
        dacc = cv2.absdiff(self._acc, bg_h)
        thr_acc = max(floor * _ACC_FLOOR, noise_factor * robust_noise(dacc, valid, 2))
        if thr_acc >= 0.9 * thr:
            return None
        changed = above(dacc, thr_acc)
        if cv2.countNonZero(changed) < _ACC_MIN_PX:
            return None  # nothing faint anywhere (the common case): stop here
        # The same sign of change in the average and in this frame, and enough of it here.
        agree = above(cv2.multiply(cv2.subtract(self._acc, bg_h),
                                   cv2.subtract(self._now, bg_h)), thr_acc * thr_acc)
        changed = cv2.bitwise_and(changed, agree)
        moved = above(cv2.absdiff(self._acc, self._lag), thr_acc)
        size = (bg.shape[1], bg.shape[0])
        return (cv2.resize(changed, size, interpolation=cv2.INTER_NEAREST),
                cv2.resize(moved, size, interpolation=cv2.INTER_NEAREST))


def _half(img: np.ndarray) -> np.ndarray:
    out: np.ndarray = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2),
                                 interpolation=cv2.INTER_AREA)
    return out


# A reported box is that of the blob's changed pixels; a faint blob's (its mean change under
# _FAINT x the threshold) or a thin one's gets a margin of _FAINT_MARGIN pixels at the analysis
# size: the faint edges of a low-contrast mover fall under the threshold.
_FAINT = 2.5
_FAINT_MARGIN = 2
_THIN = 6  # pixels (both at 160 px wide: ``px`` scales them)


def blob_box(labels: np.ndarray, i: int, stat: np.ndarray, core: np.ndarray,
             diff: np.ndarray, thr: float) -> Box:
    """Blob ``i``'s relative box: ``labels`` are at half the resolution of ``core`` (the
    changed pixels before the merge dilation) and ``diff``; the box is that of its changed
    pixels at full resolution, without the margin the merge dilation added."""
    x, y, bw, bh = (int(v) for v in stat[:4])
    fh, fw = core.shape
    rows, cols = slice(2 * y, min(fh, 2 * (y + bh))), slice(2 * x, min(fw, 2 * (x + bw)))
    crop = core[rows, cols]
    inside = cv2.resize((labels[y:y + bh, x:x + bw] == i).view(np.uint8),
                        (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_NEAREST)
    own = cv2.bitwise_and(crop, crop, mask=inside)
    bx, by, bbw, bbh = cv2.boundingRect(own)
    if bbw == 0:
        h, w = labels.shape
        return x / w, y / h, bw / w, bh / h
    faint = cv2.mean(diff[rows, cols], mask=own)[0] < _FAINT * thr
    margin = _FAINT_MARGIN if faint or min(bbw, bbh) < _THIN else 0
    x0, y0 = max(0, 2 * x + bx - margin), max(0, 2 * y + by - margin)
    x1, y1 = min(fw, 2 * x + bx + bbw + margin), min(fh, 2 * y + by + bbh + margin)
    return x0 / fw, y0 / fh, (x1 - x0) / fw, (y1 - y0) / fh


def above(img: np.ndarray, thr: float, out: np.ndarray | None = None) -> np.ndarray:
    """255 where ``img > thr`` (uint8), the fastest way OpenCV offers."""
    res: np.ndarray = cv2.compare(img, thr, cv2.CMP_GT, dst=out)  # type: ignore[call-overload]
    return res


# A drop running down the lens slides straight down: since its blob was first seen (followed
# from each frame's blob to the next one it overlaps most) its middle went down by at least
# ``SLIDE_MIN`` of the height, sideways by at most ``SLIDE_SIDEWAYS`` of that (plus
# ``SLIDE_SLACK``: a drop's blob breaks up and joins again), and its width stayed within
# ``SLIDE_WIDTH``. A person or a car crosses the picture (a walker's bobbing does not add up),
# or grows as it comes closer.
SLIDE_MIN = 0.04
SLIDE_SIDEWAYS = 0.25
SLIDE_SLACK = 0.01
SLIDE_WIDTH = 1.6


def slid_down(start: Box, now: Box) -> bool:
    """Has a blob gone from ``start`` to ``now`` the way a drop runs down the lens?"""
    dx = abs(now[0] + now[2] / 2 - start[0] - start[2] / 2)
    dy = now[1] + now[3] / 2 - start[1] - start[3] / 2
    widths = max(now[2], 1e-3) / max(start[2], 1e-3)
    return dy >= SLIDE_MIN and dx <= SLIDE_SIDEWAYS * dy + SLIDE_SLACK and \
        1 / SLIDE_WIDTH <= widths <= SLIDE_WIDTH


def iou_of(a: Box, b: Box) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def shift(a: Box, b: Box) -> float:
    """How far the centre moved from box ``a`` to box ``b`` (relative to the picture)."""
    return max(abs(a[0] + a[2] / 2 - b[0] - b[2] / 2), abs(a[1] + a[3] / 2 - b[1] - b[3] / 2))


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and \
        b[1] < a[1] + a[3]


def near(a: Box, b: Box) -> bool:
    """Do two boxes overlap once grown by their own size (a fast object still matches)?"""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    mx, my = max(aw, bw, 0.05), max(ah, bh, 0.05)
    return ax - mx < bx + bw and bx - mx < ax + aw and ay - my < by + bh and by - my < ay + ah


# The pixel-sized constants of the analysis (margins, windows, cells) were tuned on pictures
# 160 px wide and stand for a share of the picture: a wider analysis picture scales them.
REF_WIDTH = 160


def px(n: int, width: int) -> int:
    """``n`` pixels of a 160 px picture in a picture ``width`` wide: never fewer than ``n``,
    so a picture 160 px wide or narrower is analysed exactly as before the constants scaled."""
    return max(n, round(n * width / REF_WIDTH))


def odd_px(n: int, width: int) -> int:
    """``px`` for a kernel side ``n`` (odd): kept odd, so the kernel does not shift."""
    return px(n, width) | 1


# ``min_area`` is a share of the picture measured on the joined blob (the changed pixels grown
# by the blob-joining dilation, ``MERGE_FRACTION`` of the width rounded up to an odd side):
# 5 px at 160, 3.1 % of the width, but 5 px at 240 too (2.1 %), so in a wider picture the
# same far dog made a smaller blob, under ``min_area`` in every other frame. A blob under it
# in a picture wider than 160 px is measured again with its changed pixels grown by the
# join's share at 160 (``reference_join``, 7 px at 240): ``min_area`` then means what it did
# at 160. (Joining by that share itself, tried first, also joined a walker to the shadows
# and the lamp's light around him: t-wind-walker 0.40 -> 0.20 at 240.)
MERGE_FRACTION = 0.022


def merge_side(width: int) -> int:
    """The blob-joining kernel's side (odd, so the blob does not shift) at ``width``."""
    return max(3, round(MERGE_FRACTION * width) | 1)


def reference_join(width: int) -> int:
    """The join's side at 160 px, as the same share of a picture ``width`` wide (odd)."""
    ref = merge_side(REF_WIDTH)
    return max(merge_side(width), 2 * round((ref * width / REF_WIDTH - 1) / 2) + 1)


def area_joined_as_at_reference(labels: np.ndarray, i: int, stat: np.ndarray,
                                core: np.ndarray) -> float:
    """Half-resolution blob ``i``'s share of the picture once its changed pixels (``core``,
    full analysis size) are joined by ``reference_join``'s square."""
    fh, fw = core.shape
    side = reference_join(fw)
    x, y, bw, bh = (int(v) for v in stat[:4])
    rows, cols = slice(2 * y, min(fh, 2 * (y + bh))), slice(2 * x, min(fw, 2 * (x + bw)))
    crop = core[rows, cols]
    inside = cv2.resize((labels[y:y + bh, x:x + bw] == i).view(np.uint8),
                        (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_NEAREST)
    pad = side // 2
    own = cv2.copyMakeBorder(cv2.bitwise_and(crop, crop, mask=inside), pad, pad, pad, pad,
                             cv2.BORDER_CONSTANT, value=0)
    grown = cv2.dilate(own, np.ones((side, side), np.uint8))
    return cv2.countNonZero(grown) / float(fh * fw)


def downscale(grey: np.ndarray, width: int) -> np.ndarray:
    """A small grey frame about ``width`` pixels wide, cheaply.

    A strided view (every 2nd/4th pixel) costs one pass over the rows it keeps; a full-frame
    area resize of 720p costs several times more, for no better detection once the small
    frame is blurred (``process`` does). Non-integer ratios get a linear resize of the view.
    """
    h, w = grey.shape[:2]
    if w <= width:
        return grey
    step = max(1, w // width)
    view = grey[::step, ::step]
    if view.shape[1] == width:
        return np.ascontiguousarray(view)
    height = max(2, round(h * width / w))
    return cv2.resize(view, (width, height), interpolation=cv2.INTER_LINEAR)


def zones_in(zone_masks: list[tuple[str, np.ndarray]], box: Box) -> tuple[str, ...]:
    """The names of the zones (name, uint8 mask) whose mask a relative box overlaps."""
    out = []
    for name, zm in zone_masks:
        h, w = zm.shape
        x0, y0 = int(box[0] * w), int(box[1] * h)
        x1, y1 = max(x0 + 1, round((box[0] + box[2]) * w)), \
            max(y0 + 1, round((box[1] + box[3]) * h))
        if np.any(zm[y0:y1, x0:x1]):
            out.append(name)
    return tuple(out)


def polygon_mask(polygons: Sequence[Polygon], width: int, height: int) -> np.ndarray:
    """A uint8 mask (255 inside any polygon) from relative-coordinate polygons."""
    mask = np.zeros((height, width), np.uint8)
    for poly in polygons:
        pts = np.array([[round(x * (width - 1)), round(y * (height - 1))] for x, y in poly],
                       np.int32)
        cv2.fillPoly(mask, [pts], 255)
    return mask
