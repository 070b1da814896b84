"""Street clips in a third drawing style (C), at 1280x720 15 fps CBR like the issue's set.

Written for held-out set 3 before the detector was changed for it; shares no drawing code
with ``street_clips`` (styles A and B) or ``clips``, so a detector tuned on those is checked on
a picture made another way:

- surfaces: paving slabs with grout, asphalt with aggregate speckle, a zebra crossing, roller
  shutters (corrugated stripes) and posters; lighting is computed at quarter size and scaled
  up (light is smooth), then multiplies the surfaces;
- sensor noise is *shot-like* (grows with the signal) and spatially correlated (the ISP's
  denoiser leaves blotches), not white and constant;
- walkers are ellipses and knee-bent legs in two tones (jacket, trousers), optionally under
  an umbrella; they bob as they walk; under IR their clothes have another reflectance;
- cars have a cabin, wheels, two headlamps with a glow, red tail lamps; the beam is a pool
  on the road some way ahead joined to the car by a fan, and on a wet road a reflection
  streak under each lamp;
- lens drops refract: the picture behind them is blurred and lifted, with a bright rim at
  the bottom, and some slide for up to half a second; fine rain is slanted by wind;
- the IR switch greys the picture with a vignetted illuminator and an auto-exposure
  overshoot that settles within ~0.6 s; a failing lamp flickers and drops out.

Ground truth: the bounding box of each mover's visible pixels, labelled when at least a third
of the mover is in the picture (as in ``street_clips``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

Box = tuple[float, float, float, float]
WIDTH, HEIGHT, FPS, GOP = 1280, 720, 15, 30
_Q = 4  # lighting is computed at 1/_Q size


@dataclass(frozen=True)
class Person:
    start_s: float
    end_s: float
    x0: float  # relative centre x at start_s (outside 0..1: walks in)
    x1: float
    feet_y: float
    height: float  # relative to the frame height
    jacket: float  # reflectance 0..1
    trousers: float
    ir_gain: float = 1.0  # the clothes' reflectance under IR relative to visible light
    umbrella: bool = False
    seed: int = 1


@dataclass(frozen=True)
class Vehicle:
    start_s: float
    end_s: float
    direction: int  # +1 left to right
    road_y: float  # relative y of the wheels' bottom
    length: float  # relative to the width
    shade: float = 0.2
    beam_len: float = 0.4  # where the beam's pool is, ahead of the car (relative width)
    beam_gain: float = 2.5
    wet: bool = False  # reflection streaks under the lamps


@dataclass(frozen=True)
class FlickerLamp:
    x: float
    y: float
    radius: float  # relative to the width
    gain: float
    flicker: bool = False  # a failing lamp: wavers and drops out for a few frames


@dataclass(frozen=True)
class SceneC:
    name: str
    duration_s: float
    people: tuple[Person, ...] = ()
    cars: tuple[Vehicle, ...] = ()
    lamps: tuple[FlickerLamp, ...] = ()
    ambient: float = 0.3
    noise_sigma: float = 5.0  # at mid grey; shot-like, grows with the signal
    drops_per_s: float = 0.0
    drop_radius: tuple[float, float] = (0.02, 0.05)  # relative to the width
    drop_life: tuple[int, int] = (2, 7)  # frames
    streaks: int = 0
    ir: tuple[float, float] | None = None
    tree: bool = False  # a swaying tree at the left edge (masked, as an installer would)
    seed: int = 1
    bitrate_k: int = 1500
    style: str = "C"
    masks: tuple[tuple[tuple[float, float], ...], ...] = field(default=())

    @property
    def movers(self) -> tuple[Person | Vehicle, ...]:
        return (*self.people, *self.cars)


TREE_MASK = ((0.0, 0.0), (0.24, 0.0), (0.24, 0.5), (0.0, 0.5))
_HORIZON = 0.42


def _blotches(h: int, w: int, cell: int, rng: np.random.Generator) -> np.ndarray:
    # (Not street_clips._value_noise: this generator shares no code with the others, and its
    # clips' cache key hashes this file only.)
    small = rng.normal(0, 1, (max(2, h // cell), max(2, w // cell))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _surfaces(scene: SceneC, rng: np.random.Generator) -> np.ndarray:
    """Reflectance (BGR, 0..1): shutters and posters above the horizon, slabs, then road."""
    h, w = HEIGHT, WIDTH
    img = np.empty((h, w, 3), np.float32)
    hz, kerb = int(h * _HORIZON), int(h * 0.6)
    xs = np.arange(w, dtype=np.float32)
    x = 0
    while x < w:  # shop fronts: roller shutters of different colours
        sw = int(rng.integers(150, 320))
        tint = rng.uniform(0.25, 0.7, 3).astype(np.float32)
        ridges = 1 + 0.18 * np.sin(xs[x:x + sw] * 2 * math.pi / rng.uniform(7, 12))
        img[:hz, x:x + sw] = tint * ridges[None, :, None]
        x += sw
    for _ in range(5):  # posters: busy print
        px, py = int(rng.integers(0, w - 120)), int(rng.integers(10, hz - 120))
        pw, ph = int(rng.integers(50, 110)), int(rng.integers(70, 110))
        img[py:py + ph, px:px + pw] = np.clip(0.5 + 0.35 * _blotches(ph, pw, 4, rng), 0.05,
                                              0.95)[..., None] * rng.uniform(0.6, 1, 3)
    slab = 48
    yy, xx = np.mgrid[hz:kerb, 0:w]
    shade = rng.uniform(0.42, 0.58, (kerb // slab + 2, w // slab + 2)).astype(np.float32)
    img[hz:kerb] = shade[(yy - hz) // slab, (xx + ((yy - hz) // slab % 2) * 24) // slab][..., None]
    img[hz:kerb][((yy - hz) % slab < 2) | ((xx + ((yy - hz) // slab % 2) * 24) % slab < 2)] = 0.2
    img[kerb:kerb + 8] = 0.65
    road = 0.3 + 0.04 * _blotches(h - kerb - 8, w, 30, rng)
    road += 0.08 * (rng.random(road.shape, np.float32) > 0.93)  # aggregate
    img[kerb + 8:] = road[..., None]
    zebra_y = int(h * 0.8)
    for zx in range(int(w * 0.55), int(w * 0.8), 60):
        img[zebra_y:zebra_y + 50, zx:zx + 30] = 0.8
    img *= (1 + 0.04 * _blotches(h, w, 3, rng))[..., None]  # fine grain everywhere
    return np.clip(img, 0.02, 1.0)


def _tree(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = int(HEIGHT * 0.5), int(WIDTH * 0.24)
    cover = np.clip((_blotches(h, w, 14, rng) + 0.2) * 1.8, 0, 1).astype(np.float32)
    leaves = np.zeros((h, w, 3), np.float32)
    leaves[..., 1] = 0.3 + 0.15 * _blotches(h, w, 5, rng)
    leaves[..., 0], leaves[..., 2] = leaves[..., 1] * 0.3, leaves[..., 1] * 0.55
    return leaves, cover


def _draw_tree(surf: np.ndarray, leaves: np.ndarray, cover: np.ndarray, t: float) -> None:
    h, w = cover.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    gust = math.sin(2 * math.pi * 0.45 * t) + 0.5 * math.sin(2 * math.pi * 1.3 * t + 1)
    mapx = xs + (ys / h) * 9.0 * gust + 2.5 * np.sin(xs / 13 + 4 * t)
    lv = cv2.remap(leaves, mapx, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    cv = cv2.remap(cover, mapx, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)[..., None]
    surf[:h, :w] = surf[:h, :w] * (1 - cv) + lv * cv


def _person_masks(p: Person, t: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Jacket and trousers masks on a local canvas, and the canvas's top-left in the frame."""
    tall = p.height * HEIGHT
    frac = (t - p.start_s) / (p.end_s - p.start_s)
    cx = (p.x0 + (p.x1 - p.x0) * frac) * WIDTH
    phase = 2 * math.pi * 1.8 * t + p.seed
    feet = p.feet_y * HEIGHT - abs(math.sin(phase)) * tall * 0.02  # bob
    cw, ch = int(tall * 1.4), int(tall * 1.25)
    ox, oy = int(cx - cw / 2), int(feet - tall * 1.15)
    top, low = np.zeros((ch, cw), np.uint8), np.zeros((ch, cw), np.uint8)
    lx, ly = cx - ox, feet - oy
    hip_y, sh_y = ly - tall * 0.5, ly - tall * 0.8
    for s in (1, -1):
        a = s * 0.4 * math.sin(phase)
        knee = (lx + tall * 0.25 * math.sin(a), hip_y + tall * 0.25 * math.cos(a))
        bend = 0.35 * max(0.0, -s * math.cos(phase))
        foot = (knee[0] + tall * 0.25 * math.sin(a - bend), knee[1] + tall * 0.25 * math.cos(a))
        thick = max(2, int(tall * 0.075))
        cv2.line(low, _pt((lx, hip_y)), _pt(knee), 255, thick)
        cv2.line(low, _pt(knee), _pt(foot), 255, max(2, thick - 1))
        hand = (lx - tall * 0.3 * math.sin(a * 0.8), sh_y + tall * 0.32)
        cv2.line(top, _pt((lx, sh_y)), _pt(hand), 255, max(2, thick * 2 // 3))
    cv2.ellipse(top, _pt((lx, (hip_y + sh_y) / 2)), (int(tall * 0.1), int(tall * 0.19)), 0, 0,
                360, 255, -1)
    cv2.circle(top, _pt((lx, ly - tall * 0.9)), max(2, int(tall * 0.065)), 255, -1)
    if p.umbrella:
        cv2.ellipse(top, _pt((lx, ly - tall * 1.0)), (int(tall * 0.38), int(tall * 0.13)), 0,
                    180, 360, 255, -1)
        cv2.line(top, _pt((lx, ly - tall * 1.0)), _pt((lx, sh_y + tall * 0.1)), 255, 2)
    return top, low, ox, oy


def _pt(p: tuple[float, float]) -> tuple[int, int]:
    return round(p[0]), round(p[1])


def _paste(dst: np.ndarray, src: np.ndarray, ox: int, oy: int) -> np.ndarray:
    """``src`` placed at (ox, oy) in a frame-sized mask (clipped)."""
    ch, cw = src.shape
    x0, y0, x1, y1 = max(0, ox), max(0, oy), min(WIDTH, ox + cw), min(HEIGHT, oy + ch)
    if x1 > x0 and y1 > y0:
        dst[y0:y1, x0:x1] |= src[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    return dst


def _draw_person(surf: np.ndarray, p: Person, t: float, ir: bool, boxes: list[Box]) -> None:
    top, low, ox, oy = _person_masks(p, t)
    full = cv2.countNonZero(top) + cv2.countNonZero(low)
    vis_top = _paste(np.zeros((HEIGHT, WIDTH), np.uint8), top, ox, oy)
    vis_low = _paste(np.zeros((HEIGHT, WIDTH), np.uint8), low, ox, oy)
    k = p.ir_gain if ir else 1.0
    rng = np.random.default_rng(p.seed)
    tint = rng.uniform(0.8, 1.2, 3).astype(np.float32)
    surf[vis_low > 0] = np.clip(p.trousers * k * tint, 0.01, 1)
    surf[vis_top > 0] = np.clip(p.jacket * k * tint[::-1], 0.01, 1)
    vis = cv2.bitwise_or(vis_top, vis_low)
    seen = cv2.countNonZero(vis)
    if full and seen >= full / 3:
        x, y, bw, bh = cv2.boundingRect(vis)
        boxes.append((x / WIDTH, y / HEIGHT, bw / WIDTH, bh / HEIGHT))


def _car_geometry(c: Vehicle, t: float) -> tuple[float, float, float, float]:
    length = c.length * WIDTH
    tall = length * 0.45
    frac = (t - c.start_s) / (c.end_s - c.start_s)
    travel = WIDTH + length + c.beam_len * WIDTH * 1.3
    x = -length - c.beam_len * WIDTH * 1.3 + frac * travel if c.direction > 0 else \
        WIDTH + c.beam_len * WIDTH * 1.3 - frac * travel
    return x, c.road_y * HEIGHT - tall, length, tall


def _draw_car(surf: np.ndarray, c: Vehicle, t: float, boxes: list[Box]) -> None:
    x, y, length, tall = _car_geometry(c, t)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    body_y = y + tall * 0.4
    cv2.rectangle(mask, _pt((x, body_y)), _pt((x + length, y + tall * 0.85)), 255, -1)
    cabin = np.array([_pt((x + length * 0.2, body_y)), _pt((x + length * 0.32, y)),
                      _pt((x + length * 0.7, y)), _pt((x + length * 0.85, body_y))], np.int32)
    cv2.fillPoly(mask, [cabin], 255)
    for wx in (0.2, 0.8):
        cv2.circle(mask, _pt((x + length * wx, y + tall * 0.85)), int(tall * 0.15), 255, -1)
    full = int(length * tall * 0.8)
    seen = cv2.countNonZero(mask)
    surf[mask > 0] = c.shade
    win = np.zeros_like(mask)
    cv2.fillPoly(win, [cabin], 255)
    surf[(win > 0) & (mask > 0)] = c.shade * 0.45
    if seen >= full / 4:
        bx, by, bw, bh = cv2.boundingRect(mask)
        boxes.append((bx / WIDTH, by / HEIGHT, bw / WIDTH, bh / HEIGHT))


def _light(scene: SceneC, t: float, flick: dict[int, float], ir: bool) -> np.ndarray:
    """Illumination at quarter size, scaled up to the frame."""
    h, w = HEIGHT // _Q, WIDTH // _Q
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / h, xx / w
    light = np.full((h, w), scene.ambient, np.float32)
    if ir:
        assert scene.ir is not None
        since = t - scene.ir[0]
        overshoot = 1 + 0.6 * math.exp(-since / 0.2)  # auto-exposure settling
        vignette = np.exp(-(((xx - 0.5) / 0.55) ** 2 + ((yy - 0.55) / 0.6) ** 2))
        light = (scene.ambient * 1.2 + 0.9 * vignette) * overshoot
    for i, lamp in enumerate(scene.lamps):
        r2 = ((xx - lamp.x) ** 2 + ((yy - lamp.y) * HEIGHT / WIDTH) ** 2) / lamp.radius ** 2
        light += lamp.gain * flick.get(i, 1.0) / (1 + r2 * 1.5) ** 2
    for c in scene.cars:
        if not c.start_s <= t < c.end_s:
            continue
        x, y, length, tall = _car_geometry(c, t)
        front = (x + length if c.direction > 0 else x) / WIDTH
        ahead = (xx - front) * c.direction
        lamp_y = (y + tall * 0.55) / HEIGHT
        pool_y = c.road_y + 0.04
        pool = np.exp(-((ahead - c.beam_len) / (c.beam_len * 0.45)) ** 2
                      - ((yy - pool_y) / 0.07) ** 2)
        along = np.clip(ahead / c.beam_len, 0, 1)
        centre = lamp_y + (pool_y - lamp_y) * along
        fan = np.exp(-((yy - centre) / (0.015 + 0.06 * along)) ** 2) * (0.3 + 0.5 * along)
        light += c.beam_gain * np.where(ahead > 0, np.maximum(pool, fan), 0)
    return cv2.resize(light, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)


def _lamp_glow(img: np.ndarray, scene: SceneC, t: float) -> None:
    """Headlamps (bright, with a glow), tail lamps, and wet-road reflections under them."""
    for c in scene.cars:
        if not c.start_s <= t < c.end_s:
            continue
        x, y, length, tall = _car_geometry(c, t)
        front = x + length if c.direction > 0 else x
        back = x if c.direction > 0 else x + length
        ly = y + tall * 0.55
        for dx in (-6, -tall * 0.35):
            fx = front + dx * c.direction
            _spot(img, fx, ly, tall * 0.07, (250, 250, 245), tall * 0.25, 90.0)
            if c.wet:  # the lamp mirrored in the wet road, smeared towards the camera
                x0, x1 = int(fx - tall * 0.05), int(fx + tall * 0.05)
                y0, y1 = int(c.road_y * HEIGHT), int(min(HEIGHT, c.road_y * HEIGHT + tall))
                if 0 <= x0 < x1 <= WIDTH and y1 > y0:
                    fade = np.linspace(45, 0, y1 - y0, dtype=np.float32)[:, None, None]
                    img[y0:y1, x0:x1] += fade
        _spot(img, back, ly, tall * 0.05, (40, 40, 200), 0.0, 0.0)


def _spot(img: np.ndarray, x: float, y: float, r: float, colour: tuple[int, int, int],
          glow_r: float, glow: float) -> None:
    if not -glow_r - r <= x < WIDTH + glow_r + r:
        return
    if glow > 0:
        g = int(glow_r * 2.5)
        x0, x1, y0, y1 = max(0, int(x) - g), min(WIDTH, int(x) + g), max(0, int(y) - g), \
            min(HEIGHT, int(y) + g)
        if x1 > x0 and y1 > y0:
            gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            img[y0:y1, x0:x1] += (glow * np.exp(-((gx - x) ** 2 + (gy - y) ** 2)
                                               / glow_r ** 2))[..., None]
    cv2.circle(img, _pt((x, y)), max(2, int(r)), colour, -1)


def _flicker(scene: SceneC, rng: np.random.Generator, state: dict[int, float]) -> None:
    for i, lamp in enumerate(scene.lamps):
        if not lamp.flicker:
            continue
        level = state.get(i, 1.0)
        if level < 0.5:  # out: back within a few frames
            level = 1.0 if rng.random() < 0.45 else level
        elif rng.random() < 0.06:
            level = rng.uniform(0.1, 0.35)
        else:
            level = float(np.clip(level + rng.normal(0, 0.06), 0.75, 1.1))
        state[i] = level


def _drops(img: np.ndarray, scene: SceneC, drops: list[list[float]],
           rng: np.random.Generator) -> None:
    """Lens drops refract: what is behind is blurred and lifted, a bright rim at the bottom."""
    for _ in range(int(rng.poisson(scene.drops_per_s / FPS))):
        r = rng.uniform(*scene.drop_radius) * WIDTH
        drops.append([rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT), r, rng.uniform(25, 80),
                      float(rng.integers(scene.drop_life[0], scene.drop_life[1] + 1)),
                      rng.uniform(0, 0.25)])
    for d in drops:
        x, y, r, lift, _, slide = d
        x0, x1 = int(max(0, x - 1.6 * r)), int(min(WIDTH, x + 1.6 * r))
        y0, y1 = int(max(0, y - 1.6 * r)), int(min(HEIGHT, y + 1.6 * r))
        if x1 - x0 > 4 and y1 - y0 > 4:
            patch = img[y0:y1, x0:x1]
            blurred = cv2.GaussianBlur(patch, (0, 0), max(1.0, r / 3))
            gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            rr = np.sqrt((gx - x) ** 2 + (gy - y) ** 2) / r
            disc = np.clip((1.15 - rr) / 0.3, 0, 1)[..., None]  # flat top, soft edge
            rim = np.exp(-((rr - 0.9) / 0.08) ** 2) * (gy > y)
            img[y0:y1, x0:x1] = patch * (1 - disc) + (blurred * 1.1 + lift) * disc \
                + (0.8 * lift * rim)[..., None]
        d[1] += r * slide
        d[4] -= 1
    drops[:] = [d for d in drops if d[4] > 0]
    if scene.streaks:
        xs = rng.integers(0, WIDTH, scene.streaks)
        ys = rng.integers(0, HEIGHT - 20, scene.streaks)
        for sx, sy in zip(xs, ys, strict=True):
            cv2.line(img, (int(sx), int(sy)), (int(sx) + 6, int(sy) + 16), (45, 45, 45), 1)


def render(scene: SceneC) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """Yield (BGR uint8 frame, ground-truth boxes) at 1280x720."""
    rng = np.random.default_rng(scene.seed)
    surf0 = _surfaces(scene, rng)
    tree = _tree(rng) if scene.tree else None
    ir_surf = np.repeat((surf0 @ np.array([0.15, 0.55, 0.3], np.float32))[..., None] * 1.1,
                        3, axis=2)  # reflectance under IR: another mix of the colours
    drops: list[list[float]] = []
    flick: dict[int, float] = {}
    # no tree, flicker or IR: a still frame is the same before its noise, drawn once
    steady = tree is None and not any(lamp.flicker for lamp in scene.lamps)
    still: tuple[np.ndarray, np.ndarray] | None = None
    for i in range(int(scene.duration_s * FPS)):
        t = i / FPS
        ir = scene.ir is not None and scene.ir[0] <= t < scene.ir[1]
        calm = steady and not ir and not any(m.start_s <= t < m.end_s for m in scene.movers)
        boxes: list[Box] = []
        _flicker(scene, rng, flick)
        if calm and still is not None:
            img, sigma = still[0].copy(), still[1]
        else:
            img, sigma = _picture(scene, t, ir, ir_surf if ir else surf0, tree, flick, boxes)
            still = (img.copy(), sigma) if calm else still
        noise = cv2.resize(rng.normal(0, 1, (HEIGHT // 2, WIDTH // 2)).astype(np.float32),
                           (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR) * 1.6
        noise *= sigma
        for c in range(3):  # the same sums as adding noise[..., None], without its slow loop
            img[..., c] += noise
        _drops(img, scene, drops, rng)
        yield np.clip(img, 0, 255).astype(np.uint8), boxes


def _picture(scene: SceneC, t: float, ir: bool, base: np.ndarray,
             tree: tuple[np.ndarray, np.ndarray] | None, flick: dict[int, float],
             boxes: list[Box]) -> tuple[np.ndarray, np.ndarray]:
    """The lit frame before its noise, and the noise level per pixel."""
    surf = base.copy()
    if tree is not None:
        _draw_tree(surf, *tree, t)
    for p in scene.people:
        if p.start_s <= t < p.end_s:
            _draw_person(surf, p, t, ir, boxes)
    for c in scene.cars:
        if c.start_s <= t < c.end_s:
            _draw_car(surf, c, t, boxes)
    light = _light(scene, t, flick, ir) * 255
    img = np.empty_like(surf)
    for ch in range(3):  # surf * light[..., None], the same products
        np.multiply(surf[..., ch], light, out=img[..., ch])
    if ir:
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
    _lamp_glow(img, scene, t)
    grey = np.clip(img.mean(axis=2), 1, 255)
    return img, scene.noise_sigma * (1.4 if ir else 1.0) * np.sqrt(grey / 128) + 1.0
