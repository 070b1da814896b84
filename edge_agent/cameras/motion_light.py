"""Light without movers: what a lamp, a car's beam or an illuminator does to the picture.

- ``LitTest``: light falling on a surface multiplies what is there: the surface keeps its
  texture; an object replaces it. Its faint, soft-edged continuation is followed from a
  saturated core (a hysteresis).
- ``gain_map``: a smooth map of frame / background, for moving the background to a new light
  (the IR illuminator switching on) without learning the people in the picture.
- ``lit_around``: is a blob next to much light (a beam's fringe, glare)?
- ``match_exposure``: the frame's brightness and contrast matched to the background's.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from edge_agent.cameras.motion_filters import DROP_SHARPNESS, Box, odd_px, px

# Sizes in pixels of a 160 px wide picture (``px`` scales them to the analysis width); the
# high-pass stays in pixels: it keeps the picture's finest texture at any width.
_LIT_CLOSE = 5
_LIT_REACH = 12  # pixels around the change the test looks at (its windows' reach)
_LIT_WINDOW = 7  # ~4 % of the width
_HIGH_PASS = (5, 5)
_LIT_NCC = 0.6
_LIT_AREA = 9
_LIT_DENSITY = 0.35
SATURATED = 240.0  # grey levels: the sensor clipped (after the light blur)
DARK = 80.0  # grey levels: a surface this dark saturates only under a strong light


class LitTest:
    """Pixels that are only lit: brighter (or darker) than the background with its texture
    kept.

    Light falling on a surface (a headlight beam, a lamp pool) multiplies what is there, so
    the picture's fine structure (high-passed) still correlates with the background's; an
    object replaces it. The test: normalised cross-correlation of the high-passed frame and
    background in a small window, on pixels brighter than the background.
    """

    def lit(self, frame: np.ndarray, norm: np.ndarray, bg: np.ndarray, dark: float,
            where: np.ndarray, brighter: float) -> np.ndarray:
        """uint8 mask, 255 where the change looks like light falling on the background;
        judged only around the set pixels of ``where`` (the rest is 0)."""
        x, y, w, h = cv2.boundingRect(where)
        fh, fw = where.shape
        reach = px(_LIT_REACH, fw)
        x0, y0 = max(0, x - reach), max(0, y - reach)
        x1, y1 = min(fw, x + w + reach), min(fh, y + h + reach)
        out = np.zeros(where.shape, np.uint8)
        out[y0:y1, x0:x1] = self._lit(frame[y0:y1, x0:x1], norm[y0:y1, x0:x1],
                                      bg[y0:y1, x0:x1], dark, brighter, fw)
        return out

    def _lit(self, frame: np.ndarray, norm: np.ndarray, bg: np.ndarray, dark: float,
             brighter: float, width: int) -> np.ndarray:
        """``width``: the whole analysis picture's (the windows scale with it)."""
        hp_f = cv2.subtract(norm, cv2.blur(norm, _HIGH_PASS))
        hp_b = cv2.subtract(bg, cv2.blur(bg, _HIGH_PASS))
        window = (odd_px(_LIT_WINDOW, width),) * 2
        s_fb = cv2.blur(cv2.multiply(hp_f, hp_b), window)
        s_ff = cv2.blur(cv2.multiply(hp_f, hp_f), window)
        s_bb = cv2.blur(cv2.multiply(hp_b, hp_b), window)
        d = cv2.subtract(norm, bg)
        # Lit evidence: brightened clearly, with the texture kept (an unchanged street keeps
        # its texture too, but is no evidence of light).
        ncc = cv2.divide(s_fb, cv2.sqrt(cv2.multiply(s_ff, s_bb) + 1e-6))
        brightened = d > brighter
        match = ncc > _LIT_NCC
        area = odd_px(_LIT_AREA, width)
        lit = self._evidence(match, brightened, d, area)
        # Less light (a lamp that wavers or goes out, a shadow) scales the surface down the
        # same way: darker with the texture kept is light only too.
        dimmed = match & (d < -brighter)
        if dimmed.any():
            lit |= self._evidence(dimmed, dimmed, -d, area)
        # A saturated picture has no texture left; where the surface is dark (the background
        # at this frame's exposure: ``dark`` in normalised grey levels), that is a strong
        # light on it (a beam's core), not an object.
        source = ((frame > SATURATED) & (bg < dark)).view(np.uint8)
        if cv2.countNonZero(source):
            # Such light spreads with soft edges: away from any sharp step in the change, a
            # weaker texture match is enough for its continuation (the faint end of a beam
            # on a dark road, where noise drowns the texture; a hysteresis from the
            # saturated core). An object's sharp outline keeps its inside (it has no texture
            # to match); a lens drop's glare, not saturated, stays whole for ``DropTest``.
            weak = self._evidence((ncc > _LIT_NCC_SOFT) & _soft(d, brighter, width),
                                  brightened, d, area)
            lit |= _grown(source, cv2.bitwise_or(weak, lit))
        # Light is smooth: a few pixels inside a lit area that failed the test are lit too.
        close = np.ones((odd_px(_LIT_CLOSE, width),) * 2, np.uint8)
        return cv2.morphologyEx(lit * np.uint8(255), cv2.MORPH_CLOSE, close)

    @staticmethod
    def _evidence(match: np.ndarray, brightened: np.ndarray, d: np.ndarray, area: int
                  ) -> np.ndarray:
        """Lit evidence: brightened clearly with the texture kept (an unchanged street keeps
        its texture too, but is no evidence of light); light is smooth over an area: where
        enough of the neighbourhood is evidence, all of it is lit (in a dark, noisy street
        single windows are unreliable; on an object few windows correlate)."""
        kept = (match & brightened).astype(np.float32)
        return ((cv2.blur(kept, (area, area)) > _LIT_DENSITY) & (d > 0)).view(np.uint8)


