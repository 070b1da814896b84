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

Box = tuple[float, float, float, float]
WIDTH, HEIGHT, FPS, GOP = 1280, 720, 15, 30
_HZ = 0.2  # the horizon's row (relative): a high camera looking down
_FENCE = 0.34  # the fence and wall stand on the ground up to this row


@dataclass(frozen=True)
class Pedestrian:
    start_s: float
    end_s: float
    start: tuple[float, float]  # relative (x, feet y) at start_s
    end: tuple[float, float]
    shade: float  # reflectance of the clothes
    stature: float = 1.0  # relative to an average person at that distance
    cyclist: bool = False
    ir_shade: float | None = None  # the clothes' reflectance under IR (default: the same)
    seed: int = 1


@dataclass(frozen=True)
class TopCar:
    start_s: float
    end_s: float
    direction: int  # +1 left to right
    ground_y: float  # relative row of the car's near edge
    shade: float = 0.25
    beam: float = 2.5  # the beam pool's added light
    reach: float = 0.35  # how far ahead of the car the pool lies (relative width)


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


def _depth(y: np.ndarray | float) -> np.ndarray:
    """How large a thing standing at row ``y`` (relative) looks: 0 at the horizon."""
    out: np.ndarray = np.maximum((np.asarray(y, np.float32) - _HZ) / (1 - _HZ), 0.02)
    return out


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
    img[:int(_HZ * h * 0.5)] *= 0.5  # the sky above the roofs, dim
    # cobbles: rows of stones that shrink towards the horizon
    d = _depth(yy[top:] / h)
    depth = 1.0 / d  # grows towards the horizon
    row = (depth * 10.0).astype(np.int64)
    u = (xx[top:] - w / 2) / (w * d) * 26 + (row % 2) * 0.5
    col = np.floor(u).astype(np.int64)
    stone = 0.3 + 0.25 * _hash(col, row, seed + 1)
    fu, fv = u - np.floor(u), depth * 10.0 - row
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


def _position(p: Pedestrian, t: float) -> tuple[float, float, float]:
    f = (t - p.start_s) / (p.end_s - p.start_s)
    x = (p.start[0] + (p.end[0] - p.start[0]) * f) * WIDTH
    y = (p.start[1] + (p.end[1] - p.start[1]) * f) * HEIGHT
    tall = float(_depth(y / HEIGHT)) * 0.42 * HEIGHT * p.stature
    return x, y, tall


def _poly(pts: list[tuple[float, float]]) -> np.ndarray:
    return np.array([[round(x), round(y)] for x, y in pts], np.int32)


def _pedestrian_mask(p: Pedestrian, t: float, mask: np.ndarray, pad: int) -> None:
    """Draw the figure into ``mask`` (the frame with ``pad`` pixels on every side)."""
    x, y, tall = _position(p, t)
    x, y = x + pad, y + pad
    swing = math.sin(2 * math.pi * (1.1 if p.cyclist else 1.6) * t + p.seed)
    if p.cyclist:
        _cyclist(mask, x, y, tall, swing)
        return
    hip, neck = y - tall * 0.48, y - tall * 0.82
    half = tall * 0.11
    cv2.fillPoly(mask, [_poly([(x - half, neck), (x + half, neck), (x + half * 0.8, hip),
                               (x - half * 0.8, hip)])], 255)
    leg = max(2, int(tall * 0.08))
    for s in (1, -1):
        cv2.line(mask, _i((x + s * half * 0.4, hip)), _i((x + s * swing * tall * 0.2, y)), 255,
                 leg)
        cv2.line(mask, _i((x + s * half, neck + tall * 0.03)),
                 _i((x + s * half - s * swing * tall * 0.15, hip + tall * 0.05)), 255,
                 max(2, leg - 2))
    cv2.ellipse(mask, _i((x, neck - tall * 0.08)), (max(2, int(tall * 0.06)),
                max(2, int(tall * 0.085))), 0, 0, 360, 255, -1)


