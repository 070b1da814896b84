"""What the held-out set modules (``test_camera_motion_held_out_5.py``, ``..._6.py``) share:
scoring a whole set from a cold start offline (``decode: all``) and in ``decode: adaptive``
through the real ``PyAVSource``, streaming chosen clips over the local RTSP server to a fresh
agent, the truth's onsets, and the parametrisation that marks the clips known to miss a
target as strict expected failures (so an improvement shows)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from edge_agent.cameras.config import MotionConfig
from tests.infra import street_sets
from tests.infra.adaptive_scoring import first_hit_s, run_source
from tests.infra.broker import Broker
from tests.infra.clips import load_truth
from tests.infra.motion_scoring import run_clip, score, table
from tests.infra.mqtt_client import ControlRoom
from tests.infra.rtsp_motion import events_over_rtsp


def onsets_s(clip: Path) -> list[float]:
    """Clip times at which something starts to be labelled after nothing was."""
    meta = load_truth(clip)
    boxes: list[list[Any]] = meta["boxes"]  # type: ignore[assignment]
    fps = float(meta["fps"])  # type: ignore[arg-type]
    return [round(i / fps, 2) for i, b in enumerate(boxes) if b and (i == 0 or not boxes[i - 1])]


def small_boxes(clip: Path, min_area: float | None = None) -> tuple[int, int]:
    """(labelled boxes smaller than ``min_area`` of the picture - the detector's default
    when not given -, labelled boxes) over every frame of the clip."""
    limit = MotionConfig().min_area if min_area is None else min_area
    boxes = [b for frame in load_truth(clip)["boxes"] for b in frame]  # type: ignore[attr-defined]
    return sum(b[2] * b[3] < limit for b in boxes), len(boxes)


def score_set(scenes: Mapping[str, Any], clip_dir: Path, artifacts_dir: Path, label: str
              ) -> dict[str, dict[str, Any]]:
    """Every clip of the set (built two at a time when the cache is cold) from a cold
    start, offline and adaptive; the tables printed (-s) and written to
    ``artifacts_dir/camera-motion-<label>-scores.json``."""
    out: dict[str, dict[str, Any]] = {}
    built = street_sets.make_street_clips(scenes.values(), clip_dir)
    for (name, scene), clip in zip(scenes.items(), built, strict=True):
        offline, played = run_clip(clip), run_source(clip, "adaptive")
        small, boxes = small_boxes(clip)
        out[name] = {"all": score(offline), "adaptive": score(played.run),
                     "onsets_s": onsets_s(clip), "duration_s": scene.duration_s,
                     "boxes": boxes, "boxes_under_min_area": small}
        out[name]["all"]["first_hit_s"] = first_hit_s(offline)
        out[name]["adaptive"].update(first_hit_s=first_hit_s(played.run),
                                     decoded=played.decoded, triggers=played.triggers)
    for mode in ("all", "adaptive"):
        print(f"\n{label}, decode: {mode}\n" + table({n: r[mode] for n, r in out.items()}))
    (artifacts_dir / f"camera-motion-{label}-scores.json").write_text(json.dumps(out, indent=2))
    return out


def rtsp_set_events(scenes: Mapping[str, Any], names: list[str], broker: Broker,
                    tmp_path_factory: pytest.TempPathFactory, clip_dir: Path
                    ) -> dict[str, list[dict[str, Any]]]:
    """Each named clip streamed once in real time to a fresh agent in adaptive mode: the
    events it publishes (``rtsp_motion.events_over_rtsp``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        clip = street_sets.make_street_clip(scenes[name], clip_dir)
        room = ControlRoom(broker.port, "commune/#")
        try:
            out[name] = events_over_rtsp(room, broker, tmp_path_factory.mktemp(name), clip,
                                         "adaptive", scenes[name].duration_s - 0.5)
        finally:
            room.close()
        print(f"\n{name} over RTSP (adaptive): {out[name]}")
    return out


def starts(events: list[dict[str, Any]]) -> list[float]:
    """When the events were published to start (clip seconds)."""
    return [e["at_s"] for e in events if e["event"] == "start"]


def started(events: list[dict[str, Any]]) -> list[float]:
    """Where the events say the motion began (``started_at``, with the look-back)."""
    return [e["started_s"] for e in events if e["event"] == "start"]


def xfail_where(mode: str, names: list[str], failing: set[str], reason: str) -> list[Any]:
    """(mode, name) parameters, those in ``failing`` a strict expected failure."""
    return [pytest.param(mode, n, marks=pytest.mark.xfail(strict=True, reason=reason))
            if n in failing else (mode, n) for n in names]


def both_modes(failing: dict[str, set[str]], names: list[str], reason: str) -> list[Any]:
    """``xfail_where`` for ``all`` then ``adaptive``."""
    return [*xfail_where("all", names, failing["all"], reason),
            *xfail_where("adaptive", names, failing["adaptive"], reason)]


# The checks both held-out modules make on a scored row (``score_set``) or RTSP events.
def check_floors(row: dict[str, Any], floors: tuple[float, float, float]) -> None:
    f1, precision, box_iou = floors
    assert row["f1"] >= f1 and row["precision"] >= precision, row
    assert row["iou"] is not None and row["iou"] >= box_iou, row


def check_false_events(row: dict[str, Any], allowed: int) -> None:
    assert len(row["false_starts_in_still"]) <= allowed, row


def check_no_zero_event(row: dict[str, Any]) -> None:
    assert row["zero_duration_events"] == 0 and all(d > 0 for d in row["durations"]), row


def check_quiet(row: dict[str, Any], share: float) -> None:
    assert row["fp"] <= share * row["frames"], row


def check_rtsp_matches(events: list[dict[str, Any]], offline: list[float], off_s: float
                       ) -> None:
    """The agent over RTSP saw the offline adaptive run's events, each dated (``started_at``:
    with the look-back a start is published after the key frame that found it but dated where
    the motion began, as offline) within ``off_s``; no event ended after 0 s."""
    at = started(events)
    assert len(at) == len(offline), (at, offline)
    assert all(abs(a - b) <= off_s for a, b in zip(at, offline, strict=True)), (at, offline)
    ends = [e for e in events if e["event"] == "end"]
    assert all(e["duration_s"] > 0 for e in ends), ends


def check_onset(events: list[dict[str, Any]], onsets: list[float], late_s: float) -> None:
    """The first event was published no earlier than the first onset, within ``late_s``."""
    at = starts(events)
    assert at and 0 <= at[0] - onsets[0] <= late_s, (at, onsets)
