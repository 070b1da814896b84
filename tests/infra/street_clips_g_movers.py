"""Movers of the style-G canal-bridge clips (``street_clips_g``): people with swinging limbs
(school children with satchels, a woman walking a bicycle, a cyclist, a man pushing a cart),
motorbikes with one or two riders (a rain poncho), a car, a buffalo, a dog, ducks.

Each mover follows key frames in picture coordinates: (t, x, foot row), both relative. Its
size comes from the foot row through the camera's ground plane (``metres``), so a mover on
the far dyke is a few pixels and one by the camera a third of the picture. Its body is drawn
from parts in metres (x forward, y up) with OpenCV at 1/16 pixel, limbs swinging with the
distance covered: a mover standing still keeps its pose and changes no pixel, and is not
labelled then. Fast movers are skewed by the sensor's rolling shutter (rows read top to
bottom). Part of that generator (its clips' cache key hashes this file); shares no code with
the other styles.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

HEIGHT, WIDTH = 720, 1280
HORIZON = 0.36  # relative row of the horizon (the camera looks slightly down)
DEPTH_K = 2.04  # distance (m) = DEPTH_K / (foot row - HORIZON): the dyke (0.445) at 24 m
FOCAL = 582.0  # pixels: a 1.65 m person on the dyke is 40 px tall
READOUT_S = 0.045  # a cheap sensor's rolling shutter: top row to bottom row
_SHIFT = 4  # OpenCV sub-pixel bits: slow far movers move by fractions of a pixel
Colour = tuple[float, float, float]  # BGR albedo, 0-1


def metres(foot_row: float) -> tuple[float, float]:
    """(distance in m, pixels per metre) at a relative foot row."""
    z = DEPTH_K / max(foot_row - HORIZON, 0.01)
    return z, FOCAL / z


@dataclass(frozen=True)
class MoverG:
    kind: str  # child, person, bicycle, cyclist, cart, moto, car, buffalo, dog, duck
    path: tuple[tuple[float, float, float], ...]  # (t s, x, foot row), relative
    colours: tuple[Colour, Colour] = ((0.2, 0.25, 0.6), (0.25, 0.2, 0.2))  # top, bottom
    stature: float = 1.0
    pillion: bool = False  # a second rider on a motorbike
    poncho: bool = False  # riders under a rain poncho
    lamp: bool = True  # vehicles: headlamps on


@dataclass(frozen=True)
class Light:
    """An emissive point a mover carries: a headlamp (its beam pointing ``facing``) or a
    tail lamp; in picture pixels."""
    x: float
    y: float
    radius: float
    power: float
    facing: int  # +1 right, -1 left, 0 no beam (tail lamp)
    colour: Colour


@dataclass
class Drawn:
    """One mover in one frame: its premultiplied colour patch and cover (0-1) at ``x0, y0``,
    its hard shadow cover, its ground-truth box (None when not labelled) and its lamps."""
    x0: int
    y0: int
    colour: np.ndarray
    cover: np.ndarray
    shadow: np.ndarray
    box: tuple[float, float, float, float] | None
    lights: list[Light]


def track(mover: MoverG, fps: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: (x px, foot px, present, moving) and the gait phase in metres covered."""
    times = np.array([p[0] for p in mover.path])
    t = np.arange(frames) / fps
    x = np.interp(t, times, [p[1] * WIDTH for p in mover.path])
    y = np.interp(t, times, [p[2] * HEIGHT for p in mover.path])
    present = (t >= times[0]) & (t <= times[-1])
    z = DEPTH_K / np.maximum(y / HEIGHT - HORIZON, 0.01)
    step = np.hypot(np.diff(x, prepend=x[0]) * z / FOCAL, np.diff(z, prepend=z[0]))
    moving = step > 1e-4
    return np.stack([x, y, present, moving]), np.cumsum(step)


