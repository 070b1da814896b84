"""Slow, faint movers in a dark, noisy picture (``motion_slow.SlowMovers``: evidence added up
over seconds per cell, reported only for a patch that drifts) and a mover across the IR
switch (``MotionDetector._coasted``), on synthetic frames.

Each test says what it needs: without ``SlowMovers`` the walker is never found (the frame
detector learns him into its background while he stands on each pixel for seconds); without
the drift rule a patch that stays put (a lamp's pool, the codec) would be reported; without
the coasting the walker lost for a frame under the new light is a frame late.
"""

from __future__ import annotations

import numpy as np

from edge_agent.cameras.config import MotionConfig
from edge_agent.cameras.motion import MotionDetector
from tests.infra.motion_scoring import iou

W, H = 320, 180  # analysed at 160x90


def _street(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return (20 + 4 * np.sin(xx / 23) * np.cos(yy / 17) + rng.normal(0, 1.5, (H, W))).astype(
        np.float32)


def _run(walker: str, seconds: float = 24.0, det: MotionDetector | None = None,
         zones: list[tuple[str, ...]] | None = None) -> tuple[list[bool], list[bool]]:
    """A walker 5 grey levels darker than a street at 20 under noise of 8 ("slow": 5 px of
    the 320 a second; "still": standing; "none"), 10 frames a second. Returns per frame
    (motion reported, a reported box on him with IoU >= 0.2); ``zones`` gets each frame's
    reported zones."""
    rng = np.random.default_rng(11)
    street = _street(rng)
    det = det or MotionDetector(MotionConfig())
    motion, hits = [], []
    for i in range(int(seconds * 10)):
        t = i / 10
        img = street.copy()
        truth = None
        if walker != "none" and t >= 2.0:
            x = 60 + (5.0 * (t - 2.0) if walker == "slow" else 0.0)
            y0, x0 = 70, int(x)
            img[y0:y0 + 56, x0:x0 + 22] -= 5.0
            truth = (x0 / W, y0 / H, 22 / W, 56 / H)
        frame = np.clip(img + rng.normal(0, 8.0, img.shape), 0, 255).astype(np.uint8)
        r = det.analyse(frame, t)
        motion.append(r.motion)
        hits.append(truth is not None and r.motion and
                    max(iou(b.box, truth) for b in r.blobs) >= 0.2)
        if zones is not None:
            zones.append(tuple(z for b in r.blobs for z in b.zones))
    return motion, hits


def test_a_slow_faint_walker_in_dark_noise_is_found_once_evidence_adds_up() -> None:
    motion, hits = _run("slow")
    later = hits[100:]  # from 10 s on: 8 s after he came, he has gone 40 px
    assert sum(later) >= 0.6 * len(later), (sum(later), len(later))
    wrong = sum(m and not h for m, h in zip(motion, hits, strict=True))
    assert wrong <= 0.1 * sum(motion), (wrong, sum(motion))  # boxes on him, not beside


def test_a_slow_walker_reports_his_zone_and_is_not_reported_under_a_mask() -> None:
    from edge_agent.cameras.config import Zone

    left = [(0.0, 0.0), (0.45, 0.0), (0.45, 1.0), (0.0, 1.0)]  # he walks at x 0.19-0.53
    zones: list[tuple[str, ...]] = []
    _, hits = _run("slow", det=MotionDetector(MotionConfig(), zones=[
        Zone(name="kerb", polygon=left)]), zones=zones)
    found = [z for z, h in zip(zones[100:150], hits[100:150], strict=True) if h]
    assert len(found) >= 30 and all("kerb" in z for z in found), zones[100:150]
    motion, _ = _run("slow", seconds=14.0,
                     det=MotionDetector(MotionConfig(), masks=[left]))
    assert not any(motion)  # he stays in the masked half until 14 s (x + w < 0.45)


def test_noise_alone_and_a_faint_patch_that_stays_put_are_never_reported() -> None:
    for walker in ("none", "still"):
        motion, _ = _run(walker)
        assert not any(motion), (walker, [i for i, m in enumerate(motion) if m][:10])



def test_a_walker_lost_for_a_frame_while_the_ir_comes_on_goes_on_with_his_run() -> None:
    # While the exposure is far off (the IR illuminator came on without a scene-wide change,
    # until the background is moved to the new light) and for a while after, a mover lost
    # for a frame continues his run when he is found again (``MotionDetector._coasted``):
    # reported at once, not as a new thing that must persist (in a real clip, next to so
    # much changed light, as long as a lens drop: 8 frames).
    import cv2

    rng = np.random.default_rng(9)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    base = cv2.GaussianBlur(np.clip(0.35 + 0.08 * rng.normal(0, 1, (H, W)), 0.05, 1).astype(
        np.float32), (0, 0), 1.5)
    ir = 3.0 + np.exp(-((xx - 160) ** 2 + (yy - 100) ** 2) / (2 * 90.0 ** 2))
    det = MotionDetector(MotionConfig())
    hits = []
    for i in range(45):
        x = 40 + 3 * i
        img = base.copy()
        if i != 31:  # lost in the second frame under the new light
            img[40:80, x:x + 14] = 0.15
        light = 90.0 * (1.0 if i < 30 else ir)
        frame = np.clip(img * light + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
        r = det.analyse(frame, i / 10)
        truth = (x / W, 40 / H, 14 / W, 40 / H)
        hits.append(r.motion and max(iou(b.box, truth) for b in r.blobs) >= 0.2)
    assert all(hits[5:31]) and all(hits[32:]), "".join(".H"[h] for h in hits)
