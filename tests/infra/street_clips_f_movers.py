"""The pole camera and the movers of the style-F junction clips (``street_clips_f``).

A camera on a 4.5 m pole at a commune junction, pitched down ``TILT`` (X right, Y up, Z
forward along the ground, metres): the ground fills most of the picture, shop fronts close
it at ``FACADE_Z``. Points are projected through that tilted pinhole; the wide lens's barrel
distortion is applied to the whole picture afterwards (``street_clips_f``).

Movers follow paths of (time, X, Z) waypoints, smoothed over +-0.3 s so they turn through
the junction in curves; their limbs swing with the distance covered, so a mover standing
still changes no pixel (and is not labelled). Each is drawn from filled capsules (a segment
with a radius in metres) and convex polygons: people (a conical hat, a shoulder pole with two
baskets, a raincoat), a motorbike with one or two riders and its headlamp, a bicycle, a small
truck, a dog, chickens. Part of that generator (its clips' cache key hashes this file);
shares no drawing code with the other styles.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

WIDTH, HEIGHT = 1280, 720
FOCAL, CX, CY, POLE_H = 560.0, 640.0, 360.0, 4.5
TILT = math.radians(27.0)
_SIN, _COS = math.sin(TILT), math.cos(TILT)
FACADE_Z = 24.0

Vec = tuple[float, float, float]
Waypoint = tuple[float, float, float]  # (time s, X, Z): standing still between equal places
Part = tuple[tuple[Vec, ...], float, tuple[float, float, float]]  # points, radius m, BGR


def project(p: Vec) -> tuple[float, float, float]:
    """Image (u, v) and depth along the optical axis of a world point."""
    dy = p[1] - POLE_H
    zc = max(-dy * _SIN + p[2] * _COS, 0.3)
    yc = -dy * _COS - p[2] * _SIN
    return CX + FOCAL * p[0] / zc, CY + FOCAL * yc / zc, zc


def rays(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World direction (x, y, z) of the ray through each undistorted pixel."""
    a, b = (u - CX) / FOCAL, (v - CY) / FOCAL
    return a, -b * _COS - _SIN, _COS - b * _SIN


@dataclass(frozen=True)
class Mover:
    """``kind``: walker, moto, bicycle, truck, dog or chicken. ``hat``: a conical hat;
    ``load``: a shoulder pole with baskets; ``raincoat``; ``pillion``: a second rider."""
    kind: str
    path: tuple[Waypoint, ...]
    shade: tuple[float, float, float] = (0.3, 0.3, 0.32)  # clothes / paint, BGR reflectance
    skin: tuple[float, float, float] = (0.35, 0.45, 0.6)
    stature: float = 1.0
    hat: bool = False
    load: bool = False
    raincoat: bool = False
    pillion: bool = False

    @property
    def start_s(self) -> float:
        return self.path[0][0]

    @property
    def end_s(self) -> float:
        return self.path[-1][0]


def _lin(path: tuple[Waypoint, ...], t: float) -> tuple[float, float, float]:
    """Place (X, Z) on the piecewise-linear path and the distance covered so far."""
    walked = 0.0
    t = min(max(t, path[0][0]), path[-1][0])
    for (t0, x0, z0), (t1, x1, z1) in itertools.pairwise(path):
        step = math.hypot(x1 - x0, z1 - z0)
        if t <= t1:
            f = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
            return x0 + f * (x1 - x0), z0 + f * (z1 - z0), walked + f * step
        walked += step
    return path[-1][1], path[-1][2], walked


@dataclass(frozen=True)
class Pose:
    x: float
    z: float
    heading: tuple[float, float]  # unit (dx, dz)
    walked: float


def pose(m: Mover, t: float) -> Pose:
    pts = [_lin(m.path, t + dt) for dt in (-0.3, 0.0, 0.3)]
    x, z = sum(p[0] for p in pts) / 3, sum(p[1] for p in pts) / 3
    hx, hz = pts[2][0] - pts[0][0], pts[2][1] - pts[0][1]
    n = math.hypot(hx, hz)
    if n < 1e-6:  # standing: face along the last leg walked
        legs = [(b[1] - a[1], b[2] - a[2]) for a, b in itertools.pairwise(m.path)
                if a[0] <= t and (a[1], a[2]) != (b[1], b[2])]
        hx, hz = legs[-1] if legs else (1.0, 0.0)
        n = math.hypot(hx, hz)
    return Pose(x, z, (hx / n, hz / n), pts[1][2])


def _at(p: Pose, fwd: float, up: float, side: float = 0.0) -> Vec:
    hx, hz = p.heading
    return (p.x + fwd * hx - side * hz, up, p.z + fwd * hz + side * hx)


