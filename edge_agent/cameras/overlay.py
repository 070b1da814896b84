"""The camera's burnt-in on-screen display (OSD): found by itself and held still.

Almost every commune camera burns a date/time clock (and often its name) into the picture:
white strokes with a thin dark outline, at a fixed place near the top or bottom edge, the
seconds changing every second. Each tick differs from the background, and a clock's digits
are as large as a far walker: they make false events, worst at night in IR, where the rest
of the picture is flat. Users of other NVRs are told to draw a mask by hand; a technician on
a pole forgets. So, with no I/O and on stream times only:

- learning: every ``sample_s`` of stream time (faster during the first seconds) a pixel is
  *text-like* when it is very bright and a very dark pixel lies within the outline's reach:
  white text on its dark outline. Scenery rarely is both at once, and a lamp's core is far
  from anything dark (its glow is soft). The OSD is drawn after the camera's ISP, so it stays
  white through an IR switch or a lamp going on, where the scene's pixels change.
- grouping: pixels text-like in at least ``persist`` of the samples are joined along a line
  (a closing about one character wide) into boxes, kept only when shaped like a text line
  (wide, short, several characters, strokes filling part of the box); only the top and
  bottom fifths of the picture are looked at (where cameras put it; 40 % of the cost). A
  white shirt crossing the band once is in too few samples, and a person standing there is
  not a line of characters.
- holding: from then on each box, a little padded, shows in the analysis picture what it
  showed when it was found (the text as the detector's background already has it: painting
  it flat instead would be a change as large as the text), shifted by how much the median of
  a thin ring around it has changed since, so a ticking digit never differs while the box
  still follows the scene's light (an IR switch). A mover crossing the band is seen all
  around the box.
- re-checking: the counts restart every ``recheck_s``; boxes are recomputed over the last
  two such blocks, and a box not found again is dropped only after two misses (a camera's
  OSD that moves is followed within ~20 s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in picture pixels

BRIGHT = 190  # a text stroke (OSD white is ~235 in the video range, 255 stretched)
DARK = 90  # its outline
EDGE_BAND = 0.2  # boxes lie within this share of the height from the top or bottom


def edge_bands(height: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The rows looked at (top band, bottom band): the rest is never an OSD box, and not
    looking at it keeps the cost down (40 % of the picture)."""
    band = int(np.ceil(EDGE_BAND * height))
    return (0, band), (height - band, height)


@dataclass(slots=True)
class _Held:
    box: Box
    patch: np.ndarray  # int16: the box's pixels when it was found
    ring: int  # the ring's median then
    misses: int = 0  # re-checks in a row that did not find it again


@dataclass(frozen=True, slots=True)
class OverlayBox:
    x: float  # relative to the picture (0..1)
    y: float
    w: float
    h: float

    def describe(self) -> str:
        cx, cy = self.x + self.w / 2, self.y + self.h / 2
        row = "top" if cy < 0.5 else "bottom"
        col = "left" if cx < 0.35 else "right" if cx > 0.65 else "centre"
        return f"{row}-{col} ({self.x:.2f},{self.y:.2f} {self.w:.2f}x{self.h:.2f})"


