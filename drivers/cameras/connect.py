"""Opening a camera: TCP reachability probe, RTSP open with timeouts, readable errors, decoder.

FFmpeg reports a timed-out RTSP open as "Invalid data found when processing input" and a
connect timeout as "Immediate exit requested": neither tells a technician what happened. The
open is therefore split in steps (TCP connect, RTSP DESCRIBE/SETUP/PLAY, first frame) and a
failure says which step and whether it timed out. URLs in every message are redacted.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import av

from drivers.redact import redact_urls

if TYPE_CHECKING:  # source_state imports this module
    from drivers.cameras.source_state import PyAVSourceConfig

HwAccel = Literal["auto", "off", "v4l2m2m"]
# After a failure, a TCP connect every this many seconds tells when the camera listens again:
# the full RTSP open is retried at once then, not after a backoff that grew to 30 s.
PROBE_INTERVAL_S = 2.0
HW_DECODERS = {"h264": "h264_v4l2m2m", "hevc": "hevc_v4l2m2m"}  # Raspberry Pi 4 (V4L2 M2M)


class SourceError(Exception):
    """A camera problem, with the URL redacted."""


def is_file(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def probe_target(url: str) -> tuple[str, int] | None:
    """(host, port) of a network camera URL; None for files and URLs without a host."""
    if is_file(url):
        return None
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    default = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}.get(parts.scheme, 554)
    return parts.hostname, port or default


def tcp_probe(target: tuple[str, int], timeout_s: float) -> str | None:
    """Connect and close at once: None when something listens, else why not (one line).

    One SYN/ACK/FIN: cheap for the gateway and for a camera that is booting or gone.
    """
    try:
        with socket.create_connection(target, timeout=timeout_s):
            return None
    except TimeoutError:
        return f"TCP connect timed out after {timeout_s:.0f} s (camera off, wrong IP or firewall)"
    except OSError as exc:
        reason = exc.strerror or (errno.errorcode.get(exc.errno or 0) if exc.errno else None)
        return f"TCP connect failed: {reason or exc}"


def wait_before_retry(url: str, delay: float, interval: float, stop: threading.Event) -> None:
    """Wait ``delay`` (jittered, growing) before the next full open, but probe the camera
    every ``interval``: while nothing listens, no RTSP open is tried at all; as soon as a
    camera that refused connections (rebooting) or did not answer RTSP (hung) answers again,
    it is opened at once: online within seconds, not after a backoff that grew to 30 s. A
    camera that answers but fails for another reason (a wrong password) waits the backoff."""
    target = probe_target(url)
    if target is None:
        stop.wait(delay)
        return
    deadline = time.monotonic() + delay
    timeout = min(1.0, interval)
    was_down = False
    while not stop.is_set():
        listening = tcp_probe(target, timeout) is None
        answering = listening and (not url.startswith("rtsp") or
                                   rtsp_answers(url, target, timeout))
        now = time.monotonic()
        if (answering and was_down) or (listening and now >= deadline):
            return
        was_down = was_down or not answering
        stop.wait(interval if not answering else min(interval, deadline - now))


def rtsp_options(read_timeout_s: float) -> dict[str, str]:
    # TCP: no lost packets, passes NAT. The socket timeout (µs) is a backstop at twice the
    # read timeout: when it fires first, FFmpeg flushes a buffered frame and the "hung"
    # clock starts again; PyAV's read timeout is the one meant to end a hung session.
    # A short analysis: the SDP already names the codec and size, and FFmpeg's default
    # 5 s of probing would delay every reconnect.
    return {"rtsp_transport": "tcp", "timeout": str(int(read_timeout_s * 2e6)),
            "analyzeduration": "500000"}


def open_container(url: str, open_timeout_s: float, read_timeout_s: float) -> Any:
    """Open ``url`` with timeouts; raises ``SourceError`` saying which step failed."""
    options = rtsp_options(read_timeout_s) if url.startswith("rtsp") else {}
    target = probe_target(url)
    started = time.monotonic()
    if target is not None:
        refused = tcp_probe(target, min(open_timeout_s, 5.0))
        if refused is not None:
            raise SourceError(redact_urls(f"cannot open {url}: {refused}"))
    try:
        return av.open(url, options=options, timeout=(open_timeout_s, read_timeout_s))
    except (av.FFmpegError, OSError) as exc:
        took = time.monotonic() - started
        reason = str(exc)
        if target is not None and took >= 0.9 * open_timeout_s:
            reason = _timed_out_step(url, target, took, min(2.0, open_timeout_s / 2))
        raise SourceError(redact_urls(f"cannot open {url}: {reason}")) from None


def _timed_out_step(url: str, target: tuple[str, int], took: float, timeout_s: float) -> str:
    """The open timed out after a working TCP connect (probed before it): did the camera not
    answer the RTSP request at all, or answer it and then not start the stream? One more
    DESCRIBE, without credentials, tells: a camera answers it at once (401 at worst). Asked
    only after a failure."""
    if url.startswith("rtsp") and rtsp_answers(url, target, timeout_s):
        return (f"timed out after {took:.1f} s after the camera answered DESCRIBE: waiting "
                "for the stream to start (SETUP/PLAY, first frame; wrong channel, or its "
                "encoder is stuck)")
    return (f"timed out after {took:.1f} s waiting for the RTSP answer (DESCRIBE): the "
            "camera accepts connections but does not answer (hung, or not an RTSP port)")


def rtsp_answers(url: str, target: tuple[str, int], timeout_s: float) -> bool:
    """Whether the camera answers a DESCRIBE of ``url`` (credentials left out) in time."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (f"DESCRIBE rtsp://{target[0]}:{target[1]}{path} RTSP/1.0\r\nCSeq: 1\r\n"
               "Accept: application/sdp\r\n\r\n")
    try:
        with socket.create_connection(target, timeout=timeout_s) as sock:
            sock.sendall(request.encode())
            return sock.recv(16).startswith(b"RTSP/")
    except OSError:
        return False