class _Pen:
    """Draws parts given in metres (forward, up) from a mover's foot point into a patch."""

    def __init__(self, cx: float, cy: float, ppm: float, facing: int, skew: float,
                 size: tuple[int, int]) -> None:
        self.cx, self.cy, self.ppm, self.facing, self.skew = cx, cy, ppm, facing, skew
        self.colour = np.zeros((*size, 3), np.float32)
        self.cover = np.zeros(size, np.float32)
        self.shadow = np.zeros(size, np.float32)

    def pts(self, points: list[tuple[float, float]]) -> np.ndarray:
        out = []
        for u, v in points:
            py = self.cy - v * self.ppm
            px = self.cx + self.facing * u * self.ppm + self.skew * (py - self.cy)
            out.append((round(px * (1 << _SHIFT)), round(py * (1 << _SHIFT))))
        return np.array(out, np.int32)

    def poly(self, points: list[tuple[float, float]], colour: Colour) -> None:
        p = [self.pts(points)]
        cv2.fillPoly(self.colour, p, colour, cv2.LINE_AA, _SHIFT)
        cv2.fillPoly(self.cover, p, 1.0, cv2.LINE_AA, _SHIFT)

    def limb(self, a: tuple[float, float], b: tuple[float, float], width: float,
             colour: Colour) -> None:
        p = self.pts([a, b])
        w = max(1, round(width * self.ppm))
        for img, c in ((self.colour, colour), (self.cover, 1.0)):
            cv2.line(img, tuple(p[0]), tuple(p[1]), c, w, cv2.LINE_AA, _SHIFT)

    def disc(self, c: tuple[float, float], r: float, colour: Colour, ring: float = 0.0) -> None:
        p = self.pts([c])[0]
        rr = round(r * self.ppm * (1 << _SHIFT))
        th = -1 if not ring else max(1, round(ring * self.ppm))
        for img, col in ((self.colour, colour), (self.cover, 1.0)):
            cv2.circle(img, tuple(p), rr, col, th, cv2.LINE_AA, _SHIFT)

    def ellipse(self, c: tuple[float, float], axes: tuple[float, float], colour: Colour
                ) -> None:
        p = self.pts([c])[0]
        ax = (round(axes[0] * self.ppm * (1 << _SHIFT)), round(axes[1] * self.ppm * (1 << _SHIFT)))
        for img, col in ((self.colour, colour), (self.cover, 1.0)):
            cv2.ellipse(img, tuple(p), ax, 0, 0, 360, col, -1, cv2.LINE_AA, _SHIFT)

    def cast(self, length: float, depth: float) -> None:
        """A hard noon shadow on the ground, short and to the right of the feet."""
        p = self.pts([(0.0, 0.0)])[0]
        ax = (round(length * self.ppm * (1 << _SHIFT)), round(depth * self.ppm * (1 << _SHIFT)))
        p = (p[0] + ax[0] // 3, p[1] + ax[1] // 3)
        cv2.ellipse(self.shadow, p, ax, 0, 0, 360, 1.0, -1, cv2.LINE_AA, _SHIFT)


def _person(pen: _Pen, phase: float, m: MoverG, lean: float = 0.0, child: bool = False
            ) -> None:
    s = 1.2 / 1.65 if child else m.stature
    top, bottom = m.colours
    swing = 0.45 * math.sin(phase * 2 * math.pi / (0.9 * s + 0.4))
    hip = (lean * 0.3, 0.92 * s)
    for sign, shade in ((1, 0.8), (-1, 1.0)):  # the far leg darker
        a = sign * swing
        knee = (hip[0] + 0.45 * s * math.sin(a), hip[1] - 0.45 * s * math.cos(a))
        foot = (knee[0] + 0.45 * s * math.sin(a - 0.25 * abs(a)), 0.02 + max(
            0.0, knee[1] - 0.45 * s * math.cos(a)) * 0.1)
        col = tuple(c * shade for c in bottom)
        pen.limb(hip, knee, 0.13 * s, col)  # type: ignore[arg-type]
        pen.limb(knee, foot, 0.11 * s, col)  # type: ignore[arg-type]
    neck = (hip[0] + lean * 0.5, hip[1] + 0.55 * s)
    pen.poly([(hip[0] - 0.14 * s, hip[1]), (hip[0] + 0.14 * s, hip[1]),
              (neck[0] + 0.17 * s, neck[1]), (neck[0] - 0.17 * s, neck[1])], top)
    for sign, shade in ((-1, 0.85), (1, 1.0)):
        a = sign * swing * 0.8
        hand = (neck[0] + 0.6 * s * math.sin(a) + lean * 0.4, neck[1] - 0.6 * s * math.cos(a))
        pen.limb((neck[0], neck[1] - 0.05), hand, 0.09 * s,
                 tuple(c * shade for c in top))  # type: ignore[arg-type]
    pen.disc((neck[0] + 0.02, neck[1] + 0.14 * s), 0.11 * s, (0.3, 0.42, 0.55))
    if child:  # a satchel on the back, a white shirt under the top colour
        pen.poly([(neck[0] - 0.3 * s, neck[1] - 0.05), (neck[0] - 0.1 * s, neck[1] - 0.05),
                  (hip[0] - 0.1 * s, hip[1] + 0.1), (hip[0] - 0.32 * s, hip[1] + 0.1)],
                 (0.15, 0.2, 0.7))


def _wheel(pen: _Pen, c: tuple[float, float], r: float, phase: float) -> None:
    pen.disc(c, r, (0.08, 0.08, 0.08), ring=0.06)
    a = phase / r
    pen.limb((c[0] + r * math.cos(a), c[1] + r * math.sin(a)),
             (c[0] - r * math.cos(a), c[1] - r * math.sin(a)), 0.02, (0.5, 0.5, 0.5))


def _bicycle(pen: _Pen, phase: float, dx: float) -> None:
    for u in (dx - 0.5, dx + 0.5):
        _wheel(pen, (u, 0.33), 0.33, phase)
    frame = (0.15, 0.25, 0.55)
    pen.limb((dx - 0.5, 0.33), (dx, 0.75), 0.04, frame)
    pen.limb((dx, 0.75), (dx + 0.45, 0.85), 0.04, frame)
    pen.limb((dx + 0.45, 0.85), (dx + 0.5, 0.33), 0.04, frame)
    pen.limb((dx - 0.5, 0.33), (dx, 0.33), 0.04, frame)


def _vehicle(pen: _Pen, phase: float, m: MoverG) -> None:
    if m.kind == "car":
        for u in (-1.3, 1.3):
            _wheel(pen, (u, 0.32), 0.32, phase)
        body = (0.55, 0.55, 0.6) if m.colours[0] == MoverG.colours[0] else m.colours[0]
        pen.poly([(-2.0, 0.3), (2.0, 0.3), (2.05, 0.95), (1.0, 1.05), (0.5, 1.5),
                  (-1.3, 1.5), (-1.9, 1.05), (-2.05, 0.95)], body)
        pen.poly([(0.45, 1.42), (0.95, 1.05), (-0.2, 1.05), (-0.2, 1.42)], (0.15, 0.12, 0.1))
        return
    for u in (-0.65, 0.65):
        _wheel(pen, (u, 0.28), 0.28, phase)
    pen.poly([(-0.7, 0.45), (0.75, 0.45), (0.9, 0.85), (0.4, 0.75), (-0.5, 0.8)],
             (0.12, 0.12, 0.5))
    riders = [(-0.05, 1.0), (-0.45, 0.95)] if m.pillion else [(-0.05, 1.0)]
    for u, s in riders:
        pen.limb((u, 0.8), (u + 0.35, 0.5), 0.14, m.colours[1])
        pen.limb((u + 0.35, 0.5), (u + 0.4, 0.2), 0.11, m.colours[1])
        pen.poly([(u - 0.15, 0.8), (u + 0.15, 0.8), (u + 0.2, 0.8 + 0.55 * s),
                  (u - 0.12, 0.8 + 0.55 * s)], m.colours[0])
        pen.limb((u + 0.1, 0.75 + 0.5 * s), (0.6, 0.95), 0.09, m.colours[0])
        pen.disc((u + 0.02, 0.95 + 0.55 * s), 0.14, (0.7, 0.7, 0.72))  # helmet
    if m.poncho:  # one cape over riders and handlebars, flapping with the speed
        flap = 0.06 * math.sin(phase * 3.1)
        pen.poly([(-0.75 - (0.3 if m.pillion else 0), 0.55 + flap), (0.85, 0.7),
                  (0.35, 1.45), (-0.2, 1.55), (-0.6 - (0.35 if m.pillion else 0), 1.2)],
                 (0.55, 0.3, 0.12))


def _animal(pen: _Pen, phase: float, kind: str, colour: Colour) -> None:
    body, legs, leg_h = {"buffalo": ((1.1, 0.42), (-0.75, 0.75), 0.75),
                         "dog": ((0.35, 0.14), (-0.25, 0.25), 0.32),
                         "duck": ((0.19, 0.1), (0.0, 0.0), 0.08)}[kind]
    swing = 0.35 * math.sin(phase * 2 * math.pi / (1.6 if kind == "buffalo" else 0.5))
    if kind == "duck":
        bob = 0.015 * math.sin(phase * 2 * math.pi / 0.12)
        pen.ellipse((0.0, 0.16 + bob), body, colour)
        pen.limb((0.14, 0.18 + bob), (0.2, 0.34), 0.05, colour)
        pen.disc((0.22, 0.36), 0.05, colour)
        pen.limb((0.25, 0.36), (0.33, 0.35), 0.03, (0.1, 0.5, 0.9))
        return
    for u in legs:
        for d in (-1, 1):
            a = d * swing
            pen.limb((u, leg_h), (u + leg_h * math.sin(a), 0.02), body[1] * 0.45,
                     tuple(c * (0.8 if d < 0 else 1.0) for c in colour))  # type: ignore
    pen.ellipse((0.0, leg_h + body[1] * 0.7), body, colour)
    head = (legs[1] + body[0] * 0.55, leg_h + body[1] * 1.4)
    pen.ellipse(head, (body[1] * 0.55, body[1] * 0.42), colour)
    if kind == "buffalo":  # swept-back horns
        pen.limb((head[0], head[1] + 0.15), (head[0] - 0.35, head[1] + 0.35), 0.06,
                 (0.6, 0.65, 0.7))
    else:
        pen.limb((-body[0], leg_h + body[1]), (-body[0] - 0.2, leg_h + body[1] + 0.2 * (
            1 + math.sin(phase * 9))), 0.05, colour)


_EXTENT = {"child": (1.0, 1.5), "person": (1.0, 2.0), "bicycle": (1.4, 2.0),
           "cyclist": (1.4, 2.0), "cart": (2.0, 2.0), "moto": (1.5, 2.2), "car": (2.6, 1.8),
           "buffalo": (1.9, 1.9), "dog": (0.8, 0.9), "duck": (0.5, 0.5)}


def draw(m: MoverG, state: np.ndarray, phase: float, facing: int, vx: float, noon: bool
         ) -> Drawn | None:
    """The mover at one frame (``state``: x, foot y px, present, moving; ``vx`` px/s)."""
    x, y, present, moving = state
    if not present:
        return None
    _, ppm = metres(y / HEIGHT)
    half, tall = _EXTENT[m.kind]
    skew = vx * READOUT_S / HEIGHT  # rows further down read later: a lean with the speed
    x0 = int(x - half * ppm * 1.3 - abs(skew) * tall * ppm) - 2
    y0 = int(y - tall * ppm * 1.1) - 2
    w = int(2 * half * ppm * 1.3 + 2 * abs(skew) * tall * ppm) + 5
    h = int(tall * ppm * 1.2) + 5
    pen = _Pen(x - x0, y - y0, ppm, facing, skew, (h, w))
    if noon:
        pen.cast(0.45 * half, 0.05 + 0.04 * half)
    k = m.kind
    if k in ("child", "person"):
        _person(pen, phase, m, child=k == "child")
    elif k == "bicycle":  # walked beside, on the far side of the person
        _bicycle(pen, phase, 0.35)
        _person(pen, phase, m)
    elif k == "cyclist":
        _bicycle(pen, phase, 0.0)
        _person(pen, phase * 0.6, m, lean=0.5)
    elif k == "cart":
        for u in (0.9, 1.7):
            _wheel(pen, (u, 0.25), 0.25, phase)
        pen.poly([(0.6, 0.35), (1.95, 0.35), (1.95, 0.95), (0.6, 0.95)], (0.3, 0.45, 0.55))
        pen.limb((0.6, 0.85), (0.3, 1.05), 0.05, (0.2, 0.3, 0.35))
        _person(pen, phase, m, lean=0.6)
    elif k in ("moto", "car"):
        _vehicle(pen, phase, m)
    else:
        _animal(pen, phase, k, m.colours[0])
    lights = _lamps(m, pen, x0, y0) if m.lamp and k in ("moto", "car") else []
    # cut the patch to what was drawn (and a margin for the lens blur): less to composite
    used = (pen.cover + pen.shadow) > 0
    rows, cols = np.nonzero(used.any(axis=1))[0], np.nonzero(used.any(axis=0))[0]
    if not len(rows):
        return None
    r0, r1 = max(rows[0] - 4, 0), rows[-1] + 5
    c0, c1 = max(cols[0] - 4, 0), cols[-1] + 5
    cover = pen.cover[r0:r1, c0:c1]
    return Drawn(x0 + c0, y0 + r0, pen.colour[r0:r1, c0:c1], cover, pen.shadow[r0:r1, c0:c1],
                 _box(cover, x0 + c0, y0 + r0) if moving else None, lights)


def _lamps(m: MoverG, pen: _Pen, x0: int, y0: int) -> list[Light]:
    def at(u: float, v: float) -> tuple[float, float]:
        p = pen.pts([(u, v)])[0] / (1 << _SHIFT)
        return float(p[0] + x0), float(p[1] + y0)

    head = at(2.0, 0.7) if m.kind == "car" else at(0.85, 0.85)
    out = [Light(*head, 0.12 * pen.ppm, 1.0, pen.facing, (0.9, 1.0, 1.0))]
    if m.kind == "car":  # its tail lamp
        out.append(Light(*at(-2.0, 0.85), 0.08 * pen.ppm, 0.5, 0, (0.1, 0.1, 1.0)))
    return out


def _box(cover: np.ndarray, x0: int, y0: int) -> tuple[float, float, float, float] | None:
    """The visible pixels' box when at least a third of the mover is in the picture."""
    full = cover > 0.25
    total = int(full.sum())
    if not total:
        return None
    ys, xs = np.nonzero(full)
    xs, ys = xs + x0, ys + y0
    inside = (xs >= 0) & (xs < WIDTH) & (ys >= 0) & (ys < HEIGHT)
    if inside.sum() * 3 < total:
        return None
    xs, ys = xs[inside], ys[inside]
    return (float(xs.min() / WIDTH), float(ys.min() / HEIGHT),
            float((xs.max() + 1 - xs.min()) / WIDTH), float((ys.max() + 1 - ys.min()) / HEIGHT))


def frames_of(movers: tuple[MoverG, ...], fps: int, frames: int, noon: bool
              ) -> Iterator[list[Drawn]]:
    """Every mover drawn at every frame (those in the picture)."""
    tracks = [track(m, fps, frames) for m in movers]
    # the way each faces: its last heading (one who stops keeps it, changing no pixel)
    facing = [1 if m.path[-1][1] >= m.path[0][1] else -1 for m in movers]
    for i in range(frames):
        out = []
        for j, (m, (st, phase)) in enumerate(zip(movers, tracks, strict=True)):
            vx = (st[0, min(i + 1, frames - 1)] - st[0, max(i - 1, 0)]) * fps / 2
            if abs(vx) > 1e-3:
                facing[j] = 1 if vx > 0 else -1
            d = draw(m, st[:, i], float(phase[i]), facing[j], vx, noon)
            if d is not None:
                out.append(d)
        yield out