def _cyclist(mask: np.ndarray, x: float, y: float, tall: float, swing: float) -> None:
    r = tall * 0.2
    ring = max(2, int(tall * 0.035))
    for wx in (x - tall * 0.32, x + tall * 0.32):
        cv2.circle(mask, _i((wx, y - r)), round(r), 255, ring)
    hub, seat = (x, y - r), (x - tall * 0.08, y - tall * 0.55)
    frame = [(x - tall * 0.32, y - r), seat, (x + tall * 0.2, y - tall * 0.5),
             (x + tall * 0.32, y - r), hub, seat]
    cv2.polylines(mask, [_poly(frame)], False, 255, ring)
    shoulder = (x + tall * 0.06, y - tall * 0.95)
    cv2.fillPoly(mask, [_poly([seat, (seat[0] - tall * 0.08, seat[1] - tall * 0.05),
                               (shoulder[0] - tall * 0.06, shoulder[1]),
                               (shoulder[0] + tall * 0.08, shoulder[1] + tall * 0.04)])], 255)
    knee = (x + tall * 0.05 + tall * 0.08 * swing, y - tall * 0.42)
    cv2.line(mask, _i(seat), _i(knee), 255, max(2, int(tall * 0.07)))
    cv2.line(mask, _i(knee), _i((hub[0] + tall * 0.08 * swing, hub[1])), 255,
             max(2, int(tall * 0.06)))
    cv2.line(mask, _i(shoulder), _i((x + tall * 0.22, y - tall * 0.55)), 255,
             max(2, int(tall * 0.05)))
    cv2.circle(mask, _i((shoulder[0] + tall * 0.03, shoulder[1] - tall * 0.12)),
               max(2, int(tall * 0.08)), 255, -1)


def _i(p: tuple[float, float]) -> tuple[int, int]:
    return round(p[0]), round(p[1])


def _draw_pedestrian(surf: np.ndarray, p: Pedestrian, t: float, ir: bool,
                     boxes: list[Box]) -> None:
    x, y, tall = _position(p, t)
    pad = int(tall) + 4
    # the whole figure on a canvas larger than the frame: how much of it is in view
    canvas = np.zeros((HEIGHT + 2 * pad, WIDTH + 2 * pad), np.uint8)
    _pedestrian_mask(p, t, canvas, pad)
    full = cv2.countNonZero(canvas)
    mask = np.ascontiguousarray(canvas[pad:pad + HEIGHT, pad:pad + WIDTH])
    seen = cv2.countNonZero(mask)
    # a soft contact shadow on the ground (not labelled: it is not the person)
    sy0, sy1 = int(y - tall * 0.03), int(y + tall * 0.04)
    sx0, sx1 = int(x - tall * 0.22), int(x + tall * 0.28)
    if sy1 > sy0 and sx1 > sx0 and sy0 >= 0 and sy1 <= HEIGHT and sx0 >= 0 and sx1 <= WIDTH:
        gy, gx = np.mgrid[sy0:sy1, sx0:sx1].astype(np.float32)
        dark = 0.35 * np.exp(-((gx - x - tall * 0.03) / (tall * 0.18)) ** 2
                             - ((gy - y) / (tall * 0.025)) ** 2)
        surf[sy0:sy1, sx0:sx1] *= (1 - dark)[..., None]
    if not seen:
        return
    shade = p.ir_shade if ir and p.ir_shade is not None else p.shade
    x0, y0, bw, bh = cv2.boundingRect(mask)
    ramp = np.broadcast_to(np.linspace(1.1, 0.75, bh, dtype=np.float32)[:, None], (bh, bw))
    tint = np.array([0.9, 1.0, 1.1] if p.seed % 2 else [1.15, 0.95, 0.85], np.float32)
    inside = mask[y0:y0 + bh, x0:x0 + bw] > 0
    region = surf[y0:y0 + bh, x0:x0 + bw]
    region[inside] = np.clip(shade * ramp[inside][:, None] * tint, 0.01, 1)
    if full and seen >= full / 3:
        boxes.append((x0 / WIDTH, y0 / HEIGHT, bw / WIDTH, bh / HEIGHT))


def _car_frame(c: TopCar, t: float) -> tuple[float, float, float, float]:
    """Left x, near-edge row, length and depth (pixels) of the car seen from above."""
    d = float(_depth(c.ground_y))
    length = 0.42 * WIDTH * d
    deep = length * 0.42
    lead = c.reach * WIDTH * d * 1.4  # the beam's pool enters the picture this far ahead
    f = (t - c.start_s) / (c.end_s - c.start_s)
    travel = WIDTH + length + lead
    x = -length - lead + f * travel if c.direction > 0 else WIDTH + lead - f * travel
    return x, c.ground_y * HEIGHT, length, deep


