"""Junction clips in a sixth drawing style (F), 1280x720 15 fps CBR 0.8-1.5 Mbit/s, held-out 6.

Written before the sixth detector round (issue 11) and scored once on main's detector before
it; shares no drawing code with ``clips``, ``street_clips`` (A/B), ``street_clips_c`` (C),
``street_clips_d*`` (D), ``street_clips_e*`` (E) or ``street_clips_wind``, only the clip
writer. A commune junction seen from a camera on a 4.5 m pole, looking down 27 degrees
through a wide lens (``street_clips_f_movers``):

- an asphalt road running away from the camera and a cross road, a dashed centre line, a
  concrete drain with a grate beside the road, the rest a square of concrete tiles; a row of
  shop fronts closing the square (roller shutters, open shops, coloured signboards that are
  lit at night, an upper storey), the road going on between them; the People's Committee's
  washed wall on the near right; a power pole and sagging power lines against the sky; parked
  motorbikes (still); a banana plant whose leaves sway in the wind and cast shadows on the
  wall and the ground in sunshine (not masked);
- light: sun and sky by day with passing cloud shade, dusk, sodium lamps on poles at night
  (one may flicker), headlamp beams on the ground, an IR mode that is grey with a hot spot in
  the middle of the picture;
- a wide lens with strong barrel distortion (the corners fall outside the sensor's image
  circle: dark) and vignetting; an auto-exposure with a lag; the camera's pipeline in
  ``street_clips_f_lens``: Bayer colour noise, temporal denoise, sharpening halos; lens rain,
  moths.

Ground truth per frame: one box per mover at least a third in view (riders with their
motorbike), taken from the distorted picture. A mover standing still changes no pixel and is
not labelled.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from tests.infra.street_clips_f_lens import FPS, LensWater, Moths, Sensor, barrel, falling_streaks
from tests.infra.street_clips_f_movers import (
    CX,
    FOCAL,
    HEIGHT,
    WIDTH,
    Mover,
    depth,
    draw,
    headlamp,
    pose,
    project,
)
from tests.infra.street_clips_f_scenery import fronts, ground, leaf, on_ground, on_wall, surfaces

GOP = 30
SOURCES = tuple(__file__.replace("street_clips_f.py", f"street_clips_f{part}.py")
                for part in ("", "_movers", "_lens", "_scenery"))
Box = tuple[float, float, float, float]
_Q = 4  # light is smooth: computed at a quarter of the size
_SODIUM = np.array([0.3, 0.68, 1.0], np.float32)  # BGR
_BANANA = ((5.6, 5.5), (6.0, 8.2))  # (X, Z) of the banana plants, in front of the wall
_PARKED = ((-5.0, 6.5, 0.9), (-5.9, 7.0, 1.1), (-4.6, 16.0, -0.2), (4.9, 19.5, 2.0))


@dataclass(frozen=True)
class PoleLampF:
    x: float
    z: float
    power: float = 1.0
    flicker: bool = False  # a sodium lamp near its end: it drops out and restrikes


@dataclass(frozen=True)
class SceneF:
    name: str
    duration_s: float
    movers: tuple[Mover, ...] = ()
    lamps: tuple[PoleLampF, ...] = ()
    ambient: tuple[float, float] = (1.0, 1.0)  # at the start and at the end (1: daylight)
    sun: float = 0.0  # direct sunshine on top of the ambient light (casts shadows)
    noise_sigma: float = 1.0  # read noise before the gain
    ir_at: float | None = None
    wind: float = 0.0  # how far the banana leaves swing
    clouds: bool = False
    rain: int = 0  # falling streaks per frame
    drops_per_s: float = 0.0  # near-lens drops
    long_drops: float = 0.1  # the share that stay many seconds
    moths: int = 0
    seed: int = 1
    bitrate_k: int = 1000
    gop: int = GOP
    style: str = "F"
    masks: tuple[tuple[tuple[float, float], ...], ...] = field(default=())


class _Junction:
    """Everything about one scene that does not change from frame to frame."""

    def __init__(self, scene: SceneF) -> None:
        self.scene = scene
        self.rng = rng = np.random.default_rng(scene.seed)
        kind, x, y, z = surfaces()
        self.kind = kind
        surf = ground(x, z, rng)
        shops, signs = fronts(x, y, rng)
        surf[kind == 2] = shops[kind == 2]
        wall = np.array([0.55, 0.8, 0.88], np.float32) * (0.8 + 0.2 * np.clip(y / 1.0, 0, 1))[
            ..., None]
        surf[kind == 3] = wall[kind == 3]
        sky = np.array([0.95, 0.85, 0.75], np.float32) * (0.9 + 0.1 * np.linspace(
            0, 1, HEIGHT, dtype=np.float32))[:, None, None]
        surf[kind == 0] = np.broadcast_to(sky, surf.shape)[kind == 0]
        self._wires(surf)
        for k, (px, pz, heading) in enumerate(_PARKED):
            hx, hz = math.cos(heading), math.sin(heading)
            parked = Mover("parked", ((0.0, px, pz), (1.0, px + 0.01 * hx, pz + 0.01 * hz)),
                           tuple(rng.uniform(0.15, 0.45, 3)))
            draw(parked, 0.5, surf, np.zeros((HEIGHT, WIDTH), np.uint8), 1 + k)
        self.surf = surf.astype(np.float32)
        self.ir_surf = np.repeat(self.surf.mean(axis=2, keepdims=True) * 1.1, 3, axis=2)
        q = (slice(_Q // 2, None, _Q), slice(_Q // 2, None, _Q))
        self.xq, self.yq, self.zq, self.kq = x[q], y[q], z[q], kind[q]
        self.pools = [self._pool(lamp) for lamp in scene.lamps]
        self.heads = [self._head(lamp) for lamp in scene.lamps]
        # what shines steadily (lamp heads, signboards lit at night), by day and under IR
        self.steady = {ir: self._steady(signs, ir) for ir in (False, True)}
        vq, uq = np.mgrid[0:HEIGHT // _Q, 0:WIDTH // _Q].astype(np.float32) * _Q
        self.uq = uq
        self.hot = (0.3 + 0.9 * np.exp(-((uq - CX) / 330) ** 2 - ((vq - 420) / 230) ** 2))
        self.flicker = [self._flicker(rng) if lamp.flicker else None for lamp in scene.lamps]
        self.map_u, self.map_v, self.vignette = barrel()
        self.gain: float | None = None
        self.water = LensWater(scene.drops_per_s, scene.long_drops, rng)
        self.moths, self.sensor = Moths(scene.moths, rng), Sensor(rng)

    @staticmethod
    def _wires(surf: np.ndarray) -> None:
        """A power pole on the left and lines sagging across the sky."""
        foot, top = project((-8.0, 0.0, 15.0)), project((-8.0, 8.5, 15.0))
        cv2.line(surf, (round(foot[0]), round(foot[1])), (round(top[0]), round(top[1])),
                 (0.45, 0.45, 0.45), 7)
        for k, sag in enumerate((30, 40, 55)):
            us = np.linspace(-200, WIDTH + 200, 40)
            vs = 95 + 14 * k + sag * (1 - ((us - 640) / 900) ** 2)
            pts = np.stack([us, vs], axis=1).round().astype(np.int32)
            cv2.polylines(surf, [pts], False, (0.12, 0.12, 0.12), 2, cv2.LINE_AA)

    def _pool(self, lamp: PoleLampF) -> np.ndarray:
        r2 = (self.xq - lamp.x) ** 2 + (self.zq - lamp.z) ** 2 + (6.0 - self.yq) ** 2
        pool: np.ndarray = lamp.power * 216.0 / np.maximum(r2, 4.0) ** 1.5
        return pool.astype(np.float32)

    def _head(self, lamp: PoleLampF) -> np.ndarray:
        head = np.zeros((HEIGHT, WIDTH), np.float32)
        u, v, zc = project((lamp.x, 6.0, lamp.z))
        cv2.circle(head, (round(u), round(v)), max(2, round(FOCAL * 0.18 / zc)), 1.0, -1,
                   cv2.LINE_AA)
        cv2.line(head, (round(u), round(v)), tuple(round(c) for c in project(
            (lamp.x, 0.0, lamp.z))[:2]), 0.02, max(1, round(FOCAL * 0.1 / zc)))
        return cv2.GaussianBlur(head, (0, 0), 2.0) * 230.0 + cv2.GaussianBlur(
            head, (0, 0), 25.0) * 900.0

    def _steady(self, signs: np.ndarray, ir: bool) -> np.ndarray:
        out = np.zeros((HEIGHT, WIDTH, 3), np.float32)
        for lamp, head in zip(self.scene.lamps, self.heads, strict=True):
            if not lamp.flicker:
                out += head[..., None] * (1.0 if ir else _SODIUM)
        if min(self.scene.ambient) < 0.3 and not ir:
            out += signs[..., None] * np.array([0.5, 0.8, 1.0], np.float32) * 70.0
        return out

    def _flicker(self, rng: np.random.Generator) -> np.ndarray:
        n = int(self.scene.duration_s * FPS) + 1
        level = np.ones(n, np.float32)
        at = 0
        while at < n:
            at += int(rng.integers(15, 60))
            burst = int(rng.integers(3, 25))
            level[at:at + burst] = rng.uniform(0.1, 0.9, len(level[at:at + burst]))
            if rng.random() < 0.3:  # out for a while, then restrikes slowly
                out = int(rng.integers(15, 40))
                level[at + burst:at + burst + out] = np.linspace(0.05, 1.0, len(
                    level[at + burst:at + burst + out]))
                at += out
            at += burst
        return level

    def _banana(self, t: float, surf: np.ndarray, ir: bool) -> np.ndarray:
        """Draw the banana leaves (swaying with the wind) into ``surf``; return their shadow
        at quarter size (the sun comes from the back left: on the wall and the ground)."""
        scene = self.scene
        shadow = np.zeros((HEIGHT // _Q, WIDTH // _Q), np.float32)
        ground_sh, wall_sh = shadow.copy(), shadow.copy()
        gust = math.sin(2 * math.pi * 0.23 * t) + 0.6 * math.sin(2 * math.pi * 0.71 * t + 1.0)
        for k, (bx, bz) in enumerate(_BANANA):
            stem = [(bx - 0.1, 0.0, bz), (bx + 0.1, 0.0, bz), (bx + 0.08, 2.2, bz),
                    (bx - 0.08, 2.2, bz)]
            leaves = [stem]
            for j in range(7):
                az = 2 * math.pi * j / 7 + k + scene.wind * (
                    0.18 * gust + 0.12 * math.sin(2 * math.pi * 1.3 * t + 2.1 * j))
                droop = 0.5 + 0.2 * math.sin(j * 1.7) + scene.wind * 0.15 * math.sin(
                    2 * math.pi * 0.9 * t + j)
                leaves.append(leaf((bx, 2.2, bz), az, droop))
            for poly in leaves:
                pts = np.array([project(p)[:2] for p in poly], np.float32).round().astype(np.int32)
                shade = (0.15, 0.5, 0.28) if poly is not stem else (0.2, 0.35, 0.35)
                cv2.fillPoly(surf, [pts], (0.45,) * 3 if ir else shade, cv2.LINE_AA)
                if scene.sun:
                    for target, fall in ((ground_sh, on_ground), (wall_sh, on_wall)):
                        sh = np.array([project(fall(p))[:2] for p in poly], np.float32) / _Q
                        cv2.fillPoly(target, [sh.round().astype(np.int32)], 1.0)
        if scene.sun:
            shadow = ground_sh * (self.kq == 1) + wall_sh * (self.kq == 3)
            shadow = cv2.GaussianBlur(shadow, (0, 0), 1.2)
        return shadow

    def light(self, i: int, t: float, ir: bool, shadow: np.ndarray) -> np.ndarray:
        """Light falling on each quarter pixel (BGR, 1 = daylight ambient)."""
        scene = self.scene
        amb = scene.ambient[0] + (scene.ambient[1] - scene.ambient[0]) * t / scene.duration_s
        tint = (1.0, 1.0, 0.97) if amb > 0.6 else (1.1, 0.95, 0.85)
        light = np.empty((HEIGHT // _Q, WIDTH // _Q, 3), np.float32)
        light[...] = np.array(tint, np.float32) * amb
        if scene.sun:
            sun = scene.sun * (1 - 0.85 * shadow) * (self.kq != 0)
            if scene.clouds:
                for c0 in (-30.0, 10.0):
                    sun *= 1 - 0.6 * np.exp(-((self.xq - (c0 + 2.2 * t)) / 7.0) ** 2)
            light += sun[..., None] * np.array((0.9, 1.0, 1.05), np.float32)
        for j, pool in enumerate(self.pools):
            levels = self.flicker[j]
            level = 1.0 if levels is None else float(levels[i])
            light += (pool * level)[..., None] * _SODIUM
        for m in scene.movers:
            lamp = headlamp(m, t)
            if lamp is not None:
                light += _beam(lamp, self.xq, self.zq, self.kq)[..., None]
        if ir:
            grey = light.mean(axis=2, keepdims=True)
            light = np.repeat(self.hot[..., None] * 0.9 + 0.3 * grey, 3, axis=2)
        return light.astype(np.float32, copy=False)

    def emitted(self, i: int, t: float, rad: np.ndarray, ir: bool) -> None:
        """Add what shines by itself: lamp heads, lit signboards at night, headlamps."""
        scene = self.scene
        rad += self.steady[ir]
        for j, head in enumerate(self.heads):
            levels = self.flicker[j]
            if levels is not None:
                rad += (head * float(levels[i]))[..., None] * (1.0 if ir else _SODIUM)
        glare = np.zeros((HEIGHT // _Q, WIDTH // _Q), np.float32)
        for m in scene.movers:
            lamp = headlamp(m, t)
            if lamp is None:
                continue
            (x, y, z), (hx, hz) = lamp
            u, v, zc = project((x, y, z))
            # brightest when it points at the camera (at the pole's foot, X = Z = 0)
            facing = max(0.15, -(hx * x + hz * z) / max(math.hypot(x, z), 1e-3))
            core = max(1, round(FOCAL * 0.08 / zc))
            cv2.circle(rad, (round(u), round(v)), core, (600.0 * facing,) * 3, -1, cv2.LINE_AA)
            cv2.circle(glare, (round(u / _Q), round(v / _Q)), max(1, round(core * 3 / _Q)),
                       80.0 * facing, -1)
        if glare.any():
            spread: np.ndarray = cv2.resize(cv2.GaussianBlur(glare, (0, 0), 3.0), (WIDTH, HEIGHT))
            rad += spread[..., None]

    def frame(self, i: int) -> tuple[np.ndarray, list[Box]]:
        scene = self.scene
        t = i / FPS
        ir = scene.ir_at is not None and t >= scene.ir_at
        surf = (self.ir_surf if ir else self.surf).copy()
        shadow = self._banana(t, surf, ir)
        label = np.zeros((HEIGHT, WIDTH), np.uint8)
        live = sorted((k for k, m in enumerate(scene.movers) if m.start_s <= t < m.end_s),
                      key=lambda k: -depth(scene.movers[k], t))
        for k in live:
            draw(scene.movers[k], t, surf, label, k + 1)
        if ir and live:  # under IR the clothes are grey too
            on = label > 0
            surf[on] = surf[on].mean(axis=1, keepdims=True) * 1.1
        light = cv2.resize(self.light(i, t, ir, shadow), (WIDTH, HEIGHT),
                           interpolation=cv2.INTER_LINEAR)
        rad = cv2.multiply(surf, light, scale=200.0)
        self.emitted(i, t, rad, ir)
        img = cv2.remap(rad, self.map_u, self.map_v, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT)
        seen = cv2.remap(label, self.map_u, self.map_v, cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_CONSTANT)
        target = min(8.0, max(0.5, 90.0 / max(float(img[::4, ::4].mean()), 1.0)))
        self.gain = target if self.gain is None else self.gain + 0.12 * (target - self.gain)
        gain = self.gain
        if scene.ir_at and abs(t - scene.ir_at) < 0.5 / FPS:
            gain *= 0.4  # the IR-cut filter moving over: one dark frame
        img = cv2.multiply(img, self.vignette, scale=gain)
        night = min(scene.ambient) < 0.3 or ir
        self.water.apply(img, 120.0 if night else 60.0)
        self.moths.apply(img, t, 230.0)
        falling_streaks(img, scene.rain, self.rng)
        boxes = _boxes(seen, [k + 1 for k in live if _moved(scene.movers[k], t)
                              and _in_view(label, k + 1, scene.movers[k], t)])
        return self.sensor.expose(img, scene.noise_sigma, gain), boxes


def _beam(lamp: tuple[tuple[float, float, float], tuple[float, float]], xq: np.ndarray,
          zq: np.ndarray, kq: np.ndarray) -> np.ndarray:
    """A headlamp's light on the ground ahead of it: a cone widening with the distance."""
    (x, _, z), (hx, hz) = lamp
    along = (xq - x) * hx + (zq - z) * hz
    across = -(xq - x) * hz + (zq - z) * hx
    ahead = np.clip(along * 2.0, 0.0, 1.0)
    beam: np.ndarray = 0.9 * ahead * np.exp(-(across / (0.4 + 0.35 * np.abs(along))) ** 2) / (
        1.0 + (along / 6.0) ** 2) * (kq == 1)
    return beam.astype(np.float32)


