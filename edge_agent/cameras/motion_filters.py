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
