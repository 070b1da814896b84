"""``edge-agent camera probe URL``: what a technician needs when a camera will not come up."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import Any

HINTS = {
    "Connection refused": "nothing listens there: check the camera's IP address and RTSP port",
    "401": "the camera refused the login: check username and password",
    "Unauthorized": "the camera refused the login: check username and password",
    "404": "the camera does not know this path: check the stream path (e.g. /Streaming/"
           "Channels/101, /cam/realmonitor?channel=1&subtype=0)",
    "Immediate exit": "no answer in time: camera off, wrong IP, or a firewall",
    "No route": "the gateway cannot reach that address: check cables and the IP range",
    "No such file": "that file does not exist",
}


def register_cli(subparsers: Any) -> None:
    camera = subparsers.add_parser("camera", help="camera tools")
    sub = camera.add_subparsers(dest="camera_command", required=True, metavar="ACTION")
    probe = sub.add_parser("probe", help="open a stream, print codec, size, fps and key-frame "
                           "interval, save a frame")
    probe.add_argument("url", help="rtsp://user:pass@host:554/path or a video file")
    probe.add_argument("--save", type=Path, help="save a decoded frame as JPEG here")
    probe.add_argument("--seconds", type=float, default=6.0,
                       help="how long to read (default 6; long enough for 2 key frames)")
    probe.add_argument("--timeout", type=float, default=8.0, help="open/read timeout (s)")
    probe.add_argument("--no-other", action="store_true",
                       help="do not try the vendor's other stream (main/sub)")
    probe.set_defaults(func=_cmd_probe)
    from edge_agent.cameras import replay

    replay.register(sub)


def _cmd_probe(args: argparse.Namespace) -> int:
    from drivers.cameras.connect import SourceError, open_container
    from drivers.redact import redact_urls as redact

    shown = redact(args.url)
    print(f"opening {shown} ...")
    started = time.monotonic()
    try:
        container = open_container(args.url, args.timeout, args.timeout)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _hint(str(exc))
        return 1
    try:
        code = _probe(container, args, started)
    except Exception as exc:  # a stream that breaks while reading: one line, no traceback
        message = redact(f"{type(exc).__name__}: {exc}")
        print(f"error while reading: {message}", file=sys.stderr)
        _hint(message)
        return 1
    finally:
        container.close()
    if not args.no_other:
        _other_stream(args.url, min(args.timeout, 5.0))
    return code


def _other_stream(url: str, timeout: float) -> None:
    """Say whether the camera has a second stream: try the vendor pattern's other one."""
    from drivers.cameras.connect import SourceError, open_container
    from drivers.redact import redact_urls as redact
    from edge_agent.cameras.substreams import EXAMPLES, other_stream

    found = other_stream(url)
    if found is None:
        print("streams:    no known vendor path, so no second stream tried (most cameras "
              f"have a sub-stream: {EXAMPLES})")
        return
    print(f"streams:    {found.vendor}: this is the {found.given} stream")
    try:
        other = open_container(found.url, timeout, timeout)
    except SourceError as exc:
        print(f"{found.other}-stream: {redact(found.url)} did not open ({exc})")
        return
    try:
        ctx = other.streams.video[0].codec_context if other.streams.video else None
        facts = f"{ctx.name} {ctx.width}x{ctx.height}" if ctx is not None else "no video"
    finally:
        other.close()
    detect, record = (found.url, url) if found.other == "sub" else (url, found.url)
    print(f"{found.other}-stream: {redact(found.url)} answers: {facts}")
    print(f"suggested:  streams: {{detect: {redact(detect)}, record: {redact(record)}}} "
          "(detection decodes the small one, clips and snapshots copy the big one)")


def _hint(message: str) -> None:
    for key, hint in HINTS.items():
        if key in message:
            print(f"hint: {hint}", file=sys.stderr)
            return


def _probe(container: Any, args: argparse.Namespace, started: float) -> int:
    if not container.streams.video:
        print("error: no video stream in this source", file=sys.stderr)
        return 1
    stream = container.streams.video[0]
    ctx = stream.codec_context
    print(f"opened in {time.monotonic() - started:.1f} s")
    print(f"codec:      {ctx.name} ({ctx.profile or 'profile unknown'})")
    print(f"resolution: {ctx.width}x{ctx.height}")
    declared = float(stream.average_rate) if stream.average_rate else None
    tb = float(stream.time_base or 1 / 90000)
    keys: list[float] = []
    first_pts: float | None = None
    last_pts = 0.0
    count = size = 0
    saved = False
    t0 = time.monotonic()
    for packet in container.demux(stream):
        if packet.size == 0 or time.monotonic() - t0 > args.seconds:
            break
        if packet.pts is None:
            continue
        pts = packet.pts * tb
        first_pts = pts if first_pts is None else first_pts
        last_pts = pts
        count += 1
        size += packet.size
        if packet.is_keyframe and (not keys or pts != keys[-1]):  # slices share a pts
            keys.append(pts)
        if args.save and not saved:
            saved = _save(ctx, packet, args.save)
    span = last_pts - (first_pts or 0.0)
    measured = (count - 1) / span if span > 0 else None
    print(f"fps:        declared {declared or '?'}, measured "
          f"{f'{measured:.1f}' if measured else '?'} over {span:.1f} s")
    gaps = [b - a for a, b in itertools.pairwise(keys)]
    if gaps:
        print(f"key frames: every {sum(gaps) / len(gaps):.2f} s "
              f"({len(keys)} seen)")
    else:
        print(f"key frames: {len(keys)} seen in {span:.1f} s (read longer with --seconds "
              "to measure the interval)")
    if span > 0:
        print(f"bitrate:    {size * 8 / span / 1000:.0f} kbit/s")
    if args.save:
        print(f"frame:      {'saved to ' + str(args.save) if saved else 'none decoded'}")
    return 0 if count else 1


def _save(ctx: Any, packet: Any, path: Path) -> bool:
    import cv2

    for frame in ctx.decode(packet):
        ok, buf = cv2.imencode(".jpg", frame.to_ndarray(format="bgr24"))
        if ok:
            path.write_bytes(bytes(buf))
            return True
    return False
