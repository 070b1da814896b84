"""The pure motion detector and event lifecycle on labelled synthetic clips (DESIGN §9).

Each clip is decoded with PyAV (as the agent does) and analysed from a cold start with the
default settings. Frame-level scoring: a frame is a true positive when motion is reported and
at least one reported box overlaps a ground-truth box. The per-clip table is printed (-s) and
written to test-artifacts/camera-motion-scores.json.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import av
import numpy as np
import pytest
from pydantic import ValidationError

from edge_agent.cameras.config import ArmingConfig, CameraConfig, MotionConfig, Zone
from edge_agent.cameras.events import ArmOverride, EventTracker, is_armed
from edge_agent.cameras.motion import MotionDetector, MotionResult
from tests.infra.clips import (
    HELD_OUT,
    HELD_OUT_2,
    HELD_OUT_3,
    SCENES,
    load_truth,
    make_clip,
)

# Floors per clip set, each a little under what was measured (see the printed table): the
# clips the detector was developed on (0.99 each); held-out set 1, on which the threshold was
# then re-tuned (0.92-0.99); held-out set 2, scored once (night 0.75), then used for the
# low-contrast threshold (0.92-0.99); held-out set 3, written before that change and never
# tuned on (0.99 each, two dark and noisy empty streets among them).
F1_FLOORS = {"dev": 0.9, "held-out-1": 0.85, "held-out-2": 0.85, "held-out-3": 0.9}
CLIP_SETS = {"dev": SCENES, "held-out-1": HELD_OUT, "held-out-2": HELD_OUT_2,
             "held-out-3": HELD_OUT_3}
MOTION_CLIPS = [(set_name, name) for set_name, scenes in CLIP_SETS.items()
                for name, scene in scenes.items() if scene.movers]
STILL_CLIPS = [name for scenes in CLIP_SETS.values() for name, scene in scenes.items()
               if not scene.movers]


@pytest.fixture(scope="session")
def clip_dir(artifacts_dir: Path) -> Path:
    return artifacts_dir / "camera-clips"


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and \
        b[1] < a[1] + a[3]


def run_clip(clip: Path, detector: MotionDetector) -> list[MotionResult]:
    fps = float(load_truth(clip)["fps"])  # type: ignore[arg-type]
    with av.open(str(clip)) as container:
        return [detector.analyse(frame.to_ndarray(format="gray"), i / fps)
                for i, frame in enumerate(container.decode(video=0))]


def score(results: list[MotionResult], truth: list[list[list[float]]]) -> dict[str, float]:
    tp = fp = fn = 0
    for r, boxes in zip(results, truth, strict=False):
        hit = r.motion and any(_overlap(b.box, tuple(t)) for b in r.blobs for t in boxes)
        if hit:
            tp += 1
        elif r.motion:
            fp += 1
        if boxes and not hit:
            fn += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(precision, 3),
            "recall": round(recall, 3), "f1": round(f1, 3)}


def events_in(results: list[MotionResult], cfg: MotionConfig) -> list[float]:
    tracker = EventTracker(cfg)
    return [m.ts for r in results for m in tracker.feed(r) if m.kind == "start"]


@pytest.fixture(scope="module")
def scores(clip_dir: Path, artifacts_dir: Path) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    cfg = MotionConfig()
    for name in [n for scenes in CLIP_SETS.values() for n in scenes]:
        clip = make_clip(name, clip_dir)
        truth = load_truth(clip)
        results = run_clip(clip, MotionDetector(cfg))
        row: dict[str, Any] = score(results, truth["boxes"])  # type: ignore[arg-type]
        starts = events_in(results, cfg)
        row["false_starts_in_still"] = [t for t in starts for a, b in truth["still"]  # type: ignore[attr-defined]
                                        if a <= t < b]
        row["event_starts"] = [round(t, 1) for t in starts]
        table[name] = row
    print("\nclip              precision recall  F1    tp  fp  fn  event starts (s)")
    for name, row in table.items():
        print(f"{name:17s} {row['precision']:9.3f} {row['recall']:6.3f} {row['f1']:5.3f} "
              f"{row['tp']:4d} {row['fp']:3d} {row['fn']:3d}  {row['event_starts']}")
    (artifacts_dir / "camera-motion-scores.json").write_text(json.dumps(table, indent=2))
    return table


@pytest.mark.parametrize(("clip_set", "name"), MOTION_CLIPS)
def test_frame_level_f1_from_cold_start(scores: dict[str, dict[str, Any]], clip_set: str,
                                        name: str) -> None:
    assert scores[name]["f1"] >= F1_FLOORS[clip_set], scores[name]


@pytest.mark.parametrize("name", [n for scenes in CLIP_SETS.values() for n in scenes])
def test_no_false_event_in_still_stretches(scores: dict[str, dict[str, Any]],
                                           name: str) -> None:
    assert scores[name]["false_starts_in_still"] == [], scores[name]


@pytest.mark.parametrize("name", STILL_CLIPS)
def test_empty_scene_reports_no_motion_at_all(scores: dict[str, dict[str, Any]],
                                              name: str) -> None:
    assert scores[name]["fp"] == 0 and scores[name]["event_starts"] == []


def test_each_crossing_gives_an_event_near_its_start(scores: dict[str, dict[str, Any]]) -> None:
    # moving: objects enter at 3.0 s and 10.0 s (gap of 2 s < end_s keeps it one event)
    assert scores["moving"]["event_starts"] and 3.0 <= scores["moving"]["event_starts"][0] < 3.6
    assert scores["ir"]["event_starts"][0] >= 7.0  # the IR switch at 4 s is not an event


def _still(value: int, noise: float = 2.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(value + rng.normal(0, noise, (240, 320)), 0, 255).astype(np.uint8)


def _with_square(img: np.ndarray, x: int, y: int, size: int = 40) -> np.ndarray:
    out = img.copy()
    out[y:y + size, x:x + size] = 230
    return out


def test_masked_area_is_ignored_and_zones_are_reported() -> None:
    cfg = MotionConfig()
    det = MotionDetector(cfg, masks=[[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]],
                         zones=[Zone(name="gate", polygon=[(0.5, 0.0), (1.0, 0.0), (1.0, 1.0),
                                                          (0.5, 1.0)])])
    bg = _still(90)
    det.analyse(bg, 0.0)
    det.analyse(bg, 0.05)  # the first two frames seed the background
    masked = [det.analyse(_with_square(_still(90, seed=i), 20 + 8 * i, 100), i * 0.1)
              for i in range(1, 6)]
    assert not any(r.motion for r in masked)
    seen = [det.analyse(_with_square(_still(90, seed=i), 200 + 8 * i, 100), 1 + i * 0.1)
            for i in range(1, 6)]
    assert any(r.motion for r in seen)
    assert all(b.zones == ("gate",) for r in seen for b in r.blobs)


def test_sudden_global_change_reseeds_instead_of_motion() -> None:
    det = MotionDetector(MotionConfig())
    det.analyse(_still(60), 0.0)
    det.analyse(_still(60), 0.05)
    checker = np.indices((240, 320)).sum(axis=0) % 40 < 20
    flipped = np.where(checker, 200, 30).astype(np.uint8)  # the whole picture changes
    r = det.analyse(flipped, 0.1)
    assert r.global_change and not r.motion
    assert not det.analyse(flipped, 0.2).motion


def test_min_area_filters_small_things() -> None:
    det = MotionDetector(MotionConfig(min_area=0.05))  # 5 % of the picture
    det.analyse(_still(90), 0.0)
    det.analyse(_still(90), 0.05)
    results = [det.analyse(_with_square(_still(90, seed=i), 20 + 8 * i, 100, 20), i / 10)
               for i in range(1, 6)]
    assert not any(r.motion for r in results)


def _result(ts: float, motion: bool) -> MotionResult:
    from edge_agent.cameras.motion import Blob

    blobs = (Blob((0.1, 0.1, 0.2, 0.2), 0.04, ("gate",)),) if motion else ()
    return MotionResult(ts, motion, blobs, 0.04 if motion else 0.0, 0.0, False)


def test_event_lifecycle_start_update_end_with_debounce() -> None:
    cfg = MotionConfig(end_s=2.0, update_interval_s=1.0)
    tracker = EventTracker(cfg, new_id=lambda: "ev1")
    out = [m for i in range(40) for m in tracker.feed(_result(i / 10, i <= 15))]
    kinds = [(m.kind, round(m.ts, 1)) for m in out]
    assert kinds[0] == ("start", 0.0)
    assert [k for k, _ in kinds].count("update") == 1  # at 1.0 s
    assert kinds[-1] == ("end", 3.5)  # 2 s after the last motion at 1.5 s
    assert out[-1].duration_s == 1.5 and out[-1].zones == ("gate",)
    assert out[-1].peak_score == 0.04


def test_short_gap_does_not_split_an_event() -> None:
    tracker = EventTracker(MotionConfig(end_s=2.0))
    flags = [True] * 5 + [False] * 10 + [True] * 5 + [False] * 30
    out = [m for i, f in enumerate(flags) for m in tracker.feed(_result(i / 10, f))]
    assert [m.kind for m in out].count("start") == 1


def test_arming_schedule_crosses_midnight_and_override_wins() -> None:
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    cfg = ArmingConfig.model_validate({"schedule": [{"start": "18:00", "end": "06:00"}]})
    night = datetime(2026, 11, 22, 2, 0, tzinfo=tz)
    day = datetime(2026, 11, 22, 12, 0, tzinfo=tz)
    assert is_armed(cfg, None, night) and not is_armed(cfg, None, day)
    assert is_armed(cfg, ArmOverride(True, day + timedelta(hours=1)), day)
    assert not is_armed(cfg, ArmOverride(True, day - timedelta(hours=1)), day)
    assert not is_armed(cfg, ArmOverride(False, None), night)
    weekend = ArmingConfig.model_validate(
        {"schedule": [{"start": "20:00", "end": "23:00", "weekdays": ["sat"]}]})
    assert is_armed(weekend, None, datetime(2026, 11, 21, 21, 0, tzinfo=tz))  # a Saturday
    assert not is_armed(weekend, None, datetime(2026, 11, 22, 21, 0, tzinfo=tz))


def test_config_errors_are_readable() -> None:
    with pytest.raises(ValidationError) as err:
        CameraConfig.model_validate({"id": "gate", "url": "rtsp://x/y",
                                     "masks": [[[0.1, 0.1], [1.4, 0.2], [0.3, 0.9]]]})
    assert "outside the frame" in str(err.value)
    with pytest.raises(ValidationError) as err:
        CameraConfig.model_validate({"id": "gate", "url": "rtsp://x/y", "decode": "some"})
    assert "adaptive" in str(err.value)
    cam = CameraConfig.model_validate({"id": "gate", "url": "rtsp://10.0.0.5/ch1",
                                       "username": "admin", "password": "p@ss:w"})
    assert cam.source_url() == "rtsp://admin:p%40ss%3Aw@10.0.0.5/ch1"
    assert "p@ss" not in repr(cam) and "p@ss" not in str(cam.model_dump())


def test_saved_arm_override_round_trips_and_expires() -> None:
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    now = datetime(2026, 11, 22, 20, 0, tzinfo=tz)
    later = ArmOverride(False, now + timedelta(hours=2))
    assert ArmOverride.from_json(later.as_json(), now) == later
    assert ArmOverride.from_json(ArmOverride(True, None).as_json(), now) == ArmOverride(True, None)
    assert ArmOverride.from_json(later.as_json(), now + timedelta(hours=3)) is None  # expired
    for bad in ({"armed": "yes"}, {"armed": True, "until": "tomorrow"},
                {"armed": True, "until": "2026-11-23T05:00:00"}, ["armed"], None):
        assert ArmOverride.from_json(bad, now) is None, bad
