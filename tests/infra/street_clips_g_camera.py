"""The camera of the style-G canal-bridge clips (``street_clips_g``): a cheap 720p sensor and
its pipeline, and what happens right in front of its lens.

- sensor noise that grows with the gain: fresh per-pixel noise (drawn from a bank, offset at
  random each frame), row noise (every row read out with its own offset, a new one each
  frame) and fixed-pattern noise (column stripes and hot pixels, the same all clip long);
- a "smart codec" pulse: the camera's encoder refreshes its background at every key frame,
  so flat areas step by a blocky 16x16 pattern once per GOP;
- an auto-exposure that hunts (a slow oscillation in bursts when the light flickers), an
  IR switch (a bright overshoot as the filter flips, settling in half a second);
- near-lens things: big blurred rain drops on the cover glass (some slide down, some stay
  for many seconds), falling rain streaks, insects circling the IR lamp by the lens (big
  bright out-of-focus blobs);
- the time-stamp real cameras burn into the picture: white text with a clock that ticks
  every second, and the camera's name;
- the encoder the clip set uses (``clips.encode``), or the same with libx264's default
  B-frames for one clip (the agent decodes them).

Part of that generator (its clips' cache key hashes this file).
"""

from __future__ import annotations

import datetime as dt
import math
import subprocess
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from tests.infra import clips

HEIGHT, WIDTH = 720, 1280
_BANK, _PAD = 6, 48
Box = tuple[float, float, float, float]


