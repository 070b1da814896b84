"""Camera source with PyAV: RTSP over TCP or a (looped) video file, in its own thread.

The thread demuxes packets, decides per packet whether to decode (``all``, ``keyframes``,
``adaptive``, or ``none`` for a record stream that is only buffered and remuxed), hands
decoded frames to ``on_frame`` and every packet to ``on_packet``. It never touches the event
loop: the owner passes thread-safe callbacks.

Adaptive decode: while the scene is still only key frames are decoded (``skip_frame=NONKEY``).
When the owner asks (``hold_active``, e.g. a key frame showed a change) or the activity
watch fires (``adaptive.py``: H.264 slice QP × bytes against the recent still frames, read
from the bitstream without decoding; packet sizes for other codecs), the decoder is flushed
and the packets since the last key frame are decoded again, so the current frame is correct
at once.

Look-back (adaptive, ``look_back``): the previous GOP's packets are kept, undecoded. When
the owner, analysing a key frame decoded while idle (``idle_key``), sees something move, it
calls ``look_back()``: right after that key frame the decoder is flushed, the previous GOP
is decoded from its key frame and handed out with its own times (``replaying``), then the
current key frame again, so the references are this GOP's once more and every frame after it
is decoded (the hold). Motion that began between two key frames is seen where it began.

Reconnects: jittered, growing backoff (``drivers.backoff``), but while the camera refuses
connections only a TCP probe runs every ``probe_interval_s`` and the full open follows as
soon as it listens again. A hung camera (socket open, no data) is caught by FFmpeg's socket
timeout and PyAV's read timeout; the owner also watches packet counters. URLs in every
message are redacted (``connect.py`` words the errors).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import av

from drivers.backoff import Backoff
from drivers.cameras.connect import (
    SourceError,
    decode_error,
    is_file,
    no_picture_error,
    open_container,
    read_error,
    source_decoder,
    wait_before_retry,
)
from drivers.cameras.io_wait import CameraWait, join_unless_hung
from drivers.cameras.packets import Pacer
from drivers.cameras.source_state import PyAVSourceConfig, ReadState, SourceStats, StreamInfo
from drivers.redact import redact_urls

redact = redact_urls  # one redactor for the whole agent (passwords with '/' included)
__all__ = ["PyAVSource", "PyAVSourceConfig", "SourceError", "SourceStats", "StreamInfo",
           "is_file", "open_container", "redact"]
STOP_JOIN_S = 1.0  # a thread stuck in a hung camera's read is left behind at shutdown
FrameCallback = Callable[[Any, float], None]  # (av.VideoFrame, pts seconds)
StateCallback = Callable[[str, str | None], None]  # ("online"|"offline", error)
PacketCallback = Callable[[Any, float], None]  # (av.Packet, pts seconds)


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
        self._owner_held = False  # the owner asked to decode everything (since a trigger)
        self._thread: threading.Thread | None = None
        self._wait = CameraWait()  # is the thread stuck in a hung camera's open or read?
        self._hw = False  # this session decodes with the hardware decoder
        self._hw_failed = False  # it failed once: software from the next session on
        # Read by the owner inside ``on_frame`` (the source thread): the frame is a key frame
        # decoded while idle with a previous GOP kept / one of a look-back's frames.
        self.idle_key = False
        self.replaying = False
        self._look_back_asked = False
        self._went_online = False  # the current session said "online" (it worked a while)

    # -- owner API (any thread) ------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"camera-{self._name}",
                                        daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = STOP_JOIN_S) -> None:
        """Ask the thread to stop and wait at most ``timeout``, and not at all while it is
        stuck in a hung camera's open or read (it only notices at its read timeout; a daemon
        holding nothing the agent needs): SIGTERM must not depend on the camera."""
        self._stop.set()
        if self._thread is not None:
            join_unless_hung(self._thread, self._wait, timeout)

    def hold_active(self, seconds: float) -> None:
        """Adaptive mode: decode every frame for at least ``seconds`` from now."""
        self._owner_held = True
        self._hold(seconds)

    def look_back(self) -> bool:
        """From ``on_frame`` of an ``idle_key`` frame (source thread): decode the previous GOP
        right after it, then this key frame again. False: nothing to look back on."""
        if not self.idle_key:
            return False
        self._look_back_asked = True
        return True

    def _hold(self, seconds: float) -> None:
        self._active_until = max(self._active_until, time.monotonic() + seconds)

    # -- thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = Backoff(self.cfg.reconnect_min_s, self.cfg.reconnect_max_s, rng=self._rng)
        while not self._stop.is_set():
            self._went_online = False
            try:
                self._session()
                if self._stop.is_set():
                    return
                self.on_state("offline", "stream ended")
            except SourceError as exc:
                self.on_state("offline", str(exc))
            except Exception as exc:  # any decoder/demuxer failure: report, reconnect
                self.on_state("offline", redact(f"{type(exc).__name__}: {exc}"))
            if self._went_online:
                # it worked for a while: start the backoff again from the bottom (packets
                # alone are no progress: a stream without a picture reconnected every
                # no_picture_s at the shortest delay, for ever)
                backoff.reset()
            self.stats.reconnects += 1
            wait_before_retry(self.cfg.url, backoff.failed(), self.cfg.probe_interval_s,
                              self._stop)

    def _session(self) -> None:
        with self._wait.waiting():
            container = open_container(self.cfg.url, self.cfg.open_timeout_s,
                                       self.cfg.read_timeout_s)
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

    def _decoder(self, stream: Any) -> Any:
        ctx, self.stats.decoder = source_decoder(stream, self.cfg, self._hw_failed)
        self._hw = ctx is not None and ctx is not stream.codec_context
        return ctx

    def _start_reading(self, stream: Any) -> tuple[Any, float, ReadState]:
        """A new connection: decoder, time base and read state."""
        ctx = self._decoder(stream)
        fps = float(stream.average_rate) if stream.average_rate else None
        self.info = StreamInfo(stream.codec_context.name, stream.codec_context.width,
                               stream.codec_context.height, fps, stream)
        if self.on_stream is not None:
            self.on_stream(self.info)
        frame_s = 1 / fps if fps else 0.04
        self._wait.frame_interval(frame_s)
        state = ReadState.begin(stream, self.cfg, frame_s, ctx is not None, self._name,
                                time.monotonic())
        if state.watch is not None:
            self.stats.activity = state.watch.mode
        self.stats.last_packet = time.monotonic()  # a fresh connection counts as data
        return ctx, state.framer.tb, state

    def _read(self, container: Any, stream: Any) -> None:
        ctx, tb, state = self._start_reading(stream)
        pace = Pacer() if is_file(self.cfg.url) and self.cfg.realtime else None
        packets = iter(container.demux(stream))
        while not self._stop.is_set():
            try:
                with self._wait.waiting():
                    packet = next(packets, None)
            except av.FFmpegError as exc:
                raise read_error(self.cfg.url, exc, packets=state.packets,
                                 waited_s=time.monotonic() - self.stats.last_packet,
                                 timeout_s=self.cfg.read_timeout_s) from None
            if packet is None or packet.size == 0:  # end of the file / stream
                for unit, pts in state.framer.flush():
                    self._unit(ctx, unit, pts, tb, state)
                if ctx is not None:
                    self._drain(ctx, tb, state, emit=True)  # the last B-frames, if any
                    self._check_pictures(state, ended=True)
                if not (is_file(self.cfg.url) and self.cfg.loop):
                    return
                container.seek(0)
                packets = iter(container.demux(stream))
                state.framer.looped()
                state.gop, state.prev_gop = [], []
                continue
            now = time.monotonic()
            gap = now - self.stats.last_packet
            if not is_file(self.cfg.url) and gap >= self.cfg.read_timeout_s:
                # On a read timeout FFmpeg's RTSP demuxer hands out the frame it was holding
                # instead of failing; a gap this long means the camera hung: reconnect.
                raise SourceError(f"no data for {gap:.1f} s (camera hung?)")
            self.stats.last_packet = now
            state.packets += 1
            for unit, pts in state.framer.push(packet):  # whole frames, with their times
                if pace is not None:
                    pace.wait(pts, self._stop)
                self._unit(ctx, unit, pts, tb, state)

    def _unit(self, ctx: Any, packet: Any, pts: float, tb: float, state: ReadState) -> None:
        """Handle one whole frame's packet (joined from its slices when needed)."""
        self.stats.packets += 1
        if self.on_packet is not None:
            self.on_packet(packet, pts)
        if packet.is_keyframe and pts != state.last_key:
            state.keys_seen += 1
        if ctx is None:  # packets only (a record stream): online with the first one
            if packet.is_keyframe:
                self._note_key(pts, state)
            self._announce(state)
            return
        try:
            if self._should_decode(ctx, packet, pts, tb, state):
                # Frames are handed out from the session's first key frame on (whole now
                # that its timestamp-less first slice is kept); inter frames before it
                # would be smeared (a stream joined mid-GOP).
                trusted = state.keys_seen >= 1 or is_file(self.cfg.url)
                self.idle_key = trusted and self._idle_key(packet, state)
                try:
                    got = self._decode(ctx, packet, tb, state, emit=trusted)
                    if not got and packet.is_keyframe and ctx.skip_frame == "NONKEY":
                        # Key frames only: a stream with B-frames makes the decoder hold
                        # each key frame back until the next one (a whole GOP late).
                        self._drain(ctx, tb, state, emit=trusted)
                finally:
                    self.idle_key = False
                if self._look_back_asked:
                    self._look_back_asked = False
                    self._look_back(ctx, packet, pts, tb, state)
        except av.FFmpegError as exc:
            if not self._hw:
                raise decode_error(self.info.codec if self.info else "video", exc) from None
            # A hardware decoder that opened but cannot decode this stream (profile, size):
            # software from the next session on, said in the status's "decoder".
            self._hw_failed = True
            raise SourceError(f"hardware decoder failed ({exc}); reconnecting with the "
                              "software decoder") from None
        # online once this session has a picture of its own (the source's decoded count
        # includes earlier sessions': a reconnect without one flapped online/offline)
        if state.pictures:
            self._announce(state)
        self._check_pictures(state)

    def _announce(self, st: ReadState) -> None:
        if not st.announced:
            st.announced = self._went_online = True
            self.on_state("online", None)

    def _check_pictures(self, st: ReadState, ended: bool = False) -> None:
        """Packets flow but no picture comes out (no key frame, undecodable data): fail the
        session with the reason after ``no_picture_s`` (or at the file's end) instead of
        staying silent; the reconnect may join at a key frame."""
        if st.pictures or not st.packets:
            return
        waited = time.monotonic() - st.started
        if ended or waited >= self.cfg.no_picture_s:
            raise no_picture_error(waited_s=None if ended else waited, packets=st.packets,
                                   keys=st.keys_seen,
                                   codec=self.info.codec if self.info else "video",
                                   file=is_file(self.cfg.url))

    def _idle_key(self, packet: Any, st: ReadState) -> bool:
        """A key frame decoded while only key frames are (adaptive, no hold), with the whole
        previous GOP kept: the owner may ask to look back on it."""
        return (packet.is_keyframe and self.cfg.look_back and st.watch is not None
                and len(st.prev_gop) > 1 and time.monotonic() >= self._active_until)

    def _look_back(self, ctx: Any, key: Any, pts: float, tb: float, st: ReadState) -> None:
        """Decode the previous GOP (frames handed out, ``replaying``), then ``key`` again; the
        frames after it are decoded from here on (``catching_up``: no second catch-up)."""
        self.stats.look_backs += 1
        ctx.skip_frame = "DEFAULT"
        ctx.flush_buffers()
        # Every frame shown before the key frame that comes out from here on is the previous
        # GOP's, handed out as replayed: those a reorder delay (B-frames) holds back, and in
        # an open GOP (H.265 CRA) the last ones, which are coded after the key frame (RASL
        # pictures, predicted from both GOPs: test_camera_codecs).
        st.replay_before = pts
        self.replaying = True
        try:
            for old in st.prev_gop:
                self._decode(ctx, old, tb, st, emit=True)
        finally:
            self.replaying = False
        # The key frame again, right after its past with no flush between: the frames after
        # it are predicted from this GOP's references (without it, from the previous GOP's
        # last picture: smeared, test_camera_look_back), and RASL pictures from both.
        self._decode(ctx, key, tb, st, emit=True)
        st.catching_up = True
        self._hold(self.cfg.activity_hold_s)

    def _note_key(self, pts: float, st: ReadState) -> None:
        if st.last_key is not None and pts > st.last_key:
            self.stats.key_interval = pts - st.last_key
        st.last_key = pts

    def _should_decode(self, ctx: Any, packet: Any, pts: float, tb: float,
                       st: ReadState) -> bool:
        fired = False
        if st.watch is not None:  # adaptive; key frames too (in-band SPS/PPS, GOP pattern)
            now = time.monotonic()
            fired = st.watch.check(bytes(packet), packet.size, packet.is_keyframe, pts,
                                   now < self._active_until, now, self._owner_held)
            self.stats.activity = st.watch.mode
            self.stats.confirmed += st.watch.judged == "confirmed"
        if packet.is_keyframe:
            if st.last_key is not None and abs(pts - st.last_key) < 1e-6:
                # Over RTSP a multi-slice key frame can arrive as several packets with the
                # same timestamp: they all belong at the head of the GOP.
                st.gop.append(packet)
                return True
            self._note_key(pts, st)
            st.handed_out_upto = None  # a new GOP: no frame of the last will come again
            st.replay_before = None
            if self.cfg.decode == "adaptive" and self.cfg.look_back:
                # A GOP that overflowed (``gop`` emptied) or began mid-GOP is not kept.
                st.prev_gop = st.gop if st.gop and st.gop[0].is_keyframe else []
            st.gop = [packet]
            return True
        if st.gop:
            st.gop.append(packet)
            if len(st.gop) > 600:  # a camera without key frames: do not grow forever
                st.gop = []
        if self.cfg.decode != "adaptive":
            return self.cfg.decode == "all"
        if fired:  # the picture started to change: decode from the key frame on
            self.stats.triggers += 1
            self._owner_held = False
            self._hold(self.cfg.activity_hold_s)
        active = time.monotonic() < self._active_until
        if not active or not st.gop:
            if st.catching_up:  # back to key frames: hand out what a reorder delay holds
                self._drain(ctx, tb, st, emit=True)
            st.catching_up = False
            ctx.skip_frame = "NONKEY"
            return False
        if not st.catching_up:
            # Decode again from the key frame so the references of this frame are complete.
            st.catching_up = True
            st.handed_out_upto = st.last_emitted
            ctx.skip_frame = "DEFAULT"
            ctx.flush_buffers()
            for old in st.gop[:-1]:
                self._decode(ctx, old, tb, st, emit=False)
        return True

    def _decode(self, ctx: Any, packet: Any, tb: float, st: ReadState, *, emit: bool) -> bool:
        """Decode ``packet`` (None: drain the decoder) and hand out the frames that come out
        when ``emit``. A decoder with a reorder delay (B-frames) hands frames out later than
        their packets: a frame a catch-up decoded again (this GOP's key frame, handed out
        while idle) can come out after it, and is not handed out twice. Only until the next
        key frame: a camera whose clock jumps back must not go blind until it catches up."""
        got = False
        for frame in ctx.decode(packet):
            got = True
            self.stats.decoded += 1
            pts = (frame.pts * tb + st.framer.offset) if frame.pts is not None else 0.0
            replayed = st.hand_out(pts, frame.pts is not None, self.replaying) if emit else None
            if replayed is not None:
                outer, self.replaying = self.replaying, replayed
                try:
                    self.on_frame(frame, pts)
                finally:
                    self.replaying = outer
        return got

    def _drain(self, ctx: Any, tb: float, st: ReadState, *, emit: bool) -> None:
        """Hand out what the decoder still holds and make it ready for new input. Not a
        hardware decoder: FFmpeg's V4L2 M2M wrapper has no flush, and once sent the end of
        the stream it takes no more input (blind for the rest of the session, no error);
        it keeps its delay instead (key frames a GOP late, a file's last frames lost)."""
        if not self._hw:
            self._decode(ctx, None, tb, st, emit=emit)
        ctx.flush_buffers()

