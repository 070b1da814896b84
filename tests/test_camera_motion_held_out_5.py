"""Held-out set 5 (issue 11, fifth round): footage nobody tuned on, scored on main's detector.

Eight scenes in the fifth drawing style (``street_sets.HELD_OUT_5``, ``street_clips_e*``),
one per failure kind the issue names and none like an earlier scene. Written and committed
before the fifth detector round; the scores asserted here were measured once, on the
detector as it was before that round (``test-artifacts/held-out-5-before.json``,
docs/detection-quality.md "held-out 5"), and nobody tunes on these clips. Three ways, each
from a cold start:

- offline, ``decode: all`` (``motion_scoring.run_clip``, as ``test_camera_motion.py``);
- ``decode: adaptive`` through the agent's real ``PyAVSource`` (``adaptive_scoring``, as
  ``test_camera_motion_adaptive.py``);
- over the local RTSP server in real time to a fresh agent in adaptive mode, for the four
  clips with the fastest movers: event starts against the truth's onsets.

Floors are the measured score rounded down to 2 decimals after taking off 0.02 (the encodes
are repeatable), so a regression fails; the issue's targets (F1 >= 0.85, at most 1 false
event in rain, no event of 0 s) are strict expected failures where they are not met, so an
improvement shows. The tables are printed (-s) and written to
test-artifacts/camera-motion-held-out-5-scores.json.

How the standing people count (h5-meet-talk): from 16 s / 18 s to 30 s the two stand still,
and a mover standing still is not labelled (it changes no pixel). Motion reported on them
then is a false positive frame, and an event *starting* then (0.2 s inside the stretch) is a
false event; an event that started while they walked and goes on while they stand is not
counted as false (the event scoring looks only at starts), but its frames with motion are.
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
)

# A cold cache encodes eight 720p clips of 25-45 s in the first test's fixture, two at a
# time: measured 811 s for the whole module cold at load 5-8 on 2 cores (~640 s of it the
# encodes), 172 s warm.
pytestmark = [pytest.mark.motion, pytest.mark.timeout(COLD_CLIPS_TIMEOUT_S)]

SET = street_sets.HELD_OUT_5
MOTION_CLIPS = sorted(n for n, s in SET.items() if s.movers)
STILL_CLIPS = sorted(n for n, s in SET.items() if not s.movers)
TARGET_F1 = 0.85
RAIN_FALSE_EVENTS = 1  # the issue: at most one false event in rain; none anywhere else

# Per clip and mode: (F1, precision, IoU) floors, the score measured before round 5 (in the
# comment) rounded down to 2 decimals after taking off 0.02. The encodes are repeatable (one
# libx264 thread): two runs gave the same figures.
ALL_FLOORS: dict[str, tuple[float, float, float]] = {
    "h5-umbrella-rain": (0.67, 0.79, 0.41),  # 0.692 0.818 0.436
    "h5-meet-talk": (0.57, 0.98, 0.24),  # 0.595 1.000 0.262
    "h5-dog-fence": (0.54, 0.95, 0.58)}  # 0.568 0.974 0.608
# Adaptive after round 5 and the look-back (scored once; nothing was changed for this set):
# before -> after in the comment. The umbrella clip lost precision (it now sees the lens drop
# at 1.07 s, as `all` does); its floor from before stays, a strict expected failure below.
ADAPTIVE_FLOORS_5: dict[str, tuple[float, float, float]] = {
    "h5-umbrella-rain": (0.67, 0.80, 0.41),  # 0.686 0.881 0.473 -> 0.696 0.829 0.436
    "h5-meet-talk": (0.60, 0.98, 0.26),  # 0.563 1.000 0.274 -> 0.622 1.000 0.281
    "h5-dog-fence": (0.55, 0.95, 0.58)}  # 0.541 0.972 0.599 -> 0.574 0.974 0.608
ADAPTIVE_FLOORS_5_BEFORE_ROUND_5 = {"h5-umbrella-rain": (0.66, 0.86, 0.45)}
# F1 under 0.05, where a floor 0.02 lower asserts nothing: the dark walker is never found
# (0 / 0), the motorbike crossing through the IR switch neither (0 / 0), the motorbike at
# night is boxed by its headlamp and beam, not its body (0.029 / 0.016, IoU 0.06 / 0.23).
NO_FLOOR: dict[str, set[str]] = {"all": {"h5-dark-walker", "h5-ir-moto", "h5-moto-beam"},
                                 "adaptive": {"h5-dark-walker", "h5-ir-moto", "h5-moto-beam"}}
# Every clip with movers is under F1 0.85 in both modes before round 5.
MISSES_TARGET: dict[str, set[str]] = {"all": set(MOTION_CLIPS), "adaptive": set(MOTION_CLIPS)}
# More false events than allowed (0, or 1 in lens rain): offline the umbrella in rain has 2
# (1.07 s, 6.27 s, before the walker at 8 s: lens drops) and the tree shadow 2 (0.27 s,
# 7.87 s); adaptive the shadow 1 (2.13 s) and the flickering lamp in rain 3 (4.13, 10.2,
# 14.13 s; offline 1, allowed). After round 5 (scored once, the detector not changed for
# it): offline the night motorbike gained one, a start at 29.73 s with none before - a
# regression on this unseen set, kept here so that it shows until it is fixed.
# Adaptive after round 5 and the look-back: the flickering lamp 3 -> 1 (allowed in rain),
# the umbrella 1 -> 2 (as offline), the motorbike through the IR switch 0 -> 1 (13.07 s,
# after it has passed): regressions kept here so that they show.
FALSE_EVENTS: dict[str, set[str]] = {"all": {"h5-umbrella-rain", "h5-shadow-wall",
                                             "h5-moto-beam"},
                                     "adaptive": {"h5-shadow-wall", "h5-umbrella-rain",
                                                  "h5-ir-moto"}}
# No event of 0 s anywhere (the shortest last 0.27 s).
ZERO_DURATION: dict[str, set[str]] = {"all": set(), "adaptive": set()}
# Scenes with nobody: motion in at most this share of the analysed frames. The swaying
# shadow shows motion in 90 of 225 frames in both modes; the rain 1 and 6 of 188.
QUIET_SHARE = 0.05
NOT_QUIET: dict[str, set[str]] = {"all": {"h5-shadow-wall"}, "adaptive": {"h5-shadow-wall"}}


@pytest.fixture(scope="module")
def rows(clip_dir: Path, artifacts_dir: Path) -> dict[str, dict[str, Any]]:
    return score_set(SET, clip_dir, artifacts_dir, "held-out-5")


@pytest.mark.parametrize(("mode", "name"), [("all", n) for n in sorted(ALL_FLOORS)]
                         + [("adaptive", n) for n in sorted(ADAPTIVE_FLOORS_5)])
def test_held_out_5_stays_above_its_floors(rows: dict[str, dict[str, Any]], mode: str,
                                           name: str) -> None:
    check_floors(rows[name][mode], (ALL_FLOORS if mode == "all" else ADAPTIVE_FLOORS_5)[name])


@pytest.mark.xfail(strict=True, reason="issue 11: precision lost in round 5 + look-back")
@pytest.mark.parametrize("name", sorted(ADAPTIVE_FLOORS_5_BEFORE_ROUND_5))
def test_held_out_5_regains_its_adaptive_floors_from_before_round_5(
        rows: dict[str, dict[str, Any]], name: str) -> None:
    f1, precision, box_iou = ADAPTIVE_FLOORS_5_BEFORE_ROUND_5[name]
    row = rows[name]["adaptive"]
    assert row["f1"] >= f1 and row["precision"] >= precision and row["iou"] >= box_iou, row


def test_every_clip_with_movers_has_floors_or_is_never_found() -> None:
    assert set(ALL_FLOORS) | NO_FLOOR["all"] == set(MOTION_CLIPS)
    assert set(ADAPTIVE_FLOORS_5) | NO_FLOOR["adaptive"] == set(MOTION_CLIPS)


@pytest.mark.parametrize(("mode", "name"), both_modes(MISSES_TARGET, MOTION_CLIPS,
                                                      "issue 11: not reached"))
def test_held_out_5_reaches_the_issue_target(rows: dict[str, dict[str, Any]], mode: str,
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
# fastest movers (two motorbikes, the trotting dog and the pushed bicycle, the walkers who
# meet). Measured before round 5, first start over RTSP / offline adaptive / truth onset:
# dog 10.27 / 10.13 / 3.0 s, motorbike through the IR switch none / none / 9.53 s, walkers
# 8.27 / 8.13 / 3.0 s, motorbike at night 19.35 / 19.13 / 6.0 s.
RTSP_CLIPS = ["h5-dog-fence", "h5-ir-moto", "h5-meet-talk", "h5-moto-beam"]
# The agent over RTSP must see the events the offline adaptive run sees, each start within
# this (the RTSP start-up, a loaded machine; measured: 0.14-0.22 s).
RTSP_OFF_S = 1.0
# The first event should start within this of the first onset, not before it: a GOP of 2 s
# waiting for a key frame, the frames persistence needs, the RTSP start-up. None does.
ONSET_LATE_S = 2.8
ONSET_MISSED = set(RTSP_CLIPS)


@pytest.fixture(scope="module")
def rtsp_events(broker: Broker, tmp_path_factory: pytest.TempPathFactory, clip_dir: Path
                ) -> dict[str, list[dict[str, Any]]]:
    """Each clip streamed once (in real time: ~2.5 min for the four)."""
    return rtsp_set_events(SET, RTSP_CLIPS, broker, tmp_path_factory, clip_dir)


@pytest.mark.parametrize("name", RTSP_CLIPS)
def test_held_out_5_over_rtsp_matches_the_offline_adaptive_run(
        rows: dict[str, dict[str, Any]], rtsp_events: dict[str, list[dict[str, Any]]],
        name: str) -> None:
    check_rtsp_matches(rtsp_events[name], rows[name]["adaptive"]["event_starts"], RTSP_OFF_S)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="issue 11: onset late"))
    if n in ONSET_MISSED else n for n in RTSP_CLIPS])
def test_held_out_5_over_rtsp_starts_soon_after_the_onset(
        rows: dict[str, dict[str, Any]], rtsp_events: dict[str, list[dict[str, Any]]],
        name: str) -> None:
    check_onset(rtsp_events[name], rows[name]["onsets_s"], ONSET_LATE_S)
