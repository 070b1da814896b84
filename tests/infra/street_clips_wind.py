"""Style A street clips (``street_clips``) with two more kinds of light and no mover in them:
tree shadows the wind shakes on a sunlit road, and a sodium lamp that cycles (fades out,
stays dark, restarts with a dim glow that grows).

Written for the detector's fifth round (held-out set 4 has both kinds, style D; its frames
were not looked at): the same kinds drawn the way ``street_clips`` draws light (albedo x
illumination + noise), in their own module so the clips of ``street_clips`` keep their bytes
(and their cache keys, which hash the generator's source).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from tests.infra import street_clips
from tests.infra.street_clips import (
    FPS,
    HEIGHT,
    WIDTH,
    Box,
    Lamp,
    StreetScene,
    _albedo,
    _draw_car,
    _draw_headlamps,
    _draw_walker,
    _light,
    _rain,
    _value_noise,
)

SOURCES = (str(street_clips.__file__), __file__)


@dataclass(frozen=True)
class WindScene(StreetScene):
    shadows: float = 0.0  # how much sunlight the leaves' shadows take (0 = none)
    wind: float = 1.0  # how far the wind shakes them (1 = a breeze, ~8 px at 640)
    cycling: tuple[Lamp, ...] = ()  # sodium lamps that cycle (see ``cycle_level``)
    cycle_s: float = 12.0
    cycle_phase: float = 0.0  # s into the cycle at t = 0


def cycle_level(t: float, period: float) -> float:
    """A failing sodium lamp's level over its cycle: on (wavering a little), fading out over
    1.5 s, dark for 3 s, then restarting: a dim glow growing back over 2.5 s."""
    u = t % period
    on = period - 7.0
    if u < on:
        return 1.0 + 0.04 * math.sin(2 * math.pi * 2.3 * t)
    if u < on + 1.5:
        return 1.0 - 0.95 * (u - on) / 1.5
    if u < on + 4.5:
        return 0.05
    return 0.05 + 0.95 * min(1.0, (u - on - 4.5) / 2.5) ** 2


def _shadow_field(scene: WindScene) -> np.ndarray:
    """Leaf clusters' shadows (0..1) on the road and the lower walls, a little larger than
    the frame so the wind can shake them in."""
    rng = np.random.default_rng(scene.seed + 7001)  # (not the scene's stream: see module doc)
    h, w = HEIGHT + 40, WIDTH + 40
    leaves = _value_noise(h, w, 28, rng) + 0.5 * _value_noise(h, w, 9, rng)
    field = np.clip((leaves - 0.3) * 2.5, 0, 1).astype(np.float32)
    field[: int(h * 0.35)] *= 0.0  # sky and high walls: no tree there
    return cv2.GaussianBlur(field, (0, 0), 2.0)


def _shaken(field: np.ndarray, t: float, wind: float) -> np.ndarray:
    """The shadow field as the wind shakes the branches: a sway that differs across the tree
    and gusts now and then, back and forth around where they hang."""
    h, w = HEIGHT, WIDTH
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    gust = 1.0 + 0.8 * max(0.0, math.sin(2 * math.pi * 0.13 * t)) ** 3
    sway = wind * gust * (5.0 * np.sin(2 * math.pi * 0.7 * t + xs / 90.0) +
                          3.0 * np.sin(2 * math.pi * 1.9 * t + ys / 40.0 + xs / 55.0))
    mapx, mapy = xs + 20 + sway, ys + 20 + 0.4 * sway
    out: np.ndarray = cv2.remap(field, mapx, mapy, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT)
    return out


def render(scene: WindScene) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """``street_clips.render`` with the shadows and the cycling lamps in the light."""
    rng = np.random.default_rng(scene.seed)
    albedo0 = _albedo(scene, rng)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    yy, xx = ys / HEIGHT, xs / WIDTH
    pad = WIDTH // 2
    canvas = (HEIGHT + 2 * pad, WIDTH + 2 * pad)
    field = _shadow_field(scene) if scene.shadows else None
    terms = street_clips.light_terms(scene, yy, xx)
    drops: list[list[float]] = []
    for i in range(int(scene.duration_s * FPS)):
        t = i / FPS
        albedo = albedo0.copy()
        boxes: list[Box] = []
        for m in scene.walkers:
            if m.start_s <= t < m.end_s:
                _draw_walker(albedo, m, t, canvas, pad, boxes)
        for c in scene.cars:
            if c.start_s <= t < c.end_s:
                _draw_car(albedo, c, t, boxes)
        light = _light(scene, t, yy, xx, terms)
        if field is not None:  # the shadows take sunlight (the ambient), not lamp light
            light -= scene.ambient * scene.shadows * _shaken(field, t, scene.wind)
        level = cycle_level(t + scene.cycle_phase, scene.cycle_s)
        for lamp in scene.cycling:
            r2 = ((xx - lamp.x) ** 2 + ((yy - lamp.y) * HEIGHT / WIDTH) ** 2) / lamp.radius ** 2
            light += lamp.gain * level * np.exp(-r2)
        img = street_clips.lit(albedo, light)
        if scene.cars:
            _draw_headlamps(img, scene.cars, t)
        street_clips.add_grey(img, rng.normal(0, scene.noise_sigma, (HEIGHT, WIDTH, 1)).astype(
            np.float32))
        _rain(img, scene, drops, rng)
        yield np.clip(img, 0, 255).astype(np.uint8), boxes
