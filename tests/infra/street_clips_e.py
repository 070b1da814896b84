"""Street clips in a fifth drawing style (E), 1280x720 15 fps CBR ~1 Mbit/s, held-out set 5.

Written before the fifth detector round (issue 11) and scored once on main's detector before
it; shares no drawing code with ``clips``, ``street_clips`` (A/B), ``street_clips_c`` (C) or
``street_clips_d*`` (D), only the clip writer. Made to look more like a commune camera:

- a low camera on a house wall beside a dirt road (``street_clips_e_movers``: a pinhole in
  world metres), the road running diagonally away, so movers grow as they come near;
- a dirt road with wheel ruts and puddles that mirror the lamps and a headlamp (smeared
  into columns by ripples), a wet sheen when it rains; grass verges, a post-and-rail fence,
  houses with windows (some lit at night), trees;
- an auto-exposure that meters the picture and follows with a lag and an underdamped
  overshoot (an IR switch or a passing cloud makes it hunt), with a slow metering drift;
- sensor noise scaled by that gain (so much stronger in the dark), part of it temporally
  correlated blotches (an AR(1) field at a quarter of the size), part fresh per pixel;
- a slight barrel distortion (corners fixed, centre magnified) and vignetting;
- near-lens rain: round blurred bright blobs that come and go, and drops that slide down
  leaving a streak; falling rain and splashes on the road; a lamp that flickers in bursts;
- an IR switch: grey IR reflectance under the camera's own illuminator, the exposure
  overshooting; a tree's shadow swaying on a sunlit wall, cloud shade passing.

Ground truth per frame: one box per mover that is at least a third in view (a rider with the
motorbike, a bicycle with the person pushing it, an umbrella with its holder), taken from the
distorted picture. A mover standing still changes no pixel and is not labelled.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from tests.infra.street_clips_e_camera import FPS, Drops, Exposure, falling_rain, glow, lens_maps
from tests.infra.street_clips_e_movers import (
    CAM_H,
    CX,
    CY,
    FOCAL,
    HEIGHT,
    WIDTH,
    Mover,
    draw,
    headlamp,
    pose,
    project,
    road_coords,
    world,
)

GOP = 30
SOURCES = (__file__, __file__.replace("street_clips_e.py", "street_clips_e_movers.py"),
           __file__.replace("street_clips_e.py", "street_clips_e_camera.py"))
Box = tuple[float, float, float, float]
_Q = 4  # light is computed at a quarter of the size: it is smooth
_SODIUM = (0.45, 0.75, 1.0)  # BGR


@dataclass(frozen=True)
class StreetLamp:
    s: float
    d: float
    power: float = 1.0
    flicker: bool = False  # bursts of flicker (a failing tube)


@dataclass(frozen=True)
class SceneE:
    name: str
    duration_s: float
    movers: tuple[Mover, ...] = ()
    lamps: tuple[StreetLamp, ...] = ()
    ambient: tuple[float, float] = (1.0, 1.0)  # daylight at the start and at the end
    noise_sigma: float = 1.2  # read noise before the gain
    wet: bool = False  # the road shines and its puddles mirror the lights
    rain: int = 0  # falling-rain streaks per frame
    drops_per_s: float = 0.0  # near-lens drops (blobs and sliding ones)
    ir_at: float | None = None
    tree_shadow: bool = False
    clouds: bool = False
    lit_windows: bool = False
    seed: int = 1
    bitrate_k: int = 1000
    style: str = "E"
    masks: tuple[tuple[tuple[float, float], ...], ...] = field(default=())


# (s0, s1, d, height, BGR colour) of the house fronts on the far side, far ones first
_HOUSES = ((46.0, 62.0, 6.5, 3.5, (0.55, 0.6, 0.8)), (31.0, 43.0, 7.0, 4.0, (0.75, 0.78, 0.8)),
           (21.0, 29.0, 6.0, 3.2, (0.7, 0.6, 0.45)), (8.0, 18.0, 6.5, 3.6, (0.45, 0.65, 0.8)))
_TREES = ((44.5, 8.5, 6.5, 2.2), (30.0, 9.0, 5.5, 1.8), (19.5, 8.0, 7.0, 2.4))  # s d h r


def _poly(points: list[tuple[float, float, float]]) -> np.ndarray:
    return np.array([[round(u), round(v)] for u, v, _ in points], np.int32)


def _ground(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reflectance of the ground and sky, the road's (s, d) per ground pixel."""
    vv, uu = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    below = vv > CY + 1
    z = np.where(below, FOCAL * CAM_H / np.maximum(vv - CY, 1.0), 1e4)
    s, d = road_coords((uu - CX) * z / FOCAL, z)
    # texture sampled at world places (metres, wrapped on a 256-cell patch)
    cells = cv2.GaussianBlur(rng.random((256, 256)).astype(np.float32), (0, 0), 1.2)
    mud = cv2.GaussianBlur(rng.random((256, 256)).astype(np.float32), (0, 0), 8)
    mud = (mud - mud.mean()) / (mud.std() + 1e-6)
    ms, md = (s * 9) % 256, (d * 9) % 256
    grain = cv2.remap(cells, ms, md, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    patch = cv2.remap(mud, ms / 6, md / 6, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    road = np.abs(d) < 2.6
    ruts = np.exp(-((np.abs(d) - 0.85) / 0.25) ** 2)
    dirt = 0.34 + 0.07 * patch - 0.1 * ruts + 0.35 * (grain - 0.5)
    grass = 0.22 + 0.05 * patch + 0.4 * (grain - 0.5)
    img = np.empty((HEIGHT, WIDTH, 3), np.float32)
    img[...] = np.where(road, dirt, grass)[..., None]
    img[~road] *= np.array([0.55, 0.95, 0.75], np.float32)
    img[road] *= np.array([0.75, 0.85, 1.0], np.float32)
    sky = (0.85 - 0.3 * vv[~below] / CY)
    img[~below] = sky[:, None] * np.array([1.0, 0.9, 0.8], np.float32)
    return np.clip(img, 0.02, 1.0), s.astype(np.float32), d.astype(np.float32)


def _buildings(img: np.ndarray, night: bool) -> np.ndarray:
    """Houses, trees and the fence drawn on ``img``; returns the emissive lit windows."""
    lit = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    for k, (s0, s1, d, h, colour) in enumerate(_HOUSES):
        front = [project(world(s0, d)), project(world(s1, d)), project(world(s1, d, h)),
                 project(world(s0, d, h))]
        cv2.fillPoly(img, [_poly(front)], colour)
        roof = [project(world(s0, d, h)), project(world(s1, d, h)),
                project(world(s1 - 0.5, d + 1.5, h + 1.3)), project(world(s0 + 0.5, d + 1.5,
                                                                        h + 1.3))]
        cv2.fillPoly(img, [_poly(roof)], (0.2, 0.25, 0.45))
        x = s0 + 1.0
        while x + 1.2 < s1:
            win = [project(world(x, d - 0.02, 1.0)), project(world(x + 1.2, d - 0.02, 1.0)),
                   project(world(x + 1.2, d - 0.02, 2.1)), project(world(x, d - 0.02, 2.1))]
            cv2.fillPoly(img, [_poly(win)], (0.05, 0.05, 0.06))
            if night and (k + int(x)) % 3 == 0:
                cv2.fillPoly(lit, [_poly(win)], (4.0, 9.0, 14.0))
            x += 3.0
    for s, d, h, r in _TREES:
        cv2.line(img, _poly([project(world(s, d))])[0], _poly([project(world(s, d, h))])[0],
                 (0.1, 0.15, 0.2), max(2, round(FOCAL * 0.3 / world(s, d)[2])))
        u, v, z = project(world(s, d, h + r * 0.6))
        cv2.ellipse(img, (round(u), round(v)), (round(FOCAL * r / z), round(FOCAL * r * 0.8 / z)),
                    0, 0, 360, (0.12, 0.3, 0.18), -1)
    for s in np.arange(3.0, 70.0, 2.5):  # fence posts and two rails
        a, b = project(world(s, 4.0)), project(world(s, 4.0, 1.3))
        cv2.line(img, _poly([a])[0], _poly([b])[0], (0.25, 0.33, 0.4),
                 max(1, round(FOCAL * 0.1 / a[2])))
        for y in (0.5, 1.1):
            p, q = project(world(s, 4.0, y)), project(world(s + 2.5, 4.0, y))
            cv2.line(img, _poly([p])[0], _poly([q])[0], (0.3, 0.38, 0.45),
                     max(1, round(FOCAL * 0.06 / p[2])))
    return lit


def _puddles(s: np.ndarray, d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(s.shape, np.float32)
    for _ in range(9):
        cs, cd = rng.uniform(5, 40), rng.uniform(-2.0, 2.0)
        a, b = rng.uniform(0.6, 1.8), rng.uniform(0.3, 0.8)
        out = np.maximum(out, np.clip(1.6 - ((s - cs) / a) ** 2 - ((d - cd) / b) ** 2, 0, 1))
    return out


def _quarter(a: np.ndarray) -> np.ndarray:
    return cv2.resize(a, (WIDTH // _Q, HEIGHT // _Q), interpolation=cv2.INTER_AREA)


def _full(a: np.ndarray) -> np.ndarray:
    return cv2.resize(a, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)


def _lamp_pool(lamp: StreetLamp, sq: np.ndarray, dq: np.ndarray, groundq: np.ndarray,
               standq: np.ndarray) -> np.ndarray:
    """Light of one lamp: a pool on the ground round its foot, a halo on what stands."""
    on_ground = np.exp(-((sq - lamp.s) ** 2 + (dq - lamp.d + 1.0) ** 2) / 5.0 ** 2)
    u, v, z = project(world(lamp.s, lamp.d, 5.0))
    vv, uu = np.mgrid[0:HEIGHT // _Q, 0:WIDTH // _Q].astype(np.float32) * _Q
    r = FOCAL * 2.5 / z
    halo = np.exp(-((uu - u) ** 2 + (vv - v) ** 2) / r ** 2) * standq
    pool = np.where(groundq > 0.5, on_ground, 0.6 * halo) * lamp.power * 2.0
    return pool[..., None] * np.array(_SODIUM, np.float32)


def _mirror(src: tuple[float, float, float], strength: float) -> np.ndarray:
    """A light's reflection in standing water, quarter size: a column below its mirror
    point, smeared by ripples (multiplied by where the water is)."""
    x, y, z = src
    u, v, depth = project((x, -y, z))
    vv, uu = np.mgrid[0:HEIGHT // _Q, 0:WIDTH // _Q].astype(np.float32) * _Q
    su = max(3.0, FOCAL * 0.12 / depth)
    out: np.ndarray = strength * np.exp(-((uu - u) / su) ** 2 - ((vv - v) / (5 * su)) ** 2)
    return out.astype(np.float32)


def _beam(lamp: tuple[tuple[float, float, float], tuple[float, float]], sq: np.ndarray,
          dq: np.ndarray) -> np.ndarray:
    """A headlamp's pool on the road ahead of it (ground only)."""
    (x, _, z), (hx, hz) = lamp
    gx, _, gz = world(sq, dq)  # type: ignore[arg-type]
    ahead = (gx - x) * hx + (gz - z) * hz
    side = (gx - x) * hz - (gz - z) * hx
    cone = side / (0.6 + 0.25 * np.maximum(ahead, 0))
    pool: np.ndarray = 1.6 * np.exp(-cone ** 2) * np.clip(ahead - 1.0, 0, 1) / (
        1 + (ahead / 9.0) ** 2)
    return pool.astype(np.float32)


def _flicker_levels(scene: SceneE, rng: np.random.Generator) -> np.ndarray:
    n = int(scene.duration_s * FPS)
    level = np.ones(n, np.float32)
    for _ in range(max(1, int(scene.duration_s / 8))):
        a = int(rng.integers(0, max(1, n - 30)))
        for i in range(a, min(n, a + int(rng.integers(15, 35)))):
            level[i] = 1.0 if rng.random() < 0.45 else float(rng.uniform(0.05, 0.4))
    return level


def _tree_shadow(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two layers of a tree's shadow at quarter size: branches and leaves (0..1)."""
    h, w = HEIGHT // _Q, WIDTH // _Q
    branches = np.zeros((h, w), np.float32)
    for _ in range(7):
        a = (int(rng.integers(w // 2, w)), 0)
        b = (int(rng.integers(w // 2, w)), int(rng.integers(h // 3, h // 2 + 20)))
        cv2.line(branches, a, b, 1.0, int(rng.integers(2, 5)))
    clumps = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 3) > 0.5
    leaves = cv2.GaussianBlur(clumps.astype(np.float32), (0, 0), 1.0)
    return branches, leaves * (np.arange(h)[:, None] < h * 0.6)


def _sway(layer: np.ndarray, angle: float, shift: float) -> np.ndarray:
    h, w = layer.shape
    m = cv2.getRotationMatrix2D((w * 0.55, -h * 0.3), angle, 1.0)
    m[0, 2] += shift
    out: np.ndarray = cv2.warpAffine(layer, m, (w, h), borderMode=cv2.BORDER_CONSTANT)
    return out


class _Street:
    """Everything about one scene that does not change from frame to frame."""

    def __init__(self, scene: SceneE) -> None:
        self.scene = scene
        self.rng = rng = np.random.default_rng(scene.seed)
        self.night = scene.ambient[0] < 0.2 or scene.ir_at is not None
        day, s, d = _ground(rng)
        self.ground = np.zeros((HEIGHT, WIDTH), np.float32)
        self.ground[int(CY) + 2:] = 1.0
        sky = day.copy()
        self.lit = _buildings(day, self.night or scene.lit_windows)
        standing = np.any(day != sky, axis=2) & (self.ground == 0)
        self.heads = [self._lamp_post(day, lamp) for lamp in scene.lamps]
        road = (np.abs(d) < 2.6) * self.ground
        puddle = _puddles(s, d, rng) * road
        if scene.wet:
            day *= (1 - 0.55 * puddle - 0.2 * road)[..., None]
        self.water = _quarter(puddle + (0.25 * road if scene.wet else 0.0))
        self.day, self.ir_surf = day, np.repeat(day.mean(axis=2, keepdims=True) * 1.15, 3, 2)
        self.day_q, self.ir_q = _quarter(day), _quarter(self.ir_surf)
        self.sq, self.dq, self.gq = _quarter(s), _quarter(d), _quarter(self.ground)
        stand_q = _quarter(standing.astype(np.float32))
        self.pools = [_lamp_pool(lamp, self.sq, self.dq, self.gq, stand_q)
                      for lamp in scene.lamps]
        self.flicker = [_flicker_levels(scene, rng) if lamp.flicker else None
                        for lamp in scene.lamps]
        vq, self.uq = np.mgrid[0:HEIGHT // _Q, 0:WIDTH // _Q].astype(np.float32) * _Q
        sky_q = _quarter((~standing & (self.ground == 0)).astype(np.float32))[..., None]
        self.ir_light = (0.45 + 1.3 * np.exp(-((self.uq - 700) / 700) ** 2
                                             - ((vq - 620) / 380) ** 2))[..., None] * (
            1 - 0.85 * sky_q) * np.ones(3, np.float32)
        self.lit_ir = np.repeat(self.lit.mean(axis=2, keepdims=True), 3, axis=2)
        self.wall = np.zeros((HEIGHT // _Q, WIDTH // _Q), np.float32)
        s0, s1, dh, hh, _ = _HOUSES[-1]
        corners = [world(s0, dh, 0), world(s1, dh, 0), world(s1, dh, hh), world(s0, dh, hh)]
        cv2.fillPoly(self.wall, [_poly([project(c) for c in corners]) // _Q], 1.0)
        zero = self.wall * 0
        self.shadow = _tree_shadow(rng) if scene.tree_shadow else (zero, zero)
        map_u, map_v, vignette = lens_maps()
        # remap turns float maps into these fixed-point ones on every call: the same maps
        self.map_u, self.map_v = cv2.convertMaps(map_u, map_v, cv2.CV_16SC2)
        self.label_maps = map_u, map_v
        self.vignette_q = _quarter(vignette)[..., None] * 200.0  # light to grey levels
        self.exposure, self.drops = Exposure(), Drops(scene.drops_per_s, rng)
        self.blotch = zero.copy()
        # the emitters (lit windows, lamp heads) only change with the IR switch and a
        # flickering lamp's level: built once per state; they are zero outside one box
        self.emitters: dict[tuple[bool, tuple[float, ...]], tuple[np.ndarray, float]] = {}
        self.lit_box = _nonzero_box([self.lit, self.lit_ir, *self.heads])
        self.no_label = np.zeros((1, 1), np.uint8)
        self.rad, self.img = np.empty_like(day), np.empty_like(day)  # reused every frame

    def _lamp_post(self, day: np.ndarray, lamp: StreetLamp) -> np.ndarray:
        """Draw the lamp's pole; return its head (emissive, for the flicker to scale)."""
        foot, top = project(world(lamp.s, lamp.d)), project(world(lamp.s, lamp.d, 5.0))
        cv2.line(day, _poly([foot])[0], _poly([top])[0], (0.3, 0.3, 0.3),
                 max(1, round(FOCAL * 0.12 / foot[2])))
        head = np.zeros_like(day)
        cv2.circle(head, _poly([top])[0], max(2, round(FOCAL * 0.2 / top[2])),
                   (60.0, 120.0, 160.0), -1, cv2.LINE_AA)
        return head

    def light(self, i: float, t: float, ir: bool
              ) -> tuple[np.ndarray, np.ndarray | None, tuple[np.ndarray, float]]:
        """Light and emitted light at quarter size (vignetted, in grey levels before the
        gain; None when nothing emits), and the full-size emitters (windows, lamp heads)
        with their mean."""
        scene, uq = self.scene, self.uq
        amb = scene.ambient[0] + (scene.ambient[1] - scene.ambient[0]) * t / scene.duration_s
        light = np.full((HEIGHT // _Q, WIDTH // _Q, 3), amb, np.float32)
        light *= np.array([1.0, 0.95, 0.9] if amb < 0.3 else [0.95, 1.0, 1.0], np.float32)
        emis = np.zeros_like(light)
        levels = tuple(1.0 if lv is None else float(lv[int(i)]) for lv in self.flicker)
        for j, pool in enumerate(self.pools):
            light += pool * levels[j]
            mirror = _mirror(world(scene.lamps[j].s, scene.lamps[j].d, 5.0), 120.0 * levels[j])
            emis += (mirror * self.water)[..., None] * np.array(_SODIUM, np.float32)
        emitting = bool(self.pools)
        for m in scene.movers:
            lamp = headlamp(m, t)
            if lamp is not None:
                light += (_beam(lamp, self.sq, self.dq) * self.gq)[..., None]
                emis += (_mirror(lamp[0], 150.0) * self.water)[..., None]
                emitting = True
        if ir:
            light = self.ir_light + 0.3 * (light - amb)
        if scene.clouds:
            for c0 in (2.0, 16.0):
                light *= 1 - 0.45 * np.exp(-((uq - (-400 + (t - c0) * 160.0)) / 380) ** 2)[
                    ..., None]
        if scene.tree_shadow:
            gust = 2.5 * math.sin(2 * math.pi * 0.35 * t) + 1.2 * math.sin(2 * math.pi * 1.1 * t)
            branches, leaves = self.shadow
            shade = np.maximum(_sway(branches, gust * 0.6, gust), _sway(leaves, gust, 2 * gust))
            light *= (1 - 0.6 * shade * self.wall)[..., None]
        return light * self.vignette_q, emis * self.vignette_q / 200.0 if emitting else None, \
            self._emitters(ir, levels)

    def _emitters(self, ir: bool, levels: tuple[float, ...]) -> tuple[np.ndarray, float]:
        """The full-size emitters at these lamp levels, and their mean (the metering's)."""
        key = (ir, levels)
        if key not in self.emitters:
            if len(self.emitters) > 4:  # a flicker burst: levels that do not come back
                self.emitters.clear()
            lit: np.ndarray = (self.lit_ir if ir else self.lit) \
                if self.night or self.scene.lit_windows else np.zeros(1, np.float32)
            for head, level in zip(self.heads, levels, strict=True):
                lit = lit + head * level
            self.emitters[key] = lit, float(lit.mean())
        return self.emitters[key]

    def frame(self, i: int) -> tuple[np.ndarray, list[Box]]:
        scene, rng = self.scene, self.rng
        t = i / FPS
        ir = scene.ir_at is not None and t >= scene.ir_at
        active = [(k, m) for k, m in enumerate(scene.movers) if m.start_s <= t < m.end_s]
        # with nothing to draw the surface is only read: no copy, no label map
        surf = (self.ir_surf if ir else self.day).copy() if active else \
            (self.ir_surf if ir else self.day)
        label = np.zeros((HEIGHT, WIDTH), np.uint8) if active else self.no_label
        drawn = [(k + 1, draw(m, t, surf, label, k + 1)) for k, m in
                 sorted(active, key=lambda km: -_distance(km[1], t))]
        # a mover standing still since the last frame is drawn but not labelled
        drawn = [(k, box) for k, box in drawn if _moved(scene.movers[k - 1], t)]
        if ir and drawn:  # under IR the clothes are grey too
            on = label > 0
            surf[on] = surf[on].mean(axis=1, keepdims=True) * 1.15
        light, emis, (lit, lit_mean) = self.light(i, t, ir)
        # the camera meters this frame's picture (the movers are too small to matter)
        lit_q = (self.ir_q if ir else self.day_q) * light
        metered = float((lit_q if emis is None else lit_q + emis).mean())
        gain = self.exposure.update(metered + lit_mean, t)
        if scene.ir_at is not None and abs(t - scene.ir_at) < 1.5 / FPS and not ir:
            gain *= 0.5  # the filter moving over: a frame between the two pictures
        rad = np.multiply(surf, _full(light * gain), out=self.rad)
        if emis is not None:  # (adding zeros changes no pixel)
            rad += _full(emis * gain)
        if lit.size > 1:  # zero outside its box
            r0, r1, c0, c1 = self.lit_box
            rad[r0:r1, c0:c1] += lit[r0:r1, c0:c1] * gain
        for m in scene.movers:
            lamp = headlamp(m, t)
            if lamp is not None:
                glow(rad, lamp[0], gain)
        img = cv2.remap(rad, self.map_u, self.map_v, cv2.INTER_LINEAR, dst=self.img)
        seen = cv2.remap(label, *self.label_maps, cv2.INTER_NEAREST) if drawn else label
        if scene.rain:
            falling_rain(img, scene.rain, self.ground, rng)
        if scene.drops_per_s:
            self.drops.apply(img)
        self.blotch = 0.7 * self.blotch + 0.71 * rng.standard_normal(self.blotch.shape,
                                                                     dtype=np.float32)
        grain = rng.standard_normal((HEIGHT, WIDTH), dtype=np.float32)
        # read noise times the gain (strong in the dark), part of it correlated over time;
        # shot noise from the green channel's level
        shot = 0.3 * np.sqrt(np.clip(img[..., 1], 1, 255))
        noise = scene.noise_sigma * gain ** 0.85 * (0.75 * _full(self.blotch) + 0.65 * grain)
        noise += shot * grain
        for c in range(3):  # the same sums as adding noise[..., None], without its slow loop
            img[..., c] += noise
        np.clip(img, 0, 255, out=img)
        return img.astype(np.uint8), _boxes(seen, drawn)


def render(scene: SceneE) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """Yield (BGR uint8 frame, ground-truth boxes) at 1280x720."""
    street = _Street(scene)
    for i in range(int(scene.duration_s * FPS)):
        yield street.frame(i)


def _nonzero_box(layers: list[np.ndarray]) -> tuple[int, int, int, int]:
    """Rows and columns (r0, r1, c0, c1) holding every non-zero pixel of the layers."""
    ys, xs = np.nonzero(np.any([np.any(a != 0, axis=2) for a in layers], axis=0))
    if not len(ys):
        return 0, 0, 0, 0
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def _moved(m: Mover, t: float) -> bool:
    return t - 1.0 / FPS < m.start_s or pose(m, t).walked > pose(m, t - 1.0 / FPS).walked + 1e-4


def _distance(m: Mover, t: float) -> float:
    return pose(m, t).at[2] if m.start_s <= t < m.end_s else 0.0


def _boxes(seen: np.ndarray, drawn: list[tuple[int, tuple[float, float, float, float]]]
           ) -> list[Box]:
    out: list[Box] = []
    for k, (u0, v0, u1, v1) in drawn:
        full = (u1 - u0) * (v1 - v0)
        inside = (min(u1, WIDTH) - max(u0, 0)) * (min(v1, HEIGHT) - max(v0, 0))
        if full <= 0 or min(u1, WIDTH) <= max(u0, 0) or inside < full / 3:
            continue
        x, y, w, h = cv2.boundingRect((seen == k).astype(np.uint8))
        if w and h:
            out.append((x / WIDTH, y / HEIGHT, w / WIDTH, h / HEIGHT))
    return out
