"""Event clips by remuxing the camera's own H.264 packets (no re-encode: ~0 CPU).

``feed`` is called by the source thread for every packet. A short ring buffer keeps the
pre-capture, starting at a key frame (a clip must start with one to be playable). ``start``
and ``finish`` may be called from any thread; the writing happens in the source thread.
A write error (disk full) closes the clip and is reported in ``last_error``; the camera goes on.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from pathlib import Path
from typing import Any

import av


class ClipRecorder:
    def __init__(self, pre_s: float, post_s: float, max_s: float) -> None:
        self.pre_s, self.post_s, self.max_s = pre_s, post_s, max_s
        self.template: Any = None  # input video stream, set when the source opens
        self.last_error: str | None = None
        self.finished: list[Path] = []  # clips closed (the owner collects them)
        self._ring: deque[tuple[Any, float]] = deque()
        self._lock = threading.Lock()
        self._want: Path | None = None
        self._stop_at: float | None = None  # stream time to stop, after post-capture
        self._finish_requested = False
        self._out: Any = None
        self._stream: Any = None
        self._path: Path | None = None
        self._t0 = 0.0
        self._started = 0.0
        self._last_dts: int | None = None  # of the newest packet written (None: none yet)

    def start(self, path: Path) -> None:
        with self._lock:
            if self._out is None:
                self._want, self._finish_requested = path, False

    def finish(self) -> None:
        with self._lock:
            self._finish_requested = True

    @property
    def recording(self) -> bool:
        return self._out is not None or self._want is not None

    def feed(self, packet: Any, pts: float) -> None:
        if self.template is None:
            return
        self._ring.append((packet, pts))
        self._trim(pts)
        with self._lock:
            want, finish = self._want, self._finish_requested
            self._want = None
        if want is not None:
            self._open(want, pts)
            return
        if self._out is None:
            return
        if finish and self._stop_at is None:
            self._stop_at = pts + self.post_s
        if (self._stop_at is not None and pts >= self._stop_at) or \
                pts - self._started >= self.max_s:
            self._close()
            return
        self._write(packet, pts)

    def _trim(self, now: float) -> None:
        # Keep from the newest key frame that is at least pre_s old.
        ring = self._ring
        keep_from = 0
        for i, (pkt, pts) in enumerate(ring):
            if pts > now - self.pre_s:
                break
            if pkt.is_keyframe:
                keep_from = i
        for _ in range(keep_from):
            ring.popleft()

    def _open(self, path: Path, now: float) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._out = av.open(str(path), "w", format="mp4")
            self._stream = self._out.add_stream_from_template(self.template)
            self._path, self._started, self._stop_at, self._last_dts = path, now, None, None
            start = next((i for i, (p, _) in enumerate(self._ring) if p.is_keyframe), None)
            buffered = list(self._ring)[start:] if start is not None else []
            self._t0 = buffered[0][1] if buffered else now
            for pkt, pts in buffered:
                self._write(pkt, pts)
        except (av.FFmpegError, OSError, ValueError) as exc:
            self._fail(exc)

    def _write(self, packet: Any, pts: float) -> None:
        if self._out is None:
            return
        if self._last_dts is None and not packet.is_keyframe:
            return  # wait for a key frame
        tb = packet.time_base or self.template.time_base
        ts = round((pts - self._t0) / float(tb))
        # A B-frame is decoded before frames shown earlier than it: keep the source's offset
        # between decoding and showing (0 without B-frames), or the B-frames would be lost.
        dts = ts - (packet.pts - packet.dts if packet.pts is not None and
                    packet.dts is not None else 0)
        if self._last_dts is not None and dts <= self._last_dts:
            return
        try:
            # A copy: the source may still decode this packet (adaptive catch-up).
            out = av.Packet(bytes(packet))
            out.is_keyframe = packet.is_keyframe
            out.stream = self._stream
            out.time_base = tb
            out.pts, out.dts = ts, dts
            # Without a duration the last frame has none, and players drop it.
            out.duration = packet.duration or self._frame_ticks(tb)
            self._out.mux(out)
            self._last_dts = dts
        except (av.FFmpegError, OSError, ValueError) as exc:
            self._fail(exc)

    def _frame_ticks(self, tb: Any) -> int:
        rate = self.template.average_rate or self.template.guessed_rate
        return max(1, round(1 / (float(rate) * float(tb)))) if rate else 1

    def _close(self) -> None:
        out, path = self._out, self._path
        self._out = self._stream = None
        self._stop_at = None
        try:
            out.close()
            if path is not None:
                self.finished.append(path)
        except (av.FFmpegError, OSError) as exc:
            self.last_error = f"clip {path}: {exc}"

    def _fail(self, exc: Exception) -> None:
        self.last_error = f"clip {self._path}: {exc}"
        out, self._out, self._stream = self._out, None, None
        if out is not None:
            with contextlib.suppress(av.FFmpegError, OSError):
                out.close()