def _person(p: Pose, m: Mover, seat: Vec | None = None) -> Iterator[Part]:
    h = 1.62 * m.stature
    phase = 2 * math.pi * p.walked / (0.75 * h)
    swing = 0.42 * math.sin(phase)
    dark = (0.7 * m.shade[0], 0.7 * m.shade[1], 0.7 * m.shade[2])
    if seat is None:
        hip = _at(p, 0.0, 0.52 * h)
        for side, s in ((-0.09, swing), (0.09, -swing)):
            knee = _at(p, 0.26 * h * math.sin(s), 0.27 * h, side)
            bend = max(0.0, math.sin(phase + (0 if side < 0 else math.pi)))
            foot = _at(p, 0.27 * h * math.sin(s) - 0.08 * h * bend, 0.03 + 0.05 * bend, side)
            yield (_at(p, 0.0, 0.52 * h, side), knee, foot), 0.065, dark
    else:
        hip = seat
        for side in (-0.16, 0.16):
            yield (_at(p, seat_fwd(p, seat), seat[1], side), _at(p, seat_fwd(p, seat) + 0.35,
                                                                   0.45, side),
                   _at(p, seat_fwd(p, seat) + 0.3, 0.25, side)), 0.07, dark
    fwd0 = seat_fwd(p, hip)
    shoulder = _at(p, fwd0 + (0.06 if seat else 0.0), hip[1] + 0.3 * h)
    coat = (0.55, 0.35, 0.2) if m.raincoat else m.shade
    yield (hip, shoulder), (0.3 if m.raincoat else 0.17) * m.stature, coat
    if m.raincoat and seat is None:
        yield (_at(p, 0.0, 0.3 * h), hip), 0.26 * m.stature, coat
    for side, s in ((-0.2, -swing), (0.2, swing)):
        reach = 0.3 if seat else 0.2 * math.sin(s) * h
        hand = _at(p, fwd0 + reach, shoulder[1] - (0.15 if seat else 0.33) * h, side)
        yield (_at(p, fwd0, shoulder[1] - 0.03, side), hand), 0.05, coat
    head = _at(p, fwd0 + 0.02, shoulder[1] + 0.12 * h)
    yield (head,), 0.11 * m.stature, m.skin
    if m.hat:  # a wide flat cone: its brim drawn as a flat capsule, its tip as a point
        yield (_at(p, fwd0, head[1] + 0.04, -0.26), _at(p, fwd0, head[1] + 0.04, 0.26)), \
            0.05, (0.55, 0.72, 0.8)
        yield (_at(p, fwd0, head[1] + 0.08, -0.12), _at(p, fwd0, head[1] + 0.14),
               _at(p, fwd0, head[1] + 0.08, 0.12)), 0.05, (0.55, 0.72, 0.8)
    if m.load:  # a shoulder pole along the heading, a basket at each end
        top = shoulder[1] + 0.02
        yield (_at(p, fwd0 - 0.75, top), _at(p, fwd0 + 0.75, top)), 0.025, (0.3, 0.45, 0.5)
        for end in (-0.7, 0.7):
            yield (_at(p, fwd0 + end, 0.55), _at(p, fwd0 + end, 0.3)), 0.2, (0.25, 0.4, 0.45)


def seat_fwd(p: Pose, point: Vec) -> float:
    """How far ``point`` is ahead of the mover's centre along its heading."""
    return (point[0] - p.x) * p.heading[0] + (point[2] - p.z) * p.heading[1]


def _wheel(p: Pose, fwd: float, r: float, up: float = 0.0) -> Part:
    return (_at(p, fwd - 0.6 * r, up + r), _at(p, fwd + 0.6 * r, up + r)), r * 0.75, \
        (0.08, 0.08, 0.08)


