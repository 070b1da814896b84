"""Adaptive decode's activity watch for one session: bitstream trigger, size fallback.

H.264 streams: the slice headers' QP and the slice bytes feed ``ComplexityTrigger``. Other
codecs (H.265), a parameter set the reader cannot parse or a broken packet: the old
packet-size trigger (an inter packet larger than ``size_factor`` × the largest recent still
one) takes over for the rest of the session, said once in the log, never an error.
"""

from __future__ import annotations

import logging
from collections import deque

from drivers.cameras.activity import ComplexityTrigger, TriggerConfig
from drivers.cameras.h264_slices import BitstreamError, H264Reader

log = logging.getLogger(__name__)


class ActivityWatch:
    def __init__(self, codec: str, extradata: bytes | None, *, name: str, margin: float,
                 size_factor: float, trigger: str = "bitstream", hold_s: float = 1.0) -> None:
        self._name = name
        self._hold_s = hold_s
        self._judge_at: float | None = None  # when to ask whether the last trigger was real
        self._off = trigger == "off"
        self._size_factor = size_factor
        self._sizes: deque[int] = deque(maxlen=120)  # recent still inter packets (fallback)
        self.trigger = ComplexityTrigger(TriggerConfig(margin=margin))
        self.reader: H264Reader | None = None
        self.judged: str | None = None  # the last check judged a trigger: confirmed/missed
        if trigger != "bitstream":
            return
        if codec != "h264":
            self._fall_back(f"codec {codec}")
            return
        try:
            self.reader = H264Reader(extradata)
        except (BitstreamError, IndexError) as exc:
            self._fall_back(f"extradata: {exc}")

    @property
    def mode(self) -> str:
        if self._off:
            return "off"
        return "bitstream" if self.reader is not None else "size"

    def _fall_back(self, why: str) -> None:
        self.reader = None
        log.info("camera %s: no slice QP from the bitstream (%s): adaptive decode triggers "
                 "on packet sizes", self._name, why)

    def check(self, data: bytes, size: int, is_key: bool, t: float, active: bool,
              now: float = 0.0, owner_held: bool = False) -> bool:
        """Feed one whole frame (``t`` stream time; ``now`` the caller's monotonic clock);
        True = activity, decode every frame from now on. ``owner_held``: the owner asked to
        decode everything since the last trigger, i.e. the detector saw it move."""
        self.judged = None
        if self._off:
            return False
        if self._judge_at is not None and now >= self._judge_at:
            self._judge_at = None
            self.judged = "confirmed" if owner_held else "missed"
            if owner_held:
                self.trigger.confirmed()
            else:
                self.trigger.missed(t)  # a false catch-up: the next trigger is harder
        if active and not is_key:
            return False  # decoding everything anyway: the trigger would not be asked
        fired = self._check(data, size, is_key, t, active)
        if fired:
            self._judge_at = now + self._hold_s
        return fired

    def _check(self, data: bytes, size: int, is_key: bool, t: float, active: bool) -> bool:
        if self.reader is not None:
            try:
                info = self.reader.frame(data)
            except (BitstreamError, IndexError) as exc:
                self._fall_back(str(exc))
            else:
                if info is None:  # parameter sets or SEI only
                    return False
                return self.trigger.feed(info.size, info.qp, is_key, t, active)
        if is_key:
            return False
        fired = (not active and len(self._sizes) >= 60
                 and size > self._size_factor * max(self._sizes) + 200)
        self._sizes.append(size)
        return fired
