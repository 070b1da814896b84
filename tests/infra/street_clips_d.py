"""Street clips in a fourth drawing style (D), 1280x720 15 fps CBR, for held-out set 4.

Written before the detector was changed for it (issue 11, fourth round); shares no drawing
code with ``clips``, ``street_clips`` (styles A/B) or ``street_clips_c`` (style C), only the
clip writer, so a detector tuned on those meets a picture made another way again:

- the camera hangs high on a pole and looks down the street: the horizon is near the top,
  the ground is seen in perspective (things are smaller further up) and movers walk along
  slanted paths, growing as they come closer;
- surfaces: cobbles in perspective (hashed stone shades, dark joints), a plank fence with
  knots, a whitewashed wall with damp stains, a gravel verge;
- the lens vignettes (cos^4 fall-off), and the sensor noise is Poisson-Gaussian with a row
  banding term and colour noise on each channel separately (not shot-like luma blotches);
- walkers are filled polygons (torso, swinging legs and arms, head) shaded darker towards
  the feet, with a contact shadow; a cyclist is two wheel rings, a frame and a rider;
- a car seen from above: body, lighter roof, dark windscreen; its headlamps glow with a wide
  bloom and a horizontal flare; its beam is a pool on the dry road ahead (no reflections);
- lens rain *slides*: flat-topped drops with fairly sharp edges run down the glass at a
  steady speed for 1-3 s, leaving a thinner wet trail; falling rain is anti-aliased dashes;
- the IR switch: day colour, a black frame as the filter clicks, then grey with an
  exposure overshoot that rings (a damped oscillation) for about a second;
- a sodium lamp that cycles (fades out, stays dark, restarts dim and red, warms up) with
  mains beat; wind-shaken tree shadows cast by the sun on the road and wall.

Ground truth: the bounding box of each mover's visible pixels when at least a third of it is
in the picture (a cyclist's wheels and rider together).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from tests.infra.street_clips_d_movers import (
    HEIGHT,
    HZ,
    WIDTH,
    Box,
    Pedestrian,
    TopCar,
    car_frame,
    depth,
    draw_car,
    draw_pedestrian,
    headlamps,
    pt,
)

FPS, GOP = 15, 30
SOURCES = (__file__, __file__.replace("street_clips_d.py", "street_clips_d_movers.py"))
_FENCE = 0.34  # the fence and wall stand on the ground up to this row


@dataclass(frozen=True)
class PoleLamp:
    x: float
    y: float  # where its pool is centred on the ground (relative)
    spread: float  # relative width of the pool
    gain: float
    cycling: bool = False  # a failing sodium lamp


@dataclass(frozen=True)
class SceneD:
    name: str
    duration_s: float
    people: tuple[Pedestrian, ...] = ()
    cars: tuple[TopCar, ...] = ()
    lamps: tuple[PoleLamp, ...] = ()
    ambient: float = 0.3
    noise_sigma: float = 4.0  # read noise in grey levels; shot noise and banding add to it
    drops_per_s: float = 0.0  # sliding lens drops
    drop_width: tuple[float, float] = (0.015, 0.04)  # relative to the width
    rain: int = 0  # falling-rain dashes per frame
    ir_at: float | None = None  # day until then, IR after
    shadows: bool = False  # wind-shaken tree shadows (daylight)
    seed: int = 1
    bitrate_k: int = 1500
    style: str = "D"
    masks: tuple[tuple[tuple[float, float], ...], ...] = field(default=())

    @property
    def movers(self) -> tuple[Pedestrian | TopCar, ...]:
        return (*self.people, *self.cars)


def _hash(a: np.ndarray, b: np.ndarray, seed: int) -> np.ndarray:
    """A repeatable pseudo-random value in 0..1 per integer cell (a, b)."""
    h = (a.astype(np.int64) * 73856093) ^ (b.astype(np.int64) * 19349663) ^ (seed * 83492791)
    return ((h * 2654435761) % 4294967291 % 10007) / 10007.0


def _surfaces(seed: int, rng: np.random.Generator) -> np.ndarray:
    """Reflectance (BGR 0..1): fence and wall above ``_FENCE``, cobbles below, gravel verge."""
    h, w = HEIGHT, WIDTH
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    top = int(_FENCE * h)
    # fence planks (left 60 %) and a whitewashed wall with damp stains (right)
    plank = (xx[:top] // 23).astype(np.int64)
    shade = 0.25 + 0.2 * _hash(plank, plank * 0 + 1, seed)
    grain = 0.04 * np.sin(yy[:top] / 3.0 + _hash(plank, plank, seed) * 20)
    joint = (xx[:top] % 23) < 2
    wood = np.where(joint, 0.08, shade + grain)
    img[:top] = wood[..., None] * np.array([0.55, 0.75, 1.0], np.float32)
    wall_x = int(w * 0.6)
    stain = cv2.GaussianBlur(rng.random((top, w - wall_x)).astype(np.float32), (0, 0), 9)
    stain = (stain - stain.mean()) / (stain.std() + 1e-6)
    img[:top, wall_x:] = (0.78 - 0.1 * np.clip(stain, 0, 3))[..., None]
    img[:int(HZ * h * 0.5)] *= 0.5  # the sky above the roofs, dim
    # cobbles: rows of stones that shrink towards the horizon
    d = depth(yy[top:] / h)
    far = 1.0 / d  # grows towards the horizon
    row = (far * 10.0).astype(np.int64)
    u = (xx[top:] - w / 2) / (w * d) * 26 + (row % 2) * 0.5
    col = np.floor(u).astype(np.int64)
    stone = 0.3 + 0.25 * _hash(col, row, seed + 1)
    fu, fv = u - np.floor(u), far * 10.0 - row
    stone = np.where((fu < 0.08) | (fv < 0.1), 0.1, stone)
    img[top:] = stone[..., None] * np.array([0.9, 0.95, 1.0], np.float32)
    verge = xx[top:] > w * 0.86 + (yy[top:] - top) * 0.25
    gravel = 0.35 + 0.15 * rng.random(verge.shape).astype(np.float32)
    img[top:][verge] = (gravel[verge] * np.array([[0.7, 0.85, 0.9]], np.float32).T).T
    return np.clip(img, 0.02, 1.0)


def _vignette() -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    r2 = ((xx - WIDTH / 2) ** 2 + (yy - HEIGHT / 2) ** 2) / (0.9 * WIDTH) ** 2
    out: np.ndarray = 1.0 / (1.0 + r2) ** 2  # cos^4 of the angle off the axis
    return out


_SODIUM = np.array([0.35, 0.7, 1.0], np.float32)  # BGR
_WARMING = np.array([0.08, 0.25, 1.0], np.float32)


def _cycle(t: float) -> tuple[float, np.ndarray]:
    """A failing sodium lamp's level and colour: on, fades out, dark, restarts red, warms."""
    c = t % 12.0
    beat = 1 + 0.06 * math.sin(2 * math.pi * 5.0 * t)  # 100 Hz mains seen at 15 fps
    if c < 4.0:
        return beat, _SODIUM
    if c < 4.6:
        return beat * (4.6 - c) / 0.6, _SODIUM
    if c < 7.0:
        return 0.0, _SODIUM
    warm = min(1.0, (c - 7.0) / 4.0)
    return beat * (0.15 + 0.85 * warm), _WARMING + (_SODIUM - _WARMING) * warm


