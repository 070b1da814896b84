"""Tests the motion detector applies to blobs and changed pixels (pure numpy/OpenCV).

``DropTest``: a drop of rain on or near the lens is out of focus: a large blob, brighter than
the background, whose brightness falls off gently from its middle, so its change has no sharp
edge. An object in focus has edges: the change's steepest slope is a large part of its
height. Measured on the tuning clips (``tests/infra/street_sets.py``, style A): the 95th
percentile of |gradient| over the 95th percentile of |change| was 0.28 or more for 95 % of the
blobs on a mover, and 0.25 or less for 95 % of the others (nearly all lens drops).
"""

from __future__ import annotations

import cv2
import numpy as np

_DROP_MIN_AREA = 0.004  # of the picture (the default min_area)
_DROP_SHARPNESS = 0.25


class DropTest:
    """Per analysed frame: ``start`` with the frame and background, then ask per blob."""

    def __init__(self) -> None:
        self._norm: np.ndarray | None = None
        self._bg: np.ndarray | None = None
        self._grad: np.ndarray | None = None

    def start(self, norm: np.ndarray, bg: np.ndarray) -> None:
        self._norm, self._bg, self._grad = norm, bg, None  # the gradient only when needed

    def looks_like_drop(self, labels: np.ndarray, i: int, stat: np.ndarray,
                        frame_area: float) -> bool:
        """Is blob ``i`` of the half-resolution ``labels`` a large, blurred blob? Darker
        ones too: a drop learnt into the background leaves a blurred dark ghost."""
        x, y, bw, bh, area = (int(v) for v in stat)
        if area < _DROP_MIN_AREA * frame_area or self._norm is None or self._bg is None:
            return False
        rows, cols = slice(2 * y, 2 * (y + bh)), slice(2 * x, 2 * (x + bw))
        px = np.repeat(np.repeat(labels[y:y + bh, x:x + bw] == i, 2, 0), 2, 1)
        d = (self._norm[rows, cols] - self._bg[rows, cols])[: px.shape[0], : px.shape[1]]
        px = px[: d.shape[0], : d.shape[1]]
        values = d[px]
        if values.size == 0:
            return False
        if self._grad is None:
            change = self._norm - self._bg
            gx = cv2.Sobel(change, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
            gy = cv2.Sobel(change, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
            self._grad = cv2.magnitude(gx, gy)
        grad = self._grad[rows, cols][: px.shape[0], : px.shape[1]][px]
        top = float(np.percentile(np.abs(values), 95))
        return float(np.percentile(grad, 95)) < _DROP_SHARPNESS * max(top, 1e-3)


_LIT_WINDOW = (7, 7)  # ~4 % of the width at 160 px
_HIGH_PASS = (5, 5)
_LIT_NCC = 0.6
_LIT_AREA = (9, 9)
_LIT_DENSITY = 0.35


class LitTest:
    """Pixels that are only lit: brighter than the background with its texture kept.

    Light falling on a surface (a headlight beam, a lamp pool) multiplies what is there, so
    the picture's fine structure (high-passed) still correlates with the background's; an
    object replaces it. The test: normalised cross-correlation of the high-passed frame and
    background in a small window, on pixels brighter than the background.
    """

    def __init__(self) -> None:
        self._shape: tuple[int, ...] = ()

    def lit(self, norm: np.ndarray, bg: np.ndarray) -> np.ndarray:
        """uint8 mask, 255 where the change looks like light falling on the background."""
        hp_f = cv2.subtract(norm, cv2.blur(norm, _HIGH_PASS))
        hp_b = cv2.subtract(bg, cv2.blur(bg, _HIGH_PASS))
        s_fb = cv2.blur(cv2.multiply(hp_f, hp_b), _LIT_WINDOW)
        s_ff = cv2.blur(cv2.multiply(hp_f, hp_f), _LIT_WINDOW)
        s_bb = cv2.blur(cv2.multiply(hp_b, hp_b), _LIT_WINDOW)
        kept = (s_fb > _LIT_NCC * np.sqrt(s_ff * s_bb + 1e-6)).astype(np.float32)
        # Light is smooth over an area: where enough of the neighbourhood kept its texture,
        # all of it is lit (in a dark, noisy street single windows are unreliable; on an
        # object few windows correlate).
        textured = cv2.blur(kept, _LIT_AREA) > _LIT_DENSITY
        brighter = norm > bg
        return (textured & brighter).view(np.uint8) * np.uint8(255)
