"""The camera and the movers of the style-E street clips (``street_clips_e``).

A low camera on a house wall beside a dirt road, a pinhole in world metres: X right, Y up,
Z forward, the lens at ``CAM_H`` above the ground looking level, so the horizon is the row
``CY``. The road runs diagonally away from the bottom right to the top left; a place on it
is (s, d): ``s`` metres along it away from the camera, ``d`` metres across it (positive: the
far side, with the fence and the houses).

Movers are stick figures in 3D (segments with a width in metres, heads as spheres) projected
point by point, so they grow as they come near, face their heading and swing their limbs with
the distance they cover (a mover standing still keeps its pose and changes no pixel). Part of
that generator (its clips' cache key hashes both files); shares no code with the others.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

WIDTH, HEIGHT = 1280, 720
FOCAL, CX, CY, CAM_H = 900.0, 640.0, 300.0, 1.5
_ROAD0 = (4.0, 0.0)  # world (X, Z) of the road's centre line at s = 0
_ALONG = (-0.4472136, 0.8944272)  # unit vector along the road, away from the camera
_ACROSS = (0.8944272, 0.4472136)  # unit vector across it, towards the far side

Vec = tuple[float, float, float]
Waypoint = tuple[float, float, float]  # (time s, s, d): still between two equal places


def world(s: float, d: float, y: float = 0.0) -> Vec:
    return (_ROAD0[0] + s * _ALONG[0] + d * _ACROSS[0], y,
            _ROAD0[1] + s * _ALONG[1] + d * _ACROSS[1])


def road_coords(x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dx, dz = x - _ROAD0[0], z - _ROAD0[1]
    return dx * _ALONG[0] + dz * _ALONG[1], dx * _ACROSS[0] + dz * _ACROSS[1]


def project(p: Vec) -> tuple[float, float, float]:
    """Image (u, v) and depth Z of a world point (Z clamped: nothing is behind the lens)."""
    z = max(p[2], 0.3)
    return CX + FOCAL * p[0] / z, CY + FOCAL * (CAM_H - p[1]) / z, z


@dataclass(frozen=True)
class Mover:
    """One figure on a path of waypoints; ``kind``: walker, umbrella, pusher (a person
    pushing a bicycle), moto (a motorbike with its rider and headlamp) or dog."""
    kind: str
    path: tuple[Waypoint, ...]
    shade: tuple[float, float, float] = (0.3, 0.3, 0.35)  # clothes / paint, BGR reflectance
    stature: float = 1.0
    seed: int = 1

    @property
    def start_s(self) -> float:
        return self.path[0][0]

    @property
    def end_s(self) -> float:
        return self.path[-1][0]


@dataclass(frozen=True)
class Pose:
    at: Vec  # world point under the figure
    heading: tuple[float, float]  # unit (X, Z)
    walked: float  # metres covered since the path's start (drives the gait)


def pose(m: Mover, t: float) -> Pose:
    path = m.path
    walked = 0.0
    for (t0, s0, d0), (t1, s1, d1) in itertools.pairwise(path):
        length = math.hypot(s1 - s0, d1 - d0)
        if t <= t1 or (t1, s1, d1) == path[-1]:
            f = min(max((t - t0) / (t1 - t0), 0.0), 1.0) if t1 > t0 else 1.0
            return Pose(world(s0 + (s1 - s0) * f, d0 + (d1 - d0) * f),
                        _heading(path, (t0, s0, d0), (t1, s1, d1)), walked + length * f)
        walked += length
    raise ValueError("a path needs two waypoints")


def _heading(path: tuple[Waypoint, ...], a: Waypoint, b: Waypoint) -> tuple[float, float]:
    """The way the figure faces: that of the leg it is on, or of the last leg that moved."""
    legs = list(itertools.pairwise(path))
    i = legs.index((a, b))
    for p, q in [legs[i], *reversed(legs[:i])]:
        x0, _, z0 = world(p[1], p[2])
        x1, _, z1 = world(q[1], q[2])
        n = math.hypot(x1 - x0, z1 - z0)
        if n > 1e-6:
            return (x1 - x0) / n, (z1 - z0) / n
    return _ALONG


Segment = tuple[Vec, Vec, float, tuple[float, float, float]]  # ends, width (m), colour


def _local(p: Pose) -> tuple[Vec, Vec]:
    fx, fz = p.heading
    return (fx, 0.0, fz), (fz, 0.0, -fx)


def _at(p: Pose, fwd: float, side: float, up: float) -> Vec:
    (fx, _, fz), (sx, _, sz) = _local(p)
    return (p.at[0] + fx * fwd + sx * side, up, p.at[2] + fz * fwd + sz * side)


def _person(p: Pose, m: Mover, h: float, arms: bool = True) -> Iterator[Segment]:
    swing = math.sin(2 * math.pi * p.walked / 1.3 + m.seed)
    skin, trousers = (0.35, 0.45, 0.6), tuple(c * 0.6 for c in m.shade)
    hip, neck = 0.52 * h, 0.82 * h
    for s in (1, -1):
        knee = _at(p, s * 0.12 * h * swing, s * 0.05 * h, 0.28 * h)
        foot = _at(p, s * 0.24 * h * swing, s * 0.05 * h, 0.03 + 0.04 * max(0.0, -s * swing))
        yield _at(p, 0, s * 0.05 * h, hip), knee, 0.13 * h / 1.7, trousers  # type: ignore[misc]
        yield knee, foot, 0.11 * h / 1.7, trousers  # type: ignore[misc]
        if arms:
            elbow = _at(p, -s * 0.08 * h * swing, s * 0.13 * h, 0.64 * h)
            yield _at(p, 0, s * 0.12 * h, 0.8 * h), elbow, 0.08 * h / 1.7, m.shade
            yield elbow, _at(p, -s * 0.15 * h * swing, s * 0.13 * h, 0.5 * h), 0.07, skin
    yield _at(p, 0, 0, hip), _at(p, 0, 0, neck), 0.34 * h / 1.7, m.shade
    yield _at(p, 0, 0, 0.86 * h), _at(p, 0.01, 0, 0.97 * h), 0.19 * h / 1.7, skin


def _wheel(p: Pose, fwd: float, r: float, side: float = 0.0) -> Iterator[Segment]:
    for k in range(10):
        a, b = 2 * math.pi * k / 10, 2 * math.pi * (k + 1) / 10
        yield (_at(p, fwd + r * math.cos(a), side, r + r * math.sin(a)),
               _at(p, fwd + r * math.cos(b), side, r + r * math.sin(b)), 0.06, (0.05,) * 3)


def segments(m: Mover, t: float) -> list[Segment]:
    """The figure at time ``t``: segments to draw, far parts first."""
    p = pose(m, t)
    h = 1.7 * m.stature
    out: list[Segment] = []
    if m.kind in ("walker", "umbrella"):
        out += _person(p, m, h, arms=m.kind == "walker")
        if m.kind == "umbrella":
            hand = _at(p, 0.15, 0.12, 1.05)
            out.append((hand, _at(p, 0.1, 0.05, 1.95), 0.03, (0.1,) * 3))
            out.append((hand, _at(p, 0.2, 0.13, 0.8 * h), 0.08, m.shade))
            for k in range(6):  # the canopy: a low cone of stripes
                a = -0.55 + 0.22 * k
                out.append((_at(p, 0.1 + 0.55 * math.cos(a), 0.05 + 0.55 * math.sin(a), 1.8),
                            _at(p, 0.1 - 0.55 * math.cos(a), 0.05 - 0.55 * math.sin(a), 1.8),
                            0.28, (0.15, 0.12, 0.5)))
    elif m.kind == "pusher":
        out += _wheel(p, -0.35, 0.33, 0.55)
        out += _wheel(p, 0.75, 0.33, 0.55)
        tubes = (0.2, 0.25, 0.6)
        for (f0, y0), (f1, y1) in (((-0.35, 0.33), (0.2, 0.85)), ((0.2, 0.85), (0.75, 0.33)),
                                   ((0.2, 0.85), (0.65, 1.0)), ((-0.1, 0.9), (0.2, 0.85))):
            out.append((_at(p, f0, 0.55, y0), _at(p, f1, 0.55, y1), 0.05, tubes))
        out += _person(p, m, h, arms=False)
        out.append((_at(p, 0, 0.18, 0.8 * h), _at(p, 0.6, 0.5, 1.0), 0.08, m.shade))
    elif m.kind == "moto":
        out += _wheel(p, -0.65, 0.3)
        out += _wheel(p, 0.65, 0.3)
        body = m.shade
        out.append((_at(p, -0.7, 0, 0.7), _at(p, 0.45, 0, 0.8), 0.32, body))  # seat, tank
        out.append((_at(p, -0.2, 0, 0.4), _at(p, 0.3, 0, 0.45), 0.3, (0.12,) * 3))  # engine
        out.append((_at(p, 0.65, 0, 0.3), _at(p, 0.55, 0, 1.0), 0.07, (0.2,) * 3))  # fork
        out.append((_at(p, -0.25, 0, 0.85), _at(p, 0.0, 0, 1.45), 0.4, (0.25, 0.3, 0.2)))
        out.append((_at(p, 0.0, 0, 1.35), _at(p, 0.5, 0.15, 1.0), 0.09, (0.25, 0.3, 0.2)))
        out.append((_at(p, -0.2, 0.15, 0.85), _at(p, 0.15, 0.2, 0.35), 0.14, (0.1,) * 3))
        out.append((_at(p, 0.02, 0, 1.55), _at(p, 0.05, 0, 1.62), 0.3, (0.6, 0.6, 0.55)))
    elif m.kind == "dog":
        trot = math.sin(2 * math.pi * p.walked / 0.9 + m.seed)
        coat = m.shade
        out.append((_at(p, -0.35, 0, 0.45), _at(p, 0.3, 0, 0.5), 0.24, coat))
        out.append((_at(p, 0.3, 0, 0.5), _at(p, 0.45, 0, 0.65), 0.13, coat))
        out.append((_at(p, 0.45, 0, 0.66), _at(p, 0.6, 0, 0.62), 0.13, coat))
        out.append((_at(p, -0.35, 0, 0.5), _at(p, -0.55, 0, 0.7 + 0.04 * trot), 0.05, coat))
        for fwd, side, phase in ((0.25, 0.08, 1), (0.25, -0.08, -1), (-0.3, 0.08, -1),
                                 (-0.3, -0.08, 1)):
            foot = _at(p, fwd + 0.13 * phase * trot, side,
                       0.02 + 0.06 * max(0.0, phase * trot))
            legs = (coat[0] * 0.8, coat[1] * 0.8, coat[2] * 0.8)
            out.append((_at(p, fwd, side, 0.45), foot, 0.07, legs))
    else:
        raise ValueError(f"unknown mover kind {m.kind!r}")
    return out


def headlamp(m: Mover, t: float) -> tuple[Vec, tuple[float, float]] | None:
    """A motorbike's headlamp: its world point and the way it shines."""
    if m.kind != "moto" or not m.start_s <= t < m.end_s:
        return None
    p = pose(m, t)
    return _at(p, 0.72, 0, 0.9), p.heading


def draw(m: Mover, t: float, surf: np.ndarray, label: np.ndarray, index: int) -> tuple[
        float, float, float, float]:
    """Draw the figure into the reflectance ``surf`` and its number into ``label``; return
    the projected box of the whole figure (also the parts out of the picture)."""
    segs = segments(m, t)
    ends = [(project(a), project(b), w, c) for a, b, w, c in segs]
    ends.sort(key=lambda e: -(e[0][2] + e[1][2]))  # far segments first
    us = [q[0] for e in ends for q in e[:2]]
    vs = [q[1] for e in ends for q in e[:2]]
    pad = max(FOCAL * 0.2 / min(e[0][2] for e in ends), 1.0)
    for (u0, v0, z0), (u1, v1, z1), w, c in ends:
        width = max(1, round(FOCAL * w / ((z0 + z1) / 2)))
        a, b = (round(u0), round(v0)), (round(u1), round(v1))
        cv2.line(surf, a, b, c, width, cv2.LINE_AA)
        cv2.line(label, a, b, index, width)
    return min(us) - pad, min(vs) - pad, max(us) + pad, max(vs) + pad