def read_error(url: str, exc: Exception, *, waited_s: float, timeout_s: float,
               packets: int) -> SourceError:
    """A demux/decode failure in words: a timeout says so, and whether a frame ever came."""
    if waited_s >= 0.9 * timeout_s:
        step = "the first frame" if packets == 0 else "the next frame"
        return SourceError(f"timed out after {waited_s:.1f} s waiting for {step} "
                           "(camera hung?)")
    return SourceError(redact_urls(f"{url}: {type(exc).__name__}: {exc}"))


def no_picture_error(*, waited_s: float | None, packets: int, keys: int, codec: str,
                     file: bool) -> SourceError:
    """Packets came but no picture could be decoded from them, in words: no key frame at all
    (a stream joined mid-GOP that never sends one, a key frame interval longer than the
    wait), or key frames the decoder could not read (garbage, an unsupported profile).
    ``waited_s`` None: at the file's end."""
    head = ("no picture decoded" if waited_s is None
            else f"no picture decoded in {waited_s:.0f} s")
    if keys == 0:
        where = "the file has" if file else "the stream sends"
        return SourceError(f"{head}: {where} no key frame ({packets} {codec} packets, none a "
                           "key frame; a picture can only start at one)")
    return SourceError(f"{head} from {packets} {codec} packets with {keys} key frame"
                       f"{'' if keys == 1 else 's'}: the decoder cannot read them (corrupt "
                       "data or an unsupported profile?)")


def decode_error(codec: str, exc: Exception) -> SourceError:
    """The software decoder refused a packet, in words (FFmpeg's own say only
    "avcodec_send_packet()" and an errno)."""
    why = getattr(exc, "strerror", None) or str(exc)
    return SourceError(f"cannot decode the {codec} stream: {why} (corrupt data or an "
                       "unsupported profile?)")


def make_decoder(stream: Any, hwaccel: HwAccel, threads: int,
                 options: dict[str, str]) -> tuple[Any, str]:
    """The codec context to decode ``stream`` with, and a one-line description of it.

    ``auto`` and ``v4l2m2m`` try the board's V4L2 memory-to-memory decoder (Raspberry Pi 4:
    ``h264_v4l2m2m``) and fall back to FFmpeg's software decoder when it cannot be opened
    (no such device, another codec, a PC); the description says which one runs and why.
    ``threads`` and ``options`` apply to the software decoder.
    """
    soft = stream.codec_context
    soft.thread_count = threads  # before the first decode opens it
    # Slice threads only: frame threads hand each frame out ``threads - 1`` packets late, so
    # a frame would no longer be current when decoded, and the flushes of adaptive decoding
    # (catch-up, look-back) would drop the frames still inside (test_camera_look_back).
    soft.thread_type = "SLICE"
    if options:
        soft.options = options
    name = HW_DECODERS.get(soft.name)
    if hwaccel == "off" or name is None:
        why = "" if hwaccel == "off" else f"; no hardware decoder for {soft.name}"
        return soft, f"{soft.name} (software{why})"
    try:
        ctx = av.CodecContext.create(name, "r")
        if soft.extradata:
            ctx.extradata = soft.extradata
        ctx.open()
    except (av.FFmpegError, ValueError, OSError) as exc:
        return soft, f"{soft.name} (software; {name} unavailable: {exc})"
    return ctx, f"{name} (hardware)"


def source_decoder(stream: Any, cfg: PyAVSourceConfig,
                   hw_failed: bool) -> tuple[Any | None, str | None]:
    """The decoder a source reads ``stream`` with (None for a record stream, only remuxed)
    and its description; ``hw_failed``: the hardware decoder failed on this camera before."""
    if cfg.decode == "none":
        return None, None
    options = {}
    if cfg.fast_decode and (cfg.decode == "adaptive" or cfg.analysis_only):
        # Deblocking is ~20 % of H.264 decoding. Without it on inter frames a picture
        # differs from the full decode by 39-44 dB PSNR (720p, 2 s GOP), invisible at a
        # glance, but not to the detector on dark noisy pictures (block edges read as
        # motion: docs/detection-quality.md, F1 in adaptive mode); each key frame starts clean.
        options = {"skip_loop_filter": "nokey"}
    # auto: hardware only where every frame is decoded (it saves most there). A memory-
    # to-memory decoder holds frames back until more input comes, which the key-frame
    # modes (one packet per GOP, flush and catch-up) cannot afford.
    software = hw_failed or (cfg.hwaccel == "auto" and cfg.decode != "all")
    ctx, description = make_decoder(stream, "off" if software else cfg.hwaccel,
                                    cfg.decode_threads, options)
    ctx.skip_frame = "DEFAULT" if cfg.decode == "all" else "NONKEY"
    return ctx, description
