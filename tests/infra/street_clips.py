"""A second, independent clip generator: a lit street at night, drawn the way light works.

``tests/infra/clips.py`` pastes rigid textured rectangles onto a background and scales the
whole picture for lighting; the benchmark uses it too. This generator shares nothing with it,
so a detector tuned on one is checked on the other:

- the picture is *albedo × illumination + sensor noise*: ambient light, street-lamp pools,
  car headlight beams (cast on the road ahead of the car, so the beam enters the picture
  before the car does) and an IR illuminator are illumination, not objects;
- movers are non-rigid: a walking figure with swinging arms and legs, or a deformable blob,
  drawn with OpenCV and lit by the same illumination (a dark walker is nearly invisible
  outside the lamp pool); cars are boxes with headlamps;
- rain on the lens: large, blurred, bright drops that live a few frames, plus fine streaks;
- foliage: textured branches swaying in a corner (masked, as an installer would);
- 640×360 at 15 fps, constant bit rate like a camera (``encode`` from ``clips``).

Two drawing styles: ``A`` (plaster walls, flat road, round drops, blob movers) for the tuning
set and ``B`` (brick walls, kerb and lane marks, elongated drops, articulated walkers) for the
held-out set. Ground truth: the bounding box of each mover's visible pixels, per frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Walker:
    start_s: float
    end_s: float
    x0: float  # relative centre x at start_s (may be outside 0..1: walks in)
    x1: float  # ... and at end_s
    feet_y: float  # relative
    height: float  # relative to the frame height
    shade: float  # albedo of the clothes, 0..1 (the street's is ~0.35-0.6)
    seed: int = 1
    blob: bool = False  # a deformable blob instead of an articulated figure


@dataclass(frozen=True)
class Car:
    start_s: float
    end_s: float
    direction: int  # +1 left to right
    road_y: float  # relative y of the car's bottom
    length: float  # relative to the frame width
    beam_len: float = 0.45  # how far ahead the beam reaches, relative to the width
    beam_gain: float = 3.0  # illumination added at the beam's centre
    shade: float = 0.25
    glow: float = 0.0  # a halo around the headlamp (grey levels at its middle), 0 = none


@dataclass(frozen=True)
class Lamp:
    x: float
    y: float
    radius: float  # relative to the width
    gain: float
    failing: bool = False  # wavers and goes out for a frame or three, now and then


@dataclass(frozen=True)
class StreetScene:
    name: str
    duration_s: float
    style: str = "A"  # "A" tuning style, "B" held-out style
    walkers: tuple[Walker, ...] = ()
    cars: tuple[Car, ...] = ()
    lamps: tuple[Lamp, ...] = ()
    ambient: float = 0.35  # night street; 1.0 = day
    noise_sigma: float = 4.0
    drops_per_s: float = 0.0  # near-lens rain drops
    drop_radius: tuple[float, float] = (0.04, 0.08)  # relative to the width
    drop_life: tuple[int, int] = (1, 4)  # frames
    sliding: bool = False  # drops with a flat top and a fairly sharp edge that slide down
    streaks: int = 0  # fine rain streaks per frame
    ir: tuple[float, float] | None = None  # IR illuminator on from..to (s): grey picture
    foliage: bool = False  # swaying branches in the top-right corner (masked)
    seed: int = 1
    bitrate_k: int = 700
    still: tuple[tuple[float, float], ...] = ()  # where a false event would be wrong
    masks: tuple[tuple[tuple[float, float], ...], ...] = field(default=())

    @property
    def movers(self) -> tuple[Walker | Car, ...]:
        return (*self.walkers, *self.cars)


WIDTH, HEIGHT, FPS, GOP = 640, 360, 15, 30
FOLIAGE_MASK = ((0.68, 0.0), (1.0, 0.0), (1.0, 0.42), (0.68, 0.42))


def _value_noise(h: int, w: int, cell: int, rng: np.random.Generator) -> np.ndarray:
    small = rng.normal(0, 1, (max(2, h // cell), max(2, w // cell))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _albedo(scene: StreetScene, rng: np.random.Generator) -> np.ndarray:
    """The street's reflectance (0..1, 3 channels): walls above the horizon, road below."""
    h, w = HEIGHT, WIDTH
    img = np.zeros((h, w, 3), np.float32)
    horizon = int(h * 0.45)
    wall = np.array([0.55, 0.5, 0.45], np.float32) * (0.9 + 0.2 * rng.random(3)).astype(np.float32)
    img[:horizon] = wall
    img[horizon:] = (0.38, 0.37, 0.36)
    grain = 0.05 * _value_noise(h, w, 6, rng) + 0.06 * _value_noise(h, w, 40, rng)
    img += grain[..., None]
    if scene.style == "B":  # bricks: rows with offset joints and dark mortar
        for row, y in enumerate(range(0, horizon, 12)):
            img[y:y + 2, :] *= 0.6
            for x in range((row % 2) * 14, w, 28):
                img[y:y + 12, x:x + 2] *= 0.6
        img[horizon:horizon + 6] = (0.7, 0.7, 0.68)  # kerb
        for x in range(0, w, 90):
            img[int(h * 0.78):int(h * 0.78) + 5, x:x + 45] = (0.85, 0.85, 0.8)  # lane marks
    for _ in range(7):  # doors and windows
        x, y = int(rng.integers(0, w - 60)), int(rng.integers(10, horizon - 50))
        cw, ch = int(rng.integers(25, 60)), int(rng.integers(25, 50))
        img[y:y + ch, x:x + cw] = rng.uniform(0.1, 0.8, 3)
    return np.clip(img, 0.02, 1.0)


