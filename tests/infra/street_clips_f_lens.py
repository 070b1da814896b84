"""What happens at the lens and the sensor of the style-F pole camera (``street_clips_f``).

- ``LensWater``: drops on the lens cover, out of focus: bright blurred blobs lit by the lamps
  and the IR illuminator, most living under a second, a few for many seconds, some sliding
  down and leaving a wet streak that fades; falling rain as short bright streaks.
- ``Moths``: insects circling the IR lamp beside the lens, so close that they are large,
  blurred, bright specks moving fast on wobbling orbits, now and then leaving the picture.
- ``Sensor``: Bayer colour noise (one sample per pixel behind an RGGB mosaic, interpolated,
  so the noise is coloured and 2-3 px wide), shot noise plus read noise times the gain; an ISP
  that denoises over time where the picture changes little (movers in the dark leave a smear)
  and sharpens with an unsharp mask (a light halo along every edge).

Part of that generator (its clips' cache key hashes this file); no code shared with the
other styles.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

WIDTH, HEIGHT = 1280, 720
FPS = 15
_Q = 4  # lens water and moths are drawn at a quarter of the size, then blurred: out of focus


class LensWater:
    def __init__(self, per_s: float, long_share: float, rng: np.random.Generator) -> None:
        self.per_s, self.long_share, self.rng = per_s, long_share, rng
        # (u, v, radius, level, frames left, slide px per frame) in quarter pixels
        self.drops: list[list[float]] = []
        self.trail = np.zeros((HEIGHT // _Q, WIDTH // _Q), np.float32)

    def _spawn(self) -> None:
        rng = self.rng
        long = rng.random() < self.long_share
        life = rng.uniform(90, 200) if long else rng.uniform(4, 14)
        slide = rng.uniform(0.4, 1.6) if rng.random() < 0.35 else 0.0
        self.drops.append([rng.uniform(0, WIDTH / _Q), rng.uniform(0, HEIGHT / _Q * 0.8),
                           rng.uniform(3, 11), rng.uniform(0.5, 1.0), life, slide])

    def apply(self, img: np.ndarray, lit: float) -> None:
        """Blend the drops into ``img`` (grey levels); ``lit``: how bright scattered light
        makes a drop (grey levels at full)."""
        if not self.per_s:
            return
        for _ in range(self.rng.poisson(self.per_s / FPS)):
            self._spawn()
        alpha = np.zeros_like(self.trail)
        self.trail *= 0.96
        for d in self.drops:
            u0, v0 = d[0], d[1]
            d[1] += d[5]
            d[4] -= 1
            fade = min(1.0, d[4] / 4.0)
            cv2.circle(alpha, (round(d[0]), round(d[1])), max(1, round(d[2])), d[3] * fade, -1)
            if d[5]:
                cv2.line(self.trail, (round(u0), round(v0)), (round(d[0]), round(d[1])),
                         0.5, max(1, round(d[2] / 3)))
        self.drops = [d for d in self.drops if d[4] > 0 and d[1] < HEIGHT / _Q + 10]
        soft: np.ndarray = cv2.GaussianBlur(np.maximum(alpha, self.trail), (0, 0), 3.0)
        full = cv2.resize(soft, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)[..., None]
        img *= 1 - 0.45 * full
        img += full * lit


def falling_streaks(img: np.ndarray, count: int, rng: np.random.Generator) -> None:
    """Rain falling through the lamp light: short slanted bright strokes."""
    if not count:
        return
    us = rng.integers(0, WIDTH, count)
    vs = rng.integers(0, HEIGHT, count)
    lengths = rng.integers(10, 34, count)
    levels = rng.uniform(18, 45, count)
    for u, v, n, level in zip(us, vs, lengths, levels, strict=True):
        cv2.line(img, (int(u), int(v)), (int(u + n * 0.18), int(v + n)),
                 (float(level),) * 3, 1)


class Moths:
    def __init__(self, count: int, rng: np.random.Generator) -> None:
        self.rng = rng
        # (angle, radius px, angular speed rad/s, wobble phase, centre u, centre v)
        self.state = [[rng.uniform(0, 2 * math.pi), rng.uniform(60, 300), rng.uniform(4, 9)
                       * rng.choice((-1, 1)), rng.uniform(0, 6), rng.uniform(500, 780),
                       rng.uniform(40, 200)] for _ in range(count)]
        self.last: list[tuple[float, float]] = [self._at(s, 0.0) for s in self.state]

    @staticmethod
    def _at(s: list[float], t: float) -> tuple[float, float]:
        r = s[1] * (1 + 0.35 * math.sin(3.1 * t + s[3]))
        return s[4] + r * math.cos(s[0]), s[5] + 0.6 * r * math.sin(s[0])

    def apply(self, img: np.ndarray, t: float, lit: float) -> None:
        if not self.state:
            return
        layer = np.zeros((HEIGHT // _Q, WIDTH // _Q), np.float32)
        for k, s in enumerate(self.state):
            s[0] += s[2] / FPS
            if self.rng.random() < 0.01:  # it darts off and comes back somewhere else
                s[4], s[5] = self.rng.uniform(300, 980), self.rng.uniform(0, 300)
            u, v = self._at(s, t)
            a, b = self.last[k]
            cv2.line(layer, (round(a / _Q), round(b / _Q)), (round(u / _Q), round(v / _Q)),
                     1.0, 2)
            self.last[k] = (u, v)
        blurred: np.ndarray = cv2.GaussianBlur(layer, (0, 0), 1.5)
        img += cv2.resize(blurred, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)[..., None] \
            * lit


class Sensor:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
        mosaic = [((yy % 2 == 1) & (xx % 2 == 1)),  # B
                  ((yy + xx) % 2 == 1),  # G
                  ((yy % 2 == 0) & (xx % 2 == 0))]  # R
        self.masks = [m.astype(np.float32) for m in mosaic]
        # interpolating a channel's samples averages k of them: scale back to unit spread
        self.norm = [np.sqrt(cv2.blur(m, (3, 3)) * 9) / cv2.blur(m, (3, 3)) / 9 for m in
                     self.masks]
        self.prev: list[np.ndarray] | None = None

    def expose(self, img: np.ndarray, read_noise: float, gain: float) -> np.ndarray:
        """Noise, the ISP's temporal denoise and sharpening; uint8 BGR out."""
        planes: list[np.ndarray] = list(cv2.split(img))
        spread = cv2.sqrt(np.maximum(planes[1], 1.0)) * 0.35 + read_noise * gain
        sample: np.ndarray = cv2.multiply(
            self.rng.standard_normal((HEIGHT, WIDTH), dtype=np.float32), spread)
        for c in range(3):
            planes[c] += cv2.multiply(cv2.blur(cv2.multiply(sample, self.masks[c]), (3, 3)),
                                      self.norm[c], scale=9.0)
        strength = min(0.8, max(0.0, 0.22 * (gain - 1.0)))
        if self.prev is not None and strength > 0:
            # where the picture changed little, keep much of the last frame
            change: np.ndarray = cv2.absdiff(planes[1], self.prev[1])
            keep = np.maximum(1.0 - change * (1.0 / (8.0 + 6.0 * math.sqrt(gain))), 0.0)
            keep *= strength
            for c in range(3):
                planes[c] += cv2.multiply(keep, self.prev[c] - planes[c])
        self.prev = [p.copy() for p in planes]
        out: np.ndarray = cv2.merge(planes)
        out = cv2.addWeighted(out, 1.7, cv2.GaussianBlur(out, (0, 0), 1.6), -0.7, 0.0)
        np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8)


def barrel() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each output pixel samples the undistorted picture (barrel: the middle
    magnified, the corners outside the image circle) and the vignetting."""
    vv, uu = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    x, y = (uu - WIDTH / 2) / 640.0, (vv - HEIGHT / 2) / 640.0
    r2 = x * x + y * y
    k1, k2 = 0.32, 0.08
    f = (1 + k1 * r2 + k2 * r2 * r2) / (1 + k1 + k2)
    vignette = np.clip(1.0 - 0.42 * r2, 0.0, 1.0) * np.clip((1.3 - r2) / 0.15, 0.0, 1.0)
    map_u = (WIDTH / 2 + x * f * 640.0).astype(np.float32)
    map_v = (HEIGHT / 2 + y * f * 640.0).astype(np.float32)
    return map_u, map_v, np.repeat(vignette[..., None], 3, axis=2).astype(np.float32)
