"""The still scenery of the style-F junction clips (``street_clips_f``): which surface each
pixel of the pole camera sees, the reflectance of the ground (asphalt, a dashed centre line,
a drain with a grate, concrete tiles) and of the shop fronts (roller shutters, open shops,
signboards, an upper storey), and the banana leaves' shape and the sun's shadows. Part of
that generator (its clips' cache key hashes this file); no code shared with other styles.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from tests.infra.street_clips_f_movers import FACADE_Z, HEIGHT, POLE_H, WIDTH, rays

Vec = tuple[float, float, float]
WALL_X, WALL_Z = 7.5, (2.0, 10.0)  # the committee's wall (plane X = 7.5), 2.3 m high
_GAP = 3.8  # the road goes on between the shop fronts for |X| < this


def surfaces() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per undistorted pixel: which surface (0 sky, 1 ground, 2 shop fronts, 3 wall) and the
    world point seen there."""
    vv, uu = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    rx, ry, rz = rays(uu, vv)
    t_ground = np.where(ry < -1e-4, POLE_H / np.maximum(-ry, 1e-4), 1e9)
    kind = np.where(t_ground < 1e8, 1, 0).astype(np.uint8)
    t = np.where(kind == 1, t_ground, 200.0)
    x, z = rx * t, rz * t
    t_face = FACADE_Z / np.maximum(rz, 1e-4)
    y_face, x_face = POLE_H + ry * t_face, rx * t_face
    face = (t_face < t) & (y_face >= 0) & (y_face < 7.0) & (np.abs(x_face) >= _GAP)
    t_wall = np.where(rx > 1e-4, WALL_X / np.maximum(rx, 1e-4), 1e9)
    y_wall, z_wall = POLE_H + ry * t_wall, rz * t_wall
    wall = (t_wall < t) & (y_wall >= 0) & (y_wall < 2.3) & (z_wall > WALL_Z[0]) & (
        z_wall < WALL_Z[1])
    for mask, tt in ((face, t_face), (wall, t_wall)):
        kind[mask] = 2 if tt is t_face else 3
        t = np.where(mask, tt, t)
    x, y, z = rx * t, POLE_H + ry * t, rz * t
    return kind, x, y, z


def ground(x: np.ndarray, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Reflectance of the ground: asphalt roads, centre dashes, a drain, concrete tiles."""
    grain = cv2.GaussianBlur(rng.random(x.shape, np.float32), (0, 0), 0.8) - 0.5
    road = (np.abs(x) < 3.5) | ((z > 9.0) & (z < 15.0))
    ti, tj = np.floor(x / 0.6), np.floor(z / 0.6)
    tile = 0.55 + 0.08 * np.sin(ti * 12.9898 + tj * 78.233) * np.cos(ti * 3.1 + tj * 1.7)
    grout = np.minimum(np.abs(x / 0.6 - np.round(x / 0.6)), np.abs(z / 0.6 - np.round(z / 0.6)))
    tile = np.where(grout < 0.04, 0.32, tile)
    refl = np.where(road, 0.2 + 0.05 * np.sin(z * 0.7) * np.cos(x * 0.4), tile) + 0.12 * grain
    dash = (np.abs(x) < 0.08) & ((z % 3.0) < 1.5) & ~((z > 9.0) & (z < 15.0))
    refl = np.where(dash, 0.75, refl)
    drain = (x > 3.5) & (x < 4.1) & ~((z > 9.0) & (z < 15.0))
    refl = np.where(drain, np.where((z % 0.25) < 0.06, 0.35, 0.05), refl)
    img = np.repeat(refl[..., None], 3, axis=2)
    img[road] *= np.array([1.0, 0.97, 0.95], np.float32)
    img[~road] *= np.array([0.85, 0.92, 1.0], np.float32)
    return img


def fronts(x: np.ndarray, y: np.ndarray, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
    """Reflectance of the shop fronts and the signboards that are lit at night."""
    shop = np.floor((x + 40) / 4.0).astype(np.int32)
    colours = rng.uniform(0.25, 0.9, (32, 3)).astype(np.float32)
    kind = shop % 3
    shutter = 0.5 + 0.08 * np.sin(y * 2 * math.pi / 0.15)
    inside = 0.08 + 0.2 * (np.sin(x * 9) * np.sin(y * 7) > 0.3)
    low = np.where(kind == 1, inside, shutter)[..., None] * np.ones(3, np.float32)
    sign = (y > 2.7) & (y < 3.5)
    upper = np.array([0.7, 0.8, 0.85], np.float32) * np.where(
        (np.abs((x % 4.0) - 2.0) < 0.7) & (y > 4.2) & (y < 5.6), 0.25, 1.0)[..., None]
    img = np.where((y < 2.7)[..., None], low, upper)
    letters = (np.sin(x * 14) > 0.2) & (np.abs(y - 3.1) < 0.18)
    img = np.where(sign[..., None], colours[shop % 32] * np.where(letters, 0.3, 1.0)[..., None],
                   img)
    pillar = np.abs(x % 4.0) < 0.25
    img[pillar & (y < 4.2)] = (0.6, 0.62, 0.65)
    return img.astype(np.float32), (sign & ~pillar).astype(np.float32)


def leaf(base: Vec, az: float, droop: float
          ) -> list[Vec]:
    """A banana leaf: a long blade from the top of the stem, arching down."""
    length, width = 1.6, 0.34
    dx, dz = math.cos(az), math.sin(az)
    left, right = [], []
    for s in np.linspace(0.0, 1.0, 6):
        cx, cz = base[0] + dx * length * s, base[2] + dz * length * s
        cy = base[1] + 0.5 * s - droop * 1.6 * s * s
        w = width * math.sin(math.pi * min(s, 0.97)) + 0.02
        left.append((cx - dz * w, cy, cz + dx * w))
        right.append((cx + dz * w, cy, cz - dx * w))
    return left + right[::-1]


_SUN = (0.9, -1.0, -0.3)  # the sun's rays, per metre of fall


def on_ground(p: Vec) -> Vec:
    return (p[0] + _SUN[0] * p[1], 0.0, p[2] + _SUN[2] * p[1])


def on_wall(p: Vec) -> Vec:
    s = (WALL_X - p[0]) / _SUN[0]
    return (WALL_X - 1e-3, p[1] - s, p[2] + _SUN[2] * s)
