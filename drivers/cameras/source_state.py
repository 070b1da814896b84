"""The camera source's settings, counters and per-connection read state (``pyav_source.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from drivers.cameras.adaptive import ActivityWatch
from drivers.cameras.connect import PROBE_INTERVAL_S, HwAccel, is_file
from drivers.cameras.packets import Framer


class PyAVSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    driver: Literal["pyav"] = "pyav"
    url: str = Field(description="rtsp:// URL (credentials allowed) or a file path.")
    decode: Literal["all", "keyframes", "adaptive", "none"] = Field(
        "adaptive", description="'none': packets only (a record stream: clips, snapshots).")
    loop: bool = Field(True, description="Files: start again at the end.")
    realtime: bool = Field(True, description="Files: read at the clip's own pace.")
    open_timeout_s: float = 8.0
    read_timeout_s: float = 5.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    probe_interval_s: float = Field(PROBE_INTERVAL_S, gt=0, description="While a camera "
                                    "refuses connections: seconds between TCP probes.")
    hwaccel: HwAccel = Field("auto", description="Hardware decoder (V4L2 M2M) or software.")
    decode_threads: int = Field(1, ge=0, le=16, description="Decoder slice threads (0 = "
                                "one per CPU). One per camera suits a Pi running several.")
    fast_decode: bool = Field(False, description="Adaptive: skip H.264 deblocking on inter "
                              "frames (key frames stay full quality; costs the detector on "
                              "dark noisy pictures).")
    analysis_only: bool = Field(False, description="Frames are only analysed, never shown "
                                "(a detect sub-stream): fast_decode applies in every mode.")
    activity_trigger: Literal["bitstream", "size", "off"] = Field(
        "bitstream", description="Adaptive: what shows activity between key frames (H.264 "
        "slice QP x bytes, see activity.py; packet sizes; nothing).")
    activity_margin: float = Field(1.15, gt=1.0, description="Adaptive, H.264: smallest rise "
                                   "of bytes x quantiser step over the still frames = activity.")
    activity_factor: float = Field(2.0, description="Adaptive, other codecs: an inter packet "
                                   "this many times the largest recent still one = activity.")
    activity_hold_s: float = Field(1.0, gt=0, description="Adaptive: decode everything this "
                                   "long after a trigger (the owner extends it while motion "
                                   "lasts; one it did not extend makes the next one harder).")
    look_back: bool = Field(True, description="Adaptive: when a key frame decoded while idle "
                            "shows motion, decode the previous GOP too (the owner asks).")
    no_picture_s: float = Field(10.0, gt=0, description="A session whose packets give no "
                                "picture this long (no key frame, undecodable data) fails "
                                "with the reason and reconnects.")


@dataclass(slots=True)
class SourceStats:
    packets: int = 0
    decoded: int = 0
    reconnects: int = 0
    last_packet: float = 0.0  # time.monotonic() of the newest packet
    key_interval: float | None = None  # seconds between key frames
    decoder: str | None = None  # which decoder runs (hardware or software, and why)
    activity: str | None = None  # adaptive: "bitstream" (slice QP), "size" or "off" trigger
    triggers: int = 0  # adaptive: times the activity watch started a catch-up
    confirmed: int = 0  # adaptive: of those, the ones the owner then held (it saw motion)
    look_backs: int = 0  # adaptive: times the previous GOP was decoded again (look_back)


@dataclass(slots=True)
class StreamInfo:
    codec: str
    width: int
    height: int
    fps: float | None
    stream: Any = field(repr=False, default=None)  # the av VideoStream (clip templates)


@dataclass(slots=True)
class ReadState:
    framer: Framer  # demuxed packets -> whole frames with their times
    gop: list[Any] = field(default_factory=list)  # packets since the last key frame
    prev_gop: list[Any] = field(default_factory=list)  # the GOP before it (look-back)
    watch: ActivityWatch | None = None  # adaptive mode's activity trigger
    packets: int = 0  # packets read in this session
    started: float = 0.0  # time.monotonic() the session began reading
    pictures: int = 0  # frames handed out in this session
    catching_up: bool = False
    announced: bool = False
    keys_seen: int = 0
    last_key: float | None = None
    last_emitted: float = float("-inf")  # time of the newest frame handed out (not replayed)
    handed_out_upto: float | None = None  # a catch-up decodes frames handed out up to here
    replay_before: float | None = None  # after a look-back: frames shown before it replayed

    @classmethod
    def begin(cls, stream: Any, cfg: PyAVSourceConfig, frame_s: float, decoding: bool,
              name: str, now: float) -> ReadState:
        """A new session's state: its framer and, decoding adaptively, its activity watch."""
        state = cls(Framer(stream.time_base or Fraction(1, 90000), frame_s,
                           join=not is_file(cfg.url)), started=now)
        if decoding and cfg.decode == "adaptive":
            state.watch = ActivityWatch(
                stream.codec_context.name, stream.codec_context.extradata, name=name,
                margin=cfg.activity_margin, size_factor=cfg.activity_factor,
                trigger=cfg.activity_trigger, hold_s=cfg.activity_hold_s)
        return state

    def hand_out(self, pts: float, timed: bool, replaying: bool) -> bool | None:
        """A decoded frame at ``pts``: None, not handed out (a catch-up decoded it again after
        handing it out); else handed out, as replayed (True) or not. After a look-back,
        frames shown before its key frame are the previous GOP's (``replay_before``)."""
        again = timed and self.handed_out_upto is not None and pts <= self.handed_out_upto + 1e-6
        if self.replay_before is not None:
            if pts < self.replay_before - 1e-6:
                replaying = True
            else:
                self.replay_before = None
        if again and not replaying:
            return None
        if not replaying:
            self.last_emitted = pts
        self.pictures += 1
        return replaying