def _draw_car(surf: np.ndarray, c: TopCar, t: float, boxes: list[Box]) -> None:
    x, gy, length, deep = _car_frame(c, t)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.rectangle(mask, _i((x, gy - deep)), _i((x + length, gy)), 255, -1)
    seen = cv2.countNonZero(mask)
    if not seen:
        return
    surf[mask > 0] = c.shade
    roof0, roof1 = x + length * 0.25, x + length * 0.75
    roof = np.zeros_like(mask)
    cv2.rectangle(roof, _i((roof0, gy - deep * 0.85)), _i((roof1, gy - deep * 0.15)), 255, -1)
    surf[(roof > 0) & (mask > 0)] = min(1.0, c.shade * 1.8)
    wind = np.zeros_like(mask)
    wx = roof1 if c.direction > 0 else roof0
    cv2.rectangle(wind, _i((wx - length * 0.08, gy - deep * 0.85)),
                  _i((wx + length * 0.08, gy - deep * 0.15)), 255, -1)
    surf[(wind > 0) & (mask > 0)] = c.shade * 0.3
    if seen >= length * deep / 3:
        bx, by, bw, bh = cv2.boundingRect(mask)
        boxes.append((bx / WIDTH, by / HEIGHT, bw / WIDTH, bh / HEIGHT))


def _headlamps(img: np.ndarray, scene: SceneD, t: float) -> None:
    """Glowing headlamps: a saturated core, a wide bloom and a horizontal flare."""
    for c in scene.cars:
        if not c.start_s <= t < c.end_s:
            continue
        x, gy, length, deep = _car_frame(c, t)
        front = x + length if c.direction > 0 else x
        for ly in (gy - deep * 0.2, gy - deep * 0.8):
            _bloom(img, front, ly, deep * 0.45, 160.0)
            y = round(ly)
            if 0 <= y < HEIGHT:  # the lens's flare: a thin bright line across
                x0, x1 = max(0, int(front - deep * 1.5)), min(WIDTH, int(front + deep * 1.5))
                if x1 > x0:
                    gx = np.arange(x0, x1, dtype=np.float32)
                    img[y, x0:x1] += (70 * np.exp(-((gx - front) / deep) ** 2))[:, None]
            cv2.circle(img, _i((front, ly)), max(2, int(deep * 0.07)), (255, 255, 250), -1)


def _bloom(img: np.ndarray, x: float, y: float, r: float, strength: float) -> None:
    g = int(3 * r)
    x0, x1, y0, y1 = max(0, int(x) - g), min(WIDTH, int(x) + g), max(0, int(y) - g), \
        min(HEIGHT, int(y) + g)
    if x1 <= x0 or y1 <= y0:
        return
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    rr = np.sqrt((gx - x) ** 2 + (gy - y) ** 2) / r
    img[y0:y1, x0:x1] += (strength / (1 + rr ** 2.5))[..., None]


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
        x, gy, length, deep = _car_frame(c, t)
        d = float(_depth(c.ground_y))
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
        cv2.line(img, _i((sx, sy)), _i((sx + ln * 0.15, sy + ln)), (v, v, v), 1, cv2.LINE_AA)


def render(scene: SceneD) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """Yield (BGR uint8 frame, ground-truth boxes) at 1280x720."""
    rng = np.random.default_rng(scene.seed)
    day = _surfaces(scene.seed, rng)
    ir_surf = np.repeat((day @ np.array([0.45, 0.35, 0.2], np.float32))[..., None] * 1.15, 3,
                        axis=2)  # reflectance under IR: another mix of the colours
    vignette = _vignette()[..., None]
    qy, qx = np.mgrid[0:HEIGHT // 4, 0:WIDTH // 4].astype(np.float32)
    grids = (qy / (HEIGHT // 4), qx / (WIDTH // 4))
    ir_light = _ir_light(grids)
    shadow = _shadow_map(rng) if scene.shadows else None
    drops: list[list[float]] = []
    for i in range(int(scene.duration_s * FPS)):
        t = i / FPS
        ir = scene.ir_at is not None and t >= scene.ir_at
        surf = (ir_surf if ir else day).copy()
        boxes: list[Box] = []
        for p in scene.people:
            if p.start_s <= t < p.end_s:
                _draw_pedestrian(surf, p, t, ir, boxes)
        for c in scene.cars:
            if c.start_s <= t < c.end_s:
                _draw_car(surf, c, t, boxes)
        light = ir_light if ir else _light(scene, t, grids)
        if shadow is not None:
            light = light * (1 - 0.6 * _sway(shadow, t))[..., None]
        if ir and i == int(scene.ir_at * FPS):  # type: ignore[operator]
            light = light * 0.04  # the filter clicks over: one nearly black frame
        img = surf * light * vignette * (255 * _exposure(scene, t))
        _headlamps(img, scene, t)
        _slide_drops(img, scene, drops, rng)
        signal = np.clip(img, 0, 255)
        sigma = np.sqrt(scene.noise_sigma ** 2 + 0.3 * signal)
        img = signal + sigma * rng.standard_normal(signal.shape, dtype=np.float32)
        img += rng.normal(0, 0.5 * scene.noise_sigma, (HEIGHT, 1, 1)).astype(np.float32)
        yield np.clip(img, 0, 255).astype(np.uint8), boxes
