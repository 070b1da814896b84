"""Canal-bridge clips in a seventh drawing style (G), 1280x720 CBR 0.8-2 Mbit/s, held-out 7.

Written before the seventh detector round (issue 11) and scored once on main's detector before
it; shares no drawing code with ``clips``, ``street_clips`` (A/B), ``street_clips_c`` (C),
``street_clips_d*`` (D), ``street_clips_e*`` (E), ``street_clips_f*`` (F) or
``street_clips_wind``, only the clip writer. A camera under the eaves of the commune's
cultural house, looking over its concrete yard and the village lane in front of it, down a
lane to a small slab bridge over an irrigation canal, the dyke road beyond and the paddy to a
tree line (``street_clips_g_movers``: a ground plane seen from 3 m up):

- the eaves' tile edge across the top of the picture, power and phone wires sagging across
  the sky, a flag pole with the red flag fluttering (not masked), a whitewashed gate pillar
  and wall on the left, a clipped hedge on the right that shakes in wind;
- the canal: dark water that shimmers (ripples moving over it) and reflects the sky, sun
  glints, the bridge lamp and headlamps as broken columns (not masked);
- light: sun with hard shadows (movers' own at noon, a tree's canopy swaying on the yard),
  cloud shade passing, dusk, a street lamp at the bridge and a fluorescent tube on the gate
  at night (one that flickers), headlamp beams on the dyke road and in the water, an IR mode
  in which the plants turn bright (leaves reflect near infrared);
- a lens slightly out of focus, a rolling shutter that skews fast movers, the camera's
  pipeline in ``street_clips_g_camera`` (row noise, fixed-pattern noise, the smart codec's
  key-frame pulse, a hunting auto-exposure, the burnt-in clock), rain on the cover glass,
  insects at the IR lamp; frame rates and GOPs per clip (12 or 15 fps, GOP 2 or 4 s, one
  clip with B-frames).

Ground truth per frame: one box per moving mover at least a third in view, the body only
(not its shadow or headlamp beam). A mover standing still changes no pixel: not labelled.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from tests.infra.street_clips_g_camera import (
    Drops,
    Insects,
    Sensor,
    encode,
    exposure,
    stamp,
    streaks,
)
from tests.infra.street_clips_g_movers import (
    HEIGHT,
    HORIZON,
    WIDTH,
    Drawn,
    Light,
    MoverG,
    frames_of,
)

__all__ = ["HEIGHT", "SOURCES", "WIDTH", "SceneG", "encode", "render"]

SOURCES = tuple(__file__.replace("street_clips_g.py", f"street_clips_g{part}.py")
                for part in ("", "_movers", "_camera"))
Box = tuple[float, float, float, float]
_Q = 4  # light is smooth: computed at a quarter of the size
_HQ, _WQ = HEIGHT // _Q, WIDTH // _Q
# rows (relative) of the bands from the top: sky, tree line, paddy, dyke road, its bank, the
# canal's water, the near bank, then the yard
_TREES, _DYKE, _BANK, _WATER, _NEAR, _YARD = 0.30, 0.425, 0.45, 0.475, 0.56, 0.585
_LAMP = (0.615, 0.40)  # the bridge lamp's bulb (x, row)
_TUBE = (0.055, 0.60)  # the fluorescent tube on the gate pillar
_HEDGE = (slice(int(0.47 * HEIGHT), HEIGHT), slice(int(0.77 * WIDTH), WIDTH))


@dataclass(frozen=True)
class SceneG:
    name: str
    duration_s: float
    movers: tuple[MoverG, ...] = ()
    light: tuple[float, float] = (1.0, 1.0)  # daylight at the start and the end (0.04 night)
    sun: float = 0.0  # direct sun (hard shadows)
    lamp: float = 0.0  # the bridge lamp's power (0: off)
    tube: float = 0.0  # the gate's tube light
    flicker: bool = False  # the tube is failing: it stutters and drops out
    ir_at: float | None = None
    wind: float = 0.3  # flag, hedge, canopy shadow, ripples
    clouds: bool = False
    rain: int = 0  # falling streaks per frame
    drops_per_s: float = 0.0  # drops on the cover glass
    stay: float = 0.3  # the share of drops that stay many seconds
    insects: int = 0
    hunting: bool = False  # the auto-exposure hunts
    read_noise: float = 1.5  # levels at gain 1
    fpn: float = 0.4
    clock: float = 12 * 3600.0  # the burnt-in clock at the start (s after midnight)
    seed: int = 1
    fps: int = 15
    gop: int = 30
    bframes: bool = False
    bitrate_k: int = 1200
    style: str = "G"
    masks: tuple[tuple[tuple[float, float], ...], ...] = field(default=())


def _lane_edges(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lane from the bridge to the camera, widening towards the bottom."""
    f = np.clip((y - _YARD) / (1 - _YARD), 0, 1)
    return 0.42 - 0.27 * f, 0.58 + 0.27 * f