class OverlayFinder:
    def __init__(self, first_s: float = 1.0, sample_s: float = 1.0, fast_sample_s: float = 0.2,
                 recheck_s: float = 10.0, persist: float = 0.4,
                 timer: Callable[[], float] | None = None) -> None:
        """``timer``: a CPU clock (e.g. ``time.process_time``) to add up ``busy_s``, the time
        spent here, beside the detector's; None: not measured."""
        self._timer = timer
        self.busy_s = 0.0
        self._first_s, self._sample_s, self._fast_s = first_s, sample_s, fast_sample_s
        self._recheck_s, self._persist = recheck_s, persist
        self._shape: tuple[int, int] | None = None
        self._count: np.ndarray | None = None  # text-like samples per pixel, this block
        self._prev: np.ndarray | None = None  # ... the block before
        self._samples = self._prev_samples = 0
        self._started = self._next_sample = self._next_check = -1.0
        self._boxes: list[_Held] = []
        self._found: list[Box] = []  # boxes the last re-check found, to snap on the next frame
        # The first picture sampled: what the detector's background was seeded with, so the
        # first boxes are snapped from it (a snapshot of a later tick would differ from it).
        self._ref: np.ndarray | None = None
        self.checks = 0

    @property
    def boxes(self) -> tuple[OverlayBox, ...]:
        """Where the overlay was found, relative to the picture (empty: none, or not yet)."""
        if self._shape is None:
            return ()
        h, w = self._shape
        return tuple(OverlayBox(round(x / w, 3), round(y / h, 3), round(bw / w, 3),
                                round(bh / h, 3)) for x, y, bw, bh in (b.box for b in self._boxes))

    def apply(self, picture: np.ndarray, ts: float, learn: bool = True) -> np.ndarray:
        """The analysis picture (grey, uint8) at stream time ``ts`` with the overlay held
        still; ``learn`` off for frames analysed again (a look-back), out of time order."""
        if picture.ndim != 2:
            return picture
        if self._timer is None:
            return self._apply(picture, ts, learn)
        began = self._timer()
        try:
            return self._apply(picture, ts, learn)
        finally:
            self.busy_s += self._timer() - began

    def _apply(self, picture: np.ndarray, ts: float, learn: bool) -> np.ndarray:
        if self._shape != picture.shape or ts < self._started:  # new stream, or looped
            self._reset(picture.shape, ts)
        if learn and ts >= self._next_sample:
            self._learn(picture, ts)
        if self._found:
            self._hold(picture if self._ref is None else self._ref)
            self._ref = None
        if not self._boxes:
            return picture
        shifts = [_ring_median(picture, *held.box) - held.ring for held in self._boxes]
        # A picture of its own (the agent's luma stretched, a decoder's array) is painted in
        # place: a copy of a 720p picture costs as much as the rest of this. A view of the
        # decoder's frame (full-range video) is copied first.
        out = picture if picture.flags.owndata and picture.flags.writeable else picture.copy()
        for held, shift in zip(self._boxes, shifts, strict=True):
            x, y, w, h = held.box
            out[y:y + h, x:x + w] = np.clip(held.patch + shift, 0, 255)
        return out

    def _hold(self, picture: np.ndarray) -> None:
        """The boxes the last re-check found: one held already (overlapping) stays as it is
        (a new snapshot would differ by a tick); a new one is snapped from ``picture``."""
        kept: list[_Held] = []
        for box in self._found:
            old = next((b for b in self._boxes if _overlap(box, b.box)), None)
            if old is not None:
                old.misses = 0
                if old not in kept:
                    kept.append(old)
                continue
            x, y, w, h = box
            kept.append(_Held(box, picture[y:y + h, x:x + w].astype(np.int16),
                              _ring_median(picture, x, y, w, h)))
        for old in self._boxes:  # not found again: kept once more
            if old not in kept and old.misses < 1:
                old.misses += 1
                kept.append(old)
        self._boxes, self._found = kept, []

    def _reset(self, shape: tuple[int, ...], ts: float) -> None:
        self._shape = (shape[0], shape[1])
        self._count = np.zeros(self._shape, np.uint16)
        self._prev = None
        self._samples = self._prev_samples = 0
        self._started, self._next_sample = ts, ts
        self._next_check = ts + self._first_s
        self._boxes, self._found = [], []
        self._ref = None

    def _learn(self, picture: np.ndarray, ts: float) -> None:
        assert self._count is not None
        fast = ts - self._started < self._recheck_s and not self._boxes
        self._next_sample = ts + (self._fast_s if fast else self._sample_s) - 1e-3
        reach = 2 if picture.shape[0] <= 480 else 3
        kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
        for y0, y1 in edge_bands(picture.shape[0]):
            band = picture[y0:y1]
            self._count[y0:y1] += (band >= BRIGHT) & (cv2.erode(band, kernel) <= DARK)
        self._samples += 1
        if self._ref is None and not self._boxes:
            self._ref = picture.copy()
        if ts >= self._next_check and self._samples + self._prev_samples >= 2:
            # (key frames only while an adaptive camera is idle: the second is 1-4 s in)
            self._check()
            self._next_check = ts + self._recheck_s

    def _check(self) -> None:
        assert self._count is not None and self._shape is not None
        total = self._count if self._prev is None else self._count + self._prev
        samples = self._samples + self._prev_samples
        self._found = find_lines(total >= max(2.0, self._persist * samples), self._shape)
        if not self._found:  # nothing found: every held box misses once
            self._found = []
            for old in self._boxes:
                old.misses += 1
            self._boxes = [b for b in self._boxes if b.misses <= 1]
        self.checks += 1
        if self._samples >= 5:  # a block long enough to be the next one's "before"
            self._prev, self._prev_samples = self._count, self._samples
            self._count = np.zeros(self._shape, np.uint16)
            self._samples = 0


