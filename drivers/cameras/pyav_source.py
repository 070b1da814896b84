"""Camera source with PyAV: RTSP over TCP or a (looped) video file, in its own thread.

The thread demuxes packets, decides per packet whether to decode (``all``, ``keyframes``,
``adaptive``), hands decoded frames to ``on_frame`` and every packet to an optional clip
writer. It never touches the event loop: the owner passes thread-safe callbacks.

Adaptive decode: while the scene is still only key frames are decoded (``skip_frame=NONKEY``).
Inter-frame packet sizes are a free activity signal: when one jumps well above the largest
recent still one (something big started to move), or when the owner asks (``hold_active``,
e.g. a key frame showed a change), the decoder is
flushed and the packets since the last key frame are decoded again, so the current frame is
correct at once (no waiting up to a GOP for the next key frame).

A hung camera (socket open, no data) is caught by FFmpeg's socket timeout and PyAV's read
timeout; the owner also watches packet counters. URLs in every message are redacted.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import av
from pydantic import BaseModel, ConfigDict, Field

from drivers.redact import redact_urls

redact = redact_urls  # one redactor for the whole agent (passwords with '/' included)


class PyAVSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    driver: Literal["pyav"] = "pyav"
    url: str = Field(description="rtsp:// URL (credentials allowed) or a file path.")
    decode: Literal["all", "keyframes", "adaptive"] = "adaptive"
    loop: bool = Field(True, description="Files: start again at the end.")
    realtime: bool = Field(True, description="Files: read at the clip's own pace.")
    open_timeout_s: float = 8.0
    read_timeout_s: float = 5.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    decode_threads: int = Field(1, ge=0, le=16, description="Decoder threads (0 = one per "
                                "CPU). One per camera suits a Pi running several cameras.")
    fast_decode: bool = Field(True, description="Adaptive: skip H.264 deblocking on inter "
                              "frames (key frames stay full quality).")
    activity_factor: float = Field(2.0, description="Adaptive: an inter-frame packet larger "
                                   "than this many times the largest recent still one = "
                                   "activity (decode everything at once).")
    activity_hold_s: float = Field(2.0, description="Adaptive: decode everything this long "
                                   "after a trigger (the owner extends it while motion lasts).")


class SourceError(Exception):
    """A camera problem, with the URL redacted."""


@dataclass(slots=True)
class SourceStats:
    packets: int = 0
    decoded: int = 0
    reconnects: int = 0
    last_packet: float = 0.0  # time.monotonic() of the newest packet
    key_interval: float | None = None  # seconds between key frames


@dataclass(slots=True)
class StreamInfo:
    codec: str
    width: int
    height: int
    fps: float | None
    stream: Any = field(repr=False, default=None)  # the av VideoStream (clip templates)


FrameCallback = Callable[[Any, float], None]  # (av.VideoFrame, pts seconds)
StateCallback = Callable[[str, str | None], None]  # ("online"|"offline", error)
PacketCallback = Callable[[Any, float], None]  # (av.Packet, pts seconds)


def is_file(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def open_container(cfg: PyAVSourceConfig) -> Any:
    """Open ``cfg.url`` with timeouts; raises ``SourceError`` with a redacted message."""
    options: dict[str, str] = {}
    if cfg.url.startswith("rtsp"):
        # TCP: no lost packets, passes NAT. The socket timeout (µs) is a backstop at twice the
        # read timeout: when it fires first, FFmpeg flushes a buffered frame and the "hung"
        # clock starts again; PyAV's read timeout is the one meant to end a hung session.
        # A short analysis: the SDP already names the codec and size, and FFmpeg's default
        # 5 s of probing would delay every reconnect.
        options = {"rtsp_transport": "tcp", "timeout": str(int(cfg.read_timeout_s * 2e6)),
                   "analyzeduration": "500000"}
    try:
        return av.open(cfg.url, options=options,
                       timeout=(cfg.open_timeout_s, cfg.read_timeout_s))
    except (av.FFmpegError, OSError) as exc:
        raise SourceError(redact(f"cannot open {cfg.url}: {exc}")) from None


class PyAVSource:
    def __init__(self, cfg: PyAVSourceConfig, on_frame: FrameCallback,
                 on_state: StateCallback, *, name: str = "camera",
                 rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self.on_frame = on_frame
        self.on_state = on_state
        self.on_packet: PacketCallback | None = None
        self.on_stream: Callable[[StreamInfo], None] | None = None
        self.stats = SourceStats()
        self.info: StreamInfo | None = None
        self._name = name
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._active_until = 0.0
        self._thread: threading.Thread | None = None

    # -- owner API (any thread) ------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"camera-{self._name}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def hold_active(self, seconds: float) -> None:
        """Adaptive mode: decode every frame for at least ``seconds`` from now."""
        self._active_until = max(self._active_until, time.monotonic() + seconds)

    # -- thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            decoded_before = self.stats.decoded
            try:
                self._session()
                if self._stop.is_set():
                    return
                self.on_state("offline", "stream ended")
            except SourceError as exc:
                self.on_state("offline", str(exc))
            except Exception as exc:  # any decoder/demuxer failure: report, reconnect
                self.on_state("offline", redact(f"{type(exc).__name__}: {exc}"))
            if self.stats.decoded > decoded_before:
                attempt = 0  # it worked for a while: start the backoff again from the bottom
            ceiling = min(self.cfg.reconnect_max_s, self.cfg.reconnect_min_s * 2 ** attempt)
            attempt = min(attempt + 1, 20)
            self.stats.reconnects += 1
            # Jitter keeps a village's cameras (and gateways) from reconnecting in step.
            self._stop.wait(self._rng.uniform(0.5 * ceiling, ceiling))

    def _session(self) -> None:
        container = open_container(self.cfg)
        try:
            stream = container.streams.video[0]
        except IndexError:
            container.close()
            raise SourceError(redact(f"{self.cfg.url}: no video stream")) from None
        try:
            self._read(container, stream)
        except av.FFmpegError as exc:
            raise SourceError(redact(f"{self.cfg.url}: {exc}")) from None
        finally:
            container.close()

    def _read(self, container: Any, stream: Any) -> None:
        ctx = stream.codec_context
        ctx.thread_count = self.cfg.decode_threads  # before the first decode opens it
        if self.cfg.decode == "adaptive" and self.cfg.fast_decode:
            # Deblocking is ~20 % of H.264 decoding. Without it on inter frames a picture
            # differs from the full decode by 39-44 dB PSNR (720p, 2 s GOP), invisible at a
            # glance and harmless to the detector; each key frame starts clean again.
            ctx.options = {"skip_loop_filter": "nokey"}
        fps = float(stream.average_rate) if stream.average_rate else None
        self.info = StreamInfo(ctx.name, ctx.width, ctx.height, fps, stream)
        if self.on_stream is not None:
            self.on_stream(self.info)
        tb = float(stream.time_base or 1 / 90000)
        ctx.skip_frame = "DEFAULT" if self.cfg.decode == "all" else "NONKEY"
        state = _ReadState()
        self.stats.last_packet = time.monotonic()  # a fresh connection counts as data
        pace = _Pacer() if is_file(self.cfg.url) and self.cfg.realtime else None
        packets = iter(container.demux(stream))
        # Over RTSP one frame may arrive as several packets (one per slice, same timestamp);
        # decoded one by one they give half-drawn frames. They are joined before decoding,
        # which costs one frame interval of delay (files already hold whole frames).
        join = not is_file(self.cfg.url)
        pending: list[Any] = []
        pending_pts = 0.0
        while not self._stop.is_set():
            packet = next(packets, None)
            if packet is None or packet.size == 0:  # end of the file / stream
                if pending:
                    self._unit(ctx, pending, pending_pts, tb, state)
                    pending = []
                if not (is_file(self.cfg.url) and self.cfg.loop):
                    return
                container.seek(0)
                packets = iter(container.demux(stream))
                state.offset = state.last_pts + (1 / fps if fps else 0.04)
                ctx.flush_buffers()
                state.gop = []
                continue
            if packet.pts is None and packet.dts is None:
                continue
            pts = (packet.pts if packet.pts is not None else packet.dts) * tb + state.offset
            state.last_pts = pts
            if pace is not None:
                pace.wait(pts, self._stop)
            now = time.monotonic()
            gap = now - self.stats.last_packet
            if join and gap >= self.cfg.read_timeout_s:
                # On a read timeout FFmpeg's RTSP demuxer hands out the frame it was holding
                # instead of failing; a gap this long means the camera hung: reconnect.
                raise SourceError(f"no data for {gap:.1f} s (camera hung?)")
            self.stats.last_packet = now
            if not join:
                self._unit(ctx, [packet], pts, tb, state)
                continue
            if pending and abs(pts - pending_pts) < 1e-6:
                pending.append(packet)  # another slice of the same frame
                continue
            if pending:
                self._unit(ctx, pending, pending_pts, tb, state)
            pending, pending_pts = [packet], pts

    def _unit(self, ctx: Any, parts: list[Any], pts: float, tb: float,
              state: _ReadState) -> None:
        """Handle one whole frame's packet (joined from its slices when needed)."""
        packet = parts[0] if len(parts) == 1 else _join(parts)
        self.stats.packets += 1
        if self.on_packet is not None:
            self.on_packet(packet, pts)
        if packet.is_keyframe and pts != state.last_key:
            state.keys_seen += 1
        if self._should_decode(ctx, packet, pts, tb, state):
            # The first GOP of a network stream often starts with an incomplete key frame
            # (the stream joined mid-frame) and every frame until the next key frame is
            # smeared: decode it (the decoder needs it) but do not hand it out.
            trusted = state.keys_seen >= 2 or is_file(self.cfg.url)
            self._decode(ctx, packet, tb, state.offset, emit=trusted)
            if self.stats.decoded and not state.announced:
                state.announced = True
                self.on_state("online", None)

    def _should_decode(self, ctx: Any, packet: Any, pts: float, tb: float,
                       st: _ReadState) -> bool:
        if packet.is_keyframe:
            if st.last_key is not None and abs(pts - st.last_key) < 1e-6:
                # Over RTSP a multi-slice key frame can arrive as several packets with the
                # same timestamp: they all belong at the head of the GOP.
                st.gop.append(packet)
                return True
            if st.last_key is not None and pts > st.last_key:
                self.stats.key_interval = pts - st.last_key
            st.last_key = pts
            st.gop = [packet]
            return True
        if st.gop:
            st.gop.append(packet)
            if len(st.gop) > 600:  # a camera without key frames: do not grow forever
                st.gop = []
        if self.cfg.decode != "adaptive":
            return self.cfg.decode == "all"
        active = time.monotonic() < self._active_until
        # The baseline is the largest inter frame of the last few GOPs: sizes swing within a
        # GOP (a rate-controlled camera sends small frames right after a big key frame).
        if not active and len(st.still_sizes) >= 60 and \
                packet.size > self.cfg.activity_factor * max(st.still_sizes) + 200:
            self.hold_active(self.cfg.activity_hold_s)  # something big started to move
            active = True
        st.still_sizes.append(packet.size)
        if not active or not st.gop:
            st.catching_up = False
            ctx.skip_frame = "NONKEY"
            return False
        if not st.catching_up:
            # Decode again from the key frame so the references of this frame are complete.
            st.catching_up = True
            ctx.skip_frame = "DEFAULT"
            ctx.flush_buffers()
            for old in st.gop[:-1]:
                self._decode(ctx, old, tb, st.offset, emit=False)
        return True

    def _decode(self, ctx: Any, packet: Any, tb: float, offset: float, *, emit: bool) -> bool:
        got = False
        for frame in ctx.decode(packet):
            got = True
            self.stats.decoded += 1
            if emit:
                pts = (frame.pts * tb + offset) if frame.pts is not None else 0.0
                self.on_frame(frame, pts)
        return got


