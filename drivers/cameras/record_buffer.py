"""The record (main) stream's recent packets, kept WITHOUT decoding them.

A camera with a detect sub-stream sends its main stream only for clips and snapshots. Its
packets are buffered as they come (the newest two GOPs, a few hundred kB at 720p) and nothing
is decoded, except on request: ``next_key_frame`` decodes one key frame (an event snapshot:
the first key frame at or after the event started, at most one GOP later), ``frame_now``
decodes the current GOP up to the newest packet (a snapshot command: exact, costs up to one
GOP of decoding). Decoding happens in the caller's thread with a decoder of its own, so the
stream thread only ever copies bytes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import av

MAX_GOP_PACKETS = 600  # a camera without key frames must not grow the buffer for ever


@dataclass(frozen=True, slots=True)
class _Packet:
    data: bytes
    key: bool
    pts: float
    arrival: float  # time.monotonic() when it came


class RecordBuffer:
    def __init__(self) -> None:
        self._gops: deque[list[_Packet]] = deque(maxlen=2)
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)
        self._codec: tuple[str, bytes | None] | None = None
        self.decoded = 0  # frames decoded for snapshots (CPU accounting)

    def set_stream(self, stream: Any) -> None:
        """Called by the stream thread when a session opens (codec and its parameters)."""
        ctx = stream.codec_context
        with self._lock:
            self._codec = (ctx.name, bytes(ctx.extradata) if ctx.extradata else None)
            self._gops.clear()  # packets of the previous session do not decode with these

    def feed(self, packet: Any, pts: float) -> None:
        """Called by the stream thread for every whole-frame packet."""
        item = _Packet(bytes(packet), bool(packet.is_keyframe), pts, time.monotonic())
        with self._new:
            if item.key or not self._gops:
                self._gops.append([item])
            elif len(self._gops[-1]) < MAX_GOP_PACKETS:
                self._gops[-1].append(item)
            self._new.notify_all()

    def newest(self) -> float | None:
        """Arrival time of the newest packet, None when nothing came yet."""
        with self._lock:
            return self._gops[-1][-1].arrival if self._gops else None

    def next_key_frame(self, after: float, timeout: float) -> Any:
        """Decode the first key frame that arrived at or after ``after`` (monotonic), waiting
        up to ``timeout`` for it; ``LookupError`` when none came."""
        deadline = time.monotonic() + timeout
        with self._new:
            while True:
                key = next((g[0] for g in self._gops if g[0].key and g[0].arrival >= after),
                           None)
                if key is not None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LookupError("no key frame from the record stream in time")
                self._new.wait(left)
            codec = self._codec
        return self._decode([key], codec)

    def frame_now(self, after: float, timeout: float) -> Any:
        """Decode the newest frame that arrived after ``after``: its GOP from the key frame."""
        deadline = time.monotonic() + timeout
        with self._new:
            while not (self._gops and self._gops[-1][-1].arrival >= after and
                       self._gops[-1][0].key):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LookupError("no new frame from the record stream")
                self._new.wait(left)
            gop, codec = list(self._gops[-1]), self._codec
        return self._decode(gop, codec)

    def _decode(self, packets: list[_Packet], codec: tuple[str, bytes | None] | None) -> Any:
        if codec is None:
            raise LookupError("the record stream is not open")
        ctx: Any = av.CodecContext.create(codec[0], "r")
        if codec[1]:
            ctx.extradata = codec[1]
        ctx.thread_count = 1
        frames: list[Any] = []
        for item in packets:
            frames.extend(ctx.decode(av.Packet(item.data)))
            del frames[:-1]
        frames.extend(ctx.decode(None))  # drain: the decoder may hold the last frame back
        self.decoded += len(packets)
        if not frames:
            raise LookupError("the record stream's frame did not decode")
        return frames[-1]
