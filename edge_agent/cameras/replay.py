"""``edge-agent camera replay SOURCE``: what the detector makes of a recording or a live
stream with a camera's own settings (masks, zones, motion thresholds, decode mode), without
MQTT: the events it would send, and, with ``--frames``, one JSON line per analysed frame
to compare with what a person saw. For tuning a camera on site ("would that have started an
event?") and for scoring the detector on footage of one's own.

It runs the agent's own pieces in the agent's order: ``PyAVSource`` → ``FrameAnalysis``
(cadence, adaptive holds, look-back, the burnt-in overlay held still) → ``MotionDetector``
→ ``EventTracker``. Where the overlay finder found the camera's clock or name is printed
when it finds (or loses) it, and its cost per frame beside the whole analysis's. A file is
read as fast as it decodes in ``all`` mode; in ``adaptive`` and ``keyframes`` mode it is
played in real time, because adaptive decoding holds on the clock as it does on a camera.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from drivers.cameras.connect import is_file
from drivers.cameras.pyav_source import PyAVSource
from drivers.redact import redact_urls
from edge_agent.cameras.analysis import camera_analysis
from edge_agent.cameras.config import CameraConfig
from edge_agent.cameras.events import EventMessage, EventTracker
from edge_agent.cameras.frames import luma
from edge_agent.cameras.motion import MotionResult
from edge_agent.cameras.streams import source_config


def register(sub: Any) -> None:
    replay = sub.add_parser("replay", help="run motion detection on a recording or stream "
                            "and print the events the camera would send")
    replay.add_argument("source", help="a video file or rtsp://user:pass@host/path")
    replay.add_argument("--config", type=Path, help="the agent's config file: use the "
                        "settings of one of its cameras (masks, zones, motion, decode)")
    replay.add_argument("--camera", help="which camera of --config (default: the first)")
    replay.add_argument("--decode", choices=["all", "adaptive", "keyframes"],
                        help="decode mode (default: the camera's)")
    replay.add_argument("--overlay", choices=["auto", "off"],
                        help="find and ignore the burnt-in clock/name (default: the camera's)")
    replay.add_argument("--seconds", type=float,
                        help="stop after this many seconds of video (default: the file's "
                        "end; a stream runs until Ctrl-C)")
    replay.add_argument("--frames", type=Path, help="write one JSON line per analysed "
                        "frame here: {\"t\": s, \"motion\": bool, \"boxes\": [[x, y, w, h]]}")
    replay.set_defaults(func=cmd_replay)


class Replay:
    """The source thread's side: analyse, track events, print, write frame lines."""

    def __init__(self, cfg: CameraConfig, source: PyAVSource, out: IO[str],
                 frames: IO[str] | None, seconds: float | None, done: threading.Event) -> None:
        self.analysis = camera_analysis(cfg, luma, source, timer=time.process_time)
        self.tracker = EventTracker(cfg.motion, new_id=self._next_id)
        self.out, self.frames = out, frames
        self.seconds, self.done = seconds, done
        self.t0: float | None = None
        self.last_t = 0.0
        self.analysed = self.moving = self.events = 0
        self.busy_s = 0.0  # CPU time spent analysing (not decoding)
        self._ids = 0
        self._overlay_said: tuple[str, ...] = ()

    def _next_id(self) -> str:
        self._ids += 1
        return str(self._ids)

    def on_frame(self, frame: Any, pts: float) -> None:
        if self.t0 is None:
            self.t0 = pts
        began = time.process_time()
        done = self.analysis.frame(frame, pts)
        self.busy_s += time.process_time() - began
        if done is None or self._past_end(done.result.ts):
            return
        self.last_t = max(self.last_t, self._video_s(pts))
        self._overlay_line(done.result.ts)
        self.analysed += 1
        self.moving += done.result.motion
        self._frame_line(done.result)
        for message in self.tracker.feed(done.result):
            self._event_line(message)

    def _past_end(self, ts: float) -> bool:
        """An analysed frame after ``--seconds``: the end (it is not reported). Only then, not
        at the first packet past it: in adaptive mode the key frame after the end may still
        look back on motion inside it."""
        if self.seconds is None or self._video_s(ts) <= self.seconds + 1e-6:
            return False
        self.done.set()
        return True

    def finish(self) -> None:
        for message in self.tracker.end(self.last_t + (self.t0 or 0.0)):
            self._event_line(message)

    def _video_s(self, ts: float) -> float:
        """Stream time ``ts`` as seconds into the video (its first frame is 0)."""
        return ts - (self.t0 or 0.0)

    def overlay_s(self) -> float:
        finder = self.analysis.overlay
        return finder.busy_s if finder is not None else 0.0

    def _overlay_line(self, ts: float) -> None:
        finder = self.analysis.overlay
        said = tuple(b.describe() for b in finder.boxes) if finder is not None else ()
        if said != self._overlay_said:
            self._overlay_said = said
            text = ", ".join(said) if said else "none now"
            print(f"{self._video_s(ts):8.2f} s  overlay (burnt-in text, held still): {text}",
                  file=self.out, flush=True)

    def _frame_line(self, r: MotionResult) -> None:
        if self.frames is not None:
            boxes = [[round(v, 4) for v in b.box] for b in r.blobs] if r.motion else []
            line = {"t": round(self._video_s(r.ts), 3), "motion": r.motion, "boxes": boxes}
            self.frames.write(json.dumps(line) + "\n")

    def _event_line(self, m: EventMessage) -> None:
        at = self._video_s(m.ts)
        if m.kind == "start":
            self.events += 1
            began = self._video_s(m.started_ts)
            text = f"start  from {began:7.2f} s  {_boxes(m)}"
        elif m.kind == "update":
            text = f"update {_boxes(m)}"
        else:
            text = f"end    moved {m.duration_s:.1f} s, at most {m.peak_score:.1%} of the picture"
        zones = f"  zones: {', '.join(m.zones)}" if m.zones and m.kind != "end" else ""
        print(f"{at:8.2f} s  event {m.event_id:>3}  {text}{zones}", file=self.out, flush=True)


