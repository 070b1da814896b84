"""A camera's streams: the detect stream (decoded, analysed) and, when the camera gives one,
a separate record stream (buffered and remuxed, never decoded but for a snapshot).

With one stream (``url`` only) everything comes from it, as before: clips copy its packets
and snapshots are its decoded frames. With two, the detect source decodes the sub-stream
and the record source (decode ``none``) feeds the clip writer and a ``RecordBuffer``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from drivers.cameras.clip_writer import ClipRecorder
from drivers.cameras.pyav_source import (
    STOP_JOIN_S,
    FrameCallback,
    PyAVSource,
    PyAVSourceConfig,
    StateCallback,
    StreamInfo,
)
from drivers.cameras.record_buffer import RecordBuffer
from edge_agent.cameras.config import CameraConfig

log = logging.getLogger(__name__)


def source_config(cfg: CameraConfig, url: str, decode: str,
                  analysis_only: bool = False) -> PyAVSourceConfig:
    return PyAVSourceConfig(
        url=url, decode=decode, loop=cfg.loop, fast_decode=cfg.fast_decode,
        analysis_only=analysis_only, activity_trigger=cfg.activity_trigger,
        look_back=cfg.look_back,
        decode_threads=cfg.decode_threads, hwaccel=cfg.hwaccel,
        open_timeout_s=cfg.open_timeout_s, read_timeout_s=cfg.read_timeout_s,
        no_picture_s=cfg.no_picture_s, reconnect_min_s=cfg.reconnect_min_s,
        reconnect_max_s=cfg.reconnect_max_s)


class CameraStreams:
    def __init__(self, cfg: CameraConfig, on_frame: FrameCallback, on_state: StateCallback,
                 on_record_state: StateCallback) -> None:
        # With a record stream, snapshots come from it: the detect stream's pictures are
        # only analysed (at 160 px), so deblocking can be skipped on its inter frames.
        self.detect = PyAVSource(
            source_config(cfg, cfg.source_url(), cfg.decode_mode,
                          analysis_only=cfg.record_stream is not None),
            on_frame, on_state, name=cfg.id)
        self.clips: ClipRecorder | None = None
        if cfg.clips.enabled:
            self.clips = ClipRecorder(cfg.clips.pre_s, cfg.clips.post_s, cfg.clips.max_s)
        self.record: PyAVSource | None = None
        self.buffer: RecordBuffer | None = None
        record_url = cfg.record_stream
        if record_url is None:
            self.detect.on_stream = self._clip_template
            if self.clips is not None:
                self.detect.on_packet = self.clips.feed
            return
        self.buffer = RecordBuffer()
        self.record = PyAVSource(source_config(cfg, cfg.source_url(record_url), "none"),
                                 _no_frames, on_record_state, name=f"{cfg.id}-record")
        self.record.on_stream = self._record_stream
        self.record.on_packet = self._record_packet

    # -- stream threads --------------------------------------------------------------------
    def _clip_template(self, info: StreamInfo) -> None:
        if self.clips is not None:
            self.clips.template = info.stream

    def _record_stream(self, info: StreamInfo) -> None:
        assert self.buffer is not None
        self.buffer.set_stream(info.stream)
        self._clip_template(info)

    def _record_packet(self, packet: Any, pts: float) -> None:
        assert self.buffer is not None
        self.buffer.feed(packet, pts)
        if self.clips is not None:
            self.clips.feed(packet, pts)

    # -- owner -----------------------------------------------------------------------------
    def start(self) -> None:
        self.detect.start()
        if self.record is not None:
            self.record.start()

    def stop(self) -> None:
        """Both threads get the stop signal first and share one join deadline, so a hung
        camera (both its streams hung) delays a shutdown by STOP_JOIN_S once, not twice."""
        sources = [s for s in (self.detect, self.record) if s is not None]
        for source in sources:
            source.request_stop()
        deadline = time.monotonic() + STOP_JOIN_S
        for source in sources:
            source.stop(max(0.0, deadline - time.monotonic()))

    def hold_active(self, seconds: float) -> None:
        self.detect.hold_active(seconds)

    def event_frame(self, after: float, timeout: float) -> Any:
        """Blocking (run it in a thread). The record stream's first key frame at or after
        ``after`` (monotonic): one key frame decoded per event, at most one GOP later than
        the detection. ``LookupError`` when none comes in ``timeout``."""
        assert self.buffer is not None
        return self.buffer.next_key_frame(after, timeout)

    def frame_now(self, after: float, timeout: float) -> Any:
        """Blocking. The record stream's newest frame arrived after ``after``."""
        assert self.buffer is not None
        return self.buffer.frame_now(after, timeout)


def _no_frames(frame: Any, pts: float) -> None:  # decode "none": never called
    raise AssertionError("the record stream decoded a frame")

