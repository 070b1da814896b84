"""Frame F1 in ``decode: adaptive`` (the default) on every street clip with movers, offline.

Each clip is played through the agent's real ``PyAVSource`` as fast as it can be read, with
the source's clock set to stream time (``tests/infra/adaptive_scoring.py``: the seam, and why
the scored frames are ``run_clip``'s), from a cold start, three ways:

- ``all``: every frame decoded, the agent's picture (``luma``: the Y plane at full range);
- ``adaptive``: the agent's defaults (key frames while still, slice-QP activity trigger,
  catch-up from the key frame, the owner's 1 s tail, ``fast_decode`` off);
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
from tests.infra import street_sets
from tests.infra.adaptive_scoring import first_hit_s, run_source
from tests.infra.clip_lock import COLD_CLIPS_TIMEOUT_S
from tests.infra.motion_scoring import score

pytestmark = [pytest.mark.motion, pytest.mark.timeout(COLD_CLIPS_TIMEOUT_S)]  # builds every clip

SETS: dict[str, dict[str, Any]] = {
    "street-tuning": street_sets.TUNING, "street-held-out": street_sets.HELD_OUT,
    "street-held-out-2": street_sets.HELD_OUT_2, "street-held-out-3": street_sets.HELD_OUT_3,
    "street-held-out-4": street_sets.HELD_OUT_4, "street-held-out-5": street_sets.HELD_OUT_5}
MOTION_CLIPS = [(set_name, name) for set_name, scenes in SETS.items()
                for name, scene in scenes.items() if scene.movers]
# Held-out set 5's own floors and targets are asserted in test_camera_motion_held_out_5.py
# (with its offline and RTSP scores); here it takes part in the checks across sets.
OWN_TABLE = [(c, n) for c, n in MOTION_CLIPS if c != "street-held-out-5"]
TARGET_F1 = 0.85  # issue 11: from a cold start, in every decode mode
# What adaptive decoding may cost against decoding every frame (same picture, same detector):
# the wait for the next key frame at a mover's onset (up to one 2 s GOP while the trigger
# stays silent) and the tail after it. Clips that lose more are strict expected failures.
MARGIN_F1 = 0.05
# Per clip, adaptive with the agent's defaults: (F1, precision, IoU), each the measured score
# (in the comment) rounded down to 2 decimals after taking off 0.02, as test_camera_motion's
# STREET_FLOORS. The encodes are repeatable (one libx264 thread), so are the scores.
ADAPTIVE_FLOORS: dict[str, tuple[float, float, float]] = {
    # street-tuning
    "t-rain": (0.83, 0.94, 0.76),  # 0.857 0.968 0.786
    "t-dark-slow": (0.89, 0.95, 0.70),  # 0.918 0.975 0.729
    "t-dark-slower": (0.78, 0.98, 0.58),  # 0.802 1.000 0.603
    "t-headlights": (0.90, 0.92, 0.47),  # 0.923 0.947 0.496
    "t-ir-mover": (0.93, 0.96, 0.78),  # 0.950 0.980 0.809
    "t-lamp-walker": (0.78, 0.95, 0.57),  # 0.804 0.975 0.590
    "t-ir-two": (0.86, 0.96, 0.67),  # 0.881 0.980 0.696
    "t-ir-cross": (0.88, 0.96, 0.54),  # 0.908 0.982 0.561
    "t-car-beam": (0.91, 0.92, 0.47),  # 0.935 0.947 0.498
    "t-foliage": (0.89, 0.95, 0.86),  # 0.919 0.971 0.888
    "t-rain-slide-walker": (0.61, 0.51, 0.47),  # 0.630 0.531 0.498
    "t-car-glow": (0.91, 0.92, 0.40),  # 0.937 0.949 0.428
    "t-ir-slow": (0.90, 0.98, 0.70),  # 0.882 1.000 0.744 -> 0.923 1.000 0.725
    # added in the fifth round, never found before its change (F1 0)
    "t-dark-far": (0.60, 0.98, 0.56),  # 0.626 1.000 0.586
    "t-dark-far-figure": (0.39, 0.95, 0.41),  # 0.410 0.976 0.430
    "t-wind-walker": (0.46, 0.37, 0.22),  # 0.483 0.398 0.248 (before the shadow rule)
    # street-held-out
    "h-rain": (0.78, 0.98, 0.63),  # 0.800 1.000 0.653
    "h-dark-walk": (0.86, 0.98, 0.57),  # 0.887 1.000 0.592
    "h-headlights": (0.87, 0.83, 0.40),  # 0.895 0.850 0.424
    "h-ir-walker": (0.84, 0.95, 0.72),  # 0.860 0.974 0.747
    "h-foliage-lamp": (0.82, 0.98, 0.53),  # 0.840 1.000 0.559
    # street-held-out-2
    "h2-rain-walker": (0.57, 0.85, 0.42),  # 0.597 0.870 0.446
    "h2-night-lamp-walk": (0.87, 0.98, 0.55),  # 0.899 1.000 0.572
    "h2-car-beam": (0.55, 0.50, 0.27),  # 0.571 0.522 0.292
    "h2-ir-two": (0.74, 0.98, 0.57),  # 0.761 1.000 0.585 -> 0.761 1.000 0.593 (round 5)
    "h2-foliage-dark": (0.97, 0.96, 0.62),  # 0.994 0.988 0.647
    # street-held-out-3
    "h3-umbrella-rain": (0.82, 0.79, 0.76),  # 0.846 0.812 0.783
    "h3-dark-shuffle": (0.92, 0.98, 0.48),  # 0.948 1.000 0.501
    "h3-car-wet": (0.78, 0.69, 0.32),  # 0.809 0.717 0.345
    "h3-ir-crossing": (0.55, 0.85, 0.40),  # 0.574 0.879 0.421
    # street-held-out-4
    "h4-rain-walker": (0.48, 0.44, 0.34),  # 0.509 0.467 0.360
    "h4-car-lamps": (0.73, 0.63, 0.35),  # 0.692 0.568 0.379 -> 0.750 0.651 0.379 (round 5)
    "h4-ir-cyclist": (0.54, 0.70, 0.37),  # 0.569 0.725 0.391
    "h4-dark-walker": (0.52, 0.98, 0.45),  # 0 -> 0.544 1.000 0.474 (round 5: slow movers)
}
# found in no mode (F1 0): nothing to keep
NO_FLOOR = {"t-rain-heavy"}


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
                            longest_hold_s=played.longest_hold_s)
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


@pytest.mark.parametrize("name", sorted(ADAPTIVE_FLOORS))
def test_adaptive_stays_above_its_floors(rows: dict[str, dict[str, Any]], name: str) -> None:
    f1, precision, box_iou = ADAPTIVE_FLOORS[name]
    row = rows[name]["adaptive"]
    assert row["f1"] >= f1 and row["precision"] >= precision, row
    assert row["iou"] is not None and row["iou"] >= box_iou, row


# Clips where adaptive loses more than MARGIN_F1 against decoding every frame.
LOSES_MORE_THAN_MARGIN = {
    "h-dark-walk", "h-ir-walker", "h-rain", "h2-night-lamp-walk", "h3-ir-crossing",
    "h4-dark-walker", "h2-ir-two",  # (h2-ir-two since round 5: `all` gained, adaptive not)
    "h4-car-lamps", "t-dark-slow", "t-dark-slower", "t-foliage", "t-ir-cross", "t-ir-two",
    "t-lamp-walker", "t-rain", "t-ir-slow", "t-dark-far", "t-dark-far-figure",
}


@pytest.mark.parametrize(("clip_set", "name"),
                         _marked(LOSES_MORE_THAN_MARGIN, "issue 11: adaptive loses frames"))
def test_adaptive_within_margin_of_all(rows: dict[str, dict[str, Any]], clip_set: str,
                                       name: str) -> None:
    row = rows[name]
    assert row["adaptive"]["f1"] >= row["all"]["f1"] - MARGIN_F1, (row["all"], row["adaptive"])


ADAPTIVE_MISSES_TARGET = {
    "h-foliage-lamp", "h-rain", "h2-car-beam", "h2-ir-two", "h2-rain-walker", "h3-car-wet",
    "h3-ir-crossing", "h3-umbrella-rain", "h4-car-lamps", "h4-dark-walker", "h4-ir-cyclist",
    "h4-rain-walker", "t-dark-slower", "t-lamp-walker", "t-rain-heavy", "t-rain-slide-walker",
    "t-dark-far", "t-dark-far-figure", "t-wind-walker",
}


@pytest.mark.parametrize(("clip_set", "name"),
                         _marked(ADAPTIVE_MISSES_TARGET, "issue 11: not reached in adaptive",
                                 OWN_TABLE))
def test_adaptive_reaches_the_issue_target(rows: dict[str, dict[str, Any]], clip_set: str,
                                           name: str) -> None:
    assert rows[name]["adaptive"]["f1"] >= TARGET_F1, rows[name]["adaptive"]


# ``fast_decode`` (no deblocking between key frames) was documented as harmless to the
# detector; clips where adaptive with it scores more than 0.02 below adaptive without it.
FAST_DECODE_HURTS = {
    "h-dark-walk", "h-headlights", "h2-car-beam", "h2-foliage-dark", "h2-night-lamp-walk",
    "h3-car-wet", "h3-dark-shuffle", "h4-rain-walker", "t-car-beam", "t-dark-slower", "t-rain",
    "h5-meet-talk",  # 0.529 with it, 0.563 without (held-out 5, before round 5)
    # round 5: the slow movers (found later or not at all with fast_decode) and a new clip
    "t-dark-far", "t-dark-far-figure", "h4-dark-walker", "t-wind-walker",
}


@pytest.mark.parametrize(("clip_set", "name"),
                         _marked(FAST_DECODE_HURTS, "issue 11: fast_decode costs F1"))
def test_fast_decode_costs_the_detector_nothing(rows: dict[str, dict[str, Any]],
                                                clip_set: str, name: str) -> None:
    row = rows[name]
    assert row["fast_decode"]["f1"] >= row["adaptive"]["f1"] - 0.02, (row["fast_decode"],
                                                                      row["adaptive"])


def test_holds_run_on_stream_time_and_all_mode_analyses_the_grid(
        rows: dict[str, dict[str, Any]]) -> None:
    # If the source's holds ran on the wall clock while the file is read as fast as possible,
    # a 1 s hold would cover many seconds of stream: frames the agent would never decode.
    for name, row in rows.items():
        assert row["adaptive"]["decoded"] < row["all"]["decoded"], (name, row)
        assert row["adaptive"]["longest_hold_s"] < 1.0 + 1e-6, (name, row["adaptive"])
        # all mode analyses every frame of run_clip's grid: nothing scored as "not analysed"
        assert row["all"]["analysed"] == row["all"]["frames"], (name, row["all"])
