"""Packet helpers for the source thread: timing and joining demuxed packets into whole
frames (``Framer``), pacing a file."""

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


class Framer:
    """Demuxed packets in, whole frames out: ``(packet, stream seconds)`` in demux order,
    the times of a looped file continuing after its end (``offset``). One per session.

    The first packets of an RTSP session come before FFmpeg knows the stream clock (no
    timestamps): they are kept and timed from the packets after them (``time_orphans``).
    Dropping them cut the session's first key frame in half (its first slice), so nothing
    usable was decoded for a whole GOP. With ``join`` (RTSP), the slices of one frame, which
    arrive as several packets with the same time, are joined into one: decoded one by one
    they give half-drawn frames. That costs one frame interval of delay (files already hold
    whole frames, and are not joined).
    """

    def __init__(self, time_base: Any, frame_s: float, join: bool) -> None:
        self._time_base, self.tb = time_base, float(time_base)
        self._frame_s, self._join = frame_s, join
        self.offset = 0.0  # added to the stream's times (a looped file's run so far)
        self.last_pts = 0.0  # newest time handed out (B-frames come out of time order)
        self._orphans: list[Any] = []  # packets without timestamps, waiting for a timed one
        self._held: list[Any] = []  # timed packets after orphans, waiting for a decode time
        self._pending: list[Any] = []  # slices of the frame being joined
        self._pending_pts = 0.0

    def looped(self) -> None:
        """The file starts again: its times go on one frame after the last one."""
        self.offset = self.last_pts + self._frame_s

    def push(self, packet: Any) -> list[tuple[Any, float]]:
        """The whole frames ``packet`` completes (none while it waits for times or slices)."""
        if packet.pts is None and packet.dts is None:
            self._orphans.append(packet)
            del self._orphans[:-16]
            return []
        if self._orphans and packet.dts is None and len(self._held) < REORDER_MAX:
            self._held.append(packet)  # B-frames: the orphans' times are not known yet
            return []
        timed, self._held = [*self._held, packet], []
        if self._orphans:
            time_orphans(self._orphans, timed, self._time_base, self._frame_s)
        out: list[tuple[Any, float]] = []
        for unit in [*self._orphans, *timed]:
            pts = (unit.pts if unit.pts is not None else unit.dts) * self.tb + self.offset
            self.last_pts = max(self.last_pts, pts)
            if not self._join:
                out.append((unit, pts))
            elif self._pending and abs(pts - self._pending_pts) < 1e-6:
                self._pending.append(unit)  # another slice of the same frame
            else:
                out.extend(self.flush())
                self._pending, self._pending_pts = [unit], pts
        self._orphans = []
        return out

    def flush(self) -> list[tuple[Any, float]]:
        """The frame being joined, if any (the stream ended: no next frame will end it)."""
        if not self._pending:
            return []
        parts, self._pending = self._pending, []
        return [(parts[0] if len(parts) == 1 else join_slices(parts), self._pending_pts)]
