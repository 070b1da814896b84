"""Slow, faint movers in a dark, noisy picture: evidence that adds up over seconds, per cell.

The detector's background learns a change in a few seconds, and a walker who crosses a
pixel in five is learnt while he stands on it: barely darker than a dark, noisy road and
slow, he is never more than a few grey levels off, and never moves much between frames.
What gives him away is time: the picture averaged over 4x4-pixel cells has a quarter of a
pixel's noise, and a second's average of those cells a fraction of that again, while a
person stays a coherent patch that drifts steadily.

- a long-horizon background of cells (``_TAU_BG`` seconds) that learns with a bounded step
  (rain drops and headlamps barely move it) and not at all under a slow mover being followed;
- a short average (``_TAU_E``) of cells minus that background;
- cells whose average differs by ``_K`` times its robust spread (the spread of the average
  itself, so sensor noise and the codec's blocking set the bar) and at least ``_MIN_LEVEL``
  grey levels, in patches of one sign of at least ``_MIN_CELLS`` cells;
- such a patch is followed over time, and reported only once it has lasted ``_CONFIRM_S`` and
  its middle has gone at least ``_MIN_DRIFT`` cells in a steady direction, at most
  ``_MAX_SPEED`` cells a second (anything faster is the frame detector's). Noise never holds
  a patch that long; a lamp fading, a parked car or the codec's blocking do not drift.

Pure: frames and times in, boxes out. Rates are per second, so a key-frame-only decode
(one frame in two seconds) averages over the same stretch of time as a full one.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_agent.cameras.motion_filters import Box, overlap, px

CELL = 4  # pixels per cell side at 160 px wide (40x22 cells at 160x90; ``cell`` scales it)
_TAU_BG = 30.0  # s: the cells' background
_STEP = 0.5  # grey levels a second: its largest step (a drop or a headlamp barely moves it)
_TAU_E = 2.0  # s: the short average
_K = 3.5  # times the average's robust spread
_MIN_LEVEL = 1.5  # grey levels
_MIN_CELLS = 3
_GROW = 0.5  # of the level: cells joined to a patch
# A larger patch is not a faint far-off person (a near one is no faint change): a beam or a
# lamp's pool coming on, a cloud's shadow.
_MAX_SHARE = 0.06
_CONFIRM_S = 2.0
_MIN_DRIFT = 1.0  # cells, over the whole run and over the last _CONFIRM_S
_MAX_SPEED = 4.0  # cells per second
_MIN_POINTS = 5  # analysed frames in that last stretch
_JUMP = 0.5  # cells: a bigger step of a patch's middle between frames is a change of shape
_STEADY = 0.5  # cosine between the recent and the whole run's direction
_TAU_VAR = 5.0  # s: each cell's noise ...
_VAR_DT = 0.5  # s: ... from steps at most this far apart
_EVERY = 0.25  # s: at most one step in this long (it adds evidence over seconds)
_WARM = (2.0, 3)  # s and frames, at least: the background starts from them ...
_WARM_Q = 0.25  # ... as this quantile (the noise's bias is the same everywhere)
_NOW = 0.5  # of the average's difference, over the patch, in this frame
_WAKE_S = 2.0  # s a patch has been followed before adaptive decoding wakes up for it
_MISSES = 3  # analysed frames a patch may vanish before its run ends


@dataclass
class SlowTrack:
    sign: int
    cells: tuple[int, int, int, int]  # x, y, w, h in cells
    since: float  # the analysed frame before it was first seen
    path: list[tuple[float, float, float]] = field(default_factory=list)  # ts, cx, cy
    missed: int = 0
    confirmed: bool = False


class SlowMovers:
    """Per camera; ``reset`` with the background, then ``step`` with each analysed frame."""

    def __init__(self) -> None:
        self._bg: np.ndarray | None = None
        self._avg = np.zeros((1, 1), np.float32)
        self._prev = np.zeros((1, 1), np.float32)
        self._var = np.ones((1, 1), np.float32)  # each cell's frame-to-frame variance
        self._warm: list[np.ndarray] | None = None  # the first frames, while warming up
        self._xs = self._ys = np.zeros(1, np.float32)  # each cell's column and row
        self._out: list[tuple[Box, float]] = []  # the last step's slow movers
        self._reset_ts = self._last_ts = 0.0
        self.tracks: list[SlowTrack] = []

    def reset(self, frame: np.ndarray, ts: float) -> None:
        self._bg = _cells(frame)
        self._avg = np.zeros_like(self._bg)
        self._prev, self._var = self._bg.copy(), np.ones_like(self._bg)
        ys, xs = np.mgrid[0:self._bg.shape[0], 0:self._bg.shape[1]]
        self._xs, self._ys = xs.ravel().astype(np.float32), ys.ravel().astype(np.float32)
        self._warm = [self._bg.copy()]
        self._reset_ts, self._last_ts, self.tracks = ts, ts, []
        self._out = []

    def step(self, frame: np.ndarray, ts: float, look: bool, valid: np.ndarray | None,
             busy: list[Box]) -> list[tuple[Box, float]]:
        """This frame's confirmed slow movers (relative box, time before first seen).
        ``look``: the picture is dark or noisy (else the background is only kept up to
        date); ``valid``: unmasked cells; ``busy``: boxes the frame detector follows."""
        if not look:  # a clean picture: the frame detector sees all there is
            self._bg, self.tracks, self._out = None, [], []
            return []
        side = cell(frame.shape[1])
        if self._bg is None or self._bg.shape != (frame.shape[0] // side,
                                                  frame.shape[1] // side):
            self.reset(frame, ts)
            return []
        if self._warm is not None:
            self._warm_up(frame, ts)
            return []
        if ts - self._last_ts >= _EVERY:  # (a slow mover's box moves little in between)
            self._out = self._step(frame, ts, valid)
        # (followed on, not reported, while the frame detector has it)
        return [(box, since) for box, since in self._out
                if not any(overlap(box, b) for b in busy)]

    def _warm_up(self, frame: np.ndarray, ts: float) -> None:
        """The background starts as a low quantile of the analysed frames of the first
        ``_WARM`` (one frame is noisy; a lens drop, which only brightens, may be in most of
        them when the decoder woke up just then, and would stay a minute in a median)."""
        assert self._warm is not None
        self._warm.append(_cells(frame))
        self._last_ts = ts
        if ts - self._reset_ts < _WARM[0] or len(self._warm) < _WARM[1]:
            return
        stack = np.stack(self._warm)
        self._bg = np.quantile(stack, _WARM_Q, axis=0).astype(np.float32)
        if (ts - self._reset_ts) / (len(self._warm) - 1) <= _VAR_DT:
            self._var = np.mean(np.square(np.diff(stack, axis=0)), axis=0).astype(np.float32)
        self._prev, self._warm = self._warm[-1], None

    def _step(self, frame: np.ndarray, ts: float, valid: np.ndarray | None
              ) -> list[tuple[Box, float]]:
        assert self._bg is not None
        bg = self._bg
        cells = _matched(_cells(frame), bg, valid)
        dt = max(1e-3, ts - self._last_ts)
        d = cv2.subtract(cells, bg)
        cv2.accumulateWeighted(d, self._avg, 1.0 - math.exp(-dt / _TAU_E))
        # Noise differs across the picture (more under a lamp): from the change between
        # frames close in time, which a slow mover barely adds to (not between key frames
        # seconds apart: he has moved a cell by then).
        if dt <= _VAR_DT:
            cv2.accumulateWeighted(cv2.pow(cv2.subtract(cells, self._prev), 2.0), self._var,
                                   1.0 - math.exp(-dt / _TAU_VAR))
        self._prev = cells
        step = _STEP * dt
        learn = np.clip(d * np.float32(1.0 - math.exp(-dt / _TAU_BG)), -step, step)
        frozen = self._frozen(cells.shape)
        if frozen is not None:
            learn[frozen] = 0.0
        bg += learn
        prev_ts, self._last_ts = self._last_ts, ts
        patches = self._patches(valid, d)
        self.tracks = self._follow(patches, ts, prev_ts)
        h, w = cells.shape
        return [((t.cells[0] / w, t.cells[1] / h, t.cells[2] / w, t.cells[3] / h), t.since)
                for t in self.tracks if t.confirmed and t.missed == 0]

    @property
    def active(self) -> bool:
        """A patch followed for a while (adaptive decode should wake up and look closer; a
        lens drop's patch is gone before)."""
        return any(len(t.path) > 1 and t.path[-1][0] - t.since >= _WAKE_S for t in self.tracks)

    def _frozen(self, shape: tuple[int, int]) -> np.ndarray | None:
        """Cells under (and one around) a confirmed slow mover: not learnt."""
        boxes = [t.cells for t in self.tracks if t.confirmed]
        if not boxes:
            return None
        out = np.zeros(shape, bool)
        for x, y, w, h in boxes:
            out[max(0, y - 1):y + h + 1, max(0, x - 1):x + w + 1] = True
        return out

    def _patches(self, valid: np.ndarray | None, now: np.ndarray
                 ) -> list[tuple[int, tuple[int, int, int, int], float, float]]:
        """(sign, cell box, centre x, centre y) of each patch that stands out in the average
        and, on the whole, in this frame's difference ``now`` too (a lens drop that has gone
        leaves its trace in the average for a while)."""
        avg = self._avg
        values = avg[valid] if valid is not None else avg.ravel()
        if values.size == 0:
            return []
        mid = _median(values)
        noise = cv2.sqrt(self._var)
        rel = noise / max(_median(noise if valid is None else noise[valid]), 1e-3)
        spread = 1.4826 * _median(np.abs((avg - mid) / rel)[
            valid if valid is not None else slice(None)])
        level = np.maximum(_K * spread * rel, _MIN_LEVEL)
        out: list[tuple[int, tuple[int, int, int, int], float, float]] = []
        for sign in (1, -1):
            signed = (avg - mid) * sign
            mask = signed > level
            if valid is not None:
                mask &= valid
            if np.count_nonzero(mask) < _MIN_CELLS:
                continue
            # A patch is the cells over the level and those over a fraction of it joined to
            # them (a hysteresis: a faint person's edges, his legs, are in his box).
            grown = signed > _GROW * level
            if valid is not None:
                grown &= valid
            marked: np.ndarray = grown.view(np.uint8)
            n, labels, stats, _ = cv2.connectedComponentsWithStats(marked, connectivity=8)
            # Per patch, over its cells over the level, one pass each: their count, the sum
            # of this frame's difference and their middle weighted by the average (a cell
            # joining the patch at its edge moves that by a fraction of a cell).
            flat = labels.ravel()
            weight = np.where(mask, np.abs(avg - mid), 0).ravel()
            strong = np.bincount(flat, mask.ravel(), n)
            now_sum = np.bincount(flat, np.where(mask, now, 0).ravel(), n)
            w_sum = np.bincount(flat, weight, n)
            wx = np.bincount(flat, weight * self._xs, n)
            wy = np.bincount(flat, weight * self._ys, n)
            for i in range(1, n):
                if strong[i] < _MIN_CELLS or stats[i][4] > _MAX_SHARE * mask.size:
                    continue
                if now_sum[i] * sign >= _NOW * w_sum[i]:
                    x, y, w, h = (int(v) for v in stats[i][:4])
                    out.append((sign, (x, y, w, h), float(wx[i] / w_sum[i]),
                                float(wy[i] / w_sum[i])))
        return out

    def _follow(self, patches: list[tuple[int, tuple[int, int, int, int], float, float]],
                ts: float, prev_ts: float) -> list[SlowTrack]:
        kept: list[SlowTrack] = []
        used: set[int] = set()
        for sign, box, cx, cy in patches:
            track = next((t for i, t in enumerate(self.tracks) if i not in used and
                          t.sign == sign and _touch(t.cells, box)), None)
            if track is None:
                track = SlowTrack(sign, box, prev_ts)
            else:
                used.add(self.tracks.index(track))
            track.cells, track.missed = box, 0
            track.path.append((ts, cx, cy))
            # Once confirmed it stays so while it keeps going (over twice the stretch: a slow
            # walker's middle wobbles with his stride).
            track.confirmed = _drifts(track.path, ts - track.since, _CONFIRM_S) or \
                (track.confirmed and _drifts(track.path, ts - track.since, 2 * _CONFIRM_S))
            kept.append(track)
        for i, t in enumerate(self.tracks):
            if i not in used and t.missed < _MISSES:
                t.missed += 1
                kept.append(t)
        return kept


def _median(values: np.ndarray) -> float:
    """The (upper) median, by partition: several times cheaper than ``np.median``."""
    flat = values.ravel()
    k = flat.size // 2
    return float(np.partition(flat, k)[k]) if flat.size else 0.0


def cell(width: int) -> int:
    """A cell's side in a picture ``width`` wide: the same share of the picture at any width
    (so the limits in cells, drift and speed, stay the same on the street)."""
    return px(CELL, width)


def _cells(img: np.ndarray) -> np.ndarray:
    h, w = img.shape
    side = cell(w)
    out: np.ndarray = cv2.resize(img, (max(1, w // side), max(1, h // side)),
                                 interpolation=cv2.INTER_AREA)
    return out


def _matched(cells: np.ndarray, bg: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """``cells`` with their brightness and contrast matched to ``bg``'s (exposure, a lighting
    ramp). Matched here, not taken from the frame detector's matched picture: a noisy
    frame's contrast is inflated by its noise against a smooth background, so that match
    squeezes it and a lamp's pool turns darker for good; over cells the noise is small."""
    # Over the cells that did not change much (a lens drop lifts the picture's contrast and
    # would squeeze the rest of it, a wall turning darker for seconds).
    d = cells - bg
    mid = _median(d)
    dev = np.abs(d - mid)
    inlier = dev <= 3.0 * max(_median(dev), 0.1)
    mask = (inlier if valid is None else inlier & valid).view(np.uint8)
    mc, sc = cv2.meanStdDev(cells, mask=mask)
    mb, sb = cv2.meanStdDev(bg, mask=mask)
    gain = float(sb[0, 0]) / max(float(sc[0, 0]), 1e-3)
    out: np.ndarray = cv2.addWeighted(cells, gain, cells, 0.0,
                                      float(mb[0, 0]) - gain * float(mc[0, 0]))
    return out


def _touch(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Do two cell boxes overlap once grown by one cell?"""
    return a[0] - 1 <= b[0] + b[2] and b[0] - 1 <= a[0] + a[2] and \
        a[1] - 1 <= b[1] + b[3] and b[1] - 1 <= a[1] + a[3]


def _drifts(path: list[tuple[float, float, float]], age: float, span: float) -> bool:
    """Has the patch lasted long enough and gone somewhere steadily, slowly, over the
    last ``span`` seconds and since it was first seen?"""
    if age < _CONFIRM_S or len(path) < 3:
        return False
    t1, x1, y1 = path[-1]
    _, x0, y0 = path[0]
    recent = [p for p in path if t1 - p[0] <= span]
    if len(recent) < _MIN_POINTS:  # (seen on key frames only: wait for the decode to wake)
        return False
    if len(recent) < len(path):
        recent.insert(0, path[-len(recent) - 1])
    start = recent[0]
    whole = (x1 - x0, y1 - y0)
    last = (x1 - start[1], y1 - start[2])
    n_whole, n_last = math.hypot(*whole), math.hypot(*last)
    if n_whole < _MIN_DRIFT or n_last < _MIN_DRIFT:
        return False
    if n_last / max(t1 - start[0], 1e-3) > _MAX_SPEED:
        return False
    if (whole[0] * last[0] + whole[1] * last[1]) / (n_whole * n_last) < _STEADY:
        return False
    # Steadily: in small steps. A patch whose shape changes (a cell joins or leaves it, a
    # drop touches it) moves its middle by a cell at once; a walker's goes a little each
    # frame, and the small steps alone get him there.
    sx = sy = 0.0
    for a, b in itertools.pairwise(recent):
        dx, dy = b[1] - a[1], b[2] - a[2]
        if math.hypot(dx, dy) <= _JUMP:
            sx, sy = sx + dx, sy + dy
    return math.hypot(sx, sy) >= _MIN_DRIFT