def _light(scene: SceneD, t: float, grids: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Illumination (BGR) at a quarter of the size, scaled up: light is smooth."""
    yy, xx = grids
    light = np.full((*yy.shape, 3), scene.ambient, np.float32)
    for lamp in scene.lamps:
        level, colour = _cycle(t) if lamp.cycling else (1.0, _SODIUM)
        pool = np.exp(-((xx - lamp.x) / lamp.spread) ** 2
                      - ((yy - lamp.y) / (lamp.spread * 0.9)) ** 2)
        light += (lamp.gain * level * pool)[..., None] * colour
    for c in scene.cars:
        if not c.start_s <= t < c.end_s:
            continue
        x, gy, length, deep = car_frame(c, t)
        d = float(depth(c.ground_y))
        front = (x + length if c.direction > 0 else x) / WIDTH
        cx = front + c.direction * c.reach * d
        ahead = np.clip((xx - front) * c.direction / 0.03, 0, 1)  # the lamps' soft cut-off
        pool = np.exp(-((xx - cx) / (c.reach * d * 0.7)) ** 2
                      - ((yy - (gy - deep * 0.5) / HEIGHT) / (deep * 0.9 / HEIGHT)) ** 2)
        light += (c.beam * pool * ahead)[..., None] * np.array([0.95, 1.0, 1.0], np.float32)
    return cv2.resize(light, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)


def _exposure(scene: SceneD, t: float) -> float:
    """After the IR switch: auto-exposure overshoots and rings for about a second."""
    if scene.ir_at is None or t < scene.ir_at:
        return 1.0
    dt = t - scene.ir_at
    return 1 + 1.3 * math.exp(-dt / 0.35) * math.cos(2 * math.pi * dt / 0.8)


def _ir_light(grids: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The camera's own illuminator from above: a hot spot low in the picture."""
    yy, xx = grids
    spot = 0.15 + 1.1 * np.exp(-((xx - 0.5) / 0.45) ** 2 - ((yy - 0.75) / 0.5) ** 2)
    return cv2.resize(np.repeat(spot[..., None], 3, axis=2).astype(np.float32),
                      (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)


def _shadow_map(rng: np.random.Generator) -> np.ndarray:
    """A tree's shadow: clumps of leaves with gaps, on a quarter-size canvas."""
    h, w = HEIGHT // 4, WIDTH // 4
    leaves = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2.5)
    leaves = (leaves - leaves.mean()) / (leaves.std() + 1e-6)
    crown = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 12)
    crown = (crown - crown.mean()) / (crown.std() + 1e-6)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    where = np.exp(-((xx / w - 0.42) / 0.28) ** 2 - ((yy / h - 0.6) / 0.3) ** 2)
    out: np.ndarray = np.clip((crown + 0.6 * leaves) * 1.5, 0, 1) * where
    return out.astype(np.float32)


