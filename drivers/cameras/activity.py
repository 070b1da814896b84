"""Adaptive decode's activity trigger: has a still scene started to change? (pure, no I/O)

Fed one (coded size, slice QP, key frame?, time) per frame, read from the bitstream without
decoding (``h264_slices``). A camera's rate control holds the bit rate (CBR) and raises the
quantiser when the picture gets harder to code, so neither size nor QP alone rises with
motion; size × 2^(QP/6) (bytes × quantiser step) estimates how hard the frame was to code
whatever the rate control does (CBR, VBR, constant QP).

That figure swings with the frame's place in the GOP (a rate-controlled encoder starves the
frames right after a key frame, then catches up) and, with some encoders, from frame to
frame. So each inter frame is compared with the still frames at the *same place* in the last
few GOPs (a camera's GOP length is fixed), in log units, and the trigger fires when the
median of the last few such residuals exceeds both ``margin`` and ``spread`` × the recent
still residuals' robust spread (MAD): a steady stream gets a sensitive trigger, a jittery
one a deaf one rather than a stream of false catch-ups. Only frames seen while the source is
*not* decoding everything are learnt; while it is, the detector decides.

Where it cannot help: a noisy sensor (white noise takes most of the bits whether or not
something moves) or a small mover whose texture motion compensation predicts well barely
changes the figure; motion is then found on the next key frame, as before.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass


def complexity(size: int, qp: float) -> float:
    """Bytes × quantiser step (the step doubles every 6 QP)."""
    return size * 2.0 ** (qp / 6.0)


@dataclass(frozen=True, slots=True)
class TriggerConfig:
    margin: float = 1.15  # at least this factor over the still frames at the same GOP place
    spread: float = 3.0  # ... and this many robust standard deviations of still residuals
    short: int = 3  # inter frames in the median that is tested
    gops: int = 3  # still GOPs remembered per place
    warmup: int = 30  # still residuals needed before it may fire
    residuals: int = 120  # still residuals the spread is taken over
    gap_s: float = 10.0  # a pause longer than this (or time going back): learn again
    # A trigger the detector did not confirm (a false catch-up, a GOP decoded for nothing)
    # widens the threshold by this many spreads, up to ``max_misses`` times; each miss is
    # forgotten after ``forget_s`` of stream time, so a noisy stream gets deaf, not costly.
    miss_spread: float = 1.0
    max_misses: int = 6
    forget_s: float = 300.0
    # Frames right after a key frame are not tested: the rate control's recovery from the
    # key frame's bits differs from GOP to GOP (libx264 alternates), and motion starting
    # there was just seen on the key frame itself.
    settle: int = 4


class ComplexityTrigger:
    """Feed every frame in order; ``feed`` says when to start decoding every frame."""

    def __init__(self, cfg: TriggerConfig | None = None) -> None:
        self.cfg = cfg or TriggerConfig()
        self._by_place: dict[int, deque[float]] = {}
        self._residuals: deque[float] = deque(maxlen=self.cfg.residuals)
        self._recent: deque[float] = deque(maxlen=self.cfg.short)
        self._place = 0  # frames since the last key frame
        self._last_t: float | None = None
        self._threshold = math.inf
        self._stale = 0  # residuals learnt since the threshold was computed
        self._misses: deque[float] = deque()  # stream times of unconfirmed triggers
        self.fired = 0

    def reset(self) -> None:
        """A new session, a loop or a long pause: learn again."""
        self._by_place.clear()
        self._residuals.clear()
        self._recent.clear()
        self._threshold, self._stale = math.inf, 0

    def threshold(self) -> float:
        """The log-residual the short median must exceed (inf while warming up). Taken
        again after every ``short`` new still residuals: two medians over the window cost
        more than the rest of the trigger, and the spread moves slowly."""
        if self._stale >= self.cfg.short or self._threshold == math.inf:
            self._stale = 0
            if len(self._residuals) < self.cfg.warmup:
                return math.inf
            values = sorted(self._residuals)
            mid = values[len(values) // 2]
            mad = statistics.median(abs(r - mid) for r in values)
            spread = self.cfg.spread + self.cfg.miss_spread * len(self._misses)
            self._threshold = max(math.log(self.cfg.margin), mid + spread * 1.4826 * mad)
        return self._threshold

    def missed(self, t: float) -> None:
        """The last trigger showed nothing to the detector (``t``: stream time)."""
        self._misses.append(t)
        while len(self._misses) > self.cfg.max_misses:
            self._misses.popleft()
        self._stale = self.cfg.short  # take the threshold again

    def confirmed(self) -> None:
        """The last trigger was real: forget the oldest miss."""
        if self._misses:
            self._misses.popleft()
            self._stale = self.cfg.short

    def feed(self, size: int, qp: float, is_key: bool, t: float, active: bool) -> bool:
        """True when this inter frame shows activity and the source is not active yet
        (``t``: the frame's time in seconds on the stream clock)."""
        if self._last_t is not None and not 0 <= t - self._last_t <= self.cfg.gap_s:
            self.reset()
        self._last_t = t
        while self._misses and not 0 <= t - self._misses[0] <= self.cfg.forget_s:
            self._misses.popleft()
            self._stale = self.cfg.short
        if is_key:
            self._place = 0
            self._recent.clear()
            return False
        self._place += 1
        if active or self._place <= self.cfg.settle:
            self._recent.clear()
            return False
        value = math.log(max(complexity(size, qp), 1.0))
        seen = self._by_place.setdefault(self._place, deque(maxlen=self.cfg.gops))
        if not seen:
            seen.append(value)
            return False
        residual = value - statistics.median(seen)
        self._recent.append(residual)
        short = sorted(self._recent)[len(self._recent) // 2]
        if len(self._recent) == self.cfg.short and short > math.log(self.cfg.margin) and \
                short > self.threshold():
            self._recent.clear()
            self.fired += 1
            return True
        seen.append(value)
        self._residuals.append(residual)
        self._stale += 1
        return False