def _foliage(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Leaf texture and its coverage (0..1) for the top-right corner."""
    h, w = int(HEIGHT * 0.42), int(WIDTH * 0.32)
    cover = np.clip((_value_noise(h, w, 8, rng) + 0.3) * 2.0, 0, 1)
    leaves = np.zeros((h, w, 3), np.float32)
    leaves[..., 1] = 0.35 + 0.12 * _value_noise(h, w, 3, rng)
    leaves[..., 0] = leaves[..., 1] * 0.4
    leaves[..., 2] = leaves[..., 1] * 0.5
    return leaves, cover.astype(np.float32)


def _walker_mask(m: Walker, t: float, canvas: tuple[int, int], pad: int) -> np.ndarray:
    """The figure's coverage on a padded canvas (uint8 0/255)."""
    ch, cw = canvas
    mask = np.zeros((ch, cw), np.uint8)
    frac = (t - m.start_s) / (m.end_s - m.start_s)
    cx = pad + (m.x0 + (m.x1 - m.x0) * frac) * WIDTH
    feet = pad + m.feet_y * HEIGHT
    tall = m.height * HEIGHT
    if m.blob:  # deformable: an ellipse whose outline wobbles
        rng = np.random.default_rng(m.seed)
        k = rng.uniform(0.5, 1.5, 3)
        ang = np.linspace(0, 2 * math.pi, 24, endpoint=False)
        wob = 1 + 0.18 * np.sin(3 * ang + k[0] * 6 * t) + 0.1 * np.sin(5 * ang - k[1] * 9 * t)
        rx, ry = tall * 0.22 * wob, tall * 0.5 * wob
        pts = np.stack([cx + rx * np.cos(ang), feet - tall / 2 + ry * np.sin(ang)], 1)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 255)
        return mask
    swing = math.sin(2 * math.pi * 1.6 * t + m.seed) * 0.35  # stride, radians
    hip = (cx, feet - tall * 0.47)
    neck = (cx, feet - tall * 0.82)
    limb = max(2, int(tall * 0.09))
    leg = tall * 0.47
    for s in (swing, -swing):
        foot = (hip[0] + leg * math.sin(s), hip[1] + leg * math.cos(s))
        cv2.line(mask, _pt(hip), _pt(foot), 255, limb)
        hand = (neck[0] - tall * 0.36 * math.sin(s), neck[1] + tall * 0.36 * math.cos(s))
        cv2.line(mask, _pt(neck), _pt(hand), 255, max(2, limb * 2 // 3))
    cv2.line(mask, _pt(hip), _pt(neck), 255, int(limb * 1.9))
    cv2.circle(mask, _pt((cx, feet - tall * 0.91)), max(2, int(tall * 0.08)), 255, -1)
    return mask


def _pt(p: tuple[float, float]) -> tuple[int, int]:
    return round(p[0]), round(p[1])


def _car_box(c: Car, t: float) -> tuple[float, float, float, float]:
    """Car body x, y, w, h in pixels (may be off-frame)."""
    length, tall = c.length * WIDTH, c.length * WIDTH * 0.42
    frac = (t - c.start_s) / (c.end_s - c.start_s)
    travel = WIDTH + length + c.beam_len * WIDTH  # starts with the beam just reaching in
    x = -length - c.beam_len * WIDTH + frac * travel if c.direction > 0 else \
        WIDTH + c.beam_len * WIDTH - frac * travel
    return x, c.road_y * HEIGHT - tall, length, tall


LightTerms = tuple[np.ndarray | None, list[np.ndarray]]


def light_terms(scene: StreetScene, yy: np.ndarray, xx: np.ndarray) -> LightTerms:
    """What ``_light`` adds that is the same in every frame: the IR illuminator's hot spot
    and each lamp's pool (before its gain)."""
    hot = 0.6 * np.exp(-(((xx - 0.5) / 0.45) ** 2 + ((yy - 0.6) / 0.5) ** 2)) \
        if scene.ir is not None else None
    pools = [np.exp(-(((xx - lamp.x) ** 2 + ((yy - lamp.y) * HEIGHT / WIDTH) ** 2)
                      / lamp.radius ** 2)) for lamp in scene.lamps]
    return hot, pools


def _light(scene: StreetScene, t: float, yy: np.ndarray, xx: np.ndarray,
           terms: LightTerms | None = None) -> np.ndarray:
    """Illumination (one channel) at time ``t``: ambient, lamps, IR, headlight beams
    (``terms``: ``light_terms`` of the scene, computed once)."""
    ir = scene.ir is not None and scene.ir[0] <= t < scene.ir[1]
    hot, pools = terms or light_terms(scene, yy, xx)
    light = np.full(yy.shape, scene.ambient * (2.2 if ir else 1.0), np.float32)
    if ir and hot is not None:  # the illuminator's hot spot in the middle
        light += hot
    for lamp, pool in zip(scene.lamps, pools, strict=True):
        light += lamp.gain * _failing(t) * pool if lamp.failing else lamp.gain * pool
    for c in scene.cars:
        if not c.start_s <= t < c.end_s:
            continue
        x, _, length, _ = _car_box(c, t)
        front = (x + length if c.direction > 0 else x) / WIDTH
        ahead = (xx - front) * c.direction  # relative distance in front of the car
        spread = 0.02 + ahead * 0.25
        lane = (yy - (c.road_y - 0.03)) * HEIGHT / WIDTH
        along = np.clip(ahead / c.beam_len, 0, None)
        beam = np.exp(-(lane / np.maximum(spread, 1e-3)) ** 2) * np.exp(-along ** 2 * 2.5)
        if scene.style == "B":  # a hard-edged cone, like a dipped beam on wet tarmac
            beam = (np.abs(lane) < spread).astype(np.float32) * np.clip(1.2 - along, 0, 1)
            beam = cv2.GaussianBlur(beam, (0, 0), 3)
        light += c.beam_gain * np.where(ahead > 0, beam, 0).astype(np.float32)
    return light


def _failing(t: float) -> float:
    """A failing lamp's level: out (10-30 %) in about one frame in twelve, in runs of up to
    three, otherwise wavering; from the frame number alone (the scene's random numbers are
    left as they are, so other clips render the same)."""
    i = round(t * FPS)
    for j in range(i - 2, i + 1):  # a drop-out starting at frame j lasts 1-3 frames
        if (j * 7919 + 13) % 41 < 3 and i < j + 1 + (j * 31) % 3:
            return 0.1 + 0.2 * ((i * 31) % 7) / 7
    return 1.0 + 0.06 * math.sin(2 * math.pi * 1.7 * t) + 0.04 * math.sin(2 * math.pi * 4.3 * t)


def render(scene: StreetScene) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """Yield (BGR uint8 frame, ground-truth boxes), one frame at a time."""
    rng = np.random.default_rng(scene.seed)
    albedo0 = _albedo(scene, rng)
    leaves, cover = _foliage(rng) if scene.foliage else (None, None)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    yy, xx = ys / HEIGHT, xs / WIDTH
    terms = light_terms(scene, yy, xx)
    pad = WIDTH // 2
    canvas = (HEIGHT + 2 * pad, WIDTH + 2 * pad)
    drops: list[list[float]] = []  # x, y, radius, brightness, frames left
    # with no foliage and no failing lamp, a frame where nothing moves is the same picture
    # before its noise every time (by IR state): drawn once
    steady = not scene.foliage and not any(lamp.failing for lamp in scene.lamps)
    still: dict[bool, np.ndarray] = {}
    for i in range(int(scene.duration_s * FPS)):
        t = i / FPS
        ir = scene.ir is not None and scene.ir[0] <= t < scene.ir[1]
        calm = steady and not any(m.start_s <= t < m.end_s for m in scene.movers)
        boxes: list[Box] = []
        if calm and ir in still:
            img = still[ir].copy()
        else:
            img = _picture(scene, t, albedo0, (leaves, cover), (yy, xx, terms),
                           (canvas, pad), boxes)
            if calm:
                still[ir] = img.copy()
        if scene.cars:
            _draw_headlamps(img, scene.cars, t)
        add_grey(img, rng.normal(0, scene.noise_sigma, (HEIGHT, WIDTH, 1)).astype(np.float32))
        _rain(img, scene, drops, rng)
        yield np.clip(img, 0, 255).astype(np.uint8), boxes


def _picture(scene: StreetScene, t: float, albedo0: np.ndarray,
             foliage: tuple[np.ndarray | None, np.ndarray | None],
             grids: tuple[np.ndarray, np.ndarray, LightTerms], canvas: tuple[tuple[int, int], int],
             boxes: list[Box]) -> np.ndarray:
    """The frame before its headlamps, noise and rain: movers on the street, lit."""
    albedo = albedo0.copy()
    leaves, cover = foliage
    if leaves is not None and cover is not None:
        _draw_foliage(albedo, leaves, cover, t)
    for m in scene.walkers:
        if m.start_s <= t < m.end_s:
            _draw_walker(albedo, m, t, canvas[0], canvas[1], boxes)
    for c in scene.cars:
        if c.start_s <= t < c.end_s:
            _draw_car(albedo, c, t, boxes)
    yy, xx, terms = grids
    img = lit(albedo, _light(scene, t, yy, xx, terms))
    if scene.ir is not None and scene.ir[0] <= t < scene.ir[1]:
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
    return img


def lit(albedo: np.ndarray, light: np.ndarray) -> np.ndarray:
    """``albedo * light[..., None] * 255``, the same products channel by channel (numpy's
    loop over a broadcast last axis of 3 is slow)."""
    img = np.empty_like(albedo)
    for c in range(3):
        np.multiply(albedo[..., c], light, out=img[..., c])
    img *= 255
    return img


def add_grey(img: np.ndarray, grey: np.ndarray) -> None:
    """``img += grey`` for an (h, w, 1) ``grey``, channel by channel (the same sums)."""
    for c in range(3):
        img[..., c] += grey[..., 0]


def _draw_foliage(albedo: np.ndarray, leaves: np.ndarray, cover: np.ndarray, t: float) -> None:
    h, w = cover.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    sway = (1.0 - ys / h) * 6.0 * math.sin(2 * math.pi * 0.7 * t) + 2.0 * np.sin(ys / 9 + 3 * t)
    mapx, mapy = xs + sway, ys
    lv = cv2.remap(leaves, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    cv = cv2.remap(cover, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)[..., None]
    x0 = WIDTH - w
    albedo[:h, x0:] = albedo[:h, x0:] * (1 - cv) + lv * cv


def _draw_walker(albedo: np.ndarray, m: Walker, t: float, canvas: tuple[int, int], pad: int,
                 boxes: list[Box]) -> None:
    mask = _walker_mask(m, t, canvas, pad)
    full = cv2.countNonZero(mask)
    vis = mask[pad:pad + HEIGHT, pad:pad + WIDTH]
    if full == 0 or cv2.countNonZero(vis) < full / 3:  # mostly outside: not labelled
        albedo[vis > 0] = m.shade
        return
    rng = np.random.default_rng(m.seed)
    tone = np.array([m.shade, m.shade * rng.uniform(0.8, 1.2), m.shade * rng.uniform(0.8, 1.2)],
                    np.float32)
    albedo[vis > 0] = np.clip(tone, 0.01, 1)
    x, y, bw, bh = cv2.boundingRect(vis)
    boxes.append((x / WIDTH, y / HEIGHT, bw / WIDTH, bh / HEIGHT))


def _draw_car(albedo: np.ndarray, c: Car, t: float, boxes: list[Box]) -> None:
    x, y, length, tall = _car_box(c, t)
    x0, x1 = max(0, int(x)), min(WIDTH, int(x + length))
    y0, y1 = max(0, int(y)), min(HEIGHT, int(y + tall))
    if x1 - x0 < max(6, length / 4):
        if x1 > x0:
            albedo[y0:y1, x0:x1] = c.shade
        return
    albedo[y0:y1, x0:x1] = c.shade
    albedo[y0:y0 + (y1 - y0) // 3, x0:x1] = c.shade * 0.5  # windows
    boxes.append((x0 / WIDTH, y0 / HEIGHT, (x1 - x0) / WIDTH, (y1 - y0) / HEIGHT))


def _draw_headlamps(img: np.ndarray, cars: tuple[Car, ...], t: float) -> None:
    for c in cars:
        if not c.start_s <= t < c.end_s:
            continue
        x, y, length, tall = _car_box(c, t)
        fx = int(x + length - 4) if c.direction > 0 else int(x + 4)
        if 0 <= fx < WIDTH:
            if c.glow:
                _glow(img, fx, int(y + tall * 0.6), tall * 0.5, c.glow)
            cv2.circle(img, (fx, int(y + tall * 0.6)), max(3, int(tall * 0.12)),
                       (250, 250, 250), -1)


def _glow(img: np.ndarray, x: int, y: int, r: float, level: float) -> None:
    g = int(2.5 * r)
    x0, x1, y0, y1 = max(0, x - g), min(WIDTH, x + g), max(0, y - g), min(HEIGHT, y + g)
    if x1 > x0 and y1 > y0:
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        img[y0:y1, x0:x1] += (level * np.exp(-((gx - x) ** 2 + (gy - y) ** 2) / r ** 2))[
            ..., None]


def _rain(img: np.ndarray, scene: StreetScene, drops: list[list[float]],
          rng: np.random.Generator) -> None:
    """Near-lens drops: big, blurred, bright, a few frames each; plus fine streaks."""
    for _ in range(int(rng.poisson(scene.drops_per_s / FPS))):
        r = rng.uniform(*scene.drop_radius) * WIDTH
        drops.append([rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT), r,
                      rng.uniform(70, 140), float(rng.integers(scene.drop_life[0],
                                                              scene.drop_life[1] + 1))])
    for d in drops:
        x, y, r, bright, _ = d
        x0, x1 = int(max(0, x - 2.5 * r)), int(min(WIDTH, x + 2.5 * r))
        y0, y1 = int(max(0, y - 2.5 * r)), int(min(HEIGHT, y + 2.5 * r))
        if x1 <= x0 or y1 <= y0:
            continue
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        stretch = 2.5 if scene.style == "B" else 1.0  # B: drops smeared downwards
        if scene.sliding:  # a flat top, an edge about 2 px wide, stretched as it runs
            rr = np.sqrt(((gx - x) / r) ** 2 + ((gy - y) / (r * 1.8)) ** 2)
            blob = np.clip((1.0 - rr) * r / 2.0, 0, 1) * 0.6
        else:
            blob = np.exp(-(((gx - x) / r) ** 2 + ((gy - y) / (r * stretch)) ** 2) * 1.5)
        img[y0:y1, x0:x1] += (bright * blob)[..., None]
        d[1] += r * (0.25 if scene.sliding else 0.3)  # sliding down the dome
        d[4] -= 1
    drops[:] = [d for d in drops if d[4] > 0]
    if scene.streaks:
        xs = rng.integers(0, WIDTH, scene.streaks)
        ys = rng.integers(0, HEIGHT - 8, scene.streaks)
        for x, y in zip(xs, ys, strict=True):
            img[y:y + 8, x] += 60
