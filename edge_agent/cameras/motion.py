"""The motion detector: pure numpy/OpenCV, no I/O, the frame time is passed in.

One analysed frame goes through these steps (all at the small analysis size; the tests on
pixels and blobs are in ``motion_filters``):

1. Downscale the luma plane cheaply (strided view + area/linear resize), light blur.
2. Photometric normalisation: the frame's mean/contrast is matched to the background's, over
   the unmasked area that did not change locally in the previous frame (a car's beam must not
   dim the whole picture). A lighting ramp, auto-exposure or the IR switch's brightness jump is
   a global gain/offset change and disappears here, while a local object still stands out.
   When brightness and contrast stay far off together (the IR illuminator came on without a
   scene-wide change), the background is moved to the new light instead (``gain_map``).
3. Difference against the background model with a threshold that rises with the noise (from
   the median difference, so a big change does not raise it) and falls (down to 70 %) in
   low-contrast pictures. When more than ``global_change_fraction`` of the frame still differs
   (IR colour→grey switch, a lamp switched on), the background is re-seeded from this frame.
4. In a noisy or dark picture, evidence that adds up: the recent frames' average against the
   background shows a faint, slow mover that one frame does not (``Evidence``).
5. Lighting only is taken out: pixels brighter or darker than the background that kept its
   texture (a headlight beam, a lamp pool, a lamp that wavers or goes out), a saturated patch
   over a dark surface and the soft-edged continuation of such a core (``LitTest`` in
   ``motion_light``).
6. Morphological opening (drops speckle and rain streaks), connected blobs, minimum area, masks.
7. A blob counts as *moving* only if part of it also changed since the previous analysed frame
   (or, for a faint one, in the average): a static change (IR residue, a parked car, a lit
   window) is absorbed into the background fast.
8. Temporal persistence: a moving blob must be near a moving blob of the previous analysed frame
   (``persistence_frames`` in a row) before it is reported; random speckle never persists, a
   blurred blob (a rain drop on the lens, ``DropTest``) or one next to much lit-only light
   must last 8 frames, a faint one seen only in the average 6 frames and get somewhere, and a
   bright one that ran straight down like a drop sliding on the lens is not reported
   (``motion_tracks``).
9. In a dark or noisy picture, a slow, faint mover the steps above learn into the background
   (he stands on each pixel for seconds) is found over cells and seconds: a patch that
   differs from a long-horizon background and drifts steadily (``motion_slow``).

The background learns slowly where nothing moves, very fast where a change is static, very
slowly under moving blobs (so ghosts heal but moving objects are not absorbed) and not at all
where the picture is only lit (the light will go away again). Reported boxes are those of the
changed pixels, without the margin the blob-joining dilation added.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge_agent.cameras.config import MotionConfig, Zone
from edge_agent.cameras.motion_filters import (
    REF_WIDTH,
    Box,
    DropTest,
    Evidence,
    above,
    area_joined_as_at_reference,
    blob_box,
    downscale,
    merge_side,
    polygon_mask,
    robust_noise,
    zones_in,
)
from edge_agent.cameras.motion_light import DARK, LitTest, gain_map, match_exposure
from edge_agent.cameras.motion_slow import SlowMovers, cell
from edge_agent.cameras.motion_tracks import Seen, coasted, follow
from edge_agent.cameras.motion_types import Blob, Buffers, MotionResult, Track

__all__ = ["Blob", "MotionDetector", "MotionResult"]

Polygon = Sequence[tuple[float, float]]

_KERNEL3 = np.ones((3, 3), np.uint8)
# In a low-contrast picture (night without IR, fog) a person differs from the background by
# fewer grey levels: the threshold scales down with the background's contrast (its standard
# deviation) below this much, to at most 70 % off. The noise-based raise still applies, so a
# dark, noisy picture does not turn its noise into motion.
_CONTRAST_REF = 30.0
_MIN_THRESHOLD_SCALE = 0.7
_GAUSS3 = np.array([0.25, 0.5, 0.25], np.float32)  # what GaussianBlur((3, 3), 0) uses
_OWN_FRACTION = 0.3  # a blob with less of its area changed in this very frame counts as faint
# The recent frames' average is looked at only in a noisy picture (the noise raised the
# threshold) or a dark one (mean grey level under this): faint movers are found there.
_NIGHT = 70.0
# The frame is matched to the background's exposure. When the exposure stays far off (the IR
# illuminator came on without a scene-wide change, auto-exposure settled elsewhere) the
# background is moved to the frame's exposure instead: matched the other way round, a picture
# with 3x the contrast would be squeezed to a third and a faint mover lost in it. Moved, it
# keeps what it had learnt (no one standing there is learnt, unlike a re-seed).
_REBASE_GAIN = 2.0  # the contrast squeezed or stretched this much (either way) ...
_REBASE_RATIO = 1.4  # ... with the mean brightness off this much the same way ...
_REBASE_FRAMES = 3  # ... for this many analysed frames in a row
_COAST_S = 1.5  # s after it was far off: a mover lost meanwhile is continued when seen again


class MotionDetector:
    """Stateful detector for one camera. Feed frames in time order with ``analyse``."""

    def __init__(self, cfg: MotionConfig, masks: Sequence[Polygon] = (),
                 zones: Sequence[Zone] = (), width: int = 160) -> None:
        # 160 px (CameraConfig.analysis_width's default): a person at 20 m is still ~50
        # pixels, and every pass over the picture costs a quarter of what it does at 320.
        self.cfg = cfg
        self.width = width
        self._mask_polys = list(masks)
        self._zones = list(zones)
        self._bg: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._valid: np.ndarray | None = None
        self._valid_count = 1
        self._zone_masks: list[tuple[str, np.ndarray]] = []
        # moving blobs of the previous frame: box, frames in a row, ts before the first one
        self._track: list[Track] = []
        self._last_ts = 0.0  # the previous analysed frame's time
        self._bufs = Buffers((1, 1))
        self._merge_kernel = _KERNEL3
        self._bg_std = _CONTRAST_REF  # contrast of the background (set on every frame)
        self._gain = (1.0, 0.0)  # this frame's brightness match to the background
        self._off_exposure = 0  # analysed frames in a row with the exposure far off
        self._ratio = 1.0  # this frame's mean brightness over the background's (still part)
        self._bg_mean = 128.0  # the background's mean grey level (set on every frame)
        self._changed4: np.ndarray | None = None  # last frame's local change, every 4th px
        self._valid_sub: np.ndarray | None = None  # unmasked pixels, every 4th
        self._drops = DropTest()
        self._lit = LitTest()
        self._evidence = Evidence()
        self._slow = SlowMovers()
        self._coast_until = -1.0  # confirmed tracks outlive a frame without them until then
        self._valid_cells: np.ndarray | None = None  # unmasked cells of ``SlowMovers``
        self._lit_now: np.ndarray | None = None  # this frame's lit-only pixels, if any

    def reset(self) -> None:
        """Forget the background (after a reconnect the scene may have changed)."""
        self._bg = None
        self._track = []

    def analyse(self, grey: np.ndarray, ts: float) -> MotionResult:
        return self.process(downscale(grey, self.width), ts)

    def _setup(self, shape: tuple[int, ...]) -> None:
        h, w = shape[:2]
        valid = np.full((h, w), 255, np.uint8)
        if self._mask_polys:
            valid[polygon_mask(self._mask_polys, w, h) > 0] = 0
        self._valid = valid
        self._valid_count = max(1, cv2.countNonZero(valid))
        self._valid_sub = valid[::4, ::4] > 0 if self._mask_polys else None
        self._valid_cells = cv2.resize(valid, (max(1, w // cell(w)), max(1, h // cell(w))),
                                       interpolation=cv2.INTER_AREA) > 127 \
            if self._mask_polys else None
        self._bufs = Buffers((h, w))
        self._merge_kernel = np.ones((merge_side(w),) * 2, np.uint8)
        # Zone masks at half resolution, like the blob labels.
        self._zone_masks = [
            (z.name, np.ascontiguousarray(polygon_mask([z.polygon], w, h)[::2, ::2]))
            for z in self._zones]

    def process(self, small: np.ndarray, ts: float) -> MotionResult:
        # Still frames are the common case: they go through a fixed set of passes into
        # preallocated buffers (no per-frame allocation, a small cache footprint next to the
        # decoder) and stop as soon as nothing survives the noise filter.
        if self._bg is None or self._bg.shape != small.shape:
            self._setup(small.shape)
            self._reseed(self._smooth(small, np.empty(small.shape, np.float32)), ts)
            return MotionResult(ts, False, (), 0.0, 0.0, False)
        bufs = self._bufs
        frame = self._smooth(small, bufs.frame)
        self._follow_exposure(frame, ts)
        bg, prev = self._bg, self._prev
        assert prev is not None
        norm = self._normalise(frame, bg, bufs.norm)
        diff = cv2.absdiff(norm, bg, dst=bufs.diff)
        # The noise from the median difference: a car's beam or a big mover must not raise
        # the threshold for everything else.
        noise = robust_noise(diff, self._valid_sub)
        floor = self.cfg.threshold * min(1.0, max(_MIN_THRESHOLD_SCALE,
                                                  self._bg_std / _CONTRAST_REF))
        thr = min(max(floor, self.cfg.noise_factor * noise), 2 * self.cfg.threshold)
        # The scene-wide test uses the plain threshold: a changed scene also raises "noise".
        base = self._masked(above(diff, self.cfg.threshold, bufs.base))
        changed = cv2.countNonZero(base) / self._valid_count
        if changed > self.cfg.global_change_fraction:
            # Sudden scene-wide change: start the background again from this frame.
            self._reseed(frame.copy(), ts)
            return MotionResult(ts, False, (), 0.0, changed, True)
        fg = base if thr == self.cfg.threshold else self._masked(above(diff, thr, bufs.fg))
        fg, slow = self._with_evidence(fg, norm, floor, thr)
        eroded, lit = self._opened_without_light(fg, frame, norm, thr)
        look = thr > floor or self._bg_mean < _NIGHT  # noisy or dark: faint movers hide
        if eroded is None:
            cv2.accumulateWeighted(norm, bg, self.cfg.background_rate,
                                   mask=None if lit is None else cv2.bitwise_not(lit))
            np.copyto(prev, norm)
            self._track, self._last_ts = self._coasted(self._track, [], ts), ts
            return self._result(ts, [], changed, frame, look)
        core = cv2.dilate(eroded, _KERNEL3)
        moved = above(cv2.absdiff(norm, prev), thr)
        # Parts of one object whose colour happens to match the background split it in
        # pieces: a dilation joins pieces a few pixels apart before blobs are counted.
        fg = cv2.dilate(core, self._merge_kernel)
        self._drops.start(norm, bg)
        before = self._track
        blobs, moving_mask, static_mask = self._blobs(fg, core, moved, slow, diff, thr)
        self._track = self._coasted(before, self._track, ts)
        self._learn(norm, bg, fg, moving_mask, static_mask, lit)
        self._lit_now = None
        np.copyto(prev, norm)
        self._last_ts = ts
        return self._result(ts, blobs, changed, frame, look)

    def _result(self, ts: float, blobs: list[tuple[Blob, float]], changed: float,
                frame: np.ndarray, look: bool) -> MotionResult:
        """The frame's result, with the slow movers only evidence over seconds shows (those
        the frame detector does not follow already)."""
        busy = [t.box for t in self._track if t.run >= self.cfg.persistence_frames]
        for box, since in self._slow.step(frame, ts, look, self._valid_cells, busy):
            zones = zones_in(self._zone_masks, box)
            if not (self.cfg.require_zone and self._zone_masks and not zones):
                blobs.append((Blob(tuple(round(v, 4) for v in box),  # type: ignore[arg-type]
                                   round(box[2] * box[3], 5), zones), since))
        confirmed = tuple(b for b, _ in blobs)
        score = sum(b.area for b in confirmed)
        since_all = min((s for _, s in blobs), default=None)
        return MotionResult(ts, bool(confirmed), confirmed, round(score, 5), changed, False,
                            bool(self._track) or self._slow.active, since_all)


    def _coasted(self, before: list[Track], now: list[Track], ts: float) -> list[Track]:
        """``now``'s tracks, and for a while after the background was moved to a new light,
        the confirmed ones of ``before`` that this frame did not continue: a mover is lost
        for a frame or two while the picture settles (the illuminator's hot spot, the
        exposure), and found again he goes on with his run, not as a new thing."""
        if ts >= self._coast_until:
            return now
        return coasted(before, now, self.cfg.persistence_frames)

    def _follow_exposure(self, frame: np.ndarray, ts: float) -> None:
        """Move the background to the frames' light once the brightness has stayed far off:
        times a smooth gain map (the ratio of heavily smoothed frame and background), which
        also follows an illuminator's hot spot or a vignette; a person is too small to move
        the map much, and what it leaves is a static change, absorbed in a few frames."""
        # Light scales brightness and contrast together; in rain the drops raise the
        # contrast alone.
        gain, ratio = self._gain[0], self._ratio
        far = (gain < 1 / _REBASE_GAIN and ratio > _REBASE_RATIO) or \
            (gain > _REBASE_GAIN and ratio < 1 / _REBASE_RATIO)
        self._off_exposure = self._off_exposure + 1 if far else 0
        if far:  # the picture is squeezed until it is moved, and settles after that
            self._coast_until = ts + _COAST_S
        if self._off_exposure < _REBASE_FRAMES or self._bg is None or self._prev is None:
            return
        gmap = gain_map(frame, self._bg, [t.box for t in self._track])
        for arr in (self._bg, self._prev):
            cv2.multiply(arr, gmap, dst=arr)
        self._evidence.reset(self._bg)
        self._slow.reset(self._bg, self._last_ts)
        self._gain, self._off_exposure = (1.0, 0.0), 0

    def _reseed(self, frame: np.ndarray, ts: float) -> None:
        self._bg, self._prev, self._track, self._last_ts = frame, frame.copy(), [], ts
        self._evidence.reset(frame)
        self._slow.reset(frame, ts)

    def _with_evidence(self, fg: np.ndarray, norm: np.ndarray, floor: float, thr: float
                       ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """Add what the recent frames' average shows (a faint, slow mover in noise); also
        return this frame's own changed pixels and where the average moved (None when the
        average cannot see more than one frame)."""
        assert self._bg is not None
        self._evidence.update(norm)
        if thr <= floor and self._bg_mean >= _NIGHT:
            return fg, None  # neither noisy nor dark: one frame shows all there is
        slow = self._evidence.slow(self._bg, floor, thr, self.cfg.noise_factor,
                                   self._valid_sub)
        if slow is None:
            return fg, None
        return cv2.bitwise_or(fg, self._masked(slow[0])), (fg, slow[1])

    def _opened_without_light(self, fg: np.ndarray, frame: np.ndarray, norm: np.ndarray,
                              thr: float) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The eroded foreground (None if nothing survives) once what is only lit is taken
        out, and the lit mask (None when nothing changed)."""
        # Opening = erosion then dilation; when the erosion leaves nothing (a still, noisy
        # scene) the dilation cannot bring anything back: skip it. Fewer than 4 changed
        # pixels cannot survive it (OpenCV counts the border as set, so a 2x2 block in a
        # corner is the smallest survivor), so the erosion itself is skipped too.
        self._changed4 = None
        eroded = self._bufs.eroded
        if cv2.countNonZero(fg) < 4 or not cv2.countNonZero(cv2.erode(fg, _KERNEL3,
                                                                        dst=eroded)):
            return None, None
        assert self._bg is not None
        # Something changed: take out what is lit only (a beam, a lamp pool) and open again;
        # lit pixels are not learnt (the light will go away again).
        lit = self._lit.lit(frame, norm, self._bg, DARK * self._gain[0] + self._gain[1],
                            eroded, 0.5 * thr)
        self._changed4 = np.ascontiguousarray(fg[::4, ::4])
        cv2.erode(cv2.bitwise_and(fg, cv2.bitwise_not(lit)), _KERNEL3, dst=eroded)
        self._lit_now = lit
        return (eroded if cv2.countNonZero(eroded) else None), lit

    @staticmethod
    def _smooth(small: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Light 3x3 Gaussian blur (noise) and conversion to float32 in one pass."""
        cv2.sepFilter2D(small, cv2.CV_32F, _GAUSS3, _GAUSS3, dst=out)
        return out

    def _masked(self, mask: np.ndarray) -> np.ndarray:
        if not self._mask_polys:
            return mask
        assert self._valid is not None
        return cv2.bitwise_and(mask, self._valid)

    def _normalise(self, frame: np.ndarray, bg: np.ndarray, out: np.ndarray) -> np.ndarray:
        e = match_exposure(frame, bg, self._valid if self._mask_polys else None,
                           self._changed4)
        self._bg_std, self._bg_mean, self._ratio = e.bg_std, e.bg_mean, e.ratio
        self._gain = (e.gain, e.offset)
        if abs(e.gain - 1.0) < 0.01 and abs(e.offset) < 0.5:
            return frame  # nothing to correct: skip a pass over the frame
        cv2.addWeighted(frame, e.gain, frame, 0.0, e.offset, dst=out)
        return out

    def _blobs(self, fg: np.ndarray, core: np.ndarray, moved: np.ndarray,
               slow: tuple[np.ndarray, np.ndarray] | None, diff: np.ndarray, thr: float
               ) -> tuple[list[tuple[Blob, float]], np.ndarray, np.ndarray]:
        # Blobs are labelled at half resolution: 4x cheaper, and the merge dilation has
        # already made them far coarser than a pixel.
        full_h, full_w = fg.shape
        half = np.ascontiguousarray(fg[::2, ::2])
        count, labels, stats, _ = cv2.connectedComponentsWithStats(half, connectivity=8)
        h, w = half.shape
        frame_area = float(h * w)
        moving_px = np.bincount(labels[moved[::2, ::2] > 0], minlength=count)
        # With the average's evidence: this frame's own changed pixels and the average's
        # moved ones per blob.
        own_px, slow_px = (None, None) if slow is None else \
            (np.bincount(labels[slow[0][::2, ::2] > 0], minlength=count),
             np.bincount(labels[slow[1][::2, ::2] > 0], minlength=count))
        min_px = self.cfg.min_area * frame_area
        lut = np.zeros(count, np.uint8)  # 1 = moving blob, 2 = static change
        candidates: list[tuple[int, Box, bool]] = []
        for i in range(1, count):
            area = int(stats[i][4])
            enough = max(3, self.cfg.min_moving_fraction * area)
            # Seen mostly in the average, or moving only there: a faint mover's rules.
            slow_only = moving_px[i] < enough or \
                (own_px is not None and own_px[i] < _OWN_FRACTION * area)
            small = area < min_px and (full_w <= REF_WIDTH or area_joined_as_at_reference(
                labels, i, stats[i], core) < self.cfg.min_area)
            if small or (slow_only and (slow_px is None or slow_px[i] < enough)):
                lut[i] = 2  # too small or not moving: let the background absorb it
                continue
            lut[i] = 1
            candidates.append((i, blob_box(labels, i, stats[i], core, diff, thr), slow_only))
        new_track: list[Track] = []
        blobs: list[tuple[Blob, float]] = []
        for i, box, slow_only in candidates:
            seen = Seen(box, slow_only, labels, i, stats[i], frame_area, self._last_ts,
                        self._last_ts < self._coast_until)
            track, confirmed = follow(self._track, seen, self._drops, self._lit_now,
                                      self.cfg.persistence_frames)
            if track is None:  # the ghost of a drop the background had learnt: absorb it
                lut[i] = 2
                continue
            new_track.append(track)
            zones = self._zones_of(labels, i, stats[i]) if confirmed else ()
            if not confirmed or (self.cfg.require_zone and self._zone_masks and not zones):
                continue
            blobs.append((Blob(tuple(round(v, 4) for v in box),  # type: ignore[arg-type]
                               round(int(stats[i][4]) / frame_area, 5), zones), track.since))
        self._track = new_track
        cls = lut[labels]
        moving = cv2.resize((cls == 1).view(np.uint8), (full_w, full_h),
                            interpolation=cv2.INTER_NEAREST)
        static = cv2.resize((cls == 2).view(np.uint8), (full_w, full_h),
                            interpolation=cv2.INTER_NEAREST)
        return blobs, moving, static

    def _zones_of(self, labels: np.ndarray, i: int, stat: np.ndarray) -> tuple[str, ...]:
        if not self._zone_masks:
            return ()
        x, y, bw, bh = (int(v) for v in stat[:4])
        inside = labels[y:y + bh, x:x + bw] == i
        return tuple(name for name, zm in self._zone_masks
                     if np.any(inside & (zm[y:y + bh, x:x + bw] > 0)))

    def _learn(self, norm: np.ndarray, bg: np.ndarray, fg: np.ndarray,
               moving: np.ndarray, static: np.ndarray, lit: np.ndarray | None) -> None:
        if lit is not None:  # lit only: not learnt at all, the light will go away again
            keep = cv2.bitwise_not(lit)
            fg, moving, static = cv2.bitwise_or(fg, lit), cv2.bitwise_and(moving, keep), \
                cv2.bitwise_and(static, keep)
        cv2.accumulateWeighted(norm, bg, self.cfg.background_rate, mask=cv2.bitwise_not(fg))
        cv2.accumulateWeighted(norm, bg, self.cfg.static_absorb_rate, mask=static)
        cv2.accumulateWeighted(norm, bg, self.cfg.background_rate / 10, mask=moving)
