"""Helpers for tests that check what the agent recorded: an event clip written from a file's
packets by the agent's own ``ClipRecorder``, reading a clip once its writer closed it, and a
labelled clip re-encoded in another coding (B-frames, H.265)."""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import av

from drivers.cameras.clip_writer import ClipRecorder
from tests.infra.clip_lock import one_builder_per_clip

T = TypeVar("T")


def record_from_file(clip: Path, out: Path, start_s: float, finish_s: float, *,
                     pre_s: float, post_s: float) -> tuple[ClipRecorder, list[bytes]]:
    """Feed every packet of ``clip`` to a recorder asked to start at ``start_s`` and to
    finish at ``finish_s`` (stream seconds); the recorder and the packets' bytes."""
    rec = ClipRecorder(pre_s=pre_s, post_s=post_s, max_s=60)
    packets: list[bytes] = []
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        rec.template, tb = stream, float(stream.time_base)
        for packet in container.demux(stream):
            if packet.size == 0:
                break
            pts = packet.pts * tb
            if abs(pts - start_s) < 1e-6:
                rec.start(out)
            if abs(pts - finish_s) < 1e-6:
                rec.finish()
            packets.append(bytes(packet))
            rec.feed(packet, pts)
    return rec, packets


def once_closed(read: Callable[[Path], T], path: Path, timeout: float = 15.0) -> T:
    """``read(path)`` once the agent's writer has closed the clip (post-capture after the
    event's end): until then it is missing or not a whole MP4."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return read(path)
        except (av.FFmpegError, FileNotFoundError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@one_builder_per_clip
def _recode(name: str, directory: Path, source: Path, ffmpeg_args: tuple[str, ...]) -> Path:
    out = directory / name
    if not out.exists():
        partial = out.with_suffix(".part.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), *ffmpeg_args,
                        str(partial)], check=True)
        partial.rename(out)
    truth, labels = source.with_suffix(".json"), out.with_suffix(".json")
    if truth.exists() and not labels.exists():
        labels.with_suffix(".part").write_bytes(truth.read_bytes())
        labels.with_suffix(".part").rename(labels)
    return out


@one_builder_per_clip
def _rewrite(name: str, directory: Path, source: Path, how: str) -> Path:
    out = directory / name
    if not out.exists():
        partial = out.with_suffix(".part.mp4")
        rng = random.Random(1)
        with av.open(str(source)) as inp, av.open(str(partial), "w", format="mp4") as dst:
            stream = inp.streams.video[0]
            written = dst.add_stream_from_template(stream)
            for packet in inp.demux(stream):
                if not packet.size or (how == "nokeys" and packet.is_keyframe):
                    continue
                if how == "garbage":  # each NAL unit's length and header kept, not its data
                    packet = _scrambled(packet, rng)
                packet.stream = written
                dst.mux(packet)
        partial.rename(out)
    return out


def _scrambled(packet: av.Packet, rng: random.Random) -> av.Packet:
    data, i = bytearray(bytes(packet)), 0
    while i + 4 < len(data):
        end = i + 4 + int.from_bytes(data[i:i + 4], "big")
        data[i + 5:end] = rng.randbytes(max(0, min(end, len(data)) - i - 5))
        i = end
    out = av.Packet(bytes(data))
    out.pts, out.dts, out.time_base = packet.pts, packet.dts, packet.time_base
    out.is_keyframe = packet.is_keyframe
    return out


def without_key_frames(source: Path) -> Path:
    """``source``'s packets with every key frame cut out (SPS/PPS stay in the header): a
    stream that sends data but no picture can ever be decoded from (a camera joined mid-GOP
    that never sends a key frame), as ``<stem>-nokeys.mp4`` beside it."""
    return _rewrite(f"{source.stem}-nokeys.mp4", source.parent, source, "nokeys")


def garbage(source: Path) -> Path:
    """``source`` with the data of every NAL unit replaced by random bytes (lengths, NAL
    headers and timing kept): packets that look right and decode to nothing."""
    return _rewrite(f"{source.stem}-garbage.mp4", source.parent, source, "garbage")


def recoded(source: Path, coding: str, ffmpeg_args: Sequence[str]) -> Path:
    """``source`` re-encoded by Debian's ffmpeg with ``ffmpeg_args`` (a codec and its settings,
    one encoder thread so the bytes repeat), as ``<stem>-<coding>.mp4`` beside it, with the
    source's ground truth (the same frames). Built once under the clip lock: parallel test
    workers wait for the first one instead of encoding into one file together."""
    return _recode(f"{source.stem}-{coding}.mp4", source.parent, source, tuple(ffmpeg_args))
