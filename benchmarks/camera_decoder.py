"""Decoder options for the detect sub-stream: what each costs against a full decode of the
main stream, in the same round (the rig and clips of ``camera.py``).

Each arm is a bare PyAV client over RTSP (one decoder thread unless said), CPU over the same
WINDOW of clip time as ``camera.py``; ratios are taken within a round against (a), a full
decode of the 720p main stream with the agent's settings. The arms:

- ``sub_*``: every frame of the 640x360 512 kbit/s sub-stream with one decoder option:
  ``skip_loop_filter`` (deblocking) off on inter frames (``nokey``) or on all frames, ``skip_idct``,
  ``flags2=+fast``, ``flags=+gray`` (only does something when FFmpeg was built with
  ``--enable-gray``: PyAV's wheels are not), slice or frame threads (2);
- ``main_demux``: the main stream's packets read and dropped (the record stream's floor);
- ``agent_two_streams``: the agent with both streams, for comparison in the same round.

Usage: ``.venv/bin/python benchmarks/camera_decoder.py [--rounds N]`` (one round ~5 min);
results in ``benchmarks/results/camera_decoder.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.camera import clips  # noqa: E402
from benchmarks.camera_rig import bench_rig, decode_only, run_agent  # noqa: E402
from benchmarks.cleanup import stop_children_on_exit  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "camera_decoder.json"
SUB_ARMS: dict[str, dict[str, Any]] = {
    "sub_default": {},
    "sub_skip_loop_filter_nokey": {"options": {"skip_loop_filter": "nokey"}},
    "sub_skip_loop_filter_all": {"options": {"skip_loop_filter": "all"}},
    "sub_skip_idct_all": {"options": {"skip_idct": "all"}},
    "sub_flags2_fast": {"options": {"flags2": "+fast"}},
    "sub_flags_gray": {"options": {"flags": "+gray"}},
    "sub_slice_threads_2": {"threads": 2, "thread_type": "SLICE"},
    "sub_frame_threads_2": {"threads": 2, "thread_type": "FRAME"},
    "sub_skip_loop_filter_all_fast": {"options": {"skip_loop_filter": "all", "flags2": "+fast"}},
}


def one_round(main: Path, sub: Path) -> dict[str, float]:
    row: dict[str, float] = {}
    with bench_rig(main, sub) as (tmp, broker, server, _):
        row["decode_all"] = decode_only(server)
        for key, extra in SUB_ARMS.items():
            row[key] = decode_only(server, mount="/sub", extra=extra)
        row["main_demux"] = decode_only(server, "DEMUX")
        row["agent_two_streams"], _ = run_agent(tmp, broker, server, None, 1, two_streams=True)
    out = {k: round(v, 3) for k, v in row.items()}
    for key in row:
        if key != "decode_all":
            out[f"ratio_{key}"] = round(row[key] / row["decode_all"], 3)
    out["load_1m"] = round(psutil.getloadavg()[0], 2)
    return out


def main() -> int:
    stop_children_on_exit()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    main_clip, sub_clip = clips()
    rounds = []
    for _ in range(args.rounds):
        rounds.append(one_round(main_clip, sub_clip))
        print(f"round {len(rounds)}: {rounds[-1]}", flush=True)
    ratios = {k: round(statistics.median(r[k] for r in rounds), 3)
              for k in rounds[0] if k.startswith("ratio_")}
    result = {"rounds": rounds, "median_ratios": ratios,
              "machine": {"cpus": psutil.cpu_count(), "load_1m": round(psutil.getloadavg()[0], 2),
                          "note": "shared 2-core VM, other helpers' tests running"}}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(k) for k in ratios)
    for key, value in ratios.items():
        print(f"{key:<{width}}  {value}")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    raise SystemExit(main())
