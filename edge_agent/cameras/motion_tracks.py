"""Following a moving blob from one analysed frame to the next, and when to report it.

Pure: the detector (``motion``) hands over the previous frame's tracks and this frame's blob;
the pixel tests it needs (``DropTest``, the lit-only mask) are passed in.

- persistence: a blob must be near a moving blob of the previous frame ``persistence_frames``
  in a row (random speckle never persists);
- a blob that looks like a lens drop (blurred, ``DropTest``), or one next to much lit-only
  light, must last ``_DROP_FRAMES``; a drop's ghost (darker than the background where it was)
  gets no track and is absorbed;
- a bright blob that ran down like a drop on the lens since it was first seen (``slid_down``,
  followed frame to frame by overlap) is not reported: a sharp-edged drop sliding for seconds
  passes the blur test, but no person or car moves like it;
- in a picture wider than 160 px, a blob that came into view at a side (``came_in``) and
  replaced the background's texture needs no drop's wait: a car soft-edged by its own glow;
- a faint blob, seen moving only in the recent frames' average, must last ``_SLOW_FRAMES``
  and get somewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent.cameras.motion_filters import (
    DROP_MIN_AREA,
    Box,
    DropTest,
    came_in,
    iou_of,
    near,
    overlap,
    shift,
    slid_down,
)
from edge_agent.cameras.motion_light import lit_around
from edge_agent.cameras.motion_types import Track

# A blob that looks like a drop of rain near the lens (``DropTest``) must be seen this many
# analysed frames in a row before it counts (0.8 s at 10 fps, about 1 s at 7.5): such drops
# are gone within a few frames (one drop after another in heavy rain), people and cars are not.
_DROP_FRAMES = 8
# A blob seen moving only in the recent frames' average (a faint, slow mover in noise) must be
# seen this many analysed frames in a row: a sudden change that stays put looks like motion
# in the average for a few frames, until the average has caught up.
_SLOW_FRAMES = 6
_SLOW_SHIFT = 0.02  # ... and its centre must have moved this far (2 % of the picture)


# A brighter blob next to much lit-only light that kept this much of the background's fine
# structure over all its pixels is the rest of that light (a beam's front edge, the part of a
# lamp's pool the windowed test missed in noise, a lens drop the street is seen through):
# followed, not reported. Measured on the tuning set's blobs (style A): 0.29-0.49 on a car's
# beam before the car, at most 0.17 on a car or a walker outside the IR switch's settling.
_KEPT = 0.25


def _lit_only(b: Seen, drops: DropTest, lit: np.ndarray | None) -> bool:
    if b.settling or not lit_around(lit, b.stat):
        return False  # (after the IR switch much is lit around a person too)
    return drops.brighter(b.labels, b.i, b.stat, b.frame_area) and \
        drops.texture_kept(b.labels, b.i, b.stat, b.frame_area) > _KEPT


@dataclass(frozen=True)
class Seen:
    """One moving blob of this frame: its box, whether it moves only in the average, the
    half-resolution labels it is ``i`` of, its stats row and the labels' area, and the
    previous analysed frame's time."""

    box: Box
    slow_only: bool
    labels: np.ndarray
    i: int
    stat: np.ndarray
    frame_area: float
    last_ts: float
    settling: bool = False  # the picture is settling to a new light (the IR came on)


def follow(tracks: list[Track], b: Seen, drops: DropTest, lit: np.ndarray | None,
           persistence: int) -> tuple[Track | None, bool]:
    """The blob's run, continued from the previous frame's ``tracks``, and whether it is
    confirmed now; no track for the ghost of a lens drop (to be absorbed). ``lit``: this
    frame's lit-only pixels (None when none)."""
    box, stat, area = b.box, b.stat, b.frame_area
    # A new run starts at the previous analysed frame: the thing appeared after it.
    _, run, since, origin, wet, crisp, _, shown = max(
        (t for t in tracks if near(t.box, box)), key=lambda t: t[:6],
        default=Track(box, 0, b.last_ts, box, False, 0, box))
    # The way it went, from the blob of the previous frame it overlaps most (in rain the
    # longest track nearby is often another drop's).
    start, best = box, 0.0
    for t in tracks:
        v = iou_of(t.box, box)
        if v > best:
            start, best = t.path, v
    run += 1
    need = persistence
    # (Only asked while the answer can matter: it costs a few passes per blob. Asked from the
    # first frame on, when a drop is most like one: whole, new and blurred.)
    asked = run < _DROP_FRAMES or (wet and crisp <= 0)
    drop = drops.looks_like_drop(b.labels, b.i, stat, area) if asked else 0
    if drop < 0 and run >= need:
        return None, False
    if drop > 0 and run >= need:
        # In rain one drop follows another nearby: a drop's run only goes on with a blob it
        # overlaps.
        run = 1 + max((t.run for t in tracks if overlap(t.box, box)), default=0)
    # Next to much light (the lit-only pixels around it: a beam, a lens drop's glare that was
    # taken out) what is left may be its fringe: as long as a drop must last.
    wet = wet or drop > 0 or (run < _DROP_FRAMES and lit_around(lit, stat))
    if asked and int(stat[4]) >= DROP_MIN_AREA * area:  # (else too small to judge)
        crisp += 1 if drop == 0 else -1
    sliding = slid_down(start, box, drops.width) and drops.brighter(b.labels, b.i, stat, area)
    # (Something that came in at a side and replaced the background's texture is no drop:
    # a drop on the lens is seen through, it keeps the street's structure. A blob too small
    # to judge has no texture measured: it waits.)
    if (wet or sliding) and not (came_in(origin, box, drops.width) and int(
            stat[4]) >= DROP_MIN_AREA * area and drops.texture_kept(
            b.labels, b.i, stat, area) <= _KEPT):
        need = max(need, _DROP_FRAMES)  # looked like a drop on the lens: gone before this
    # No veto on a track that stays soft-edged: a car seen blurred by its own lamps is one
    # too (tried: it cost a held-out wet-road car most of its frames, docs/detection-quality.md).
    # (Once reported, a mover is not vetoed as light: the IR's light around him, left by
    # the gain map, may join his blob.)
    confirmed = run >= need and not sliding and (shown or not _lit_only(b, drops, lit))
    if b.slow_only:
        # Seen moving only in the frames' average: it must go on and get somewhere (a sudden
        # change that stays put looks like motion there for a while).
        confirmed = confirmed and run >= _SLOW_FRAMES and shift(origin, box) >= _SLOW_SHIFT
    return Track(box, run, since, origin, wet or sliding, crisp, start,
                 shown or confirmed), confirmed


def coasted(before: list[Track], now: list[Track], persistence: int) -> list[Track]:
    """``now``'s tracks and the confirmed ones of ``before`` this frame did not continue."""
    return now + [t for t in before if t.run >= persistence and
                  not any(near(t.box, n.box) for n in now)]
