"""720p 15 fps CBR clip sets for the adaptive-decode activity trigger (slice QP × bits).

The trigger (``drivers/cameras/activity.py``) decides from the bitstream alone when a still
scene starts to change. Its defaults were tuned on ``TUNING`` only; ``HELD_OUT`` (other
scenes, seeds, bit rates and encoder settings: presets, slices, GOP) was written at the same
time and scored only at the end (``tests/test_camera_activity.py`` prints both).

Scenes come from the two existing generators: ``clips`` (rigid textured movers, sensor
noise) and ``street_clips`` (albedo × light, non-rigid walkers, cars with beams, lens rain),
the latter drawn at 640x360 and scaled to 720p with a little 720p sensor noise on top. The
encoder settings are those of a camera: CBR, no B-frames (``-bf 0``), ``zerolatency`` by
default.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tests.infra import clips, street_clips
from tests.infra.clip_lock import one_builder_per_clip
from tests.infra.clips import Mover, Scene
from tests.infra.street_clips import Car, Lamp, StreetScene, Walker

WIDTH, HEIGHT, FPS = 1280, 720, 15
RENDER_VERSION = 1  # part of the clips' cache key: raise it when ``frames``/``make`` change


@dataclass(frozen=True)
class Clip:
    scene: Scene | StreetScene
    bitrate_k: int = 1500
    preset: str = "veryfast"
    zerolatency: bool = True
    slices: int = 1
    gop_s: float = 2.0
    noise720: float = 2.0  # street scenes: 720p sensor noise added after scaling up

    @property
    def name(self) -> str:
        return self.scene.name


TUNING: dict[str, Clip] = {c.name: c for c in (
    Clip(Scene("at-rigid", 14.0, (Mover(5.0, 10.0, (40, 60), 0.55, 1, 51),), noise_sigma=2.0,
               background_seed=51), 1500),
    Clip(StreetScene("at-walker", 12.0, "A",
                     (Walker(4.0, 11.0, -0.1, 1.1, 0.85, 0.45, 0.8, 52, True),),
                     ambient=0.7, noise_sigma=3.0, seed=52), 1200),
    Clip(StreetScene("at-dark-walker", 12.0, "A",
                     (Walker(5.0, 12.0, 1.1, -0.1, 0.8, 0.4, 0.2, 53, True),),
                     lamps=(Lamp(0.5, 0.55, 0.12, 1.0),), ambient=0.3, noise_sigma=5.0,
                     seed=53), 2000, preset="faster"),
    Clip(StreetScene("at-car", 10.0, "A", cars=(Car(4.5, 9.5, 1, 0.88, 0.25),),
                     ambient=0.4, noise_sigma=4.0, seed=54), 1000),
    # Low-noise pictures (a camera's 3D noise reduction, daylight): the mover is most of
    # what changes, which is where a bitstream trigger can work at all.
    Clip(Scene("at-clean-rigid", 12.0, (Mover(5.0, 9.0, (60, 90), 0.5, 1, 57),),
               noise_sigma=0.3, background_seed=57), 1500),
    Clip(StreetScene("at-clean-walker", 12.0, "A",
                     (Walker(5.0, 12.0, -0.1, 1.1, 0.9, 0.55, 0.85, 58, True),),
                     ambient=1.0, noise_sigma=0.5, seed=58), 1000, noise720=0.5),
    Clip(Scene("at-still-noisy", 12.0, (), noise_sigma=8.0, background_seed=55), 1500),
    Clip(StreetScene("at-still-night", 12.0, "A", lamps=(Lamp(0.4, 0.5, 0.1, 1.0),),
                     ambient=0.3, noise_sigma=7.0, seed=56), 1200),
)}

HELD_OUT: dict[str, Clip] = {c.name: c for c in (
    Clip(Scene("ah-rigid-slices", 14.0, (Mover(6.0, 11.0, (30, 50), 0.4, -1, 61),),
               noise_sigma=3.0, background_seed=61), 1000, preset="ultrafast", slices=4),
    Clip(Scene("ah-clean-rigid", 14.0, (Mover(6.0, 10.0, (50, 70), 0.6, -1, 67),),
               noise_sigma=0.5, background_seed=67), 800, preset="ultrafast", slices=4),
    Clip(StreetScene("ah-clean-walker", 14.0, "B",
                     (Walker(6.0, 14.0, 1.1, -0.1, 0.85, 0.6, 0.7, 68),),
                     ambient=1.0, noise_sigma=0.6, seed=68), 2000, zerolatency=False,
         gop_s=4.0, noise720=0.4),
    Clip(StreetScene("ah-walker", 12.0, "B", (Walker(5.0, 11.5, 1.1, -0.1, 0.8, 0.42, 0.75, 62),),
                     ambient=0.8, noise_sigma=3.0, seed=62), 2500, preset="veryfast"),
    Clip(StreetScene("ah-night-walker", 12.0, "B",
                     (Walker(4.5, 12.0, -0.1, 1.1, 0.82, 0.36, 0.3, 63),),
                     lamps=(Lamp(0.6, 0.55, 0.1, 1.1),), ambient=0.3, noise_sigma=6.0,
                     seed=63), 1500, preset="ultrafast", zerolatency=False),
    Clip(StreetScene("ah-car", 10.0, "B", cars=(Car(5.0, 9.5, -1, 0.85, 0.3),),
                     ambient=0.35, noise_sigma=5.0, seed=64), 800, slices=4, gop_s=4.0),
    Clip(StreetScene("ah-still-rain-free", 12.0, "B", lamps=(Lamp(0.3, 0.55, 0.1, 1.0),),
                     ambient=0.3, noise_sigma=8.0, seed=65), 1500, preset="ultrafast"),
    Clip(Scene("ah-still-noisy", 12.0, (), noise_sigma=10.0, background_seed=66), 1000,
         slices=4),
)}


def _street_frames(scene: StreetScene, rng: np.random.Generator, sigma: float
                   ) -> Iterator[tuple[np.ndarray, list[clips.Box]]]:
    for frame, boxes in street_clips.render(scene):
        big = cv2.resize(frame, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
        grain = rng.normal(0, sigma, (HEIGHT, WIDTH, 1))
        noisy = big.astype(np.float32)
        street_clips.add_grey(noisy, grain.astype(np.float32))
        yield np.clip(noisy, 0, 255, out=noisy).astype(np.uint8), boxes


def frames(clip: Clip) -> Iterator[tuple[np.ndarray, list[clips.Box]]]:
    if isinstance(clip.scene, StreetScene):
        return _street_frames(clip.scene, np.random.default_rng(clip.scene.seed + 1000),
                              clip.noise720)
    return clips.render(clip.scene, WIDTH, HEIGHT, FPS, clip.scene.background_seed)


def encoder_args(clip: Clip) -> list[str]:
    k, gop = clip.bitrate_k, round(clip.gop_s * FPS)
    args = ["-c:v", "libx264", "-preset", clip.preset, "-g", str(gop), "-keyint_min", str(gop),
            "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p", "-b:v", f"{k}k",
            "-maxrate", f"{k}k", "-bufsize", f"{k}k", "-slices", str(clip.slices),
            # one encoder thread: libx264's threaded rate control gave other bytes (and other
            # trigger counts) from one encode to the next; single-threaded it is repeatable
            "-threads", "1"]
    return args + (["-tune", "zerolatency"] if clip.zerolatency else [])


@one_builder_per_clip
def make(clip: Clip, directory: Path) -> Path:
    """Encode ``clip`` (cached by its definition, the generators' source and this file)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = clips.scene_key(clip.scene, FPS, WIDTH, HEIGHT, clip.noise720, *encoder_args(clip),
                          RENDER_VERSION, sources=(street_clips.__file__,))
    key = hashlib.sha256(key.encode()).hexdigest()[:12]
    path = directory / f"{clip.name}-{key}.mp4"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS), "-i", "-", *encoder_args(clip),
           "-movflags", "+faststart", str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    truth = []
    for frame, boxes in frames(clip):
        proc.stdin.write(frame.tobytes())
        truth.append(boxes)
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed for {path}")
    meta.write_text(json.dumps({"fps": FPS, "gop_s": clip.gop_s, "boxes": truth, "key": key}))
    return path


