"""What the motion detector reports (``Blob``, ``MotionResult``) and its work arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h relative to the frame


class Track(NamedTuple):
    """A moving blob of the previous analysed frame."""

    box: Box
    run: int  # analysed frames in a row
    since: float  # the time before the first of them
    origin: Box  # its box in the first of them
    wet: bool  # looked like a lens drop in any of them
    crisp: int  # how many more showed it with a sharp edge than with a soft one
    path: Box  # its box when first seen, followed by overlap (not by ``near``) frame to frame
    shown: bool = False  # reported in any of them


class Buffers:
    """Per-frame work arrays at the analysis size, allocated once."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.frame = np.empty(shape, np.float32)
        self.norm = np.empty(shape, np.float32)
        self.diff = np.empty(shape, np.float32)
        self.base = np.empty(shape, np.uint8)
        self.fg = np.empty(shape, np.uint8)
        self.eroded = np.empty(shape, np.uint8)


@dataclass(frozen=True, slots=True)
class Blob:
    box: Box
    area: float  # fraction of the frame
    zones: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MotionResult:
    ts: float
    motion: bool  # at least one confirmed moving blob
    blobs: tuple[Blob, ...]
    score: float  # fraction of the frame covered by confirmed moving blobs
    changed_fraction: float
    global_change: bool
    activity: bool = False  # a moving blob, confirmed or not (adaptive decode wakes up)
    # The analysed frame before the reported things were first seen: they have moved at
    # least since then (an event's duration is never 0). None when nothing is reported.
    since: float | None = None
