"""Score the motion detector on a labelled clip, frame by frame and event by event.

- Frames are decoded with PyAV, as the agent does, and analysed through the agent's own
  ``FrameAnalysis`` (its cadence, ``analysis_fps``, and the burnt-in overlay finder where
  the camera would have ``overlay: auto``: see ``overlay_finder``). Every decoded
  frame must line up with one ground-truth frame: a missing or extra frame fails the clip.
- A frame is a hit when motion is reported with a box whose IoU with a true box is at least
  ``HIT_IOU``: a blob covering the whole picture is no hit. A frame with motion but no such
  box is a false positive; a labelled frame without such a box is a miss.
- ``iou``: the mean, over labelled frames with motion reported, of each true box's best IoU.
- Events go through the real ``EventTracker``; an event starting in a still stretch is false.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from edge_agent.cameras.analysis import FrameAnalysis
from edge_agent.cameras.config import CameraConfig, MotionConfig
from edge_agent.cameras.events import EventTracker
from edge_agent.cameras.motion import MotionDetector, MotionResult
from edge_agent.cameras.overlay import OverlayFinder
from tests.infra.clips import load_truth

HIT_IOU = 0.2
DEFAULT_WIDTH: int = CameraConfig.model_fields["analysis_width"].default
DEFAULT_OVERLAY: str = CameraConfig.model_fields["overlay"].default
Box = tuple[float, ...]


@dataclass
class ClipRun:
    results: list[MotionResult]
    truth: list[list[Box]]  # for the analysed frames only
    still: list[tuple[float, float]]
    # The results the event tracker sees when they differ from the scored ones (adaptive
    # decode: a frame not analysed is scored as "no motion" but never reaches the tracker).
    events_from: list[MotionResult] | None = None


def iou(a: Box, b: Box) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def labelled(clip: Path, cfg: MotionConfig | None = None, width: int | None = None
             ) -> tuple[dict[str, Any], float, list[list[Box]], MotionDetector]:
    """The clip's metadata, frame rate and boxes per frame, and a cold detector with its
    masks, analysing at ``width`` pixels (the agent's ``analysis_width`` default unless told)."""
    meta: dict[str, Any] = load_truth(clip)
    truth: list[list[Box]] = [[tuple(b) for b in f] for f in meta["boxes"]]
    masks = [[tuple(p) for p in m] for m in meta.get("masks", [])]
    return meta, float(meta["fps"]), truth, MotionDetector(
        cfg or MotionConfig(), masks=masks, width=width or DEFAULT_WIDTH)


# Clips drawn with a burnt-in clock and name (``street_clips_osd``) are scored as their
# technician would set the camera up: ``overlay: auto``. Every other clip gets the default.
OVERLAY_CLIPS_PREFIX = "t-osd-"


def overlay_finder(overlay: str | None = None, clip: Path | None = None) -> OverlayFinder | None:
    """The agent's overlay finder for ``overlay`` ("auto" / "off"; None: the camera's setting
    for ``clip``: "auto" for the clips with a burnt-in overlay, else the config's default)."""
    if overlay is None:
        drawn = clip is not None and clip.name.startswith(OVERLAY_CLIPS_PREFIX)
        overlay = "auto" if drawn else DEFAULT_OVERLAY
    return OverlayFinder() if overlay == "auto" else None


def run_clip(clip: Path, cfg: MotionConfig | None = None, analysis_fps: float = 10.0,
             width: int | None = None, overlay: str | None = None) -> ClipRun:
    """Decode ``clip`` and analyse it from a cold start (the agent's defaults by default)."""
    meta, fps, truth, det = labelled(clip, cfg, width)
    rule = FrameAnalysis(det, analysis_fps, lambda f: f.to_ndarray(format="gray"),
                         overlay=overlay_finder(overlay, clip))
    results: list[MotionResult] = []
    kept: list[list[Box]] = []
    decoded = 0
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            decoded += 1
            if i >= len(truth):
                continue
            done = rule.frame(frame, i / fps)
            if done is not None:
                results.append(done.result)
                kept.append(truth[i])
    if decoded != len(truth):
        raise AssertionError(f"{clip.name}: decoded {decoded} frames, ground truth has "
                             f"{len(truth)}: frames do not line up")
    still = [(float(a), float(b)) for a, b in meta["still"]]
    return ClipRun(results, kept, still)


def score(run: ClipRun, cfg: MotionConfig | None = None) -> dict[str, Any]:
    tp = fp = fn = 0
    ious: list[float] = []
    for r, boxes in zip(run.results, run.truth, strict=True):
        reported = [b.box for b in r.blobs] if r.motion else []
        best = [max((iou(t, b) for b in reported), default=0.0) for t in boxes]
        if reported and boxes:
            ious.extend(best)
        hit = any(v >= HIT_IOU for v in best)
        tp += hit
        fp += bool(reported) and not hit
        fn += bool(boxes) and not hit
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    row: dict[str, Any] = {"frames": len(run.results), "tp": tp, "fp": fp, "fn": fn,
                           "precision": round(precision, 3),
                           "recall": round(recall, 3), "f1": round(f1, 3),
                           "iou": round(sum(ious) / len(ious), 3) if ious else None}
    row.update(events(run, cfg or MotionConfig()))
    return row


def events(run: ClipRun, cfg: MotionConfig) -> dict[str, Any]:
    tracker = EventTracker(cfg)
    starts: list[float] = []
    durations: list[float] = []
    fed = run.results if run.events_from is None else run.events_from
    for r in fed:
        for m in tracker.feed(r):
            if m.kind == "start":
                starts.append(m.ts)
            elif m.kind == "end":
                durations.append(m.duration_s)
    if fed:
        durations += [m.duration_s for m in tracker.end(fed[-1].ts + 1.0)]
    false = [t for t in starts for a, b in run.still if a <= t < b]
    return {"event_starts": [round(t, 2) for t in starts],
            "false_starts_in_still": [round(t, 2) for t in false],
            "durations": durations, "zero_duration_events": sum(d <= 0 for d in durations)}


def table(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["clip                  prec   rec    F1     IoU   tp  fp  fn  false  starts (s)"]
    for name, r in rows.items():
        iou_s = f"{r['iou']:.3f}" if r["iou"] is not None else "  -  "
        lines.append(f"{name:21s} {r['precision']:.3f} {r['recall']:.3f} {r['f1']:.3f} "
                     f"{iou_s} {r['tp']:4d} {r['fp']:3d} {r['fn']:3d}  "
                     f"{len(r['false_starts_in_still']):3d}   {r['event_starts']}")
    return "\n".join(lines)