def _grown(strong: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """``strong`` with the parts of ``weak`` connected to it (0/1 uint8 masks)."""
    both = cv2.bitwise_or(strong, weak)
    count, labels = cv2.connectedComponents(both, connectivity=8)
    hit = np.zeros(count, np.uint8)
    hit[np.unique(labels[strong > 0])] = 1
    hit[0] = 0
    grown: np.ndarray = hit[labels]
    return grown


_LIT_NCC_SOFT = 0.3
_SOFT_REACH = 9  # no sharp step within 4 pixels (at 160 px wide)


def _soft(d: np.ndarray, brighter: float, width: int) -> np.ndarray:
    """Where the change ``d`` has no sharp step nearby: its gradient stays under the drop
    test's share of the local change (a blurred edge), or under the noise."""
    gx = cv2.Sobel(d, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(d, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    grad = cv2.magnitude(gx, gy)
    reach = np.ones((odd_px(_SOFT_REACH, width),) * 2, np.uint8)
    peak = cv2.dilate(np.abs(d), reach)
    sharp = (grad > DROP_SHARPNESS * peak) & (grad > brighter)
    near: np.ndarray = cv2.dilate(sharp.view(np.uint8), reach) == 0
    return near


_GAIN_MAP_STEP = 8  # the gain map's cells, in pixels at 160 px wide (20x11 cells at 160x90)


def gain_map(frame: np.ndarray, bg: np.ndarray, movers: list[Box]) -> np.ndarray:
    """frame / bg, smoothed over cells, leaving out the ``movers`` being followed (their cells
    take the picture's median gain): a mover under a cell would leave its ghost."""
    h, w = frame.shape
    keep = np.ones((h, w), np.float32)
    m = px(2, w)  # margin around a mover
    for x, y, bw, bh in movers:
        keep[max(0, int(y * h) - m):int((y + bh) * h) + m + 1,
             max(0, int(x * w) - m):int((x + bw) * w) + m + 1] = 0
    step = px(_GAIN_MAP_STEP, w)
    size = (max(2, w // step), max(2, h // step))
    weight = cv2.resize(keep, size, interpolation=cv2.INTER_AREA)
    f = cv2.resize(frame * keep, size, interpolation=cv2.INTER_AREA)
    b = cv2.resize(bg * keep, size, interpolation=cv2.INTER_AREA)
    cells = cv2.divide(f + 1e-3, b + 1e-3)
    seen = weight > 0.25
    cells[~seen] = float(np.median(cells[seen])) if seen.any() else \
        (float(frame.mean()) + 1.0) / (float(bg.mean()) + 1.0)
    gmap: np.ndarray = cv2.resize(cv2.medianBlur(cells, 3), (w, h),
                                  interpolation=cv2.INTER_LINEAR)
    return gmap


_LIT_AROUND = 4  # pixels around a blob where lit-only pixels are counted ...
_LIT_SHARE = 0.3  # ... and the share of them that makes it "next to much light"


def lit_around(lit: np.ndarray | None, stat: np.ndarray) -> bool:
    """Is much of the area around half-resolution blob ``stat`` lit only (``lit``: the
    lit-only mask at full analysis size, None when nothing is lit)?"""
    if lit is None:
        return False
    x, y, bw, bh = (2 * int(v) for v in stat[:4])
    h, w = lit.shape
    m = px(_LIT_AROUND, w)
    around = lit[max(0, y - m):min(h, y + bh + m), max(0, x - m):min(w, x + bw + m)]
    return cv2.countNonZero(around) > _LIT_SHARE * around.size


class Exposure(NamedTuple):
    """A frame's exposure against the background: ``frame * gain + offset`` matches it."""

    gain: float
    offset: float
    bg_std: float  # the background's contrast (standard deviation)
    bg_mean: float  # its mean grey level
    ratio: float  # the frame's mean brightness over the background's


def match_exposure(frame: np.ndarray, bg: np.ndarray, valid: np.ndarray | None,
                   changed4: np.ndarray | None) -> Exposure:
    """The gain and offset that match ``frame``'s mean and contrast to ``bg``'s, over the
    ``valid`` (unmasked; None = all) pixels that did not change locally in the previous
    frame (``changed4``: its changed pixels, every 4th row and column; None = none)."""
    # Statistics from every 4th pixel (of the unmasked area) are plenty and 16x cheaper.
    f4, b4 = np.ascontiguousarray(frame[::4, ::4]), np.ascontiguousarray(bg[::4, ::4])
    mask = None if valid is None else np.ascontiguousarray(valid[::4, ::4])
    # What changed locally in the previous frame (a car's beam, a person) says nothing
    # about the exposure; left in, a beam would dim the whole picture and with it a dark
    # car's contrast. Left out of both statistics (unless it is most of the picture).
    if changed4 is not None and changed4.shape == f4.shape:
        still = cv2.bitwise_not(changed4)
        if cv2.countNonZero(still) > still.size // 2:
            mask = still if mask is None else cv2.bitwise_and(mask, still)
    mf, sf = cv2.meanStdDev(f4, mask=mask)
    mb, sb = cv2.meanStdDev(b4, mask=mask)
    gain = min(3.0, max(0.33, float(sb[0, 0]) / max(float(sf[0, 0]), 1e-3)))
    return Exposure(gain, float(mb[0, 0] - mf[0, 0] * gain), float(sb[0, 0]),
                    float(mb[0, 0]), (float(mf[0, 0]) + 1.0) / (float(mb[0, 0]) + 1.0))
