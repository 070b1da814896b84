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


# Timed packets held back at most, waiting for FFmpeg to know their decode times: more than
# the B-frames a camera puts between two reference frames (x264 / x265 use up to 3 or 4).
REORDER_MAX = 8


def time_orphans(orphans: list[Any], timed: list[Any], time_base: Any, frame_s: float) -> None:
    """Give the packets that came before the stream clock was known (an RTSP session's first,
    ``orphans``) times from the ``timed`` packets after them, and the timed ones without a
    decode time one. Slices of a key frame share its time; otherwise an orphan is shown one
    frame interval before the earliest frame shown after it: with B-frames the packet
    decoded next (a P-frame) is shown later than the B-frames after it, and timing the key
    frame from it put it after them (handed out out of order). Decode times run one frame
    apart up to the first known one, so the clip writer, which keeps only rising ones, keeps
    these packets."""
    step = max(1, round(frame_s / float(time_base)))
    known = next(((i, p.dts) for i, p in enumerate(timed) if p.dts is not None), None)
    if known is not None:
        for i, p in enumerate(timed[:known[0]]):
            p.dts = known[1] - (known[0] - i) * step
    head = timed[0]
    slices = orphans[0].is_keyframe and head.is_keyframe
    shown = min(p.pts if p.pts is not None else p.dts for p in timed)
    pts = (head.pts if head.pts is not None else head.dts) if slices else shown - step
    dts = head.dts if slices or head.dts is None else head.dts - step
    for orphan in orphans:
        orphan.time_base = time_base
        orphan.pts, orphan.dts = pts, (pts if dts is None else min(dts, pts))
