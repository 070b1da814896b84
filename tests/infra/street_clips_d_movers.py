"""Movers of the style-D street clips (``street_clips_d``): walkers, a cyclist and a car seen
from a high camera in perspective, and the car's glowing headlamps. Part of that generator
(its clips' cache key hashes both files); shares no code with the other generators.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]
WIDTH, HEIGHT = 1280, 720
HZ = 0.2  # the horizon's row (relative): a high camera looking down


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


def depth(y: np.ndarray | float) -> np.ndarray:
    """How large a thing standing at row ``y`` (relative) looks: 0 at the horizon."""
    out: np.ndarray = np.maximum((np.asarray(y, np.float32) - HZ) / (1 - HZ), 0.02)
    return out


def _position(p: Pedestrian, t: float) -> tuple[float, float, float]:
    f = (t - p.start_s) / (p.end_s - p.start_s)
    x = (p.start[0] + (p.end[0] - p.start[0]) * f) * WIDTH
    y = (p.start[1] + (p.end[1] - p.start[1]) * f) * HEIGHT
    tall = float(depth(y / HEIGHT)) * 0.42 * HEIGHT * p.stature
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
        cv2.line(mask, pt((x + s * half * 0.4, hip)), pt((x + s * swing * tall * 0.2, y)), 255,
                 leg)
        cv2.line(mask, pt((x + s * half, neck + tall * 0.03)),
                 pt((x + s * half - s * swing * tall * 0.15, hip + tall * 0.05)), 255,
                 max(2, leg - 2))
    cv2.ellipse(mask, pt((x, neck - tall * 0.08)), (max(2, int(tall * 0.06)),
                max(2, int(tall * 0.085))), 0, 0, 360, 255, -1)


def _cyclist(mask: np.ndarray, x: float, y: float, tall: float, swing: float) -> None:
    r = tall * 0.2
    ring = max(2, int(tall * 0.035))
    for wx in (x - tall * 0.32, x + tall * 0.32):
        cv2.circle(mask, pt((wx, y - r)), round(r), 255, ring)
    hub, seat = (x, y - r), (x - tall * 0.08, y - tall * 0.55)
    frame = [(x - tall * 0.32, y - r), seat, (x + tall * 0.2, y - tall * 0.5),
             (x + tall * 0.32, y - r), hub, seat]
    cv2.polylines(mask, [_poly(frame)], False, 255, ring)
    shoulder = (x + tall * 0.06, y - tall * 0.95)
    cv2.fillPoly(mask, [_poly([seat, (seat[0] - tall * 0.08, seat[1] - tall * 0.05),
                               (shoulder[0] - tall * 0.06, shoulder[1]),
                               (shoulder[0] + tall * 0.08, shoulder[1] + tall * 0.04)])], 255)
    knee = (x + tall * 0.05 + tall * 0.08 * swing, y - tall * 0.42)
    cv2.line(mask, pt(seat), pt(knee), 255, max(2, int(tall * 0.07)))
    cv2.line(mask, pt(knee), pt((hub[0] + tall * 0.08 * swing, hub[1])), 255,
             max(2, int(tall * 0.06)))
    cv2.line(mask, pt(shoulder), pt((x + tall * 0.22, y - tall * 0.55)), 255,
             max(2, int(tall * 0.05)))
    cv2.circle(mask, pt((shoulder[0] + tall * 0.03, shoulder[1] - tall * 0.12)),
               max(2, int(tall * 0.08)), 255, -1)


def pt(p: tuple[float, float]) -> tuple[int, int]:
    return round(p[0]), round(p[1])


def draw_pedestrian(surf: np.ndarray, p: Pedestrian, t: float, ir: bool,
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


def car_frame(c: TopCar, t: float) -> tuple[float, float, float, float]:
    """Left x, near-edge row, length and depth (pixels) of the car seen from above."""
    d = float(depth(c.ground_y))
    length = 0.42 * WIDTH * d
    deep = length * 0.42
    lead = c.reach * WIDTH * d * 1.4  # the beam's pool enters the picture this far ahead
    f = (t - c.start_s) / (c.end_s - c.start_s)
    travel = WIDTH + length + lead
    x = -length - lead + f * travel if c.direction > 0 else WIDTH + lead - f * travel
    return x, c.ground_y * HEIGHT, length, deep


def draw_car(surf: np.ndarray, c: TopCar, t: float, boxes: list[Box]) -> None:
    x, gy, length, deep = car_frame(c, t)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.rectangle(mask, pt((x, gy - deep)), pt((x + length, gy)), 255, -1)
    seen = cv2.countNonZero(mask)
    if not seen:
        return
    surf[mask > 0] = c.shade
    roof0, roof1 = x + length * 0.25, x + length * 0.75
    roof = np.zeros_like(mask)
    cv2.rectangle(roof, pt((roof0, gy - deep * 0.85)), pt((roof1, gy - deep * 0.15)), 255, -1)
    surf[(roof > 0) & (mask > 0)] = min(1.0, c.shade * 1.8)
    wind = np.zeros_like(mask)
    wx = roof1 if c.direction > 0 else roof0
    cv2.rectangle(wind, pt((wx - length * 0.08, gy - deep * 0.85)),
                  pt((wx + length * 0.08, gy - deep * 0.15)), 255, -1)
    surf[(wind > 0) & (mask > 0)] = c.shade * 0.3
    if seen >= length * deep / 3:
        bx, by, bw, bh = cv2.boundingRect(mask)
        boxes.append((bx / WIDTH, by / HEIGHT, bw / WIDTH, bh / HEIGHT))


def headlamps(img: np.ndarray, cars: tuple[TopCar, ...], t: float) -> None:
    """Glowing headlamps: a saturated core, a wide bloom and a horizontal flare."""
    for c in cars:
        if not c.start_s <= t < c.end_s:
            continue
        x, gy, length, deep = car_frame(c, t)
        front = x + length if c.direction > 0 else x
        for ly in (gy - deep * 0.2, gy - deep * 0.8):
            _bloom(img, front, ly, deep * 0.45, 160.0)
            y = round(ly)
            if 0 <= y < HEIGHT:  # the lens's flare: a thin bright line across
                x0, x1 = max(0, int(front - deep * 1.5)), min(WIDTH, int(front + deep * 1.5))
                if x1 > x0:
                    gx = np.arange(x0, x1, dtype=np.float32)
                    img[y, x0:x1] += (70 * np.exp(-((gx - front) / deep) ** 2))[:, None]
            cv2.circle(img, pt((front, ly)), max(2, int(deep * 0.07)), (255, 255, 250), -1)


def _bloom(img: np.ndarray, x: float, y: float, r: float, strength: float) -> None:
    g = int(3 * r)
    x0, x1, y0, y1 = max(0, int(x) - g), min(WIDTH, int(x) + g), max(0, int(y) - g), \
        min(HEIGHT, int(y) + g)
    if x1 <= x0 or y1 <= y0:
        return
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    rr = np.sqrt((gx - x) ** 2 + (gy - y) ** 2) / r
    img[y0:y1, x0:x1] += (strength / (1 + rr ** 2.5))[..., None]