def _join(parts: list[Any]) -> Any:
    first = parts[0]
    packet = av.Packet(b"".join(bytes(p) for p in parts))
    packet.pts, packet.dts, packet.time_base = first.pts, first.dts, first.time_base
    packet.is_keyframe = any(p.is_keyframe for p in parts)
    return packet


@dataclass(slots=True)
class _ReadState:
    gop: list[Any] = field(default_factory=list)  # packets since the last key frame
    # sizes of recent inter-frame packets (their maximum is the activity baseline)
    still_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=120))
    catching_up: bool = False
    announced: bool = False
    keys_seen: int = 0
    last_key: float | None = None
    offset: float = 0.0  # added to timestamps after a file loops
    last_pts: float = 0.0


class _Pacer:
    """Plays a file at its own frame rate, like a camera would deliver it."""

    def __init__(self) -> None:
        self._t0: float | None = None
        self._p0 = 0.0

    def wait(self, pts: float, stop: threading.Event) -> None:
        now = time.monotonic()
        if self._t0 is None or pts < self._p0:
            self._t0, self._p0 = now, pts
            return
        delay = self._t0 + (pts - self._p0) - now
        if delay > 1.0:  # a jump in timestamps: restart the clock rather than stall
            self._t0, self._p0 = now, pts
        elif delay > 0:
            stop.wait(delay)
