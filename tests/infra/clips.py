"""Synthetic H.264 clips with per-frame ground truth, for the camera tests and benchmark.

Frames are drawn with numpy (deterministic seed), piped to Debian ``ffmpeg -c:v libx264 -g G
-bf 0`` and the ground truth (one list of relative boxes per frame, empty when nothing moves)
is written beside the clip as JSON. Scenes:

- ``moving``: two textured objects cross a textured scene one after the other, still gaps.
- ``ramp``: brightness falls to 35 % over the clip (dusk); an object crosses mid-ramp.
- ``ir``: colour scene, IR night switch (grey + brightness/contrast jump) in an empty
  stretch, then an object crosses and the camera switches back to colour while it moves.
- ``noise``: heavy sensor noise on every frame; an object crosses.
- ``speckle``: rain-like bright streaks on every frame; an object crosses later.
- ``empty``: a still scene with mild noise, nothing moves.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import json
import math
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h relative to the frame


@dataclass(frozen=True)
class Mover:
    start_s: float
    end_s: float
    size: tuple[int, int]  # w, h in pixels at 320x240 (scaled with the clip)
    y: float  # relative centre line
    direction: int = 1
    seed: int = 1


@dataclass(frozen=True)
class Scene:
    name: str
    duration_s: float
    movers: tuple[Mover, ...]
    gain: Callable[[float], float] = lambda t: 1.0
    grey: Callable[[float], bool] = lambda t: False
    noise_sigma: float = 2.0
    speckle: int = 0  # rain streaks per frame (at 320x240)
    background_seed: int = 7  # another seed = another street
    still: tuple[tuple[float, float], ...] = ()  # where a false event would be wrong


def _ir(t: float) -> bool:
    return 4.0 <= t < 9.5


SCENES: dict[str, Scene] = {
    "moving": Scene("moving", 16.0, (Mover(3.0, 8.0, (34, 46), 0.55, 1, 1),
                                     Mover(10.0, 14.0, (52, 30), 0.35, -1, 2))),
    "ramp": Scene("ramp", 16.0, (Mover(7.0, 12.0, (34, 46), 0.5, 1, 3),),
                  gain=lambda t: 1.0 - 0.65 * min(t / 16.0, 1.0)),
    "ir": Scene("ir", 16.0, (Mover(7.0, 12.5, (34, 46), 0.5, -1, 4),),
                gain=lambda t: 1.45 if _ir(t) else 1.0, grey=_ir),
    "noise": Scene("noise", 14.0, (Mover(5.0, 10.0, (34, 46), 0.5, 1, 5),), noise_sigma=14.0),
    "speckle": Scene("speckle", 14.0, (Mover(6.0, 11.0, (34, 46), 0.5, 1, 6),), speckle=60),
    "empty": Scene("empty", 10.0, ()),
}
STILL_STRETCHES: dict[str, list[tuple[float, float]]] = {
    # (start, end) seconds where a false event would be wrong
    "ramp": [(0.0, 7.0)],
    "ir": [(0.0, 7.0)],
    "speckle": [(0.0, 6.0)],
    "empty": [(0.0, 10.0)],
    "moving": [(0.0, 3.0)],
    "noise": [(0.0, 5.0)],
}

# Held out: never looked at while the detector and its defaults were tuned (those used SCENES).
# Other streets (background seeds), sizes, heights, directions, dawn instead of dusk, IR while
# noisy, rain with two crossings, and a noisy, brightening empty street.
HELD_OUT: dict[str, Scene] = {
    "ho-small": Scene("ho-small", 12.0, (Mover(4.0, 9.0, (22, 30), 0.72, -1, 11),),
                      background_seed=21, still=((0.0, 4.0),)),
    "ho-dawn": Scene("ho-dawn", 14.0, (Mover(6.0, 11.0, (40, 40), 0.45, 1, 12),),
                     gain=lambda t: 0.45 + 0.55 * min(t / 14.0, 1.0), noise_sigma=6.0,
                     background_seed=22, still=((0.0, 6.0),)),
    "ho-ir-noisy": Scene("ho-ir-noisy", 14.0, (Mover(8.0, 13.0, (30, 50), 0.6, 1, 13),),
                         gain=lambda t: 1.5 if 3.0 <= t < 10.0 else 1.0,
                         grey=lambda t: 3.0 <= t < 10.0, noise_sigma=8.0,
                         background_seed=23, still=((0.0, 8.0),)),
    "ho-rain-two": Scene("ho-rain-two", 14.0, (Mover(4.0, 9.0, (36, 44), 0.3, 1, 14),
                                               Mover(6.0, 11.0, (44, 36), 0.7, -1, 15)),
                         speckle=40, background_seed=24, still=((0.0, 4.0),)),
    "ho-empty-dusk": Scene("ho-empty-dusk", 12.0, (), gain=lambda t: 1.0 - 0.04 * t,
                           noise_sigma=10.0, background_seed=25, still=((0.0, 12.0),)),
}
# The first held-out set exposed weak spots (small and low-contrast movers) and the defaults
# were re-tuned on it, so it is held out no longer. The second set was written before that
# tuning's result was scored on it; its night clip (0.75) then led to the low-contrast
# threshold, so it is held out no longer either.
HELD_OUT_2: dict[str, Scene] = {
    "ho2-far": Scene("ho2-far", 12.0, (Mover(3.0, 9.0, (18, 26), 0.25, 1, 31),),
                     noise_sigma=4.0, background_seed=31, still=((0.0, 3.0),)),
    "ho2-night": Scene("ho2-night", 12.0, (Mover(4.0, 9.0, (34, 46), 0.6, -1, 32),),
                       gain=lambda t: 0.35, noise_sigma=9.0, background_seed=32,
                       still=((0.0, 4.0),)),
    "ho2-flicker": Scene("ho2-flicker", 12.0, (Mover(5.0, 10.0, (30, 40), 0.5, 1, 33),),
                         gain=lambda t: 1.0 + 0.08 * math.sin(2 * math.pi * t),
                         noise_sigma=4.0, background_seed=33, still=((0.0, 5.0),)),
    "ho2-slow": Scene("ho2-slow", 16.0, (Mover(3.0, 15.0, (40, 50), 0.55, -1, 34),),
                      background_seed=34, still=((0.0, 3.0),)),
    "ho2-empty-flicker": Scene("ho2-empty-flicker", 12.0, (),
                               gain=lambda t: 1.0 + 0.08 * math.sin(2 * math.pi * t),
                               noise_sigma=6.0, background_seed=35, still=((0.0, 12.0),)),
}
# Third set, written before the night-scene change was tried and never tuned on.
HELD_OUT_3: dict[str, Scene] = {
    "ho3-night-walk": Scene("ho3-night-walk", 12.0, (Mover(3.0, 9.0, (30, 44), 0.5, 1, 41),),
                            gain=lambda t: 0.3, noise_sigma=10.0, background_seed=41,
                            still=((0.0, 3.0),)),
    "ho3-dusk-small": Scene("ho3-dusk-small", 14.0, (Mover(6.0, 12.0, (24, 32), 0.35, -1, 42),),
                            gain=lambda t: 1.0 - 0.6 * min(t / 14.0, 1.0), noise_sigma=6.0,
                            background_seed=42, still=((0.0, 6.0),)),
    "ho3-empty-night": Scene("ho3-empty-night", 12.0, (), gain=lambda t: 0.3,
                             noise_sigma=12.0, background_seed=43, still=((0.0, 12.0),)),
    "ho3-ir-two": Scene("ho3-ir-two", 14.0, (Mover(7.0, 11.0, (34, 46), 0.4, 1, 44),
                                             Mover(8.0, 12.0, (40, 36), 0.7, -1, 45)),
                        gain=lambda t: 1.4 if 2.0 <= t < 9.0 else 1.0,
                        grey=lambda t: 2.0 <= t < 9.0, noise_sigma=5.0, background_seed=44,
                        still=((0.0, 7.0),)),
    "ho3-empty-rain-night": Scene("ho3-empty-rain-night", 12.0, (), gain=lambda t: 0.4,
                                  noise_sigma=8.0, speckle=50, background_seed=45,
                                  still=((0.0, 12.0),)),
}


def _background(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A colourful scene with texture: coloured blocks (houses), gradients, fine grain."""
    img = np.zeros((h, w, 3), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img[..., 0] = 90 + 40 * np.sin(xx / w * 6.0)
    img[..., 1] = 110 + 30 * np.cos(yy / h * 5.0)
    img[..., 2] = 100 + 25 * np.sin((xx + yy) / w * 4.0)
    for _ in range(14):
        x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        bw, bh = int(rng.integers(w // 16, w // 5)), int(rng.integers(h // 16, h // 5))
        img[y0:y0 + bh, x0:x0 + bw] = rng.integers(30, 220, 3)
    img += rng.normal(0, 6, (h, w, 1)).astype(np.float32)
    return img


def _texture(w: int, h: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, 3).astype(np.float32)
    tex = base + rng.normal(0, 25, (h, w, 1)).astype(np.float32)
    tex[h // 3: h // 3 + max(2, h // 8)] = 255 - base  # a stripe, like a shirt
    return tex


def _mover_box(m: Mover, t: float, w: int, h: int, scale: float) -> tuple[int, int, int, int]:
    mw, mh = int(m.size[0] * scale), int(m.size[1] * scale)
    frac = (t - m.start_s) / (m.end_s - m.start_s)
    travel = w + mw
    x = int(-mw + frac * travel) if m.direction > 0 else int(w - frac * travel)
    y = int(m.y * h - mh / 2)
    return x, y, mw, mh


def render(scene: Scene, width: int, height: int, fps: int,
           seed: int = 7) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """Yield (BGR frame, ground-truth boxes) one frame at a time (720p clips are large)."""
    rng = np.random.default_rng(seed)
    scale = width / 320.0
    bg = _background(width, height, rng)
    textures = {m.seed: _texture(int(m.size[0] * scale), int(m.size[1] * scale), m.seed)
                for m in scene.movers}
    for i in range(int(scene.duration_s * fps)):
        t = i / fps
        img = bg.copy()
        boxes: list[Box] = []
        for m in scene.movers:
            if not m.start_s <= t < m.end_s:
                continue
            x, y, mw, mh = _mover_box(m, t, width, height, scale)
            x0, x1 = max(x, 0), min(x + mw, width)
            if x1 - x0 < max(4, mw // 3):  # mostly outside the frame: not labelled
                continue
            img[y:y + mh, x0:x1] = textures[m.seed][:, x0 - x:x1 - x]
            boxes.append((x0 / width, y / height, (x1 - x0) / width, mh / height))
        if scene.grey(t):
            img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2) * 0.8 + 30
        img = img * scene.gain(t)
        if scene.noise_sigma:
            img += rng.normal(0, scene.noise_sigma, (height, width, 1)).astype(np.float32)
        if scene.speckle:
            _rain(img, int(scene.speckle * scale * scale), rng, scale)
        yield np.clip(img, 0, 255).astype(np.uint8), boxes


def _rain(img: np.ndarray, count: int, rng: np.random.Generator, scale: float) -> None:
    h, w = img.shape[:2]
    length = max(2, int(4 * scale))
    xs = rng.integers(0, w, count)
    ys = rng.integers(0, h - length, count)
    for x, y in zip(xs, ys, strict=True):
        img[y:y + length, x] += 90


def encode(frames: Iterable[tuple[np.ndarray, list[Box]]], path: Path, size: tuple[int, int],
           fps: int, gop: int, bitrate_k: int | None = None) -> list[list[Box]]:
    """Pipe the frames to ffmpeg/libx264 (constant quality, or a camera-like constant bit
    rate when ``bitrate_k`` is given); return the ground truth."""
    rate = ["-crf", "26"] if bitrate_k is None else \
        ["-b:v", f"{bitrate_k}k", "-maxrate", f"{bitrate_k}k", "-bufsize", f"{bitrate_k}k"]
    w, h = size
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset",
           "veryfast", "-tune", "zerolatency", "-g", str(gop), "-keyint_min", str(gop),
           "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p", *rate,
           "-movflags", "+faststart", str(path)]
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


def scene_key(scene: object, fps: int, *parts: object, sources: tuple[str, ...] = ()) -> str:
    """A hash of everything that defines a clip: the scene's fields (a lighting function is
    sampled at every frame time, so editing it changes the key), the frame rate, the other
    encoding settings in ``parts`` and the source of the generators that draw it."""
    fields: list[object] = []
    duration = float(getattr(scene, "duration_s", 0.0))
    for f in dataclasses.fields(scene):  # type: ignore[arg-type]
        value = getattr(scene, f.name)
        if callable(value):
            value = [round(float(value(i / fps)), 6) for i in range(int(duration * fps))]
        fields.append((f.name, value))
    digest = hashlib.sha256(repr((fields, fps, parts)).encode())
    for module in (__file__, *sources):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()[:12]


def one_builder_at_a_time(build: Callable[..., Path]) -> Callable[..., Path]:
    """``build(what, directory, ...)`` looks a clip up in the cache ``directory`` and builds
    it when missing. Parallel test workers (xdist) asking for the same clip at once would
    encode into one file together, or read a clip or ground truth still being written: so
    the lookup and the build hold the directory's lock. The first worker builds, the others
    wait, then find it cached."""
    @functools.wraps(build)
    def locked(what: object, directory: Path, *args: Any, **kwargs: Any) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            return build(what, directory, *args, **kwargs)
    return locked


@one_builder_at_a_time
def make_clip(name: str, directory: Path, *, width: int = 320, height: int = 240,
              fps: int = 10, gop: int = 20, scene: Scene | None = None,
              bitrate_k: int | None = None) -> Path:
    """Write the clip and its ground truth (``.json``) unless a clip of this very scene
    definition (``scene_key``) is already cached in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    scene = scene or SCENES.get(name) or HELD_OUT.get(name) or HELD_OUT_2.get(name) \
        or HELD_OUT_3[name]
    rate = f"-{bitrate_k}k" if bitrate_k else ""
    key = scene_key(scene, fps, width, height, gop, bitrate_k)
    path = directory / f"{name}-{width}x{height}-{fps}-{gop}{rate}-{key}.mp4"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path
    truth = encode(render(scene, width, height, fps, scene.background_seed), path,
                   (width, height), fps, gop, bitrate_k)
    still = [list(s) for s in (STILL_STRETCHES.get(name) or scene.still)]
    meta.write_text(json.dumps({"fps": fps, "width": width, "height": height, "gop": gop,
                                "boxes": truth, "still": still, "key": key}))
    return path


def load_truth(clip: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(clip.with_suffix(".json").read_text())
    return data
