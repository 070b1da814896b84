"""Packet helpers for the source thread: joining a frame's slices, pacing a file."""

from __future__ import annotations

import threading
import time
from typing import Any

import av


def join_slices(parts: list[Any]) -> Any:
    """One packet from the slices of one frame (same timestamp), as the decoder wants."""
    first = parts[0]
    packet = av.Packet(b"".join(bytes(p) for p in parts))
    packet.pts, packet.dts, packet.time_base = first.pts, first.dts, first.time_base
    packet.is_keyframe = any(p.is_keyframe for p in parts)
    return packet


class Pacer:
    """Plays a file at its own frame rate, like a camera would deliver it."""

    def __init__(self) -> None:
        self._t0: float | None = None
        self._p0 = 0.0

    def wait(self, pts: float, stop: threading.Event) -> None:
        now = time.monotonic()
        if self._t0 is None or pts < self._p0:
            self._t0, self._p0 = now, pts
            return
        delay = self._t0 + (pts - self._p0) - now
        if delay > 1.0:  # a jump in timestamps: restart the clock rather than stall
            self._t0, self._p0 = now, pts
        elif delay > 0:
            stop.wait(delay)