class Sensor:
    """Noise and the codec pulse, fixed for a clip by its seed."""

    def __init__(self, rng: np.random.Generator, read: float, fpn: float, fps: int, gop: int
                 ) -> None:
        self.rng, self.read, self.fps, self.gop = rng, read, fps, gop
        self.bank = rng.normal(0, 1, (_BANK, HEIGHT + _PAD, WIDTH + _PAD)).astype(np.float32)
        cols = rng.normal(0, 1, (1, WIDTH)).astype(np.float32)
        hot = (rng.random((HEIGHT, WIDTH)) < 2e-4).astype(np.float32) * 25.0
        self.fixed: np.ndarray = fpn * (cols * 1.5 + rng.normal(0, 0.6, (HEIGHT, WIDTH)).astype(
            np.float32)) + hot * fpn
        self.pulse: np.ndarray = np.zeros((HEIGHT, WIDTH), np.float32)

    def noise(self, i: int, gain: float) -> np.ndarray:
        """The frame's noise (one channel, levels), ``gain`` the exposure's amplification."""
        if i % self.gop == 0:  # a key frame: the codec's background refresh steps
            small = self.rng.normal(0, 1.2, (HEIGHT // 16, WIDTH // 16)).astype(np.float32)
            self.pulse = cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_NEAREST)
        dy, dx = (int(v) for v in self.rng.integers(0, _PAD, 2))
        fresh = self.bank[i % _BANK, dy:dy + HEIGHT, dx:dx + WIDTH]
        rows = self.rng.normal(0, 0.5, (HEIGHT, 1)).astype(np.float32)
        g = self.read * gain
        out = fresh * g + rows * g + self.fixed * gain
        out += self.pulse
        return out


def exposure(t: float, ir_at: float | None, hunting: bool, base: float) -> float:
    """The gain at ``t``: the IR switch's overshoot, the hunt in bursts (every ~7 s for 3 s)."""
    g = base
    if ir_at is not None and 0 <= t - ir_at < 0.6:
        g *= 1.0 + 0.9 * math.exp(-(t - ir_at) / 0.15)
    if hunting and (t % 7.0) < 3.0:
        g *= 1.0 + 0.18 * math.sin(2 * math.pi * (t % 7.0) / 1.5)
    return g


class Drops:
    """Drops on the cover glass: (x, y, r, born, life, slide px/s), bright and blurred."""

    def __init__(self, rng: np.random.Generator, per_s: float, stay: float, fps: int
                 ) -> None:
        self.rng, self.per_s, self.stay, self.fps = rng, per_s, stay, fps
        self.live: list[list[float]] = []

    def apply(self, img: np.ndarray, t: float) -> None:
        rng = self.rng
        for _ in range(int(rng.poisson(self.per_s / self.fps))):
            stays = rng.random() < self.stay
            self.live.append([rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT * 0.85),
                              rng.uniform(28, 80), t,
                              rng.uniform(8, 20) if stays else rng.uniform(0.6, 2.5),
                              0.0 if stays else rng.uniform(15, 90)])
        self.live = [d for d in self.live if t - d[3] < d[4]]
        for x, y, r, born, _, slide in self.live:
            self._one(img, x, y + slide * (t - born), r)

    @staticmethod
    def _one(img: np.ndarray, x: float, y: float, r: float) -> None:
        x0, y0 = max(int(x - r), 0), max(int(y - r), 0)
        x1, y1 = min(int(x + r), WIDTH), min(int(y + r), HEIGHT)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return
        yy, xx = np.ogrid[y0:y1, x0:x1]
        d = np.sqrt(((xx - x) / r) ** 2 + ((yy - y) / (r * 1.15)) ** 2)
        a = np.clip((1.0 - d) * 3.0, 0, 1).astype(np.float32)[..., None]
        patch = img[y0:y1, x0:x1]
        small = cv2.resize(patch, (max((x1 - x0) // 8, 1), max((y1 - y0) // 8, 1)),
                           interpolation=cv2.INTER_AREA)
        seen = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        lit = seen * 1.15 + 18.0 + 30.0 * np.clip(1.0 - np.abs(d - 0.8) * 6, 0, 1)[..., None]
        img[y0:y1, x0:x1] = patch * (1 - a) + lit * a


def streaks(img: np.ndarray, rng: np.random.Generator, count: int, layer: np.ndarray
            ) -> None:
    """Falling rain: slanted faint streaks, a new set every frame."""
    layer[:] = 0
    xs = rng.integers(0, WIDTH, count)
    ys = rng.integers(0, HEIGHT, count)
    lens = rng.integers(18, 60, count)
    for x, y, n in zip(xs, ys, lens, strict=True):
        cv2.line(layer, (int(x), int(y)), (int(x + n * 0.18), int(y + n)), 255, 1,
                 cv2.LINE_AA)
    img += (layer.astype(np.float32) * (28.0 / 255))[..., None]


class Insects:
    """Moths and midges circling the IR lamp just above the lens: big blurred bright blobs."""

    def __init__(self, rng: np.random.Generator, count: int) -> None:
        self.p = rng.uniform(0, 1, (count, 6))  # centre x, y, radius, speed, phase, size

    def apply(self, img: np.ndarray, t: float) -> None:
        for cx, cy, rad, speed, ph, size in self.p:
            a = t * (1.0 + 2.5 * speed) + ph * 6.28
            x = WIDTH * (0.25 + 0.5 * cx) + 260 * rad * math.cos(a) + 60 * math.sin(3.1 * a)
            y = HEIGHT * 0.3 * cy + 150 * rad * math.sin(1.3 * a) + 40 * math.cos(2.3 * a)
            r = 6 + 22 * size
            x0, y0 = max(int(x - 2 * r), 0), max(int(y - 2 * r), 0)
            x1, y1 = min(int(x + 2 * r), WIDTH), min(int(y + 2 * r), HEIGHT)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            yy, xx = np.ogrid[y0:y1, x0:x1]
            blob = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (r * r)).astype(np.float32)
            img[y0:y1, x0:x1] += (110.0 * blob)[..., None]


_START = dt.datetime(2026, 11, 23, 0, 0, 0)


def stamp(frame: np.ndarray, t: float, clock: float, name: str) -> None:
    """Burn the camera's clock (``clock`` s after midnight at t 0) and name into the frame."""
    when = (_START + dt.timedelta(seconds=int(clock + t))).strftime("%d-%m-%Y %a %H:%M:%S")
    for colour, th in (((0, 0, 0), 4), ((255, 255, 255), 2)):
        cv2.putText(frame, when, (30, 52), cv2.FONT_HERSHEY_SIMPLEX, 1.05, colour, th,
                    cv2.LINE_AA)
        cv2.putText(frame, name, (WIDTH - 250, HEIGHT - 28), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                    colour, th, cv2.LINE_AA)


def encode(frames: Iterable[tuple[np.ndarray, list[Box]]], path: Path, size: tuple[int, int],
           fps: int, gop: int, bitrate_k: int, bframes: bool = False) -> list[list[Box]]:
    """``clips.encode``, or, for a camera whose encoder uses B-frames, libx264 with its
    default B-frames (3, no zero-latency tune) and the same capped rate, one thread."""
    if not bframes:
        return clips.encode(frames, path, size, fps, gop, bitrate_k)
    w, h = size
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset",
           "veryfast", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
           "-pix_fmt", "yuv420p", "-b:v", f"{bitrate_k}k", "-maxrate", f"{bitrate_k}k",
           "-bufsize", f"{bitrate_k}k", "-threads", "1", "-movflags", "+faststart",
           str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    truth: list[list[Box]] = []
    for frame, boxes in frames:
        proc.stdin.write(frame.tobytes())
        truth.append(boxes)
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed for {path}")
    return truth
