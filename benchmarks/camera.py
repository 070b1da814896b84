"""Camera benchmark: decode CPU, agent cost with one and two streams, latency, RSS.

Side by side on the same machine (ratios matter, absolute numbers are noisy):

- a 720p 15 fps H.264 clip (the camera's main stream), key frame every 2 s, 1.5 Mbit/s, sensor
  noise, 60 s, mostly still with two crossings (12-16 s and 38-42 s), and the same frames at
  640x360, 512 kbit/s (its sub-stream), served in a loop by the local RTSP server at ``/cam``
  and ``/sub``;
- each round, back to back, CPU over the same WINDOW of clip time (24 s, one crossing):
  (a) a bare PyAV client decoding every frame of the main stream (the reference), the same
  decoding key frames only (the floor of single-stream ``adaptive``), a bare decode of every
  frame of the sub-stream, the agent with the main stream only in ``adaptive`` mode, and the
  agent with both streams (detection decodes every sub-stream frame, the main stream is only
  buffered); ratios are taken within a round, medians over rounds;
- motion onset -> ``camera/{id}/motion`` start at a paho subscriber (onset = the first frame
  with ground truth, timed from the first frame the server pushed on the detection stream);
- ``--memory``: 4 two-stream cameras for 40 s (RSS/USS/PSS every 2 s, and onset latencies),
  then 4 single-stream ``adaptive`` cameras for 40 s (their onset latencies).

CPU is that of the measured process only (psutil, the process and its children: the agent
has none); the RTSP server, ffmpeg and the broker are other processes and are not counted.

Usage: ``.venv/bin/python benchmarks/camera.py [--rounds N] [--append]`` (one round is about
2.5 minutes; ``--append`` adds the rounds to those already in the results file), then
``--memory``; results in ``benchmarks/results/camera.json``. ``--detector`` times the detector
alone; ``--soak MINUTES`` runs the 4-camera memory test for that long
(``camera_soak.json``); ``--adaptive-sweep`` measures single-stream adaptive at 0/6/25 %
movement (``camera_adaptive_sweep.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.camera_rig import (  # noqa: E402
    FPS_DEFAULT,
    Subscriber,
    bench_rig,
    decode_only,
    latencies,
    run_agent,
)
from benchmarks.cleanup import stop_children_on_exit  # noqa: E402
from tests.infra.broker import Broker  # noqa: E402
from tests.infra.clips import Mover, Scene, load_truth, make_clip  # noqa: E402
from tests.infra.rtsp_server import RtspServer  # noqa: E402

WIDTH, HEIGHT, FPS, GOP = 1280, 720, FPS_DEFAULT, 30
SUB = (640, 360, 512)  # width, height, kbit/s of the sub-stream
# Sensor noise and a constant bit rate like a real camera's (1.5 Mbit/s at 720p): with a
# noiseless, constant-quality clip the inter frames are nearly empty and decoding costs
# almost nothing, which no real camera does.
SCENE = Scene("bench", 60.0, (Mover(12.0, 16.0, (34, 46), 0.55, 1, 1),
                              Mover(38.0, 42.0, (40, 30), 0.35, -1, 2)), noise_sigma=4.0)
BITRATE_K = 1500
CACHE = ROOT / "benchmarks" / "results" / ".cache"
RESULTS = ROOT / "benchmarks" / "results" / "camera.json"


def clips() -> tuple[Path, Path]:
    main = make_clip("bench", CACHE, width=WIDTH, height=HEIGHT, fps=FPS, gop=GOP, scene=SCENE,
                     bitrate_k=BITRATE_K)
    sub = make_clip("bench", CACHE, width=SUB[0], height=SUB[1], fps=FPS, gop=GOP,
                    scene=SCENE, bitrate_k=SUB[2])
    return main, sub


def onsets_of(clip: Path) -> list[float]:
    boxes: list[list[Any]] = load_truth(clip)["boxes"]  # type: ignore[assignment]
    return [i / FPS for i in range(len(boxes)) if boxes[i] and (i == 0 or not boxes[i - 1])]


ARMS = ("decode_all", "decode_keyframes", "decode_sub_all", "agent_adaptive",
        "agent_two_streams", "agent_two_streams_adaptive", "agent_adaptive_size",
        "agent_adaptive_off", "agent_adaptive_fast", "agent_two_streams_fast",
        "agent_adaptive_no_look_back")
# The agent arms: (decode mode, two streams?, extra camera settings). ``_size``/``_off`` are
# single-stream adaptive with the old packet-size trigger and with no trigger (key frames
# only), measured in the same rounds as the bitstream trigger (``agent_adaptive``); ``_fast``
# the same as their base arm with ``fast_decode`` (no deblocking between key frames; off by
# default since it was found to cost the detector on dark noisy pictures); ``_no_look_back``
# single-stream adaptive without the look-back over the previous GOP at a key-frame onset
# (what a look-back costs: CPU, and delay of the start message).
AGENT_ARMS: dict[str, tuple[str | None, bool, dict[str, Any]]] = {
    "agent_adaptive": ("adaptive", False, {}),
    "agent_two_streams": (None, True, {}),
    "agent_two_streams_adaptive": ("adaptive", True, {}),
    "agent_adaptive_size": ("adaptive", False, {"activity_trigger": "size"}),
    "agent_adaptive_off": ("adaptive", False, {"activity_trigger": "off"}),
    "agent_adaptive_fast": ("adaptive", False, {"fast_decode": True}),
    "agent_two_streams_fast": (None, True, {"fast_decode": True}),
    "agent_adaptive_no_look_back": ("adaptive", False, {"look_back": False}),
}


def one_round(tmp: Path, broker: Broker, server: RtspServer, sub: Subscriber,
              onsets: list[float], lat: dict[str, list[float]],
              arms: tuple[str, ...] = ARMS, flip: bool = False) -> dict[str, float]:
    """One round; ``flip`` runs the agent arms in the reverse order (every other round, so
    no arm always comes first after the bare decoders)."""
    row = {"decode_all": decode_only(server)}  # every ratio needs it
    if "decode_keyframes" in arms:
        row["decode_keyframes"] = decode_only(server, "NONKEY")
    if "decode_sub_all" in arms:
        row["decode_sub_all"] = decode_only(server, mount="/sub")
    order = list(AGENT_ARMS.items())
    for key, (decode, two, extra) in reversed(order) if flip else order:
        if key not in arms:
            continue
        n = len(sub.starts)
        row[key], t0 = run_agent(tmp, broker, server, decode, 1, two_streams=two, extra=extra)
        lat.setdefault(key, [])
        lat[key] += latencies(sub.starts[n:], t0, onsets, SCENE.duration_s)
    row = {k: round(v, 2) for k, v in row.items()}
    for key in ARMS[1:]:
        if key in row:
            row[f"ratio_{key}"] = round(row[key] / row["decode_all"], 3)
    return row


def cpu_rounds(rounds: int, append: bool, arms: tuple[str, ...] = ARMS) -> int:
    main, sub_clip = clips()
    onsets = onsets_of(main)
    old = json.loads(RESULTS.read_text()) if append and RESULTS.exists() else {}
    results: dict[str, Any] = old if old.get("format") == 2 else {"format": 2}
    results.setdefault("rounds", [])
    lat: dict[str, list[float]] = {k: list(v) for k, v in
                                   results.get("latency_samples_s", {}).items()}
    lat.setdefault("agent_adaptive", [])
    lat.setdefault("agent_two_streams", [])
    lat.setdefault("agent_two_streams_adaptive", [])
    with bench_rig(main, sub_clip) as (tmp, broker, server, sub):
        for _ in range(rounds):
            row = one_round(tmp, broker, server, sub, onsets, lat, arms,
                            flip=len(results["rounds"]) % 2 == 1)
            row["load_1m"] = round(psutil.getloadavg()[0], 2)
            results["rounds"].append(row)
            print(f"round {len(results['rounds'])}: {row}", flush=True)
    results["latency_samples_s"] = {k: [round(v, 3) for v in vs] for k, vs in lat.items()}
    summarise(results)
    return 0


def memory() -> int:
    """RSS with 4 two-stream cameras (and their onset latency), then the onset latency of 4
    single-stream adaptive cameras."""
    main, sub_clip = clips()
    onsets = onsets_of(main)
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault("format", 2)
    mem: list[dict[str, float]] = []
    with bench_rig(main, sub_clip) as (tmp, broker, server, sub):
        n = len(sub.starts)
        _, t0 = run_agent(tmp, broker, server, None, 4, two_streams=True, memory=mem)
        two = latencies(sub.starts[n:], t0, onsets, SCENE.duration_s)
        n = len(sub.starts)
        _, t0 = run_agent(tmp, broker, server, "adaptive", 4, memory=[])
        one = latencies(sub.starts[n:], t0, onsets, SCENE.duration_s)
    # Samples are 2 s apart; the agent releases its import-time library pages 20 s after
    # start (memory.py), so the maximum after 30 s is the running figure.
    results["memory_4_two_stream_cameras_mb"] = {
        key: {"max": round(max(m[key] for m in mem), 1),
              "max_after_30_s": round(max(m[key] for m in mem[15:]), 1),
              "samples": [round(m[key], 1) for m in mem]} for key in ("rss", "uss", "pss")}
    results["latency_4_cameras_s"] = {"two_streams": [round(v, 3) for v in two],
                                      "adaptive": [round(v, 3) for v in one]}
    summarise(results)
    return 0


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _lat(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"p50 {statistics.median(values) * 1000:.0f} / p95 {_p95(values) * 1000:.0f} ms "
            f"(n={len(values)})")


def _cpu_rows(r: dict[str, Any], rounds: list[dict[str, Any]]) -> list[tuple[str, Any, str]]:
    """Medians over rounds of the arms that ran (``--arms`` may leave some out)."""
    for key in ARMS:
        if all(key in x for x in rounds):
            r[f"cpu_s_per_min_{key}"] = round(statistics.median(x[key] for x in rounds), 2)
            if key != "decode_all":
                r[f"ratio_{key}"] = round(statistics.median(x[f"ratio_{key}"] for x in rounds),
                                          3)
    labels = {
        "agent_two_streams": ("two streams: agent / (a)", "target <= 0.12"),
        "agent_two_streams_adaptive": ("  the same, detect stream decoded adaptive", ""),
        "decode_sub_all": ("  bare PyAV decode of every 640x360 sub-stream frame / (a)", ""),
        "agent_adaptive": ("one stream, adaptive (bitstream trigger): agent / (a)",
                           "target <= 0.22"),
        "agent_adaptive_size": ("  the same, old packet-size trigger", ""),
        "agent_adaptive_off": ("  the same, no trigger (key frames only)", ""),
        "agent_adaptive_fast": ("  the same, fast_decode (no deblocking between keys)", ""),
        "agent_adaptive_no_look_back": ("  the same, no look-back at a key-frame onset", ""),
        "agent_two_streams_fast": ("two streams, fast_decode on the detect stream / (a)", ""),
        "decode_keyframes": ("  floor: PyAV decoding key frames only / (a)", ""),
    }
    rows: list[tuple[str, Any, str]] = [
        ("(a) PyAV decode, every frame of the 720p main stream, CPU s/min",
         r["cpu_s_per_min_decode_all"], "")]
    ran = [k for k in labels if f"ratio_{k}" in r and all(k in x for x in rounds)]
    rows += [(labels[k][0], r[f"ratio_{k}"], labels[k][1]) for k in ran]
    rows.append((f"rounds (ratios {' / '.join(ran)})",
                 "; ".join(" / ".join(str(x[f"ratio_{k}"]) for k in ran) for x in rounds), ""))
    return rows


def summarise(r: dict[str, Any]) -> None:
    rounds = r.get("rounds", [])
    r["machine"] = {"cpus": psutil.cpu_count(), "load_1m": round(psutil.getloadavg()[0], 2),
                    "note": "shared 2-core VM, other helpers' tests running"}
    rows: list[tuple[str, Any, str]] = []
    if rounds:
        rows += _cpu_rows(r, rounds)
    lat = r.get("latency_samples_s", {})
    four = r.get("latency_4_cameras_s", {})
    two = lat.get("agent_two_streams", []) + four.get("two_streams", [])
    one = lat.get("agent_adaptive", []) + four.get("adaptive", [])
    r["latency_two_streams_ms"] = _lat(two)
    r["latency_adaptive_ms"] = _lat(one)
    r["latency_two_streams_adaptive_ms"] = _lat(lat.get("agent_two_streams_adaptive", []))
    variants = {"agent_adaptive_size": "trigger size", "agent_adaptive_off": "trigger off",
                "agent_adaptive_no_look_back": "no look-back"}
    for key, label in variants.items():
        if lat.get(key):
            r[f"latency_{key}_ms"] = _lat(lat[key])
            rows.append((f"onset -> MQTT start, one stream adaptive, {label}",
                         r[f"latency_{key}_ms"], ""))
    rows += [("onset -> MQTT start, two streams", r["latency_two_streams_ms"], "p95 <= 400"),
             ("onset -> MQTT start, two streams, detect adaptive",
              r["latency_two_streams_adaptive_ms"], ""),
             ("onset -> MQTT start, one stream adaptive", r["latency_adaptive_ms"],
              "p95 <= 1000")]
    mem = r.get("memory_4_two_stream_cameras_mb")
    if mem:
        rows.append(("RSS, 4 two-stream cameras (720p + 360p), max MB", mem["rss"]["max"],
                     "target <= 160"))
        if "max_after_30_s" in mem["rss"]:
            rows.append(("  the same after 30 s (library pages released at 20 s)",
                         mem["rss"]["max_after_30_s"], ""))
        rows.append(("  USS / PSS max MB", f"{mem['uss']['max']} / {mem['pss']['max']}", ""))
    width = max(len(k) for k, _, _ in rows)
    for key, value, target in rows:
        print(f"{key:<{width}}  {value!s:>34}  {target}")
    RESULTS.write_text(json.dumps(r, indent=2) + "\n")
    print(f"wrote {RESULTS}")


def detector_ms(clip: Path, width: int | None = None) -> dict[str, float]:
    """Detector CPU ms per 720p frame: 720p grey plane in -> ``MotionResult`` out, analysed
    at ``width`` pixels (the agent's default unless told).

    ``frames_in_a_loop`` is the detector alone: 300 distinct 720p planes (276 MB, so every
    frame comes from memory, not from the cache) analysed one after the other, downscale
    included. ``in_decode_loop`` is what the agent pays per analysed frame: each frame analysed
    right after the decoder produced it, when the decoder has just pushed the detector's code
    and buffers out of the caches; timed with the thread's CPU clock around
    ``analyse(luma(frame))`` only.
    """
    import av
    import cv2

    import edge_agent.config  # noqa: F401
    from edge_agent.cameras.config import CameraConfig, MotionConfig
    from edge_agent.cameras.motion import MotionDetector
    from edge_agent.cameras.service import luma

    cv2.setNumThreads(1)
    width = width or CameraConfig.model_fields["analysis_width"].default
    det = MotionDetector(MotionConfig(), width=width)  # the agent's defaults otherwise
    spent, n = 0.0, 0
    with av.open(str(clip)) as c:
        c.streams.video[0].codec_context.thread_count = 1
        for i, frame in enumerate(c.decode(video=0)):
            t = time.thread_time()
            det.analyse(luma(frame), i / FPS)
            spent += time.thread_time() - t
            n += 1
    with av.open(str(clip)) as c:
        planes = [luma(f).copy() for i, f in enumerate(c.decode(video=0)) if i < 300]
    det = MotionDetector(MotionConfig(), width=width)
    t = time.thread_time()
    for i, plane in enumerate(planes):
        det.analyse(plane, i / FPS)
    ahead = (time.thread_time() - t) / len(planes) * 1000
    return {"in_decode_loop": round(spent / n * 1000, 3), "frames_in_a_loop": round(ahead, 3),
            "overlay_in_a_loop": overlay_ms(planes)}


def overlay_ms(planes: list[Any]) -> float:
    """The overlay finder's CPU ms per frame on the same planes with a camera's clock drawn
    in (white, dark outline, top-left, ticking each second): the learning samples, the
    re-checks and the held boxes, beside the detector's ``frames_in_a_loop``."""
    import cv2

    from edge_agent.cameras.overlay import OverlayFinder

    finder, spent = OverlayFinder(), 0.0
    for i, plane in enumerate(planes):
        text = f"2026-12-02 21:14:{(7 + i // FPS) % 60:02d}"
        img = plane.copy()
        for colour, thick in ((16, 6), (235, 3)):
            cv2.putText(img, text, (16, 48), cv2.FONT_HERSHEY_SIMPLEX, 1.4, colour, thick)
        t = time.thread_time()
        finder.apply(img, i / FPS)
        spent += time.thread_time() - t
    return round(spent / len(planes) * 1000, 3)




def soak(minutes: float) -> int:
    """RSS/USS/PSS of the agent with 4 two-stream cameras for ``minutes``; slope after 2 min."""
    main, sub_clip = clips()
    mem: list[dict[str, float]] = []
    with bench_rig(main, sub_clip) as (tmp, broker, server, _):
        run_agent(tmp, broker, server, None, 4, two_streams=True, memory=mem,
                  seconds=minutes * 60)
    rss = [m["rss"] for m in mem]
    tail = [(i * 2 / 60, v) for i, v in enumerate(rss) if i * 2 >= 120]
    slope = None
    if len(tail) > 2:
        mx = statistics.fmean(t for t, _ in tail)
        my = statistics.fmean(v for _, v in tail)
        slope = sum((t - mx) * (v - my) for t, v in tail) / sum((t - mx) ** 2 for t, _ in tail)
    out = {"minutes": minutes, "rss_max": round(max(rss), 1), "rss_end": round(rss[-1], 1),
           "rss_slope_mb_per_min_after_2_min": round(slope, 4) if slope is not None else None,
           "every_minute_mb": {f"{i * 2 // 60}": {k: round(m[k], 1) for k in ("rss", "uss", "pss")}
                               for i, m in enumerate(mem) if i % 30 == 0},
           "rss_samples_every_2s": [round(v, 1) for v in rss]}
    path = ROOT / "benchmarks" / "results" / "camera_soak.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print({k: v for k, v in out.items() if not k.endswith("2s")}, flush=True)
    return 0


SWEEP = {  # same clip settings as SCENE, other shares of time with movement
    "0%": (),
    "6%": (Mover(28.0, 32.0, (34, 46), 0.55, 1, 1),),
    "25%": tuple(Mover(t, t + 4.0, (34, 46), 0.3 + 0.1 * i, (-1) ** i, i + 1)
                 for i, t in enumerate((8.0, 20.0, 32.0, 44.0))),
}


def adaptive_sweep() -> int:
    """(a) plain decode and the agent in single-stream adaptive mode at several shares of
    movement."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        broker = Broker(tmp / "mq").start()
        try:
            for label, movers in SWEEP.items():
                scene = Scene(f"sweep{len(movers)}", 60.0, movers, noise_sigma=4.0)
                clip = make_clip(f"bench-sweep{len(movers)}", CACHE, width=WIDTH,
                                 height=HEIGHT, fps=FPS, gop=GOP, scene=scene,
                                 bitrate_k=BITRATE_K)
                server = RtspServer(clip).start()
                sub = Subscriber(broker.port)
                try:
                    a = decode_only(server)
                    c, _ = run_agent(tmp, broker, server, "adaptive", 1)
                finally:
                    sub.close()
                    server.stop()
                out[label] = {"decode_all": round(a, 2), "agent_adaptive": round(c, 2),
                              "ratio": round(c / a, 3), "crossings": len(movers),
                              "motion_starts": len(sub.starts)}
                print(label, out[label], flush=True)
        finally:
            broker.stop()
    path = ROOT / "benchmarks" / "results" / "camera_adaptive_sweep.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    return 0


def main() -> int:
    stop_children_on_exit()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--append", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--detector", action="store_true")
    parser.add_argument("--soak", type=float, metavar="MINUTES")
    parser.add_argument("--adaptive-sweep", action="store_true")
    parser.add_argument("--arms", help="comma-separated subset of " + ",".join(ARMS) +
                        " (decode_all always runs: the ratios' reference)")
    args = parser.parse_args()
    arms = tuple(args.arms.split(",")) if args.arms else ARMS
    unknown = set(arms) - set(ARMS)
    if unknown:
        parser.error(f"unknown arms: {', '.join(sorted(unknown))}")
    if args.soak:
        return soak(args.soak)
    if args.adaptive_sweep:
        return adaptive_sweep()
    if args.memory:
        return memory()
    if args.detector:
        print(detector_ms(clips()[0]))
        return 0
    return cpu_rounds(args.rounds, args.append, arms)


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    raise SystemExit(main())
