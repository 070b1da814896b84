"""Score the street tuning set at one or more analysis widths (issue 11: far movers).

Not a CI test: an experiment's tool. For each width, every tuning clip is scored in
``decode: all`` (``motion_scoring.run_clip``) and in ``decode: adaptive`` (the agent's real
source, ``adaptive_scoring.run_source``) with a detector of that width, and the detector's
CPU time per 720p frame on the camera benchmark's clip (``benchmarks/camera.py``'s
``detector_ms``) is measured. Prints per clip F1 / precision / IoU / false events, the
means, and writes everything as JSON.

    .venv/bin/python scripts/dev/score_width.py 160 240 320 -o widths.json

``--set HELD_OUT_7`` (any set of ``street_sets``) scores a held-out set instead: only once a
decision taken on the tuning set is committed (the held-out rule,
docs/detection-quality.md). Per clip it also reports the events of 0 s and the share of labelled boxes under ``min_area`` (the
same at every width), as the held-out modules do; ``--no-timing`` skips the CPU timing.

    .venv/bin/python scripts/dev/score_width.py 160 240 --set HELD_OUT_7 --no-timing \
        -o held-out-7.json
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.infra import street_sets  # noqa: E402
from tests.infra.adaptive_scoring import run_source  # noqa: E402
from tests.infra.held_out_scoring import small_boxes  # noqa: E402
from tests.infra.motion_scoring import run_clip, score  # noqa: E402

CLIPS = ROOT / "test-artifacts" / "camera-clips"  # the tests' clip cache (conftest clip_dir)
MODES = ("all", "adaptive")


def score_one(job: tuple[str, str, str, int]) -> tuple[str, str, int, dict[str, Any]]:
    set_name, name, mode, width = job
    clip = street_sets.make_street_clip(getattr(street_sets, set_name)[name], CLIPS)
    run = run_clip(clip, width=width) if mode == "all" else run_source(clip, width=width).run
    return name, mode, width, score(run)


def means(rows: dict[str, dict[str, Any]], scenes: dict[str, Any]) -> dict[str, float]:
    moving = [r for n, r in rows.items() if scenes[n].movers]
    return {"f1": round(sum(r["f1"] for r in moving) / len(moving), 4),
            "precision": round(sum(r["precision"] for r in moving) / len(moving), 4),
            "iou": round(sum(r["iou"] or 0.0 for r in moving) / len(moving), 4),
            "false_events": sum(len(r["false_starts_in_still"]) for r in rows.values()),
            "zero_duration_events": sum(r["zero_duration_events"] for r in rows.values())}


def report(results: dict[int, dict[str, dict[str, dict[str, Any]]]], scenes: dict[str, Any]
           ) -> None:
    widths = sorted(results)
    for mode in MODES:
        print(f"\n== decode: {mode} (F1 prec IoU false 0s-events, per width {widths})")
        for name in scenes:
            cells = []
            for w in widths:
                r = results[w][mode][name]
                iou_s = f"{r['iou']:.3f}" if r["iou"] is not None else "  -  "
                cells.append(f"{r['f1']:.3f} {r['precision']:.3f} {iou_s} "
                             f"{len(r['false_starts_in_still'])} {r['zero_duration_events']}")
            print(f"{name:20s} " + " | ".join(cells))
        for w in widths:
            print(f"mean at {w}: {means(results[w][mode], scenes)}")
        base = results[widths[0]][mode]
        for w in widths[1:]:  # the brief's rule: no clip down by more than 0.02
            down = {n: round(r["f1"] - base[n]["f1"], 3) for n, r in results[w][mode].items()
                    if r["f1"] < base[n]["f1"] - 0.02}
            print(f"F1 down > 0.02 at {w} against {widths[0]}: {down or 'none'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("widths", type=int, nargs="+")
    parser.add_argument("-o", "--output", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", default="TUNING", help="a set of street_sets (default TUNING)")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--timing-rounds", type=int, default=3,
                        help="detector timings per width; the least is kept (a loaded "
                        "machine only adds time)")
    args = parser.parse_args()
    scenes: dict[str, Any] = getattr(street_sets, args.set)
    jobs = [(args.set, n, m, w) for w in args.widths for m in MODES for n in scenes]
    results: dict[int, dict[str, dict[str, dict[str, Any]]]] = {
        w: {m: {} for m in MODES} for w in args.widths}
    with ProcessPoolExecutor(args.workers) as pool:
        for name, mode, width, row in pool.map(score_one, jobs):
            results[width][mode][name] = row
    # the names in the set's order, whatever order the workers finished in
    results = {w: {m: {n: results[w][m][n] for n in scenes} for m in MODES}
               for w in args.widths}
    report(results, scenes)
    small = {}
    for name, scene in scenes.items():  # the labels' sizes: the same at every width
        under, boxes = small_boxes(street_sets.make_street_clip(scene, CLIPS))
        small[name] = {"boxes": boxes, "boxes_under_min_area": under,
                       "share": round(under / boxes, 3) if boxes else None}
        print(f"{name:20s} boxes under min_area: {under} of {boxes}")
    timing: dict[int, dict[str, float]] = {}
    if not args.no_timing:
        from benchmarks.camera import clips, detector_ms
        for w in args.widths:
            runs = [detector_ms(clips()[0], w) for _ in range(args.timing_rounds)]
            timing[w] = {k: min(r[k] for r in runs) for k in runs[0]}
            print(f"detector ms per 720p frame at {w}: {timing[w]}")
    if args.output:
        args.output.write_text(json.dumps({"set": args.set, "scores": results,
                                           "detector_ms": timing, "small_boxes": small,
                                           "means": {w: {m: means(results[w][m], scenes)
                                                         for m in MODES}
                                                     for w in args.widths}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
