"""The pure motion detector and event lifecycle on labelled synthetic clips (DESIGN §9).

Each clip is decoded with PyAV (as the agent does) and analysed from a cold start with the
default settings at the agent's analysis rate (``tests/infra/motion_scoring.py``: a frame is a
hit only when a reported box has IoU >= 0.2 with a true one). The per-clip table is printed
(-s) and written to test-artifacts/camera-motion-scores.json.

Generators: ``clips`` (rigid textured boxes, 320x240 10 fps; sets dev and held-out 1-3),
``street_clips`` (a lit street at night, non-rigid movers, 640x360 15 fps CBR; the street
tuning set, style A, and held-out sets 1-2, style B), ``street_clips_c`` (style C, held-out
set 3) and ``street_clips_d`` (style D, held-out set 4), both 1280x720 (``street_sets``).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import ValidationError

from edge_agent.cameras.config import ArmingConfig, CameraConfig, MotionConfig, Zone
from edge_agent.cameras.events import ArmOverride, EventTracker, is_armed
from edge_agent.cameras.motion import Blob, MotionDetector, MotionResult
from tests.infra import street_sets
from tests.infra.broker import Broker
from tests.infra.clip_lock import COLD_CLIPS_TIMEOUT_S
from tests.infra.clips import (
    HELD_OUT,
    HELD_OUT_2,
    HELD_OUT_3,
    SCENES,
    Scene,
    make_clip,
    scene_key,
)
from tests.infra.motion_scoring import ClipRun, run_clip, score, table
from tests.infra.mqtt_client import ControlRoom
from tests.infra.rtsp_motion import starts_over_rtsp

pytestmark = [pytest.mark.motion, pytest.mark.timeout(COLD_CLIPS_TIMEOUT_S)]  # builds every clip

# Floors per clip set, each a little under what was measured (see the printed table and
# docs/detection-quality.md): the clips the detector was developed on; held-out sets 1 and 2
# (used for re-tuning after they were scored); held-out set 3.
F1_FLOORS = {"dev": 0.9, "held-out-1": 0.85, "held-out-2": 0.85, "held-out-3": 0.9}
PRECISION_FLOORS = {"dev": 0.95, "held-out-1": 0.95, "held-out-2": 0.95, "held-out-3": 0.95}
IOU_FLOORS = {"dev": 0.55, "held-out-1": 0.45, "held-out-2": 0.55, "held-out-3": 0.52}
# The street sets (lens rain, dark walkers, headlight beams, IR, foliage): per-clip floors
# (F1, precision, IoU), a little under what the detector scores today, stated separately for
# the tuning set (t-), held-out set 1 (h-; scored before the change and after it; one of its
# failures led to a new tuning clip) and held-out set 2 (h2-, scored once, never tuned on).
# These are floors against regression, not the issue's targets: ``STREET_TARGET_F1`` is, and
# the clips that miss it are marked as expected failures until the detector reaches it.
STREET_FLOORS: dict[str, tuple[float, float, float]] = {
    # Since the clips are encoded with one libx264 thread (``clips.encode``) the same frames
    # give the same bytes, and the same scores, on every run: each floor is the score measured
    # on those encodes (in the comment: F1, precision, IoU) rounded down to 2 decimals after
    # taking off 0.02 (room for another FFmpeg/libx264/OpenCV build, not for encode noise).
    # The figures on the earlier threaded encodes, and the sets' history, are in
    # docs/detection-quality.md; some floors went down with the new bytes (h-rain's precision
    # 0.95 -> 0.83 on one encode of the same frames: a false event's length), most went up.
    # tuning set (style A)
    "t-rain": (0.96, 0.95, 0.77),  # 0.987 0.975 0.795
    "t-dark-slow": (0.95, 0.95, 0.72),  # 0.978 0.978 0.747
    "t-dark-slower": (0.87, 0.95, 0.56),  # 0.892 0.978 0.584
    "t-headlights": (0.94, 0.91, 0.47),  # 0.964 0.930 0.491
    "t-ir-mover": (0.97, 0.96, 0.79),  # 0.990 0.981 0.817
    "t-lamp-walker": (0.84, 0.95, 0.55),  # 0.863 0.978 0.573
    "t-ir-two": (0.96, 0.96, 0.71),  # 0.983 0.983 0.732
    "t-foliage": (0.96, 0.95, 0.86),  # 0.987 0.975 0.889
    "t-ir-cross": (0.95, 0.98, 0.56),  # 0.976 1.000 0.583
    "t-car-beam": (0.90, 0.92, 0.48),  # 0.897 0.897 0.502 -> 0.921 0.946 0.502 (fifth round)
    # added in the fourth round (after held-out 4 was written), scored with the detector of
    # that round's tuning: before it 0.615 0.493 0.499 | 0.860 0.755 0.487
    "t-rain-slide-walker": (0.61, 0.51, 0.48),  # 0.630 0.531 0.501
    "t-car-glow": (0.90, 0.83, 0.46),  # 0.860 0.755 0.487 -> 0.920 0.851 0.487 (fifth round)
    # added in the fifth round, scored before its change: t-dark-far and t-dark-far-figure
    # never found (F1 0); after it (slow movers over cells and seconds):
    "t-ir-slow": (0.96, 0.98, 0.72),  # 0.947 1.000 0.747 -> 0.989 1.000 0.746
    "t-dark-far": (0.86, 0.98, 0.51),  # 0 -> 0.887 1.000 0.535
    "t-dark-far-figure": (0.79, 0.92, 0.34),  # 0 -> 0.812 0.949 0.368
    # (street_clips_wind) a walker through wind-shaken shadows, before the round's shadow rule
    "t-wind-walker": (0.41, 0.31, 0.23),  # 0.430 0.337 0.257, 1 false event from 0.27 s
    # added in the sixth round, scored before its change (small far movers, a night
    # motorbike seen by its lamp and beam, a small vehicle across the IR switch)
    "t-far-walker": (0.76, 0.82, 0.27),  # 0.782 0.840 0.291
    "t-far-two": (0.92, 0.96, 0.19),  # 0.945 0.981 0.218
    "t-far-dog": (0.82, 0.98, 0.26),  # 0.842 1.000 0.280
    "t-far-moto": (0.05, 0.05, 0.10),  # 0.074 0.079 0.128
    "t-moto-beam": (0.03, 0.03, 0.05),  # 0.059 0.053 0.071, 1 false event (the beam)
    "t-ir-moto": (0.66, 0.79, 0.39),  # 0.684 0.812 0.413
    # added in the seventh round, style A drawn at 1280x720 (``street_clips_hd``), scored at
    # the 160 px default before its change (at 240: 0.510 0.833 0.357 | 0.126 0.130 0.151 |
    # 0.987 0.987 0.809 | 0.945 0.952 0.823)
    "t-hd-far-walker": (0.26, 0.64, 0.21),  # 0.288 0.667 0.236
    "t-hd-moto-night": (0.11, 0.11, 0.12),  # 0.139 0.138 0.148, 1 false event (its lamp)
    "t-hd-ir-mover": (0.96, 0.96, 0.71),  # 0.987 0.987 0.739
    "t-hd-rain-walker": (0.95, 0.93, 0.77),  # 0.977 0.955 0.791
    # held-out set 1 (style B; one of its failures led to a tuning clip)
    # (h-rain, h2-rain-walker, h3-ir-crossing: scored again after the fourth round's change
    # and regressed, floors now from those scores; see docs/detection-quality.md)
    "h-rain": (0.92, 0.93, 0.56),  # 0.889 0.833 0.715 -> 0.940 0.951 0.586
    "h-dark-walk": (0.92, 0.98, 0.53),  # 0.947 1.000 0.555
    "h-headlights": (0.76, 0.66, 0.39),  # 0.786 0.688 0.410
    "h-ir-walker": (0.95, 0.95, 0.65),  # 0.979 0.979 0.675
    "h-foliage-lamp": (0.82, 0.95, 0.51),  # 0.843 0.972 0.534
    # held-out set 2 (style B)
    "h2-rain-walker": (0.60, 0.79, 0.44),  # 0.629 0.846 0.465 -> 0.620 0.815 0.465
    "h2-night-lamp-walk": (0.95, 0.98, 0.53),  # 0.973 1.000 0.557
    "h2-car-beam": (0.55, 0.51, 0.27),  # 0.552 0.490 0.296 -> 0.578 0.533 0.296 (round 5)
    "h2-ir-two": (0.79, 0.95, 0.62),  # 0.804 0.975 0.663 (0.653 in round 4) -> 0.816 0.976 0.646
    "h2-foliage-dark": (0.96, 0.96, 0.62),  # 0.988 0.988 0.649
    # held-out set 3 (style C, 1280x720; a decision was taken on it, so no longer unseen)
    "h3-umbrella-rain": (0.81, 0.69, 0.77),  # 0.831 0.711 0.791
    "h3-dark-shuffle": (0.94, 0.98, 0.47),  # 0.969 1.000 0.497
    "h3-car-wet": (0.72, 0.60, 0.33),  # 0.740 0.627 0.357
    "h3-ir-crossing": (0.61, 0.72, 0.38),  # 0.683 0.764 0.453 -> 0.639 0.745 0.407
    # held-out set 4 (style D, 1280x720): scored once before the fourth round's change
    # (0.461 0.372 0.345 | 0.900 0.915 0.403 | 0.549 0.608 0.343) and once after it (in the
    # comments). h4-dark-walker was never found (F1 0) until the fifth round's slow movers:
    "h4-dark-walker": (0.76, 0.97, 0.48),  # 0 -> 0.782 0.993 0.507
    "h4-rain-walker": (0.46, 0.40, 0.34),  # 0.483 0.429 0.362
    "h4-car-lamps": (0.88, 0.86, 0.39),  # 0.903 0.889 0.412
    "h4-ir-cyclist": (0.50, 0.58, 0.32),  # 0.527 0.604 0.342
    # added in the seventh round (street_clips_osd: style A with a burnt-in clock and name),
    # scored before the overlay finder (overlay: off, in the comment first; the clock's ticks
    # made false events) and with it (overlay: auto, as their technician would set it)
    "t-osd-day-walker": (0.95, 0.93, 0.80),  # 0.978 0.957 0.819 -> 0.978 0.957 0.829
    "t-osd-rain-walker": (0.95, 0.93, 0.81),  # 0.978 0.957 0.833 -> 0.978 0.957 0.834
    # 0.972 0.945 0.789, 1 false event (the clock) -> 0.990 0.981 0.795, none
    "t-osd-ir-walker": (0.97, 0.96, 0.77)}
STREET_TARGET_F1 = 0.85
# Below the target: heavy lens rain hides a walker barely darker than the road (tuning); a
# dark car is found by its headlamp and the start of its beam, its box too short or too long
# (held-out 1 and 2); a walker in a lamp pool next to masked foliage (held-out 1, 0.82); a
# dark walker in lens rain is found in half its frames, and of two walkers crossing while the
# IR switches, one is lost for a while (held-out 2; the IR weakness was there before).
STREET_MISSES_TARGET = {"t-rain-heavy", "t-rain-slide-walker", "t-dark-far-figure", "t-wind-walker",
                        "t-far-walker", "t-far-dog", "t-far-moto", "t-moto-beam", "t-ir-moto",
                        "t-hd-far-walker", "t-hd-moto-night",
                        "h-headlights", "h-foliage-lamp", "h2-rain-walker", "h2-car-beam",
                        "h2-ir-two",
                        "h3-umbrella-rain", "h3-car-wet", "h3-ir-crossing", "h4-rain-walker",
                        "h4-dark-walker", "h4-ir-cyclist"}
# The beam (or the headlamps' glow) reaches the picture before the car: an event starts then.
# (t-car-beam's beam no longer does since the fifth round: the rest of a beam is light too.)
BEAM_STARTS_EARLY = {"h-headlights", "h2-car-beam", "h3-car-wet", "t-car-glow", "h4-car-lamps",
                     "t-moto-beam", "t-hd-moto-night"}
# A failing sodium lamp that fades out, stays dark and restarts (held-out 4): two events.
# (Held-out 3's wavering lamp gave one event until the fourth round: none since.)
FLICKER_FALSE_EVENT = {"h4-lamp-cycling"}
# Tree shadows the wind shakes on a sunlit road (held-out 4): one event nearly all clip long.
SHADOW_FALSE_EVENT = {"h4-wind-shadows", "t-wind-shadows", "t-wind-walker", "t-hd-wind"}
# ... and at 720p (t-hd-wind) two events with nobody there.
SHADOW_EVENTS = {"t-hd-wind"}
# Empty street clips: motion in at most this share of the analysed frames. Held-out 3's lens
# rain (refracting drops that slide) shows motion nearly all clip long in one event; the
# tuning clip of sliding drops in 69 of 90 frames (86 before the slide rule).
QUIET_SHARE = 0.05
NOT_QUIET = {"h3-rain-empty", "t-rain-slide-empty", "h4-rain-empty", "h4-wind-shadows",
             "t-wind-shadows", "t-hd-wind"}
# The camera's burnt-in clock: its ticking seconds made an event at ~2 s (and motion in 8 and
# 16 of the 120 frames of the two empty clips) until the overlay finder (overlay: auto) found
# it and held it still: none are left (the empty clips: no motion in any frame).
OSD_FALSE_EVENT: set[str] = set()
OSD_NOT_QUIET: set[str] = set()
# Lens rain: at most one false event per clip (the issue's target); none anywhere else.
RAIN_FALSE_EVENTS = 1
CLIP_SETS: dict[str, dict[str, Any]] = {
    "dev": SCENES, "held-out-1": HELD_OUT, "held-out-2": HELD_OUT_2, "held-out-3": HELD_OUT_3,
    "street-tuning": street_sets.TUNING, "street-held-out": street_sets.HELD_OUT,
    "street-held-out-2": street_sets.HELD_OUT_2, "street-held-out-3": street_sets.HELD_OUT_3,
    "street-held-out-4": street_sets.HELD_OUT_4, "street-tuning-osd": street_sets.TUNING_OSD}
OLD_MOTION_CLIPS = [(set_name, name) for set_name, scenes in CLIP_SETS.items()
                    if set_name in F1_FLOORS for name, scene in scenes.items() if scene.movers]
STREET_SETS = ("street-tuning", "street-held-out", "street-held-out-2", "street-held-out-3",
               "street-held-out-4", "street-tuning-osd")
STREET_MOTION_CLIPS = [(set_name, name) for set_name in STREET_SETS
                       for name, scene in CLIP_SETS[set_name].items() if scene.movers]
ALL_CLIPS = [(set_name, name) for set_name, scenes in CLIP_SETS.items() for name in scenes]
STILL_CLIPS = [name for set_name, name in ALL_CLIPS if not CLIP_SETS[set_name][name].movers]


def _clip(set_name: str, name: str, directory: Path) -> Path:
    scene = CLIP_SETS[set_name][name]
    if isinstance(scene, Scene):
        return make_clip(name, directory)
    return street_sets.make_street_clip(scene, directory)


@pytest.fixture(scope="module")
def scores(clip_dir: Path, artifacts_dir: Path) -> dict[str, dict[str, Any]]:
    rows = {name: score(run_clip(_clip(set_name, name, clip_dir))) for set_name, name in ALL_CLIPS}
    print("\n" + table(rows))
    (artifacts_dir / "camera-motion-scores.json").write_text(json.dumps(rows, indent=2))
    return rows


@pytest.mark.parametrize(("clip_set", "name"), OLD_MOTION_CLIPS)
def test_frame_level_f1_from_cold_start(scores: dict[str, dict[str, Any]], clip_set: str,
                                        name: str) -> None:
    assert scores[name]["f1"] >= F1_FLOORS[clip_set], scores[name]


@pytest.mark.parametrize(("clip_set", "name"), OLD_MOTION_CLIPS)
def test_precision_and_box_iou_on_clips_with_motion(scores: dict[str, dict[str, Any]],
                                                     clip_set: str, name: str) -> None:
    row = scores[name]
    assert row["precision"] >= PRECISION_FLOORS[clip_set], row
    assert row["iou"] is not None and row["iou"] >= IOU_FLOORS[clip_set], row


@pytest.mark.parametrize("name", sorted(STREET_FLOORS))
def test_street_clips_stay_above_their_floors(scores: dict[str, dict[str, Any]],
                                              name: str) -> None:
    f1, precision, box_iou = STREET_FLOORS[name]
    row = scores[name]
    assert row["f1"] >= f1 and row["precision"] >= precision, row
    assert row["iou"] is not None and row["iou"] >= box_iou, row


# The fourth round's detector change made three held-out clips worse (their floors above are
# from the new scores). The scores before it, on the same repeatable encodes, less the same
# 0.02, stay asserted here as strict expected failures, so the regression shows in every run
# and this fails (to be moved back into the floors) once a change wins them back.
REGRESSED_IN_ROUND_4: dict[str, tuple[float, float, float]] = {
    "h-rain": (0.86, 0.81, 0.69),  # 0.889 0.833 0.715 before the round
    "h2-rain-walker": (0.60, 0.82, 0.44),  # 0.629 0.846 0.465
    "h3-ir-crossing": (0.66, 0.74, 0.43)}  # 0.683 0.764 0.453


@pytest.mark.xfail(strict=True, reason="issue 11: regressed in the fourth detector round")
@pytest.mark.parametrize("name", sorted(REGRESSED_IN_ROUND_4))
def test_held_out_clips_regain_their_scores_before_round_4(
        scores: dict[str, dict[str, Any]], name: str) -> None:
    f1, precision, box_iou = REGRESSED_IN_ROUND_4[name]
    row = scores[name]
    assert row["f1"] >= f1 and row["precision"] >= precision, row
    assert row["iou"] is not None and row["iou"] >= box_iou, row


def _target_param(clip_set: str, name: str) -> Any:
    if name in STREET_MISSES_TARGET:
        return pytest.param(clip_set, name, marks=pytest.mark.xfail(
            strict=True, reason="issue 11: not reached"))
    return (clip_set, name)


@pytest.mark.parametrize(("clip_set", "name"),
                         [_target_param(c, n) for c, n in STREET_MOTION_CLIPS])
def test_street_clips_reach_the_issue_target(scores: dict[str, dict[str, Any]],
                                             clip_set: str, name: str) -> None:
    assert scores[name]["f1"] >= STREET_TARGET_F1, scores[name]


@pytest.mark.parametrize(("clip_set", "name"), [
    pytest.param(c, n, marks=pytest.mark.xfail(strict=True, reason="beam before the car"))
    if n in BEAM_STARTS_EARLY else
    pytest.param(c, n, marks=pytest.mark.xfail(strict=True, reason="lamp flicker"))
    if n in FLICKER_FALSE_EVENT else
    pytest.param(c, n, marks=pytest.mark.xfail(strict=True, reason="wind-shaken shadows"))
    if n in SHADOW_FALSE_EVENT else
    pytest.param(c, n, marks=pytest.mark.xfail(strict=True, reason="the burnt-in clock"))
    if n in OSD_FALSE_EVENT else (c, n) for c, n in ALL_CLIPS])
def test_no_false_event_in_still_stretches(scores: dict[str, dict[str, Any]], clip_set: str,
                                           name: str) -> None:
    scene = CLIP_SETS[clip_set][name]
    allowed = RAIN_FALSE_EVENTS if getattr(scene, "drops_per_s", 0) else 0
    assert len(scores[name]["false_starts_in_still"]) <= allowed, scores[name]


@pytest.mark.parametrize(("clip_set", "name"), ALL_CLIPS)
def test_no_event_lasts_zero_seconds(scores: dict[str, dict[str, Any]], clip_set: str,
                                     name: str) -> None:
    assert scores[name]["zero_duration_events"] == 0, scores[name]
    assert all(d > 0 for d in scores[name]["durations"]), scores[name]


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="a cycling lamp: 2 events"))
    if n in FLICKER_FALSE_EVENT else
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="wind-shaken shadows: 2 events"))
    if n in SHADOW_EVENTS else n for n in STILL_CLIPS])
def test_empty_scene_reports_no_motion_at_all(scores: dict[str, dict[str, Any]],
                                              name: str) -> None:
    if any(name in CLIP_SETS[s] for s in STREET_SETS):
        # lens rain: a drop that lives long enough may show; at most one event
        assert len(scores[name]["event_starts"]) <= RAIN_FALSE_EVENTS, scores[name]
        return
    assert scores[name]["fp"] == 0 and scores[name]["event_starts"] == []


@pytest.mark.parametrize("name", [n for n, s in street_sets.TUNING_OSD.items() if not s.movers])
def test_a_burnt_in_clock_alone_makes_no_motion_at_all(scores: dict[str, dict[str, Any]],
                                                       name: str) -> None:
    # stricter than an empty street's rule (no rain here): not one frame (8 and 16 frames,
    # and an event each, with overlay: off)
    assert scores[name]["fp"] == 0 and scores[name]["event_starts"] == [], scores[name]


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="issue 11: sliding lens drops"))
    if n in NOT_QUIET else
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="the burnt-in clock"))
    if n in OSD_NOT_QUIET else n
    for n in STILL_CLIPS if any(n in CLIP_SETS[s] for s in STREET_SETS)])
def test_empty_street_is_quiet_nearly_all_the_time(scores: dict[str, dict[str, Any]],
                                                   name: str) -> None:
    # One event is allowed in lens rain, but not one that lasts the whole clip.
    row = scores[name]
    assert row["fp"] <= QUIET_SHARE * row["frames"], row


def test_each_crossing_gives_an_event_near_its_start(scores: dict[str, dict[str, Any]]) -> None:
    # moving: objects enter at 3.0 s and 10.0 s (gap of 2 s < end_s keeps it one event)
    assert scores["moving"]["event_starts"] and 3.0 <= scores["moving"]["event_starts"][0] < 3.6
    assert scores["ir"]["event_starts"][0] >= 7.0  # the IR switch at 4 s is not an event


def test_a_whole_frame_blob_is_no_hit() -> None:
    truth: list[list[tuple[float, ...]]] = [[(0.4, 0.4, 0.1, 0.2)]] * 3
    whole = MotionResult(0.0, True, (Blob((0.0, 0.0, 1.0, 1.0), 1.0, ()),), 1.0, 1.0, False)
    right = MotionResult(0.0, True, (Blob((0.41, 0.4, 0.1, 0.19), 0.02, ()),), 0.02, 0.0, False)
    row = score(ClipRun([whole, whole, right], truth, []))
    assert (row["tp"], row["fp"], row["fn"]) == (1, 2, 2)


def test_a_missing_decoded_frame_fails_the_clip(clip_dir: Path, tmp_path: Path) -> None:
    clip = make_clip("empty", clip_dir)
    copy = tmp_path / clip.name
    shutil.copy(clip, copy)
    meta = json.loads(clip.with_suffix(".json").read_text())
    meta["boxes"].append([])  # the truth has one frame more than the video
    copy.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(AssertionError, match="do not line up"):
        run_clip(copy)


def test_an_edited_scene_gets_a_new_clip() -> None:
    base = SCENES["ramp"]
    same = Scene(base.name, base.duration_s, base.movers, gain=lambda t: 1.0 - 0.65 * min(
        t / 16.0, 1.0))
    darker = Scene(base.name, base.duration_s, base.movers, gain=lambda t: 0.9 - 0.65 * min(
        t / 16.0, 1.0))
    assert scene_key(base, 10) == scene_key(same, 10)
    assert scene_key(base, 10) != scene_key(darker, 10)
    assert scene_key(base, 10) != scene_key(Scene(base.name, base.duration_s, base.movers,
                                                  noise_sigma=3.0), 10)
    rain = street_sets.TUNING["t-rain"]
    assert scene_key(rain, 15) != scene_key(dataclasses.replace(rain, drops_per_s=2.0), 15)


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


def test_motion_seen_briefly_never_gives_a_zero_second_event() -> None:
    # A square shows in exactly the two analysed frames persistence needs, then is gone: the
    # start is published in the second frame and the end must still say how long it moved.
    cfg = MotionConfig()
    det, tracker = MotionDetector(cfg), EventTracker(cfg)
    frames = [_still(90, seed=i) for i in range(3)]
    frames += [_with_square(_still(90, seed=10 + i), 100 + 10 * i, 100) for i in range(2)]
    frames += [_still(90, seed=20 + i) for i in range(40)]
    out = [m for i, f in enumerate(frames) for m in tracker.feed(det.analyse(f, i / 10))]
    assert [m.kind for m in out] == ["start", "end"], out
    assert out[0].duration_s > 0 and out[-1].duration_s > 0, out


@pytest.mark.timeout(150)
@pytest.mark.parametrize("name", ["h3-dark-shuffle", "h3-ir-crossing"])
def test_held_out_3_over_rtsp_from_a_cold_start_matches_the_offline_scoring(
        broker: Broker, control_room: ControlRoom, tmp_path: Path, clip_dir: Path,
        scores: dict[str, dict[str, Any]], name: str) -> None:
    # The issue scores each scene streamed in real time to a fresh agent (decode "all"): the
    # agent must see the events the offline run sees, at the same clip times (the events'
    # durations are checked offline: waiting for the ends here would cost the clips' length).
    clip = street_sets.make_street_clip(street_sets.HELD_OUT_3[name], clip_dir)
    offline = scores[name]["event_starts"]
    at = starts_over_rtsp(control_room, broker, tmp_path, clip, "all", len(offline), 60)
    print(f"\n{name} over RTSP: event starts {at}, offline {offline}")
    assert len(at) == len(offline), (at, offline)
    # within a second: an analysed frame or two, the RTSP start-up, a loaded machine
    assert all(abs(a - b) <= 1.0 for a, b in zip(at, offline, strict=True)), (at, offline)


# In ``adaptive`` mode (the default) a fresh agent decodes key frames only until something
# moves: an event may start up to one GOP (2 s at these clips' 30 frames) after the offline
# run, which analyses every frame, plus the frames persistence needs and the RTSP start-up;
# and, seeing other frames, it may also start earlier (measured: the IR cyclist 2.27 s late,
# the car's event 1.58 s early -- its glow seen on key frames; offline both start on it).
ADAPTIVE_OFF_S = 2.8


@pytest.mark.timeout(150)
@pytest.mark.parametrize("name", ["h4-car-lamps", "h4-ir-cyclist"])
def test_held_out_4_over_rtsp_in_adaptive_mode_from_a_cold_start(
        broker: Broker, control_room: ControlRoom, tmp_path: Path, clip_dir: Path,
        scores: dict[str, dict[str, Any]], name: str) -> None:
    clip = street_sets.make_street_clip(street_sets.HELD_OUT_4[name], clip_dir)
    offline = scores[name]["event_starts"]
    at = starts_over_rtsp(control_room, broker, tmp_path, clip, "adaptive", len(offline), 60)
    print(f"\n{name} over RTSP (adaptive): event starts {at}, offline {offline}")
    assert len(at) == len(offline), (at, offline)
    assert all(abs(a - b) <= ADAPTIVE_OFF_S for a, b in zip(at, offline, strict=True)), \
        (at, offline)
