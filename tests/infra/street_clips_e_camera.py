"""The camera of the style-E street clips (``street_clips_e``): its lens (barrel distortion,
vignetting), its auto-exposure, and rain close to it (drops on the lens, falling streaks,
splashes). Part of that generator (its clips' cache key hashes this file too).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from tests.infra.street_clips_e_movers import CY, FOCAL, HEIGHT, WIDTH, project

FPS = 15


def lens_maps() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Barrel distortion (corners stay, the centre is magnified) and vignetting."""
    vv, uu = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    cu, cv_ = WIDTH / 2, HEIGHT / 2
    r2 = ((uu - cu) ** 2 + (vv - cv_) ** 2) / (cu ** 2 + cv_ ** 2)
    k = 0.07
    scale = (1 + k * r2) / (1 + k)
    vignette = (1 - 0.32 * r2 ** 1.1)[..., None].astype(np.float32)
    return (cu + (uu - cu) * scale).astype(np.float32), \
        (cv_ + (vv - cv_) * scale).astype(np.float32), vignette


class Exposure:
    """Auto-exposure: meters the mean and follows the gain it wants with a lag and an
    underdamped overshoot, its metering target drifting slowly."""

    def __init__(self) -> None:
        self.gain: float | None = None
        self.rate = 0.0

    def update(self, mean: float, t: float) -> float:
        want = min(max(105.0 * (1 + 0.04 * math.sin(2 * math.pi * t / 17.0)) / max(mean, 1e-3),
                       0.4), 22.0)
        if self.gain is None:
            self.gain = want
        w, zeta, dt = 2 * math.pi * 0.6, 0.45, 1.0 / FPS
        self.rate += (w * w * (want - self.gain) - 2 * zeta * w * self.rate) * dt
        self.gain = min(max(self.gain + self.rate * dt, 0.4), 22.0)
        return self.gain


class Drops:
    """Near-lens rain: round blurred bright blobs that come and go, and drops sliding down
    the glass leaving a streak."""

    def __init__(self, per_s: float, rng: np.random.Generator) -> None:
        self.per_s, self.rng = per_s, rng
        self.live: list[list[float]] = []  # x, y, radius, age, life, speed down, lift

    def apply(self, img: np.ndarray) -> None:
        rng = self.rng
        for _ in range(int(rng.poisson(self.per_s / FPS))):
            slide = rng.random() < 0.4
            r = rng.uniform(6, 12) if slide else rng.uniform(18, 55)
            life = float(rng.integers(12, 35) if slide else rng.integers(3, 12))
            self.live.append([rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT * 0.7), r, 0,
                              life, rng.uniform(4, 12) if slide else 0.0,
                              rng.uniform(20, 55)])
        for drop in self.live:
            x, y, r, age, life, vy, lift = drop
            fade = min(1.0, (age + 1) / 2, (life - age) / 2)
            y0 = y - vy * age  # where a sliding drop started
            a = np.array([x - 2 * r, y0 - 2 * r, x + 2 * r, y + 2 * r]).clip(
                [0, 0, 0, 0], [WIDTH, HEIGHT, WIDTH, HEIGHT]).astype(int)
            if a[2] - a[0] < 4 or a[3] - a[1] < 4:
                continue
            gy, gx = np.mgrid[a[1]:a[3], a[0]:a[2]].astype(np.float32)
            along = np.clip(gy, y0, y) if vy else y
            alpha = np.exp(-((gx - x) ** 2 + (gy - along) ** 2) / (r * r)) * fade
            if vy:  # the streak left behind is thinner and fainter
                alpha *= np.where(gy < y - r, 0.5, 1.0)
            patch = img[a[1]:a[3], a[0]:a[2]]
            behind = cv2.GaussianBlur(patch, (0, 0), max(1.5, r / 3))
            img[a[1]:a[3], a[0]:a[2]] = patch + alpha[..., None] * (behind * 0.15 + lift +
                                                                     (behind - patch))
            drop[3] += 1
            drop[1] += vy
        self.live = [d for d in self.live if d[3] < d[4] and d[1] < HEIGHT + d[2]]


def falling_rain(img: np.ndarray, count: int, ground: np.ndarray,
                  rng: np.random.Generator) -> None:
    """Streaks of rain lit by the scene (they add light: drawn on a layer, then added) and
    splashes on the ground."""
    layer = np.zeros(img.shape[:2], np.float32)
    for _ in range(count):
        x, y = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
        near = rng.random()
        length, v = 8 + 40 * near ** 2, 10 + 30 * near
        cv2.line(layer, (int(x), int(y)), (int(x + 0.2 * length), int(y + length)), v,
                 1 + int(near > 0.85), cv2.LINE_AA)
    for _ in range(count // 3):
        x, y = int(rng.uniform(0, WIDTH)), int(rng.uniform(CY + 10, HEIGHT))
        if ground[y, x]:
            cv2.ellipse(layer, (x, y), (3, 1), 0, 0, 360, 30.0, -1, cv2.LINE_AA)
    # rain shows as much as there is light behind it to scatter (added where it was drawn:
    # elsewhere the layer is zero and adds nothing)
    ys, xs = np.nonzero(layer)
    img[ys, xs] += (layer[ys, xs] * (0.3 + img[ys, xs, 1] / 255.0))[:, None]


def glow(rad: np.ndarray, at: tuple[float, float, float], gain: float) -> None:
    """A headlamp seen from ahead: a burnt-out core and a bloom round it."""
    u, v, z = project(at)
    r = max(2.0, FOCAL * 0.09 / z)
    g = int(r * 9)
    a = np.array([u - g, v - g, u + g, v + g]).clip([0, 0, 0, 0],
                                                   [WIDTH, HEIGHT, WIDTH, HEIGHT]).astype(int)
    if a[2] - a[0] < 2 or a[3] - a[1] < 2:
        return
    gy, gx = np.mgrid[a[1]:a[3], a[0]:a[2]].astype(np.float32)
    rr = np.sqrt((gx - u) ** 2 + (gy - v) ** 2) / r
    rad[a[1]:a[3], a[0]:a[2]] += (gain * 60.0 / (1 + rr ** 2) ** 1.5 + 2000.0 * (rr < 1))[..., None]
