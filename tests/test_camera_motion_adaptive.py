"""Frame F1 in ``decode: adaptive`` (the default) on every street clip with movers, offline.

Each clip is played through the agent's real ``PyAVSource`` as fast as it can be read, with
the source's clock set to stream time (``tests/infra/adaptive_scoring.py``: the seam, and why
the scored frames are ``run_clip``'s), from a cold start, three ways:

- ``all``: every frame decoded, the agent's picture (``luma``: the Y plane at full range);
- ``adaptive``: the agent's defaults (key frames while still, slice-QP activity trigger,
  catch-up from the key frame, the owner's 1 s tail, the look-back over the previous GOP
  when a key frame shows motion, ``fast_decode`` off);
- ``adaptive, fast decode``: the same with ``fast_decode`` on, to tell what the missing
  deblocking costs from what waiting for a key frame costs.

The table (-s) is also written to test-artifacts/camera-motion-adaptive-scores.json.

(``run_clip``, used by ``test_camera_motion.py``, converts frames with
``to_ndarray(format="gray")``, which stretches the video range 16-235 to 0-255. Until
2026-12-01 the agent's ``luma`` passed the raw plane and scored lower than the offline tables
on 17 of 31 clips; it stretches the same way now, and ``all`` here gives ``run_clip``'s
figures.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import test_camera_motion_held_out_5 as held_out_5
from tests import test_camera_motion_held_out_6 as held_out_6
from tests import test_camera_motion_held_out_7 as held_out_7
from tests.infra import street_sets
from tests.infra.adaptive_scoring import first_hit_s, run_source
from tests.infra.clip_lock import COLD_CLIPS_TIMEOUT_S
from tests.infra.motion_scoring import score

pytestmark = [pytest.mark.motion, pytest.mark.timeout(COLD_CLIPS_TIMEOUT_S)]  # builds every clip

SETS: dict[str, dict[str, Any]] = {
    "street-tuning": street_sets.TUNING, "street-held-out": street_sets.HELD_OUT,
    "street-held-out-2": street_sets.HELD_OUT_2, "street-held-out-3": street_sets.HELD_OUT_3,
    "street-held-out-4": street_sets.HELD_OUT_4, "street-held-out-5": street_sets.HELD_OUT_5,
    "street-held-out-6": street_sets.HELD_OUT_6, "street-held-out-7": street_sets.HELD_OUT_7,
    "street-tuning-osd": street_sets.TUNING_OSD}
MOTION_CLIPS = [(set_name, name) for set_name, scenes in SETS.items()
                for name, scene in scenes.items() if scene.movers]
# Held-out sets 5 to 7 have their floors and targets asserted in their own modules
# (test_camera_motion_held_out_5.py / _6.py / _7.py, with their offline and RTSP scores);
# here they take part in the checks across sets.
OWN_MODULE = {"street-held-out-5", "street-held-out-6", "street-held-out-7"}
OWN_TABLE = [(c, n) for c, n in MOTION_CLIPS if c not in OWN_MODULE]
TARGET_F1 = 0.85  # issue 11: from a cold start, in every decode mode
# What adaptive decoding may cost against decoding every frame (same picture, same detector):
# the wait for the next key frame at a mover's onset (up to one 2 s GOP while the trigger
# stays silent) and the tail after it. Clips that lose more are strict expected failures.
MARGIN_F1 = 0.05
# Per clip, adaptive with the agent's defaults: (F1, precision, IoU), each the measured score
# (in the comment) rounded down to 2 decimals after taking off 0.02, as test_camera_motion's
# STREET_FLOORS. The encodes are repeatable (one libx264 thread), so are the scores. Re-set
# with the look-back (2026-12-01): raised where a score rose, lowered only where it fell
# (those clips keep their earlier floors in FLOORS_BEFORE_LOOK_BACK, strict xfail).
ADAPTIVE_FLOORS: dict[str, tuple[float, float, float]] = {
    # street-tuning
    "t-rain": (0.96, 0.95, 0.76),  # 0.987 0.975 0.787
    "t-dark-slow": (0.92, 0.95, 0.70),  # 0.949 0.976 0.713
    "t-dark-slower": (0.78, 0.98, 0.58),  # 0.802 1.000 0.603
    "t-headlights": (0.94, 0.93, 0.47),  # 0.963 0.951 0.495
    "t-ir-mover": (0.97, 0.96, 0.79),  # 0.990 0.981 0.815
    "t-lamp-walker": (0.83, 0.95, 0.57),  # 0.851 0.977 0.573
    "t-ir-two": (0.96, 0.96, 0.69),  # 0.983 0.983 0.716
    "t-ir-cross": (0.94, 0.98, 0.55),  # 0.968 1.000 0.570
    "t-car-beam": (0.90, 0.92, 0.48),  # 0.921 0.946 0.502 (round 5 with the look-back)
    "t-foliage": (0.96, 0.95, 0.86),  # 0.987 0.975 0.889
    "t-rain-slide-walker": (0.61, 0.51, 0.48),  # 0.630 0.531 0.501
    "t-car-glow": (0.84, 0.73, 0.46),  # 0.860 0.755 0.487
    "t-ir-slow": (0.96, 0.98, 0.72),  # 0.882 1.000 0.744 -> 0.989 1.000 0.746 (round 5 + look-back)
    # added in the fifth round, never found before its change (F1 0)
    "t-dark-far": (0.58, 0.96, 0.53),  # 0.605 0.986 0.558 (round 5 with the look-back)
    "t-dark-far-figure": (0.18, 0.98, 0.36),  # 0.205 1.000 0.385 (round 5 with the look-back)
    "t-wind-walker": (0.41, 0.31, 0.23),  # 0.430 0.337 0.257 (round 5 with the look-back)
    # added in the sixth round, scored before its change
    "t-far-walker": (0.76, 0.82, 0.27),  # 0.789 0.841 0.292
    "t-far-two": (0.92, 0.96, 0.19),  # 0.945 0.981 0.218
    "t-far-dog": (0.88, 0.98, 0.25),  # 0.900 1.000 0.277
    "t-far-moto": (0.05, 0.05, 0.10),  # 0.074 0.079 0.128
    "t-moto-beam": (0.03, 0.03, 0.05),  # 0.059 0.053 0.071
    "t-ir-moto": (0.64, 0.83, 0.37),  # 0.667 0.857 0.398
    # added in the seventh round (720p), scored at 160 px before its change (t-hd-far-walker,
    # never found in adaptive, has no floor)
    "t-hd-moto-night": (0.15, 0.14, 0.11),  # 0.176 0.162 0.131
    "t-hd-ir-mover": (0.96, 0.96, 0.71),  # 0.987 0.987 0.735
    "t-hd-rain-walker": (0.95, 0.93, 0.77),  # 0.977 0.955 0.791
    # street-held-out
    "h-rain": (0.74, 0.98, 0.68),  # 0.765 1.000 0.708
    "h-dark-walk": (0.88, 0.98, 0.57),  # 0.901 1.000 0.586
    "h-headlights": (0.79, 0.68, 0.40),  # 0.810 0.708 0.410
    "h-ir-walker": (0.95, 0.95, 0.72),  # 0.979 0.979 0.734
    "h-foliage-lamp": (0.88, 0.95, 0.49),  # 0.909 0.976 0.517
    # street-held-out-2
    "h2-rain-walker": (0.60, 0.82, 0.42),  # 0.629 0.846 0.446 (round 5 with the look-back)
    "h2-night-lamp-walk": (0.95, 0.98, 0.52),  # 0.973 1.000 0.547
    "h2-car-beam": (0.55, 0.51, 0.27),  # 0.578 0.533 0.296 (round 5 with the look-back)
    "h2-ir-two": (0.81, 0.98, 0.61),  # 0.837 1.000 0.630
    "h2-foliage-dark": (0.97, 0.96, 0.63),  # 0.988 0.988 0.652
    # street-held-out-3
    "h3-umbrella-rain": (0.85, 0.79, 0.77),  # 0.877 0.803 0.792
    "h3-dark-shuffle": (0.94, 0.98, 0.48),  # 0.969 1.000 0.498
    "h3-car-wet": (0.72, 0.62, 0.39),  # 0.742 0.643 0.416
    "h3-ir-crossing": (0.58, 0.73, 0.36),  # 0.602 0.756 0.388
    # street-held-out-4
    "h4-rain-walker": (0.48, 0.40, 0.34),  # 0.483 0.429 0.362
    "h4-car-lamps": (0.70, 0.59, 0.36),  # 0.728 0.611 0.387
    "h4-ir-cyclist": (0.51, 0.59, 0.32),  # 0.532 0.617 0.349
    "h4-dark-walker": (0.52, 0.98, 0.45),  # 0 -> 0.544 1.000 0.474 (round 5: slow movers)
    # street-tuning-osd (round 7: a burnt-in clock), before the overlay finder -> with it
    "t-osd-day-walker": (0.95, 0.93, 0.81),  # 0.978 0.957 0.820 -> 0.978 0.957 0.831
    "t-osd-rain-walker": (0.95, 0.93, 0.81),  # 0.978 0.957 0.832 -> 0.978 0.957 0.832
    "t-osd-ir-walker": (0.97, 0.96, 0.77),  # 0.972 0.945 0.789 -> 0.990 0.981 0.793
}
# found in no mode (F1 0): nothing to keep
NO_FLOOR = {"t-rain-heavy",
            "t-hd-far-walker"}  # (0.288 in ``all``; adaptive never woke for him at 160 px)


@pytest.fixture(scope="module")
def rows(artifacts_dir: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    # a cold cache: two builders at a time (held-out 5 alone is ~10 min of drawing)
    street_sets.make_street_clips([SETS[c][n] for c, n in MOTION_CLIPS],
                                  artifacts_dir / "camera-clips")
    for set_name, name in MOTION_CLIPS:
        clip = street_sets.make_street_clip(SETS[set_name][name], artifacts_dir / "camera-clips")
        row: dict[str, Any] = {"set": set_name}
        runs: list[tuple[str, str, dict[str, Any]]] = [
            ("all", "all", {}), ("adaptive", "adaptive", {}),
            ("fast_decode", "adaptive", {"fast_decode": True})]
        for key, mode, options in runs:
            played = run_source(clip, mode, **options)
            row[key] = score(played.run)
            row[key].update(first_hit_s=first_hit_s(played.run), decoded=played.decoded,
                            analysed=played.analysed, triggers=played.triggers,
                            longest_hold_s=played.longest_hold_s, replayed=played.replayed,
                            look_backs=played.look_backs)
        out[name] = row
    print("\n" + table(out))
    (artifacts_dir / "camera-motion-adaptive-scores.json").write_text(json.dumps(out, indent=2))
    return out


def table(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["clip                 set    all F1 | adaptive F1  prec   IoU  | fast-decode F1 |"
             " 1st hit all/adaptive (s) | decoded all/adaptive  triggers"]
    for name, r in rows.items():
        a, d, f = r["all"], r["adaptive"], r["fast_decode"]
        iou = f"{d['iou']:.3f}" if d["iou"] is not None else "  -  "
        lines.append(f"{name:20s} {r['set'][7:]:12s} {a['f1']:.3f} | {d['f1']:.3f}  "
                     f"{d['precision']:.3f} {iou} | {f['f1']:.3f} | {a['first_hit_s']} / "
                     f"{d['first_hit_s']} | {a['decoded']} / {d['decoded']}  {d['triggers']}")
    return "\n".join(lines)


def _marked(names: set[str], reason: str, clips: list[tuple[str, str]] = MOTION_CLIPS
            ) -> list[Any]:
    return [pytest.param(c, n, marks=pytest.mark.xfail(strict=True, reason=reason))
            if n in names else (c, n) for c, n in clips]


def test_every_clip_has_a_floor_or_is_never_found() -> None:
    assert {n for _, n in OWN_TABLE} == set(ADAPTIVE_FLOORS) | NO_FLOOR
    assert {n for c, n in MOTION_CLIPS if c == "street-held-out-5"} == set(
        held_out_5.ADAPTIVE_FLOORS_5) | held_out_5.NO_FLOOR["adaptive"]
    assert {n for c, n in MOTION_CLIPS if c == "street-held-out-6"} == set(
        held_out_6.ADAPTIVE_FLOORS) | held_out_6.NO_FLOOR["adaptive"]
    assert {n for c, n in MOTION_CLIPS if c == "street-held-out-7"} == set(
        held_out_7.ADAPTIVE_FLOORS) | held_out_7.NO_FLOOR["adaptive"]


@pytest.mark.parametrize("name", sorted(ADAPTIVE_FLOORS))
def test_adaptive_stays_above_its_floors(rows: dict[str, dict[str, Any]], name: str) -> None:
    f1, precision, box_iou = ADAPTIVE_FLOORS[name]
    row = rows[name]["adaptive"]
    assert row["f1"] >= f1 and row["precision"] >= precision, row
    assert row["iou"] is not None and row["iou"] >= box_iou, row


# Clips where adaptive loses more than MARGIN_F1 against decoding every frame.
# Before the look-back 13 clips did (the wait for the next key frame at an onset).
LOSES_MORE_THAN_MARGIN = {"h-rain", "h4-car-lamps", "t-dark-slower", "h4-dark-walker", "t-dark-far",
                          "t-dark-far-figure", "t-hd-far-walker"}


@pytest.mark.parametrize(("clip_set", "name"),
                         _marked(LOSES_MORE_THAN_MARGIN, "issue 11: adaptive loses frames"))
def test_adaptive_within_margin_of_all(rows: dict[str, dict[str, Any]], clip_set: str,
                                       name: str) -> None:
    row = rows[name]
    assert row["adaptive"]["f1"] >= row["all"]["f1"] - MARGIN_F1, (row["all"], row["adaptive"])


# h-headlights joined with the look-back (0.895 -> 0.810, what ``all`` scores: the beam ahead
# of the car is now seen as early as decoding every frame sees it); h-foliage-lamp,
# h3-umbrella-rain and t-lamp-walker left.
ADAPTIVE_MISSES_TARGET = {
    "h-headlights", "h-rain", "h2-car-beam", "h2-ir-two", "h2-rain-walker", "h3-car-wet",
    "h3-ir-crossing", "h4-car-lamps", "h4-dark-walker", "h4-ir-cyclist", "h4-rain-walker",
    "t-dark-slower", "t-rain-heavy", "t-rain-slide-walker",
    "t-dark-far", "t-dark-far-figure", "t-wind-walker",  # round 5's clips
    "t-far-walker", "t-far-moto", "t-moto-beam", "t-ir-moto",  # round 6's clips
    "t-hd-far-walker", "t-hd-moto-night",  # round 7's 720p clips
}


@pytest.mark.parametrize(("clip_set", "name"),
                         _marked(ADAPTIVE_MISSES_TARGET, "issue 11: not reached in adaptive",
                                 OWN_TABLE))
def test_adaptive_reaches_the_issue_target(rows: dict[str, dict[str, Any]], clip_set: str,
                                           name: str) -> None:
    assert rows[name]["adaptive"]["f1"] >= TARGET_F1, rows[name]["adaptive"]


# ``fast_decode`` (no deblocking between key frames) was documented as harmless to the
# detector; clips where adaptive with it scores more than 0.02 below adaptive without it.
# With the look-back both arms gained, ``fast_decode`` less (the look-back's frames are decoded
# without deblocking too): 6 clips joined, h2-foliage-dark left.
FAST_DECODE_HURTS = {
    "h-dark-walk", "h-foliage-lamp", "h-headlights", "h2-car-beam", "h2-ir-two",
    "h2-night-lamp-walk", "h2-rain-walker", "h3-car-wet", "h3-dark-shuffle", "h4-rain-walker",
    "t-car-beam", "t-dark-slower", "t-headlights", "t-ir-cross", "t-ir-mover", "t-rain",
    "h5-meet-talk",  # 0.529 with it, 0.563 without (held-out 5, before round 5)
    # round 5: the slow movers (found later or not at all with fast_decode) and a new clip
    "t-dark-far-figure", "h4-dark-walker", "t-ir-slow",
    "h6-moto-junction",  # 0.102 with it, 0.125 without (held-out 6, before round 6)
    # round 6's new clips, before its change: far walker 0.636 vs 0.789, far dog 0.769 vs
    # 0.900, IR motorbike 0.625 vs 0.667
    "t-far-walker", "t-far-dog", "t-ir-moto",
    "h7-school-gate-noon",  # 0.864 with it, 0.887 without (held-out 7, before round 7)
    # round 7's 720p clips, before its change: night motorbike 0.095 vs 0.176, rain walker
    # 0.895 vs 0.977
    "t-hd-moto-night", "t-hd-rain-walker",
    # round 7's clips with a burnt-in clock (scored with overlay: auto): t-osd-rain-walker
    # 0.957 vs 0.978 (the same with overlay: off: fast_decode's own cost)
    "t-osd-rain-walker",
}


@pytest.mark.parametrize(("clip_set", "name"),
                         _marked(FAST_DECODE_HURTS, "issue 11: fast_decode costs F1"))
def test_fast_decode_costs_the_detector_nothing(rows: dict[str, dict[str, Any]],
                                                clip_set: str, name: str) -> None:
    row = rows[name]
    assert row["fast_decode"]["f1"] >= row["adaptive"]["f1"] - 0.02, (row["fast_decode"],
                                                                      row["adaptive"])


# The floors these clips had before the look-back. Headlight and car clips (t-car-beam,
# t-car-glow, h-headlights, h2-car-beam, h3-car-wet) and h4-rain-walker now score what
# ``all`` scores: waiting for the key frame had hidden the beam that the detector boxes ahead
# of the car. h-rain (0.800 -> 0.765; ``all`` 0.940) loses the walker for 2 s mid-event after
# a clean onset: the detector saw only key frames before it. The others lost precision or
# IoU while their F1 rose (h-foliage-lamp 0.840 -> 0.909, h3-ir-crossing 0.574 -> 0.602).
FLOORS_BEFORE_LOOK_BACK: dict[str, tuple[float, float, float]] = {
    "t-car-glow": (0.91, 0.92, 0.40),
    "h-rain": (0.78, 0.98, 0.63),
    "h-headlights": (0.87, 0.83, 0.40),
    "h-foliage-lamp": (0.82, 0.98, 0.53),
    "h2-night-lamp-walk": (0.87, 0.98, 0.55),
    "h3-car-wet": (0.78, 0.69, 0.32),
    "h3-ir-crossing": (0.55, 0.85, 0.40),
    "h4-rain-walker": (0.48, 0.44, 0.34),
    "h4-ir-cyclist": (0.54, 0.70, 0.37),
    # round 5's floors (its slow movers, scored without the look-back) and the look-back's
    # (h2-rain-walker, scored before round 5): together they score less
    "t-dark-far": (0.60, 0.98, 0.56),
    "t-dark-far-figure": (0.39, 0.95, 0.41),
    "t-wind-walker": (0.46, 0.37, 0.22),
    "h2-rain-walker": (0.63, 0.86, 0.44),
}


@pytest.mark.xfail(strict=True, reason="issue 11: the look-back sees what 'all' sees")
@pytest.mark.parametrize("name", sorted(FLOORS_BEFORE_LOOK_BACK))
def test_adaptive_regains_its_floors_before_the_look_back(rows: dict[str, dict[str, Any]],
                                                          name: str) -> None:
    f1, precision, box_iou = FLOORS_BEFORE_LOOK_BACK[name]
    row = rows[name]["adaptive"]
    assert row["f1"] >= f1 and row["precision"] >= precision, row
    assert row["iou"] is not None and row["iou"] >= box_iou, row


def test_holds_run_on_stream_time_and_all_mode_analyses_the_grid(
        rows: dict[str, dict[str, Any]]) -> None:
    # If the source's holds ran on the wall clock while the file is read as fast as possible,
    # a 1 s hold would cover many seconds of stream: frames the agent would never decode.
    for name, row in rows.items():
        # (a look-back decodes a GOP twice: on rain noise it can take adaptive past ``all``)
        assert row["adaptive"]["decoded"] - row["adaptive"]["replayed"] < row["all"]["decoded"], \
            (name, row)
        assert row["adaptive"]["longest_hold_s"] < 1.0 + 1e-6, (name, row["adaptive"])
        # all mode analyses every frame of run_clip's grid: nothing scored as "not analysed"
        assert row["all"]["analysed"] == row["all"]["frames"], (name, row["all"])
