"""Helpers for tests that check what the agent recorded: an event clip written from a file's
packets by the agent's own ``ClipRecorder``, and reading a clip once its writer closed it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import av

from drivers.cameras.clip_writer import ClipRecorder

T = TypeVar("T")


def record_from_file(clip: Path, out: Path, start_s: float, finish_s: float, *,
                     pre_s: float, post_s: float) -> tuple[ClipRecorder, list[bytes]]:
    """Feed every packet of ``clip`` to a recorder asked to start at ``start_s`` and to
    finish at ``finish_s`` (stream seconds); the recorder and the packets' bytes."""
    rec = ClipRecorder(pre_s=pre_s, post_s=post_s, max_s=60)
    packets: list[bytes] = []
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        rec.template, tb = stream, float(stream.time_base)
        for packet in container.demux(stream):
            if packet.size == 0:
                break
            pts = packet.pts * tb
            if abs(pts - start_s) < 1e-6:
                rec.start(out)
            if abs(pts - finish_s) < 1e-6:
                rec.finish()
            packets.append(bytes(packet))
            rec.feed(packet, pts)
    return rec, packets


def once_closed(read: Callable[[Path], T], path: Path, timeout: float = 15.0) -> T:
    """``read(path)`` once the agent's writer has closed the clip (post-capture after the
    event's end): until then it is missing or not a whole MP4."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return read(path)
        except (av.FFmpegError, FileNotFoundError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