def find_lines(text: np.ndarray, shape: tuple[int, int]) -> list[Box]:
    """Boxes (padded, clipped to the picture) around the lines of characters in the
    boolean map ``text`` of persistently text-like pixels, in the top and bottom bands."""
    out: list[Box] = []
    for y0, y1 in edge_bands(shape[0]):
        out += _lines_in(text[y0:y1].astype(np.uint8), y0, shape)
    return _merge_lines(out)


def _lines_in(mask: np.ndarray, top: int, shape: tuple[int, int]) -> list[Box]:
    """``find_lines`` in one band (``mask``: its rows, from row ``top`` of the picture)."""
    h_pic, w_pic = shape
    if not mask.any():
        return []
    char_w = max(3, h_pic // 40)  # about one character's gap at the usual OSD sizes
    joined = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 2 * char_w + 1), np.uint8))
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    out: list[Box] = []
    for i in range(1, n):
        x, y, w, h = (int(v) for v in stats[i][:4])
        if not (4 <= h <= h_pic // 8 and w >= 2.5 * h):
            continue
        strokes = mask[y:y + h, x:x + w]
        fill = float(strokes.sum()) / (w * h)
        chars = cv2.connectedComponents(strokes, connectivity=8)[0] - 1
        if not (0.08 <= fill <= 0.7 and chars >= 3):
            continue
        pad_y, pad_x = max(2, h // 4), max(3, h // 2)  # AA edges and codec ringing; a tick
        y += top
        x0, y0 = max(0, x - pad_x), max(0, y - pad_y)
        x1, y1 = min(w_pic, x + w + pad_x), min(h_pic, y + h + pad_y)
        out.append((x0, y0, x1 - x0, y1 - y0))
    return out


def _merge_lines(boxes: list[Box]) -> list[Box]:
    """Pieces of one line (a wide space between the date and the time) as one box."""
    out: list[Box] = []
    for box in sorted(boxes):
        if out:
            x, y, w, h = out[-1]
            bx, by, bw, bh = box
            same_row = min(y + h, by + bh) - max(y, by) >= 0.5 * min(h, bh)
            if same_row and bx - (x + w) <= 1.5 * max(h, bh):
                x0, y0 = min(x, bx), min(y, by)
                out[-1] = (x0, y0, max(x + w, bx + bw) - x0, max(y + h, by + bh) - y0)
                continue
        out.append(box)
    return out


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _ring_median(picture: np.ndarray, x: int, y: int, w: int, h: int, ring: int = 2) -> int:
    """The median grey of a ``ring``-pixel band around the box (inside the picture)."""
    hp, wp = picture.shape
    x0, y0 = max(0, x - ring), max(0, y - ring)
    x1, y1 = min(wp, x + w + ring), min(hp, y + h + ring)
    parts = [picture[y0:y, x0:x1].ravel(), picture[y + h:y1, x0:x1].ravel(),
             picture[y:y + h, x0:x].ravel(), picture[y:y + h, x + w:x1].ravel()]
    values = np.concatenate(parts)
    return int(np.median(values)) if values.size else int(np.median(picture[y:y + h, x:x + w]))