def _ground(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Albedo (BGR, 0-1) and a region map (0 sky, 1 plants, 2 water, 3 built, 4 ground)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    y, x = y / HEIGHT, x / WIDTH
    alb = np.empty((HEIGHT, WIDTH, 3), np.float32)
    region = np.full((HEIGHT, WIDTH), 4, np.uint8)
    grain = rng.normal(0, 1, (HEIGHT, WIDTH)).astype(np.float32)
    alb[:] = (0.92, 0.8, 0.66) * (0.85 + 0.15 * y[..., None] / _TREES)  # sky
    region[y < _TREES] = 0
    top = _TREES + 0.03 * np.abs(np.sin(x * 37) * np.sin(x * 11 + 1)) + 0.004 * grain
    trees = (y >= top) & (y < HORIZON)
    paddy = (y >= HORIZON) & (y < _DYKE)
    rows = np.sin((1 / np.maximum(y - HORIZON + 0.02, 0.02)) * 9.0)
    alb[trees] = np.array((0.18, 0.32, 0.2)) * (1 + 0.25 * grain[trees, None])
    alb[paddy] = np.array((0.25, 0.6, 0.45)) * (0.9 + 0.1 * rows[paddy, None]
                                               + 0.08 * grain[paddy, None])
    region[trees | paddy] = 1
    dyke = (y >= _DYKE) & (y < _BANK)
    alb[dyke] = np.array((0.55, 0.6, 0.62)) * (1 + 0.06 * grain[dyke, None])
    bank = ((y >= _BANK) & (y < _WATER)) | ((y >= _NEAR) & (y < _YARD))
    alb[bank] = np.array((0.2, 0.42, 0.3)) * (1 + 0.2 * grain[bank, None])
    region[bank] = 1
    water = (y >= _WATER) & (y < _NEAR)
    alb[water] = (0.16, 0.17, 0.13)
    region[water] = 2
    yard = y >= _YARD
    slabs = ((np.abs(np.sin(x * 61)) < 0.03) | (np.abs(np.sin(y * 90)) < 0.04)) & yard
    alb[yard] = np.array((0.6, 0.62, 0.62)) * (1 + 0.05 * grain[yard, None])
    left, right = _lane_edges(y)
    lane = yard & (x > left) & (x < right)
    alb[lane] *= 0.9
    alb[slabs] *= 0.8
    front = yard & (y > 0.66) & (y < 0.74)  # the village lane along the house: older concrete
    alb[front] *= 0.85 + 0.1 * np.sin(x[front, None] * 23)
    bridge = (y >= _BANK + 0.01) & (y < _YARD) & (x > 0.43 + 0.3 * (y - 0.585)) & (
        x < 0.57 - 0.3 * (y - 0.585))
    alb[bridge] = (0.62, 0.64, 0.64)
    region[bridge] = 3
    _furniture(alb, region, x, y, grain)
    return cv2.GaussianBlur(alb, (0, 0), 1.6), region  # the lens is a little out of focus


def _furniture(alb: np.ndarray, region: np.ndarray, x: np.ndarray, y: np.ndarray,
               grain: np.ndarray) -> None:
    """Gate pillar and wall, hedge, railings, lamp pole, flag pole, wires, the eaves."""
    wall = (x < 0.1) & (y > 0.42)
    alb[wall] = np.array((0.62, 0.85, 0.9)) * (1 - 0.1 * np.clip(grain[wall, None], 0, 2))
    alb[(x > 0.1) & (x < 0.115) & (y > 0.42)] = (0.4, 0.5, 0.55)  # the pillar's edge
    region[wall] = 3
    hedge = (x > 0.87 - 0.1 * (1 - y)) & (y > 0.47) & (
        y > 0.47 + 0.03 * np.abs(np.sin(x * 80)))
    alb[hedge] = np.array((0.1, 0.3, 0.14)) * (1 + 0.45 * grain[hedge, None])
    region[hedge] = 1
    for px in (0.43, 0.57):  # the bridge's railings
        alb[(np.abs(y - _BANK - 0.01) < 0.004) & (np.abs(x - px) < 0.002)] = 0.25
    rail = (y > 0.462) & (y < 0.468) & (x > 0.42) & (x < 0.58)
    alb[rail] = (0.35, 0.38, 0.4)
    alb[(np.abs(x - _LAMP[0]) < 0.003) & (y > _LAMP[1]) & (y < 0.57)] = (0.3, 0.3, 0.3)
    alb[(np.abs(x - 0.2) < 0.004) & (y > 0.08) & (y < 0.64)] = (0.7, 0.7, 0.72)
    for k, (a, b, sag) in enumerate(((0.12, 0.2, 0.05), (0.16, 0.1, 0.07), (0.09, 0.26, 0.04))):
        line = a + (b - a) * x + sag * 4 * x * (1 - x)
        alb[np.abs(y - line) < 0.0016 + 0.0006 * k] = (0.12, 0.12, 0.12)
    eaves = y < 0.045 + 0.012 * np.abs(np.sin(x * 60))
    alb[eaves] = np.array((0.12, 0.16, 0.3)) * (1 + 0.3 * grain[eaves, None])
    region[eaves] = 3


class _Canal:
    """Everything about one scene that does not change from frame to frame."""

    def __init__(self, scene: SceneG) -> None:
        self.scene = scene
        self.rng = rng = np.random.default_rng(scene.seed)
        self.alb, region = _ground(rng)
        grey = self.alb.mean(axis=2)
        ir = np.where(region == 1, 0.55 + 0.25 * grey, 0.9 * grey)
        ir = np.where(region == 2, 0.05, np.where(region == 0, 0.08, ir))
        self.ir_alb = np.repeat(ir[..., None], 3, axis=2).astype(np.float32)
        yq, xq = np.mgrid[0:_HQ, 0:_WQ].astype(np.float32)
        self.yq, self.xq = yq / _HQ, xq / _WQ
        qreg = cv2.resize(region, (_WQ, _HQ), interpolation=cv2.INTER_NEAREST)
        self.water_q = (qreg == 2).astype(np.float32)
        rows = np.nonzero(self.water_q.any(axis=1))[0]
        self.band = slice(int(rows[0]), int(rows[-1]) + 1)  # the canal's rows
        self.band_d = 1.0 / np.maximum(self.yq[self.band] - HORIZON, 0.02)
        self.band_water = self.water_q[self.band]
        # what a beam on the dyke or the lane can light (not the near wall or the hedge)
        self.ground_q = ((self.yq > HORIZON) & (qreg != 3) & (self.xq < 0.86)).astype(
            np.float32)
        self.depth = np.clip((self.yq - HORIZON) / (1 - HORIZON), 0, 1)
        canopy = cv2.GaussianBlur(rng.random((_HQ, _WQ)).astype(np.float32), (0, 0), 4)
        canopy = np.clip((canopy - canopy.mean()) * 18 + 0.5, 0, 1)
        self.canopy = canopy * (self.xq < 0.45) * (self.yq > 0.62) * np.clip(
            (0.45 - self.xq) * 8, 0, 1)
        self.cloud = cv2.GaussianBlur(rng.random((_HQ, _WQ * 3)).astype(np.float32), (0, 0),
                                      25)
        self.cloud = np.clip((self.cloud - self.cloud.mean()) * 40 + 0.5, 0, 1)
        self.waves = rng.uniform(0, 2 * np.pi, 6)
        self.sensor = Sensor(rng, scene.read_noise, scene.fpn, scene.fps, scene.gop)
        self.drops = Drops(rng, scene.drops_per_s, scene.stay, scene.fps)
        self.insects = Insects(rng, scene.insects)
        self.streak_layer = np.zeros((HEIGHT, WIDTH), np.uint8)
        # the hedge's leaves shaken by the wind: the albedo change between two poses, on
        # the hedge only
        box = self.alb[_HEDGE]
        self.hedge = (np.roll(box, (2, 3), axis=(0, 1)) - box) * (region[_HEDGE] == 1)[
            ..., None]

    def daylight(self, t: float) -> float:
        a, b = self.scene.light
        return a + (b - a) * min(t / self.scene.duration_s, 1.0)

    def ir(self, t: float) -> bool:
        return self.scene.ir_at is not None and t >= self.scene.ir_at

    def ripple(self, t: float) -> np.ndarray:
        """The canal's surface (its rows at quarter size): ripples moving across it, -1..1."""
        d, xq = self.band_d, self.xq[self.band]
        w, s = self.waves, 0.4 + self.scene.wind + (1.5 if self.scene.rain else 0.0)
        r = (np.sin(xq * 70 * d / 8 + t * 1.3 * s + w[0])
             + np.sin(d * 6 + xq * 20 - t * 2.1 * s + w[1])
             + 0.6 * np.sin(xq * 140 - d * 9 + t * 3.3 * s + w[2]))
        return (r / 2.6).astype(np.float32)

    def tube(self, t: float) -> float:
        if not self.scene.tube:
            return 0.0
        if not self.scene.flicker:
            return self.scene.tube
        phase = t % 5.3
        if phase < 0.8:  # the starter tries: on-off stutter
            return self.scene.tube * (0.15 if math.sin(t * 47) > 0.2 else 1.0)
        return self.scene.tube * (0.93 + 0.07 * math.sin(t * 2 * math.pi * 8.3))

    def light(self, t: float, lights: list[Drawn]) -> tuple[np.ndarray, np.ndarray]:
        """(illumination, one channel) and (emitted light, BGR levels) at quarter size."""
        sc, yq, xq = self.scene, self.yq, self.xq
        day = self.daylight(t)
        emit = np.zeros((_HQ, _WQ, 3), np.float32)
        ripple = self.ripple(t)
        if self.ir(t):
            # the camera's own illuminator: the near ground bright, the far dark
            illum = 0.05 + 0.95 * self.depth ** 1.4 * (1 - 0.5 * ((xq - 0.5) * 2) ** 2)
        else:
            illum = np.full((_HQ, _WQ), 0.5 * day, np.float32)
            if sc.sun:
                sun = sc.sun * day * (1 - 0.7 * self._canopy(t))
                if sc.clouds:
                    shift = int(t * 9) % (_WQ * 2)
                    sun = sun * (1 - 0.6 * self.cloud[:, shift:shift + _WQ])
                illum = illum + sun
            sky = 120.0 * day * (0.5 + 0.5 * ripple) + 90 * sc.sun * day * (ripple > 0.8)
            emit[self.band] += (self.band_water * sky)[..., None] * np.array(
                (1.0, 0.95, 0.85), np.float32)
        if sc.lamp:
            pool = np.exp(-((xq - 0.58) ** 2 / 0.02 + (yq - 0.6) ** 2 / 0.006))
            illum = illum + sc.lamp * 0.5 * pool * (1 - self.water_q)
            self._glow(emit, _LAMP[0], _LAMP[1], 0.012, 255 * sc.lamp, (0.75, 0.95, 1.0),
                       ripple)
        tube = self.tube(t)
        if tube:
            pool = np.exp(-((xq - 0.1) ** 2 / 0.01 + (yq - 0.72) ** 2 / 0.02))
            illum = illum + tube * 0.35 * pool
            emit[int(0.55 * _HQ):int(0.65 * _HQ), int(0.045 * _WQ):int(0.065 * _WQ)] += \
                230 * tube
        for d in lights:
            for lamp in d.lights:
                illum = illum + self._beam(lamp)
                self._beam_in_water(emit, lamp, ripple)
                self._glow(emit, lamp.x / WIDTH, lamp.y / HEIGHT, lamp.radius / WIDTH * 3,
                           255 * lamp.power, lamp.colour, ripple)
        return illum.astype(np.float32), emit

    def _canopy(self, t: float) -> np.ndarray:
        if not self.scene.wind:
            return self.canopy
        a = self.scene.wind * 1.6
        mx = (np.arange(_WQ, dtype=np.float32)[None, :] + a * np.sin(
            t * 1.7 + self.yq * 9) + 0.5 * a * np.sin(t * 3.1 + self.xq * 13)).astype(np.float32)
        my = (np.arange(_HQ, dtype=np.float32)[:, None] + 0.6 * a * np.sin(
            t * 2.3 + self.xq * 7)).astype(np.float32)
        return cv2.remap(self.canopy, mx, my, cv2.INTER_LINEAR)

    def _beam(self, lamp: Light) -> np.ndarray:
        """A headlamp's beam on the road ahead: a long, spreading pool along its row."""
        x, y, r, power, facing = lamp.x, lamp.y, lamp.radius, lamp.power, lamp.facing
        if not facing:
            return np.zeros((_HQ, _WQ), np.float32)
        ppm = r / 0.12
        gy, lx = (y + 0.75 * ppm) / HEIGHT, x / WIDTH
        ahead = facing * (self.xq - lx)
        length = 16 * ppm / WIDTH
        spread = (0.3 * ppm / HEIGHT) + 0.05 * np.clip(ahead, 0, None)
        out = np.zeros((_HQ, _WQ), np.float32)
        reach = 3 * (0.3 * ppm / HEIGHT + 0.05 * 0.6)
        lo, hi = max(int((gy - reach) * _HQ), 0), max(min(int((gy + reach) * _HQ) + 1, _HQ), 0)
        a, sp, yq = ahead[lo:hi], spread[lo:hi], self.yq[lo:hi]
        out[lo:hi] = 0.4 * power * np.exp(-((yq - gy) / sp) ** 2) * np.clip(
            a / 0.02, 0, 1) * np.exp(-np.clip(a, 0, None) / length) * self.ground_q[lo:hi]
        return out

    def _beam_in_water(self, emit: np.ndarray, lamp: Light, ripple: np.ndarray) -> None:
        """The lit road ahead of a headlamp, mirrored in the canal below it (broken up)."""
        if not lamp.facing or lamp.y / HEIGHT > self.band.stop / _HQ:
            return
        ahead = lamp.facing * (self.xq[self.band] - lamp.x / WIDTH)
        length = 16 * lamp.radius / 0.12 / WIDTH
        lit = np.clip(ahead / 0.02, 0, 1) * np.exp(-np.clip(ahead, 0, None) / length)
        emit[self.band] += (45.0 * lamp.power * lit * self.band_water * np.clip(
            ripple + 0.2, 0, 1))[..., None] * np.array(lamp.colour, np.float32)

    def _glow(self, emit: np.ndarray, x: float, y: float, r: float, level: float,
              colour: tuple[float, float, float], ripple: np.ndarray) -> None:
        """A bright source's halo and, below it in the canal, its broken reflection."""
        rad = max(r * WIDTH, 2.0)
        reach = int(8 * rad / _Q) + 2
        cx, cy = int(x * _WQ), int(y * _HQ)
        ys = slice(max(cy - reach, 0), max(min(cy + reach, _HQ), 0))
        xs = slice(max(cx - reach, 0), max(min(cx + reach, _WQ), 0))
        tint = np.array(colour, np.float32) * level
        d2 = ((self.xq[ys, xs] - x) * WIDTH) ** 2 + ((self.yq[ys, xs] - y) * HEIGHT) ** 2
        halo = np.exp(-d2 / (rad * rad)) + 0.25 * np.exp(-d2 / (9 * rad * rad))
        emit[ys, xs] += halo[..., None] * tint
        if y < self.band.stop / _HQ:  # above the water's far edge: mirrored in it
            xs = slice(max(cx - reach, 0), max(min(cx + reach, _WQ), 0))
            column = np.exp(-((self.xq[self.band, xs] - x) * WIDTH / (rad * 1.5)) ** 2) * (
                self.band_water[:, xs] * (self.yq[self.band, xs] > y)) * np.clip(
                0.3 + ripple[:, xs], 0, 1)
            emit[self.band, xs] += (0.6 * column)[..., None] * tint


def _flag(alb: np.ndarray, t: float, wind: float, ir: bool) -> None:
    """The red flag at the top of its pole, waving (drawn into the albedo)."""
    n, length, tall = 9, 0.08 * WIDTH, 0.075 * HEIGHT
    x0, y0 = 0.2 * WIDTH + 3, 0.085 * HEIGHT
    amp = 4 + 10 * wind
    top, bottom = [], []
    for i in range(n + 1):
        f = i / n
        wave = amp * f * math.sin(2 * math.pi * (1.2 * f - (0.8 + wind) * t))
        x = x0 + length * f * (1 - 0.12 * wind * (1 + math.sin(3.1 * t + f)) / 2)
        top.append((x, y0 + wave))
        bottom.append((x, y0 + tall + wave * 1.1 + 3 * wind * f * f))
    pts = np.array(top + bottom[::-1], np.float32) * 16
    cv2.fillPoly(alb, [pts.astype(np.int32)], (0.4,) * 3 if ir else (0.1, 0.08, 0.75),
                 cv2.LINE_AA, 4)
    mid = top[n // 2]
    cv2.circle(alb, (int(mid[0]), int(mid[1] + tall / 2)), 8,
               (0.6,) * 3 if ir else (0.1, 0.8, 0.9), -1, cv2.LINE_AA)


def _composite(alb: np.ndarray, d: Drawn, ir: bool, shade: float) -> None:
    h, w = d.cover.shape
    x0, y0 = max(d.x0, 0), max(d.y0, 0)
    x1, y1 = min(d.x0 + w, WIDTH), min(d.y0 + h, HEIGHT)
    if x1 <= x0 or y1 <= y0:
        return
    sl = (slice(y0 - d.y0, y1 - d.y0), slice(x0 - d.x0, x1 - d.x0))
    cover = cv2.GaussianBlur(d.cover, (0, 0), 1.4)[sl][..., None]
    colour = cv2.GaussianBlur(d.colour, (0, 0), 1.4)[sl]
    if ir:
        colour = np.repeat(colour.mean(axis=2, keepdims=True), 3, axis=2) * 1.2
    region = alb[y0:y1, x0:x1]
    if shade:
        region *= 1 - shade * cv2.GaussianBlur(d.shadow, (0, 0), 1.0)[sl][..., None]
    region *= 1 - cover
    region += colour


def render(scene: SceneG) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """Yield (BGR uint8 frame, ground-truth boxes) at 1280x720, ``scene.fps``."""
    canal = _Canal(scene)
    frames = int(scene.duration_s * scene.fps)
    noon = scene.sun > 0.3
    shade = scene.sun / (scene.sun + 0.5) if noon else 0.0
    for i, drawn in enumerate(frames_of(scene.movers, scene.fps, frames, noon)):
        t = i / scene.fps
        ir = canal.ir(t)
        alb = (canal.ir_alb if ir else canal.alb).copy()
        if scene.wind:
            k = 0.5 + 0.5 * math.sin(t * 2.7 * (0.5 + scene.wind)) * min(scene.wind, 1.0)
            alb[_HEDGE] += k * canal.hedge
        _flag(alb, t, scene.wind, ir)
        for d in drawn:
            _composite(alb, d, ir, shade)
        illum_q, emit_q = canal.light(t, drawn)
        day = canal.daylight(t)
        base = 1.0 if ir else min(6.0, 0.55 / max(0.5 * day + 0.35 * scene.sun * day
                                                   + 0.15 * scene.lamp, 0.09))
        gain = exposure(t, scene.ir_at, scene.hunting, base)
        illum = cv2.resize(illum_q * (235.0 * gain), (WIDTH, HEIGHT))
        img = alb
        img *= illum[..., None]
        img += cv2.resize(emit_q * min(gain, 2.0), (WIDTH, HEIGHT))
        if scene.drops_per_s:
            canal.drops.apply(img, t)
        if scene.rain:
            streaks(img, canal.rng, scene.rain, canal.streak_layer)
        if scene.insects:
            canal.insects.apply(img, t)
        img += canal.sensor.noise(i, gain)[..., None]
        frame = np.clip(img, 0, 255, out=img).astype(np.uint8)
        stamp(frame, t, scene.clock, "CAM02 NHA VAN HOA")
        yield frame, [d.box for d in drawn if d.box is not None]