def _sway(shadow: np.ndarray, t: float) -> np.ndarray:
    h, w = shadow.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gust = math.sin(2 * math.pi * 0.3 * t) + 0.6 * math.sin(2 * math.pi * 0.9 * t + 2)
    mx = xx + 4.0 * gust + 0.8 * np.sin(yy / 6 + 5 * t)
    my = yy + 1.2 * gust * np.sin(xx / 20 + t)
    moved = cv2.remap(shadow, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    out: np.ndarray = cv2.resize(moved, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
    return out


def _slide_drops(img: np.ndarray, scene: SceneD, drops: list[list[float]],
                 rng: np.random.Generator) -> None:
    """Drops sliding down the lens: flat-topped, fairly sharp-edged, leaving a wet trail.
    Each drop: x, start row, head row, width, speed (px/frame), frames left, lift."""
    for _ in range(int(rng.poisson(scene.drops_per_s / FPS))):
        wd = rng.uniform(*scene.drop_width) * WIDTH
        y = rng.uniform(-0.1, 0.6) * HEIGHT
        drops.append([rng.uniform(0, WIDTH), y, y, wd, rng.uniform(0.1, 0.5) * wd,
                      float(rng.integers(15, 46)), rng.uniform(25, 70)])
    for d in drops:
        x, y_start, y, wd, _, _, lift = d
        half = wd / 2
        head = min(y - y_start, 2.5 * wd)  # the drop stretches as it runs
        x0, x1 = int(max(0, x - half - 3)), int(min(WIDTH, x + half + 3))
        y0, y1 = int(max(0, y_start - half - 3)), int(min(HEIGHT, y + half + 3))
        if x1 - x0 > 3 and y1 - y0 > 3:
            gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            dx = np.abs(gx - x)
            along = np.maximum(np.maximum((y - head) - gy, gy - y), 0)
            body = np.clip((half - np.sqrt(dx ** 2 + along ** 2)) / 2.0, 0, 1)
            trail = np.clip((0.35 * half - dx) / 1.5, 0, 1) * (gy >= y_start) * (gy < y - head)
            alpha = np.maximum(body, 0.5 * trail)[..., None]
            patch = img[y0:y1, x0:x1]
            behind = cv2.GaussianBlur(patch, (0, 0), max(1.0, wd / 6))
            img[y0:y1, x0:x1] = patch * (1 - alpha) + (behind * 1.05 + lift) * alpha
        d[2] += d[4]
        d[5] -= 1
    drops[:] = [d for d in drops if d[5] > 0 and d[2] - min(d[2] - d[1], 2.5 * d[3]) < HEIGHT]
    for _ in range(scene.rain):  # falling rain close to the camera: anti-aliased dashes
        sx, sy = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
        ln = rng.uniform(10, 26)
        v = float(rng.uniform(25, 55))
        cv2.line(img, pt((sx, sy)), pt((sx + ln * 0.15, sy + ln)), (v, v, v), 1, cv2.LINE_AA)


def render(scene: SceneD) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """Yield (BGR uint8 frame, ground-truth boxes) at 1280x720."""
    rng = np.random.default_rng(scene.seed)
    day = _surfaces(scene.seed, rng)
    ir_surf = np.repeat((day @ np.array([0.45, 0.35, 0.2], np.float32))[..., None] * 1.15, 3,
                        axis=2)  # reflectance under IR: another mix of the colours
    # three equal channels: a plain multiply gives the broadcast one's products, faster
    vignette = np.repeat(_vignette()[..., None], 3, axis=2)
    qy, qx = np.mgrid[0:HEIGHT // 4, 0:WIDTH // 4].astype(np.float32)
    grids = (qy / (HEIGHT // 4), qx / (WIDTH // 4))
    ir_light = _ir_light(grids)
    shadow = _shadow_map(rng) if scene.shadows else None
    drops: list[list[float]] = []
    # what does not change while no mover is in view (and no lamp cycles, no shadow sways):
    # the light, and the lit picture before the exposure, by IR state
    steady_light = not any(lamp.cycling for lamp in scene.lamps)
    lights: dict[bool, np.ndarray] = {}
    lit: dict[bool, np.ndarray] = {}
    for i in range(int(scene.duration_s * FPS)):
        t = i / FPS
        ir = scene.ir_at is not None and t >= scene.ir_at
        active = [m for m in scene.movers if m.start_s <= t < m.end_s]
        click = ir and i == int(scene.ir_at * FPS)  # type: ignore[operator]
        steady = not active and steady_light and shadow is None and not click
        boxes: list[Box] = []
        if steady and ir in lit:
            picture = lit[ir]
        else:
            light = _frame_light(scene, t, ir, grids, ir_light, shadow, lights,
                                 steady_light and not active)
            picture, boxes = _picture(scene, t, ir, click, ir_surf if ir else day, vignette,
                                      light)
            if steady:
                lit[ir] = picture
        img = picture * (255 * _exposure(scene, t))
        headlamps(img, scene.cars, t)
        _slide_drops(img, scene, drops, rng)
        signal = np.clip(img, 0, 255, out=img)
        sigma = np.multiply(signal, 0.3)
        sigma += scene.noise_sigma ** 2
        np.sqrt(sigma, out=sigma)
        sigma *= rng.standard_normal(signal.shape, dtype=np.float32)
        signal += sigma
        signal += rng.normal(0, 0.5 * scene.noise_sigma, (HEIGHT, 1, 1)).astype(np.float32)
        yield np.clip(signal, 0, 255, out=signal).astype(np.uint8), boxes


def _frame_light(scene: SceneD, t: float, ir: bool, grids: tuple[np.ndarray, np.ndarray],
                 ir_light: np.ndarray, shadow: np.ndarray | None,
                 lights: dict[bool, np.ndarray], steady: bool) -> np.ndarray:
    """The frame's light (``lights`` keeps it while it is ``steady``: no car, no cycling
    lamp), with the swaying shadow."""
    if ir:
        light = ir_light
    elif steady:
        if False not in lights:
            lights[False] = _light(scene, t, grids)
        light = lights[False]
    else:
        light = _light(scene, t, grids)
    if shadow is not None:
        sway = 1 - 0.6 * _sway(shadow, t)
        light = np.stack([light[..., c] * sway for c in range(3)], axis=2)
    return light


def _picture(scene: SceneD, t: float, ir: bool, click: bool, base: np.ndarray,
             vignette: np.ndarray, light: np.ndarray) -> tuple[np.ndarray, list[Box]]:
    """The movers drawn on a copy of the surfaces (``base``), lit and vignetted (before the
    exposure)."""
    boxes: list[Box] = []
    surf = base
    if any(m.start_s <= t < m.end_s for m in scene.movers):
        surf = base.copy()
        for p in scene.people:
            if p.start_s <= t < p.end_s:
                draw_pedestrian(surf, p, t, ir, boxes)
        for c in scene.cars:
            if c.start_s <= t < c.end_s:
                draw_car(surf, c, t, boxes)
    if click:
        light = light * 0.04  # the filter clicks over: one nearly black frame
    img = surf * light
    img *= vignette
    return img, boxes