def _boxes(m: EventMessage) -> str:
    return " ".join("[" + " ".join(f"{v:.2f}" for v in box) + "]" for box in m.boxes)


def camera_for(args: argparse.Namespace) -> CameraConfig | str:
    """The settings to replay with, or a one-line reason why there are none."""
    if args.config is None:
        cfg = CameraConfig(id="replay", url=args.source)
    else:
        from edge_agent.cli_support import load_or_report
        from yaml_config.base import SECRET_FILES_UNREAD

        # No secret is used (no MQTT; the recording replaces the camera's URL): a config
        # whose secret files only the service can read must load too.
        unread = SECRET_FILES_UNREAD.set(True)
        try:
            loaded = load_or_report(args.config)
        finally:
            SECRET_FILES_UNREAD.reset(unread)
        if loaded is None:
            return "the config has errors (above)"
        cameras = {c.id: c for c in loaded.config.cameras}
        if not cameras:
            return f"{args.config} has no cameras"
        if args.camera is not None and args.camera not in cameras:
            return f"no camera '{args.camera}' in {args.config} (cameras: {', '.join(cameras)})"
        base = cameras[args.camera] if args.camera else next(iter(cameras.values()))
        # The source replaces the camera's streams; a recording has no credentials.
        cfg = base.model_copy(update={"url": args.source, "username": None,
                                      "password": None, "streams": type(base.streams)()})
    if args.decode:
        cfg = cfg.model_copy(update={"decode": args.decode})
    if getattr(args, "overlay", None):
        cfg = cfg.model_copy(update={"overlay": args.overlay})
    return cfg


def cmd_replay(args: argparse.Namespace) -> int:
    cfg = camera_for(args)
    if isinstance(cfg, str):
        print(f"error: {cfg}", file=sys.stderr)
        return 2
    file = is_file(args.source)
    if file and not Path(args.source).exists():
        print(f"error: {args.source}: no such file", file=sys.stderr)
        return 2
    return _run(cfg, args, file)


def _run(cfg: CameraConfig, args: argparse.Namespace, file: bool) -> int:
    ended = threading.Event()
    problems: list[str] = []

    def on_state(state: str, error: str | None) -> None:
        if state != "online":  # the file's end, or a stream that failed: not retried
            if error != "stream ended":
                problems.append(error or state)
            ended.set()

    src_cfg = source_config(cfg, args.source, cfg.decode_mode).model_copy(
        update={"loop": False, "realtime": not file or cfg.decode_mode != "all"})
    frames = args.frames.open("w", encoding="utf-8") if args.frames else None
    source = PyAVSource(src_cfg, lambda _frame, _pts: None, on_state, name=cfg.id)
    replay = Replay(cfg, source, sys.stdout, frames, args.seconds, ended)
    source.on_frame = replay.on_frame
    print(f"replaying {redact_urls(args.source)} with camera '{cfg.id}' settings: decode "
          f"{cfg.decode_mode}, {cfg.analysis_fps:g} frames/s analysed at {cfg.analysis_width} "
          "px" + (" (in real time)" if src_cfg.realtime else ""))
    source.start()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends a stream's replay
        ended.wait()
    source.stop()
    replay.finish()
    if frames is not None:
        frames.close()
    n = replay.analysed or 1
    per_frame, overlay = replay.busy_s / n * 1000, replay.overlay_s() / n * 1000
    print(f"done: {replay.last_t:.1f} s of video, {replay.analysed} frames analysed, "
          f"{replay.moving} with motion, {replay.events} event"
          f"{'' if replay.events == 1 else 's'}; analysis {per_frame:.2f} ms a frame "
          f"(overlay {overlay:.2f}, detector {per_frame - overlay:.2f})"
          + (f"; stopped: {problems[0]}" if problems else ""))
    return 1 if problems and not replay.analysed else 0