def _moved(m: Mover, t: float) -> bool:
    if t - 1.0 / FPS < m.start_s:
        return True
    a, b = pose(m, t), pose(m, t - 1.0 / FPS)
    return abs(a.x - b.x) + abs(a.z - b.z) + abs(a.walked - b.walked) > 1e-5


def _in_view(label: np.ndarray, k: int, m: Mover, t: float) -> bool:
    """At least a third of the mover inside the picture (before the lens)."""
    p = pose(m, t)
    reach = 1.2 if m.kind in ("moto", "truck", "bicycle") else 0.4
    corners = [project((p.x + dx, y, p.z + dz)) for dx in (-reach, reach)
               for dz in (-reach, reach) for y in (0.0, 1.7)]
    us, vs = [c[0] for c in corners], [c[1] for c in corners]
    full = (max(us) - min(us)) * (max(vs) - min(vs))
    inside = max(0.0, min(max(us), WIDTH) - max(min(us), 0)) * max(
        0.0, min(max(vs), HEIGHT) - max(min(vs), 0))
    return full > 0 and inside >= full / 3


def _boxes(seen: np.ndarray, movers: list[int]) -> list[Box]:
    out: list[Box] = []
    for k in movers:
        x, y, w, h = cv2.boundingRect((seen == k).astype(np.uint8))
        if w and h:
            out.append((x / WIDTH, y / HEIGHT, w / WIDTH, h / HEIGHT))
    return out


def render(scene: SceneF) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """Yield (BGR uint8 frame, ground-truth boxes) at 1280x720."""
    junction = _Junction(scene)
    for i in range(int(scene.duration_s * FPS)):
        yield junction.frame(i)
