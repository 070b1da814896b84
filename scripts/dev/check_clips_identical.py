"""Prove a generator change is bit for bit: every labelled clip, drawn and encoded by the
code in this tree into an empty scratch directory, must have the same mp4 bytes (sha256) as
the clip the old code encoded (libx264 with one thread is deterministic, so equal frames give
equal bytes). Also the cold build's cost per set: wall, drawing CPU (this process) and
encoding CPU (the ffmpeg child).

    # before a generator edit: hash the warm cache (the clips the current code names)
    .venv/bin/python scripts/dev/check_clips_identical.py record
    # after it: build every clip cold and compare (or --sets street-held-out-5 ...)
    .venv/bin/python scripts/dev/check_clips_identical.py check --jobs 2

The reference is ``scripts/dev/clip-sha256.json``; the clips' file names differ between
the two (the key hashes the generators' source), their bytes must not. Not a CI test: a cold
build of every set is a quarter of an hour of CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.infra import adaptive_sets, clips, street_sets  # noqa: E402

REFERENCE = Path(__file__).resolve().with_name("clip-sha256.json")
# the 720p sets first (the slowest), so the pool's tail is short
FIRST = ("street-held-out-5", "street-held-out-4", "adaptive-tuning", "adaptive-held-out",
         "street-held-out-3")
Job = tuple[str, str]  # (set, clip id)


def _clips_sets() -> dict[str, dict[str, Callable[[Path], Path]]]:
    """Every set, by clip id, with how the tests build it into a directory."""
    def clip(name: str, **size: int) -> Callable[[Path], Path]:
        return lambda d: clips.make_clip(name, d, **size)

    def street(scene: Any) -> Callable[[Path], Path]:
        return lambda d: street_sets.make_street_clip(scene, d)

    def adaptive(c: adaptive_sets.Clip) -> Callable[[Path], Path]:
        return lambda d: adaptive_sets.make(c, d)

    out: dict[str, dict[str, Callable[[Path], Path]]] = {}
    for set_name, scenes in (("dev", clips.SCENES), ("held-out-1", clips.HELD_OUT),
                             ("held-out-2", clips.HELD_OUT_2), ("held-out-3", clips.HELD_OUT_3)):
        out[set_name] = {n: clip(n) for n in scenes}
    out["dev"]["moving@640x480"] = clip("moving", width=640, height=480)
    for set_name, table in (("street-tuning", street_sets.TUNING),
                            ("street-held-out", street_sets.HELD_OUT),
                            ("street-held-out-2", street_sets.HELD_OUT_2),
                            ("street-held-out-3", street_sets.HELD_OUT_3),
                            ("street-held-out-4", street_sets.HELD_OUT_4),
                            ("street-held-out-5", street_sets.HELD_OUT_5),
                            ("street-held-out-6", street_sets.HELD_OUT_6),
                            ("street-held-out-7", street_sets.HELD_OUT_7)):
        out[set_name] = {n: street(s) for n, s in table.items()}
    out["adaptive-tuning"] = {n: adaptive(c) for n, c in adaptive_sets.TUNING.items()}
    out["adaptive-held-out"] = {n: adaptive(c) for n, c in adaptive_sets.HELD_OUT.items()}
    out["adaptive-held-out"][adaptive_sets.RTSP_WALKER.name] = adaptive(adaptive_sets.RTSP_WALKER)
    return out


SETS = _clips_sets()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build(job: Job, directory: Path) -> dict[str, Any]:
    """Build one clip in this (pool) process: its sha256, wall time, own CPU (drawing and
    piping) and the children's CPU (ffmpeg: decoding nothing, encoding everything)."""
    set_name, name = job
    me0, kids0 = resource.getrusage(resource.RUSAGE_SELF), \
        resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    path = SETS[set_name][name](directory / set_name)
    wall = time.monotonic() - t0
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"set": set_name, "name": name, "sha256": _sha(path), "wall_s": round(wall, 2),
            "draw_cpu_s": round(me.ru_utime + me.ru_stime - me0.ru_utime - me0.ru_stime, 2),
            "encode_cpu_s": round(kids.ru_utime + kids.ru_stime - kids0.ru_utime
                                  - kids0.ru_stime, 2)}


def record(warm: Path) -> None:
    """Hash the clips the current code names in the warm cache (building any missing)."""
    ref: dict[str, str] = {}
    for set_name, table in SETS.items():
        directory = warm / ("adaptive-clips" if set_name.startswith("adaptive") else "camera-clips")
        for name, build in table.items():
            ref[f"{set_name}/{name}"] = _sha(build(directory))
    REFERENCE.write_text(json.dumps(ref, indent=1, sort_keys=True))
    print(f"{len(ref)} clips hashed into {REFERENCE}")


def check(sets: list[str], jobs: int, scratch: Path, out: Path | None) -> int:
    ref: dict[str, str] = json.loads(REFERENCE.read_text())
    shutil.rmtree(scratch, ignore_errors=True)
    todo: list[Job] = [(s, n) for s in sets for n in SETS[s]]
    todo.sort(key=lambda j: FIRST.index(j[0]) if j[0] in FIRST else len(FIRST))
    t0 = time.monotonic()
    with ProcessPoolExecutor(jobs) as pool:
        rows = list(pool.map(_build, todo, [scratch] * len(todo)))
    wall = time.monotonic() - t0
    bad = 0
    for r in rows:
        want = ref.get(f"{r['set']}/{r['name']}")
        r["same"] = want == r["sha256"] if want else None
        bad += r["same"] is False
        verdict = {True: "SAME", False: "DIFFERENT", None: "no reference"}[r["same"]]
        print(f"{r['set']:18} {r['name']:26} {verdict}  wall {r['wall_s']:6.1f} s  "
              f"draw {r['draw_cpu_s']:6.1f} s  encode {r['encode_cpu_s']:6.1f} s")
    for s in sets:
        part = [r for r in rows if r["set"] == s]
        print(f"== {s:18} {len(part):2} clips  wall {sum(r['wall_s'] for r in part):7.1f} s  "
              f"draw {sum(r['draw_cpu_s'] for r in part):7.1f} s  "
              f"encode {sum(r['encode_cpu_s'] for r in part):7.1f} s  "
              f"same {sum(bool(r['same']) for r in part)}/{len(part)}")
    print(f"== all: {len(rows)} clips in {wall:.0f} s wall ({jobs} jobs), {bad} different, "
          f"{sum(r['same'] is None for r in rows)} without a reference")
    if out:
        out.write_text(json.dumps(rows, indent=1))
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("record", "check"))
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/clips-cold"))
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = parser.parse_args()
    if args.mode == "record":
        record(ROOT / "test-artifacts")
        return 0
    return check(args.sets, args.jobs, args.scratch, args.json)


if __name__ == "__main__":
    sys.exit(main())
