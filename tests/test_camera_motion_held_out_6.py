"""Held-out set 6 (issue 11, sixth round): footage nobody tuned on, scored on main's detector.

Eight scenes in the sixth drawing style (``street_sets.HELD_OUT_6``, ``street_clips_f*``: a
pole camera at a commune junction), one per failure kind the issue and set 5 name, none like
an earlier scene. Written and committed alone before the sixth detector round; the scores
asserted here were measured once, on main's detector before that round (commit c60c4cc,
``test-artifacts/held-out-6-before.json``, docs/detection-quality.md "Held-out 6"), and nobody tunes
on these clips. Three ways, each from a cold start:

- offline, ``decode: all`` (``motion_scoring.run_clip``, as ``test_camera_motion.py``);
- ``decode: adaptive`` through the agent's real ``PyAVSource`` (``adaptive_scoring``);
- over the local RTSP server in real time to a fresh agent in adaptive mode, for the four
  clips with the fastest movers: event starts against the truth's onsets.

Floors are the measured score rounded down to 2 decimals after taking off 0.02 (the encodes
are repeatable), so a regression fails; the issue's targets (F1 >= 0.85, at most 1 false
event in rain, no event of 0 s, scenes with nobody quiet) are strict expected failures where
they are not met, so an improvement shows. The tables are printed (-s) and written to
test-artifacts/camera-motion-held-out-6-scores.json.

Standing people (h6-market-morning): from 13 s to 23 s two of them stand talking and are not
labelled (a mover standing still changes no pixel). Motion reported on them then is a false
positive frame, an event starting then a false event, as in set 5.
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

# A cold cache encodes eight 720p clips of 25-45 s in the first test's fixture, two at a
# time: 683 s for the encodes at load 8-14 on 2 cores (~0.1 s of CPU a frame to draw); the
# module warm 188 s (~65 s the scores, ~2.3 min the four clips streamed in real time).
pytestmark = [pytest.mark.motion, pytest.mark.timeout(COLD_CLIPS_TIMEOUT_S)]

SET = street_sets.HELD_OUT_6
MOTION_CLIPS = sorted(n for n, s in SET.items() if s.movers)
STILL_CLIPS = sorted(n for n, s in SET.items() if not s.movers)
TARGET_F1 = 0.85
RAIN_FALSE_EVENTS = 1  # the issue: at most one false event in rain; none anywhere else

# Per clip and mode: (F1, precision, IoU) floors, the score measured before round 6 (in the
# comment) rounded down to 2 decimals after taking off 0.02.
ALL_FLOORS: dict[str, tuple[float, float, float]] = {
    "h6-moto-junction": (0.09, 0.09, 0.09),  # 0.112 0.113 0.117
    "h6-rain-raincoat": (0.77, 0.78, 0.52),  # 0.790 0.805 0.545
    "h6-ir-moto": (0.39, 0.59, 0.27),  # 0.410 0.615 0.290
    "h6-market-morning": (0.63, 0.92, 0.24),  # 0.658 0.941 0.261
    "h6-dusk-animals": (0.15, 0.93, 0.18)}  # 0.174 0.958 0.207
ADAPTIVE_FLOORS: dict[str, tuple[float, float, float]] = {
    "h6-moto-junction": (0.10, 0.11, 0.10),  # 0.125 0.130 0.128
    "h6-rain-raincoat": (0.77, 0.79, 0.52),  # 0.796 0.817 0.545
    "h6-ir-moto": (0.34, 0.37, 0.22),  # 0.360 0.391 0.244
    "h6-market-morning": (0.63, 0.94, 0.24),  # 0.655 0.963 0.267
    "h6-dusk-animals": (0.17, 0.98, 0.20)}  # 0.195 1.000 0.228
# F1 under 0.05, where a floor 0.02 lower asserts nothing: the dark walker far from the lamps
# is never found in either mode (no motion reported in any of its 300 analysed frames).
NO_FLOOR: dict[str, set[str]] = {"all": {"h6-dark-far-walker"},
                                 "adaptive": {"h6-dark-far-walker"}}
# Every clip with movers is under F1 0.85 in both modes before round 6.
MISSES_TARGET: dict[str, set[str]] = {"all": set(MOTION_CLIPS), "adaptive": set(MOTION_CLIPS)}
# More false events than allowed (0, or 1 with rain on the lens): offline the motorbikes at
# night (a start at 28.4 s, after the second bike has gone: its beam on the road) and the
# banana leaves in wind (0.4, 14.13, 29.33 s in both modes). Within the allowance: the rain
# (one start before the walker, 4.27 s / 5.07 s) and the moths in drizzle (one event from
# 0.27 s lasting the whole clip).
FALSE_EVENTS: dict[str, set[str]] = {"all": {"h6-moto-junction", "h6-banana-wind"},
                                     "adaptive": {"h6-banana-wind"}}
# No event of 0 s anywhere (the shortest 0.27 s: market-morning offline).
ZERO_DURATION: dict[str, set[str]] = {"all": set(), "adaptive": set()}
# Scenes with nobody: motion in at most this share of the analysed frames. The banana leaves
# show motion in 110 of 225 frames, the moths in 198 of 225, in both modes.
QUIET_SHARE = 0.05
NOT_QUIET: dict[str, set[str]] = {"all": {"h6-banana-wind", "h6-moths-drizzle"},
                                  "adaptive": {"h6-banana-wind", "h6-moths-drizzle"}}


@pytest.fixture(scope="module")
def rows(clip_dir: Path, artifacts_dir: Path) -> dict[str, dict[str, Any]]:
    return score_set(SET, clip_dir, artifacts_dir, "held-out-6")


@pytest.mark.parametrize(("mode", "name"), [("all", n) for n in sorted(ALL_FLOORS)]
                         + [("adaptive", n) for n in sorted(ADAPTIVE_FLOORS)])
def test_held_out_6_stays_above_its_floors(rows: dict[str, dict[str, Any]], mode: str,
                                           name: str) -> None:
    check_floors(rows[name][mode], (ALL_FLOORS if mode == "all" else ADAPTIVE_FLOORS)[name])


def test_every_clip_with_movers_has_floors_or_is_never_found() -> None:
    assert set(ALL_FLOORS) | NO_FLOOR["all"] == set(MOTION_CLIPS)
    assert set(ADAPTIVE_FLOORS) | NO_FLOOR["adaptive"] == set(MOTION_CLIPS)


def test_the_far_walker_is_small_and_the_small_share_is_recorded(
        rows: dict[str, dict[str, Any]], clip_dir: Path) -> None:
    # the set says so: the dark walker is 0.1-0.4 % of the picture in every frame (under
    # ``min_area``), and every clip's share of boxes under it is in the scores
    clip = street_sets.make_street_clip(SET["h6-dark-far-walker"], clip_dir)
    small, boxes = small_boxes(clip)
    assert boxes > 0 and small == boxes
    assert small_boxes(clip, 0.001) == (0, boxes)
    assert all(r["boxes_under_min_area"] <= r["boxes"] for r in rows.values())


@pytest.mark.parametrize(("mode", "name"), both_modes(MISSES_TARGET, MOTION_CLIPS,
                                                      "issue 11: not reached"))
def test_held_out_6_reaches_the_issue_target(rows: dict[str, dict[str, Any]], mode: str,
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


# Over RTSP in real time, adaptive mode, a fresh agent per clip: the four clips with the
# fastest movers (the motorbikes at the junction, the motorbike through the IR switch, the
# market's bicycle, the trotting dog; its clip has a GOP of 4 s). Measured before round 6
# (two runs gave the same figures within 0.01 s), per event: published over RTSP / dated
# (``started_at``) over RTSP / offline adaptive start / truth onset:
# moto-junction 6.15 / 4.81 / 6.0 / 5.8 s and 17.07 / 15.07 / 16.93 / 15.0 s; ir-moto
# 10.35 / 8.14 / 10.2 / 9.53 s; market-morning 4.38 / 4.12 / 4.0 / 1.0 s (then 27.84 and
# 36.38 dated, 28.6 and 36.4 offline); dusk-animals 16.41 / 14.81 / 14.67 / 3.0 s.
RTSP_CLIPS = ["h6-dusk-animals", "h6-ir-moto", "h6-market-morning", "h6-moto-junction"]
# The agent over RTSP must see the events the offline adaptive run sees, each start within
# this (the RTSP start-up, a loaded machine).
RTSP_OFF_S = 1.0
# The first event should start within this of the first onset, not before it (set 5's
# allowance: a GOP of 2 s waiting for a key frame, persistence, the RTSP start-up). The
# motorbikes' events are published 0.35 s and 0.82 s after the onset (the beam is seen before
# the bike); the market's 3.4 s after it, the dusk animals' 13.4 s (the dog and chickens are
# under ``min_area`` until the dog comes near).
ONSET_LATE_S = 2.8
ONSET_MISSED = {"h6-market-morning", "h6-dusk-animals"}
# Over RTSP the agent dates the motorbikes' events (``started_at``) 1.2-2.1 s earlier than
# the offline adaptive run starts them: where the headlamp's beam first lit the road, before
# the bike is in view (and before the truth's onset). Same events, other start times.
RTSP_DIFFERS = {"h6-moto-junction", "h6-ir-moto"}


@pytest.fixture(scope="module")
def rtsp_events(broker: Broker, tmp_path_factory: pytest.TempPathFactory, clip_dir: Path
                ) -> dict[str, list[dict[str, Any]]]:
    """Each clip streamed once (in real time: ~2.3 min for the four)."""
    return rtsp_set_events(SET, RTSP_CLIPS, broker, tmp_path_factory, clip_dir)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(
        strict=True, reason="issue 11: RTSP dates beam events earlier than offline"))
    if n in RTSP_DIFFERS else n for n in RTSP_CLIPS])
def test_held_out_6_over_rtsp_matches_the_offline_adaptive_run(
        rows: dict[str, dict[str, Any]], rtsp_events: dict[str, list[dict[str, Any]]],
        name: str) -> None:
    check_rtsp_matches(rtsp_events[name], rows[name]["adaptive"]["event_starts"], RTSP_OFF_S)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="issue 11: onset late"))
    if n in ONSET_MISSED else n for n in RTSP_CLIPS])
def test_held_out_6_over_rtsp_starts_soon_after_the_onset(
        rows: dict[str, dict[str, Any]], rtsp_events: dict[str, list[dict[str, Any]]],
        name: str) -> None:
    check_onset(rtsp_events[name], rows[name]["onsets_s"], ONSET_LATE_S)