__all__ = ["HELD_OUT", "TUNING", "Car", "Clip", "Lamp", "Mover", "Scene", "StreetScene",
           "Walker", "frames", "make"]


@dataclass(frozen=True)
class Frame:
    t: float
    key: bool
    size: int
    qp: float
    moving: bool


def read_frames(path: Path) -> list[Frame]:
    """Per frame: time, key, slice bytes and QP (the bitstream reader) and the ground truth."""
    import av

    from drivers.cameras.h264_slices import H264Reader

    truth = json.loads(path.with_suffix(".json").read_text())["boxes"]
    out: list[Frame] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        reader = H264Reader(stream.codec_context.extradata)
        for i, packet in enumerate(p for p in container.demux(stream) if p.size):
            info = reader.frame(bytes(packet))
            assert info is not None
            out.append(Frame(i / FPS, packet.is_keyframe, info.size, info.qp, bool(truth[i])))
    return out


@dataclass
class Score:
    onsets: int = 0
    delays_s: list[float] | None = None  # onset -> trigger (or the next key frame)
    by_trigger: int = 0  # onsets caught before the next key frame
    false_triggers: int = 0  # fired while nothing moved (each costs a GOP's catch-up)


def score(frames: list[Frame], trigger: object, hold_s: float = 1.0, tail_s: float = 1.0,
          lead_s: float = 1.0) -> Score:
    """Replay the source's adaptive loop: a key frame or a trigger showing motion makes it
    active until ``tail_s`` after the motion ends; a trigger on a still scene holds it for
    ``hold_s``, after which the trigger hears whether it was real (``missed``/``confirmed``,
    as the source tells it). Onset delay = onset to the first frame decoded while the mover
    is labelled.
    A trigger up to ``lead_s`` before an onset is a true one (the mover's first pixels are
    in view before a third of it is, when it is labelled); other triggers on unlabelled
    frames are false."""
    feed = trigger.feed  # type: ignore[attr-defined]
    out = Score(delays_s=[])
    active_until, by_trigger = -1.0, False
    onset: float | None = None
    judge: tuple[float, bool] | None = None  # (when, was it real)
    lead = round(lead_s * FPS)
    for i, f in enumerate(frames):
        if f.moving and (i == 0 or not frames[i - 1].moving):
            out.onsets += 1
            onset = f.t
        active = f.t < active_until
        if not active:
            by_trigger = False
        if judge is not None and f.t >= judge[0]:
            # the source's verdict after a trigger's hold: did the detector extend it?
            if judge[1]:
                trigger.confirmed()  # type: ignore[attr-defined]
            else:
                trigger.missed(f.t)  # type: ignore[attr-defined]
            judge = None
        if feed(f.size, f.qp, f.key, f.t, active):
            by_trigger = True
            active_until = f.t + hold_s
            real = any(g.moving for g in frames[i:i + lead + 1])
            judge = (f.t + hold_s, real)
            if not real:
                out.false_triggers += 1
        if f.moving and (active or by_trigger or f.key):
            active_until = max(active_until, f.t + tail_s)
            if onset is not None:
                assert out.delays_s is not None
                out.delays_s.append(round(f.t - onset, 3))
                out.by_trigger += int(by_trigger and not f.key)
                onset = None
    return out


# The RTSP test's clip (tests/test_camera_rtsp_adaptive.py): a walker in a daylit street
# entering right after a key frame of a 4 s GOP, so waiting for the next key frame would
# see it about 3.5 s late. Drawn in the tuning style with its own seed.
RTSP_WALKER = Clip(StreetScene("rt-walker", 14.0, "A",
                               (Walker(8.0, 14.0, -0.1, 1.0, 0.85, 0.5, 0.8, 81, True),),
                               ambient=0.9, noise_sigma=1.0, seed=81), 1200, gop_s=4.0,
                   noise720=1.0)
