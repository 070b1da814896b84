"""Small JPEG snapshots, made once with numpy + OpenCV and reused by every camera.

A street at night in 640x360 (a dark road, a lit shop front, noise, a moving blob), about
the size a real gateway sends (15-40 kB), so the broker carries realistic bytes.
"""

from __future__ import annotations

import random

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 360


def _frame(index: int, rng: np.random.Generator) -> bytes:
    frame = np.full((HEIGHT, WIDTH, 3), 25, np.uint8)
    cv2.rectangle(frame, (0, HEIGHT // 2), (WIDTH, HEIGHT), (45, 45, 50), -1)  # the road
    cv2.rectangle(frame, (40, 60), (220, 170), (70, 150, 200), -1)  # a lit shop front
    x = 80 + index * 110
    cv2.ellipse(frame, (x, 240), (22, 55), 0, 0, 360, (160, 160, 150), -1)  # someone walking
    noise = rng.normal(0, 9, frame.shape)
    frame = np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 75])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return bytes(data.tobytes())


class Snapshots:
    def __init__(self, count: int = 4, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.images = [_frame(i, rng) for i in range(count)]

    def pick(self, rng: random.Random) -> bytes:
        return rng.choice(self.images)
