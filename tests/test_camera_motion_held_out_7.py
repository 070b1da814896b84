"""Held-out set 7 (issue 11, seventh round): footage nobody tuned on, scored on main's detector.

Eight scenes in the seventh drawing style (``street_sets.HELD_OUT_7``, ``street_clips_g*``: a
camera under the eaves of the commune's cultural house, over its yard and a lane to a bridge
over a canal, the dyke road beyond), one per failure kind the issue and sets 5-6 name, none
like an earlier scene; one clip at 12 fps, one with a GOP of 4 s, one with B-frames. Written
and committed alone before the seventh detector round; the scores asserted here were measured
once, on main's detector before that round (commit a8608be, at the config's analysis width
160; ``test-artifacts/held-out-7-before.json`` also has them at 240, docs/detection-quality.md
"Held-out 7"), and nobody tunes on these clips. Three ways, each from a cold start:

- offline, ``decode: all`` (``motion_scoring.run_clip``, as ``test_camera_motion.py``);
- ``decode: adaptive`` through the agent's real ``PyAVSource`` (``adaptive_scoring``);
- over the local RTSP server in real time to a fresh agent in adaptive mode, for the two
  clips with the fastest movers: event starts against the truth's onsets.

Floors are the measured score rounded down to 2 decimals after taking off 0.02 (the encodes
are repeatable), so a regression fails; the issue's targets (F1 >= 0.85, at most 1 false
event in rain, no event of 0 s, scenes with nobody quiet) are strict expected failures where
they are not met, so an improvement shows. The tables are printed (-s) and written to
test-artifacts/camera-motion-held-out-7-scores.json.

Standing people (h7-school-gate-noon): two children wait at the gate (13/15 s to 24/26 s),
two near the camera stop (25 to 30 s), the mother with her bicycle stops (18 to 22 s) and the
cart seller stands from 10 s; none is labelled then (a mover standing still changes no
pixel). Motion reported on them is a false positive frame, as in sets 5 and 6.

What the clips burn in or show that is not a mover, as real cameras do (not masked): the
clock (its seconds change every second), the red flag, the canal's shimmer and the lamps'
and headlamps' reflections in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra import street_sets
from tests.infra.broker import Broker
from tests.infra.clip_lock import COLD_CLIPS_TIMEOUT_S
from tests.infra.held_out_scoring import (
    both_modes,
    check_false_events,
    check_floors,
    check_no_zero_event,
    check_onset,
    check_quiet,
    check_rtsp_matches,
    rtsp_set_events,
    score_set,
    small_boxes,
)

# A cold cache encodes eight 720p clips of 25-35 s in the first test's fixture, two at a
# time: 108 s wall, 165 s of CPU (drawing ~0.02-0.03 s a frame, the encodes) at load 2-4 on
# 2 cores; the module warm ~95 s (~35 s the scores, ~55 s the two clips streamed in real
# time).
pytestmark = [pytest.mark.motion, pytest.mark.timeout(COLD_CLIPS_TIMEOUT_S)]

SET = street_sets.HELD_OUT_7
MOTION_CLIPS = sorted(n for n, s in SET.items() if s.movers)
STILL_CLIPS = sorted(n for n, s in SET.items() if not s.movers)
TARGET_F1 = 0.85
RAIN_FALSE_EVENTS = 1  # the issue: at most one false event in rain; none anywhere else

# Per clip and mode: (F1, precision, IoU) floors, the score measured before round 7 at width
# 160 (in the comment) rounded down to 2 decimals after taking off 0.02.
ALL_FLOORS: dict[str, tuple[float, float, float]] = {
    "h7-dyke-car-night": (0.11, 0.09, 0.08),  # 0.131 0.119 0.108
    "h7-rain-poncho": (0.21, 0.11, 0.32),  # 0.235 0.134 0.349
    "h7-ir-dusk-cyclist": (0.35, 0.21, 0.58),  # 0.371 0.237 0.609
    "h7-school-gate-noon": (0.86, 0.90, 0.21),  # 0.887 0.921 0.232
    "h7-dyke-animals": (0.22, 0.65, 0.08)}  # 0.242 0.674 0.108
ADAPTIVE_FLOORS: dict[str, tuple[float, float, float]] = {
    "h7-dyke-car-night": (0.11, 0.09, 0.08),  # 0.131 0.119 0.108
    "h7-rain-poncho": (0.21, 0.11, 0.32),  # 0.235 0.134 0.349
    "h7-ir-dusk-cyclist": (0.35, 0.21, 0.58),  # 0.371 0.237 0.609
    "h7-school-gate-noon": (0.86, 0.90, 0.21),  # 0.887 0.921 0.232
    "h7-dyke-animals": (0.22, 0.65, 0.08)}  # 0.242 0.674 0.108
# F1 under 0.05, where a floor 0.02 lower asserts nothing: the dark walker in noise is never
# found in either mode (two / three frames with motion, none on her).
NO_FLOOR: dict[str, set[str]] = {"all": {"h7-dark-walker-noise"},
                                 "adaptive": {"h7-dark-walker-noise"}}
# Every clip with movers but the school gate (0.887) is under F1 0.85 in both modes.
MISSES_TARGET: dict[str, set[str]] = {
    "all": set(MOTION_CLIPS) - {"h7-school-gate-noon"},
    "adaptive": set(MOTION_CLIPS) - {"h7-school-gate-noon"}}
# More false events than allowed (0, or 1 with rain on the lens), the same in both modes: the
# car at night (3.47 s: the bridge lamp's reflection shimmering in the canal), the IR cyclist
# (1.47 s: the lamp's reflection; 21.07 s: the burnt-in clock, in IR), the wind (0.4 s: the
# flag; adaptive also 21.47 s, the flag) and the insects (0.27 s, one event all clip long).
# Within the allowance: the rain (one start at 0.4 s, the canal's rain-whipped shimmer).
FALSE_EVENTS: dict[str, set[str]] = {
    "all": {"h7-dyke-car-night", "h7-ir-dusk-cyclist", "h7-wind-flag-day", "h7-night-insects"},
    "adaptive": {"h7-dyke-car-night", "h7-ir-dusk-cyclist", "h7-wind-flag-day",
                 "h7-night-insects"}}
# No event of 0 s anywhere (the shortest 0.4 s: the wind's second event in adaptive mode).
ZERO_DURATION: dict[str, set[str]] = {"all": set(), "adaptive": set()}
# Scenes with nobody: motion in at most this share of the analysed frames. The wind shows
# motion in 39 (all) / 28 (adaptive) of 225 frames, the insects in 223 of 225.
QUIET_SHARE = 0.05
NOT_QUIET: dict[str, set[str]] = {"all": {"h7-wind-flag-day", "h7-night-insects"},
                                  "adaptive": {"h7-wind-flag-day", "h7-night-insects"}}


@pytest.fixture(scope="module")
def rows(clip_dir: Path, artifacts_dir: Path) -> dict[str, dict[str, Any]]:
    return score_set(SET, clip_dir, artifacts_dir, "held-out-7")


@pytest.mark.parametrize(("mode", "name"), [("all", n) for n in sorted(ALL_FLOORS)]
                         + [("adaptive", n) for n in sorted(ADAPTIVE_FLOORS)])
def test_held_out_7_stays_above_its_floors(rows: dict[str, dict[str, Any]], mode: str,
                                           name: str) -> None:
    check_floors(rows[name][mode], (ALL_FLOORS if mode == "all" else ADAPTIVE_FLOORS)[name])


def test_every_clip_with_movers_has_floors_or_is_never_found() -> None:
    assert set(ALL_FLOORS) | NO_FLOOR["all"] == set(MOTION_CLIPS)
    assert set(ADAPTIVE_FLOORS) | NO_FLOOR["adaptive"] == set(MOTION_CLIPS)


def test_the_small_movers_are_small_and_the_small_share_is_recorded(
        rows: dict[str, dict[str, Any]], clip_dir: Path) -> None:
    # the set says so: the dark walker is 0.2-0.7 % of the picture in every frame (a third
    # of her boxes under ``min_area``'s 0.4 %); the animals nearly all under it
    walker = street_sets.make_street_clip(SET["h7-dark-walker-noise"], clip_dir)
    boxes = small_boxes(walker)[1]
    assert boxes > 0 and small_boxes(walker, 0.002)[0] == 0
    assert small_boxes(walker, 0.007)[0] == boxes
    small, boxes = small_boxes(street_sets.make_street_clip(SET["h7-dyke-animals"], clip_dir))
    assert small >= 0.9 * boxes > 0
    assert all(r["boxes_under_min_area"] <= r["boxes"] for r in rows.values())


@pytest.mark.parametrize(("mode", "name"), both_modes(MISSES_TARGET, MOTION_CLIPS,
                                                      "issue 11: not reached"))
def test_held_out_7_reaches_the_issue_target(rows: dict[str, dict[str, Any]], mode: str,
                                             name: str) -> None:
    assert rows[name][mode]["f1"] >= TARGET_F1, rows[name][mode]


@pytest.mark.parametrize(("mode", "name"), both_modes(FALSE_EVENTS, sorted(SET),
                                                      "issue 11: false events"))
def test_no_false_event_but_one_in_rain(rows: dict[str, dict[str, Any]], mode: str,
                                        name: str) -> None:
    check_false_events(rows[name][mode], RAIN_FALSE_EVENTS if SET[name].drops_per_s else 0)


@pytest.mark.parametrize(("mode", "name"), both_modes(ZERO_DURATION, sorted(SET),
                                                      "issue 11: an event of 0 s"))
def test_no_event_lasts_zero_seconds(rows: dict[str, dict[str, Any]], mode: str,
                                     name: str) -> None:
    check_no_zero_event(rows[name][mode])


@pytest.mark.parametrize(("mode", "name"), both_modes(NOT_QUIET, STILL_CLIPS,
                                                      "issue 11: light-only change seen as motion"))
def test_scenes_with_nobody_are_quiet_nearly_all_the_time(rows: dict[str, dict[str, Any]],
                                                          mode: str, name: str) -> None:
    check_quiet(rows[name][mode], QUIET_SHARE)


# Over RTSP in real time, adaptive mode, a fresh agent per clip: the two clips with the
# fastest movers (the motorbike on the dyke at night, ~9 m/s, after the car; the cyclist
# crossing in ~3 s while the IR switches), ~55 s of streaming.
RTSP_CLIPS = ["h7-dyke-car-night", "h7-ir-dusk-cyclist"]
# The agent over RTSP must see the events the offline adaptive run sees, each start within
# this (the RTSP start-up, a loaded machine).
RTSP_OFF_S = 1.0
# The first event should start within this of the first onset, not before it (set 5's and
# 6's allowance: a GOP of 2 s waiting for a key frame, persistence, the RTSP start-up).
ONSET_LATE_S = 2.8
# Measured before round 7, per event: published over RTSP / dated (``started_at``) over RTSP /
# offline adaptive start / truth onset. car-night 3.61 / 2.81 / 3.47 / 6.27 s (one event all
# clip long: the lamp's reflection in the canal, then the car and its beam, then the
# motorbike); ir-dusk-cyclist 2.25 / 0.91 / 1.47 / 9.8 s (the reflection again; the event
# lasts to 17.7 s and takes the cyclist in), then 21.21 / 20.01 / 21.07 s (the clock in IR).
# Both clips' first event starts seconds before the first mover is in view.
ONSET_MISSED = {"h7-dyke-car-night", "h7-ir-dusk-cyclist"}
# Over RTSP the IR clip's second false event (the burnt-in clock) is dated 1.06 s earlier
# than offline: same events, other start times.
RTSP_DIFFERS = {"h7-ir-dusk-cyclist"}


@pytest.fixture(scope="module")
def rtsp_events(broker: Broker, tmp_path_factory: pytest.TempPathFactory, clip_dir: Path
                ) -> dict[str, list[dict[str, Any]]]:
    """Each clip streamed once (in real time: ~55 s for the two)."""
    return rtsp_set_events(SET, RTSP_CLIPS, broker, tmp_path_factory, clip_dir)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(
        strict=True, reason="issue 11: RTSP dates an event otherwise than offline"))
    if n in RTSP_DIFFERS else n for n in RTSP_CLIPS])
def test_held_out_7_over_rtsp_matches_the_offline_adaptive_run(
        rows: dict[str, dict[str, Any]], rtsp_events: dict[str, list[dict[str, Any]]],
        name: str) -> None:
    check_rtsp_matches(rtsp_events[name], rows[name]["adaptive"]["event_starts"], RTSP_OFF_S)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(
        strict=True, reason="issue 11: an event starts before the mover is in view"))
    if n in ONSET_MISSED else n for n in RTSP_CLIPS])
def test_held_out_7_over_rtsp_starts_soon_after_the_onset(
        rows: dict[str, dict[str, Any]], rtsp_events: dict[str, list[dict[str, Any]]],
        name: str) -> None:
    check_onset(rtsp_events[name], rows[name]["onsets_s"], ONSET_LATE_S)
