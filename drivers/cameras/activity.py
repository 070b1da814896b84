"""Adaptive decode's activity trigger: has a still scene started to change? (pure, no I/O)

Fed one (coded size, slice QP, key frame?, time) per frame, read from the bitstream without
decoding (``h264_slices``). A camera's rate control holds the bit rate (CBR) and raises the
quantiser when the picture gets harder to code, so neither size nor QP alone rises with
motion; size × 2^(QP/6) (bits × quantiser step) estimates how much the picture changed
whatever the rate control does (CBR, VBR, constant QP).

Within a GOP the per-frame figure swings (a rate-controlled encoder starves the frames
right after a key frame, then catches up), so the trigger compares a short median (the last
few inter frames) with the median of the recent still ones, and fires when it exceeds that
by ``margin``. Only frames seen while the source is *not* decoding everything are learnt:
while active the detector decides.

Where it cannot help: a noisy sensor (white noise costs most of the bits whether or not
something moves) or a small mover whose texture motion compensation predicts well barely
changes the figure; then motion is still found on the next key frame, as before.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass


def complexity(size: int, qp: float) -> float:
    """Bytes × quantiser step (the step doubles every 6 QP)."""
    return size * 2.0 ** (qp / 6.0)


@dataclass(frozen=True, slots=True)
class TriggerConfig:
    margin: float = 2.0  # short median / still median that counts as activity
    short: int = 3  # inter frames in the short median
    still_s: float = 3.0  # seconds of still inter frames in the baseline
    warmup: int = 20  # still inter frames needed before it may fire
    floor: float = 2000.0  # complexity below this never fires (a nearly empty stream)


class ComplexityTrigger:
    """Feed every frame in order; ``feed`` says when to start decoding every frame."""

    def __init__(self, cfg: TriggerConfig | None = None) -> None:
        self.cfg = cfg or TriggerConfig()
        self._still: deque[tuple[float, float]] = deque(maxlen=600)  # (t, complexity)
        self._recent: deque[float] = deque(maxlen=self.cfg.short)
        self.fired = 0

    def reset(self) -> None:
        """A new session (reconnect) or a jump in the stream: learn again."""
        self._still.clear()
        self._recent.clear()

    def feed(self, size: int, qp: float, is_key: bool, t: float, active: bool) -> bool:
        """True when this inter frame shows activity and the source is not active yet
        (``t``: the frame's time in seconds, stream clock)."""
        if is_key:
            self._recent.clear()  # a key frame restarts the in-GOP pattern
            return False
        value = complexity(size, qp)
        if active:
            self._recent.clear()
            return False
        self._recent.append(value)
        cfg = self.cfg
        while self._still and (t - self._still[0][0] > cfg.still_s or t < self._still[0][0]):
            self._still.popleft()  # too old, or the clock jumped back (a file looped)
        if len(self._still) >= cfg.warmup and len(self._recent) == cfg.short:
            short = statistics.median(self._recent)
            base = statistics.median(v for _, v in self._still)
            if short > cfg.floor and short > cfg.margin * base:
                self._recent.clear()
                self.fired += 1
                return True
        self._still.append((t, value))
        return False