def parts(m: Mover, t: float) -> list[Part]:
    p = pose(m, t)
    if m.kind == "walker":
        return list(_person(p, m))
    if m.kind in ("moto", "parked"):
        out = [_wheel(p, -0.65, 0.3), _wheel(p, 0.65, 0.3),
               ((_at(p, -0.7, 0.62), _at(p, 0.55, 0.7)), 0.2, m.shade),
               ((_at(p, 0.6, 0.75), _at(p, 0.72, 1.05)), 0.07, (0.1, 0.1, 0.1)),
               ((_at(p, 0.72, 1.05, -0.3), _at(p, 0.72, 1.05, 0.3)), 0.03, (0.1, 0.1, 0.1))]
        if m.kind == "parked":
            return out
        rider = Mover("walker", m.path, m.shade if m.pillion else (0.25, 0.3, 0.4), m.skin,
                      1.0, m.hat)
        if m.pillion:
            out += _person(p, Mover("walker", m.path, (0.45, 0.3, 0.55), m.skin, 0.95),
                           _at(p, -0.55, 0.85))
        out += _person(p, rider, _at(p, -0.15, 0.85))
        return out
    if m.kind == "bicycle":
        out = [_wheel(p, -0.52, 0.33), _wheel(p, 0.52, 0.33),
               ((_at(p, -0.5, 0.4), _at(p, -0.1, 0.85), _at(p, 0.45, 0.9), _at(p, 0.5, 0.4)),
                0.025, (0.2, 0.2, 0.5))]
        return out + list(_person(p, m, _at(p, -0.12, 0.95)))
    if m.kind == "dog":
        trot = 0.5 * math.sin(2 * math.pi * p.walked / 0.6)
        out = [((_at(p, -0.3, 0.42), _at(p, 0.3, 0.44)), 0.12, m.shade),
               ((_at(p, 0.35, 0.5), _at(p, 0.5, 0.58)), 0.09, m.shade),
               ((_at(p, -0.32, 0.45), _at(p, -0.5, 0.6 + 0.05 * trot)), 0.03, m.shade)]
        for fwd, s in ((-0.25, trot), (0.25, -trot), (-0.22, -trot), (0.28, trot)):
            out.append(((_at(p, fwd, 0.4), _at(p, fwd + 0.2 * s, 0.03)), 0.035, m.shade))
        return out
    if m.kind == "chicken":
        peck = max(0.0, math.sin(2 * math.pi * p.walked / 0.25))
        return [((_at(p, -0.08, 0.22), _at(p, 0.06, 0.24)), 0.1, m.shade),
                ((_at(p, 0.1, 0.33 - 0.2 * peck), _at(p, 0.15 + 0.05 * peck, 0.35 - 0.25 * peck)),
                 0.04, m.shade),
                ((_at(p, 0.0, 0.12), _at(p, 0.0, 0.0)), 0.015, (0.2, 0.5, 0.7))]
    # a small truck: cab and cargo box as convex solids (radius 0), wheels
    out = [_wheel(p, -1.3, 0.38), _wheel(p, 1.2, 0.38)]
    for f0, f1, top, shade in ((-2.2, 0.7, 2.1, m.shade), (0.7, 1.9, 1.8, (0.6, 0.6, 0.62))):
        box = tuple(_at(p, f, y, s) for f in (f0, f1) for y in (0.45, top) for s in (-0.9, 0.9))
        out.append((box, 0.0, shade))
    return out


def headlamp(m: Mover, t: float) -> tuple[Vec, tuple[float, float]] | None:
    """Where the headlamp is and where it points (motorbikes and the truck)."""
    if m.kind not in ("moto", "truck") or not m.start_s <= t < m.end_s:
        return None
    p = pose(m, t)
    return _at(p, 0.95 if m.kind == "moto" else 1.95, 0.9), p.heading


def _draw_part(part: Part, surf: np.ndarray, label: np.ndarray, index: int) -> None:
    points, radius, shade = part
    uv = [project(q) for q in points]
    pts = np.array([[u, v] for u, v, _ in uv], np.float32)
    if radius == 0.0:  # a solid: its outline
        hull = cv2.convexHull(np.round(pts).astype(np.int32))
        cv2.fillConvexPoly(surf, hull, shade, cv2.LINE_AA)
        cv2.fillConvexPoly(label, hull, index)
        return
    width = [max(1, round(2 * radius * FOCAL / z)) for _, _, z in uv]
    ipts = np.round(pts).astype(np.int32)
    if len(ipts) == 1:
        c = (int(ipts[0][0]), int(ipts[0][1]))
        cv2.circle(surf, c, max(1, width[0] // 2), shade, -1, cv2.LINE_AA)
        cv2.circle(label, c, max(1, width[0] // 2), index, -1)
        return
    if len(ipts) >= 3 and radius <= 0.05 and part[2][0] > 0.5:  # the hat's cone: filled
        cv2.fillConvexPoly(surf, ipts, shade, cv2.LINE_AA)
        cv2.fillConvexPoly(label, ipts, index)
    for a, b, w in zip(ipts, ipts[1:], width, strict=False):
        cv2.line(surf, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), shade, w, cv2.LINE_AA)
        cv2.line(label, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), index, w)


def draw(m: Mover, t: float, surf: np.ndarray, label: np.ndarray, index: int) -> None:
    """Draw the mover's reflectance into ``surf`` and its number into ``label``."""
    for part in parts(m, t):
        _draw_part(part, surf, label, index)


def depth(m: Mover, t: float) -> float:
    p = pose(m, t)
    return project((p.x, 0.8, p.z))[2]
