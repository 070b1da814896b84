"""Config section ``cameras`` (a list, one entry per camera).

Only pydantic here: a gateway without cameras must not load OpenCV, numpy or PyAV.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from yaml_config.base import Secret, SecretsModel, StrictModel

_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# 0..1, enforced by _check_polygon (its message says "relative coordinates"); the schema
# states the range for editors and for the every-number-is-bounded test
Coordinate = Annotated[float, Field(json_schema_extra={"minimum": 0, "maximum": 1})]
Point = tuple[Coordinate, Coordinate]


def _check_polygon(points: list[Point]) -> list[Point]:
    if len(points) < 3:
        raise ValueError("a polygon needs at least 3 points [x, y]")
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point [{x}, {y}] is outside the frame: use relative "
                             "coordinates from 0 (left/top) to 1 (right/bottom)")
    return points


class Zone(StrictModel):
    name: str = Field(pattern=_ID_RE, description="Zone name reported in events, e.g. 'gate'.")
    polygon: list[Point] = Field(
        description="Corners as [x, y] from 0 to 1 (0,0 = top-left, 1,1 = bottom-right).")

    @field_validator("polygon")
    @classmethod
    def _poly(cls, value: list[Point]) -> list[Point]:
        return _check_polygon(value)


class MotionConfig(StrictModel):
    """How sensitive motion detection is. The defaults suit a village street at 160 px."""

    threshold: float = Field(
        10, ge=3, le=120,
        description="How much brighter or darker (0-255 grey levels) a point must be than "
        "the learned background to count as changed. Lower = more sensitive. It rises "
        "automatically on noisy images (up to twice this value) and falls on low-contrast "
        "ones such as a dark street without IR (down to 70 % of it).")
    noise_factor: float = Field(
        3.5, ge=0, le=10,
        description="The threshold is at least this many times the average difference "
        "(the picture's noise). 0 turns the automatic raise off.")
    min_area: float = Field(
        0.004, ge=0, le=1,
        description="Smallest moving thing reported, as a fraction of the picture (0.004 = "
        "0.4 %, about a person at 20 m on a 90° camera). It is measured on the changed area "
        "once pieces a few pixels apart are joined, so a person at 30-50 m (0.1-0.3 % by his "
        "own outline) is still above the default. Raise it to ignore birds and cats.")
    min_moving_fraction: float = Field(
        0.03, ge=0, le=1,
        description="Part of a changed area that must also have changed since the previous "
        "analysed frame for it to count as moving; a change that stays put is absorbed.")
    persistence_frames: int = Field(
        2, ge=1, le=20,
        description="Analysed frames in a row a moving thing must be seen before motion "
        "starts. 2 filters rain and sensor speckle; more = fewer false alarms, later start.")
    end_s: float = Field(
        2.5, ge=0, le=600,
        description="Seconds without motion before an event ends.")
    update_interval_s: float = Field(
        2.0, ge=0.2, le=600,
        description="Seconds between 'update' messages while an event goes on.")
    max_event_s: float = Field(
        600, ge=5, le=86400,
        description="An event longer than this is ended and a new one started.")
    background_rate: float = Field(
        0.04, gt=0, le=1,
        description="How fast the background learns slow changes, per analysed frame.")
    static_absorb_rate: float = Field(
        0.5, gt=0, le=1,
        description="How fast a change that does not move (parked car, lit window, IR "
        "residue) becomes background, per analysed frame.")
    global_change_fraction: float = Field(
        0.5, gt=0, le=1,
        description="If more than this part of the picture changes at once (IR day/night "
        "switch, lights switched on), the background is re-learned instead of reporting motion.")
    require_zone: bool = Field(
        False, description="Only report motion that touches one of the zones.")


class ArmWindow(StrictModel):
    start: str = Field(description="Local time HH:MM the camera becomes armed.")
    end: str = Field(description="Local time HH:MM it is disarmed; before 'start' = next day.")
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = Field(
        None, description="Only windows starting on these days (default every day).")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("expected a local time HH:MM, e.g. '18:30'")
        return value

    def times(self) -> tuple[time, time]:
        s = [int(p) for p in self.start.split(":")]
        e = [int(p) for p in self.end.split(":")]
        return time(s[0], s[1]), time(e[0], e[1])


class ArmingConfig(StrictModel):
    schedule: list[ArmWindow] = Field(
        default_factory=list,
        description="When the camera is armed (reports motion). Empty = always armed. Example: "
        "[{start: '18:00', end: '06:00'}] for night only.")


class SnapshotConfig(StrictModel):
    width: int | None = Field(
        None, ge=64, le=4096, description="Snapshot width in pixels (default: full size).")
    quality: int = Field(80, ge=10, le=100, description="JPEG quality, 10-100.")


class ClipConfig(StrictModel):
    enabled: bool = Field(False, description="Save a video clip of each event (no re-encode).")
    pre_s: float = Field(3.0, ge=0, le=30, description="Seconds kept before motion starts.")
    post_s: float = Field(3.0, ge=0, le=60, description="Seconds kept after motion ends.")
    max_s: float = Field(120.0, ge=5, le=1800, description="Longest clip, in seconds.")


class MediaConfig(StrictModel):
    max_age_days: float = Field(7, gt=0, le=3650, description="Delete snapshots and clips older "
                                "than this many days.")
    quota_mb: float = Field(500, gt=0, le=100_000_000,
                            description="Most disk space this camera's media may use; the "
                            "oldest files are deleted first.")
    min_free_mb: float = Field(200, ge=0, le=100_000_000,
                               description="Stop saving media when the disk has less free "
                               "space than this (lights and telemetry go on).")


class StreamsConfig(StrictModel):
    """A camera's two streams. Most IP cameras send a small sub-stream beside the main one:
    detection decodes the small one (every frame, cheap), clips and snapshots copy the main
    one (never decoded, except one frame per snapshot)."""

    detect: str | None = Field(
        None, description="Stream motion detection decodes: the camera's sub-stream, e.g. "
        "rtsp://HOST:554/cam/realmonitor?channel=1&subtype=1 (Dahua) or "
        "rtsp://HOST:554/Streaming/Channels/102 (Hikvision). Default: 'url'.")
    record: str | None = Field(
        None, description="Stream snapshots and clips come from: the main stream, e.g. "
        "...&subtype=0 (Dahua) or /Streaming/Channels/101 (Hikvision). Its packets are only "
        "buffered and remuxed. Default: 'url' (or 'detect').")


class CameraConfig(SecretsModel):
    id: str = Field(pattern=_ID_RE, description="Camera id used in topics, e.g. 'market-gate'.")
    name: str | None = Field(None, description="Human name shown on the local page.")
    url: str | None = Field(
        None, description="rtsp://host:554/path (credentials may be inline, but prefer "
        "username/password) or a video file path (looped; for demos and tests). One stream "
        "for everything; with 'streams' it may be left out.")
    streams: StreamsConfig = Field(
        default_factory=StreamsConfig, description="A detect sub-stream and/or a record "
        "main stream instead of (or beside) 'url'.")
    username: str | None = Field(None, description="RTSP user name.")
    password: Secret | None = Field(None, description="RTSP password (or password_file: PATH, "
                                    "or ${ENV_VAR}). Never logged.")
    decode: Literal["all", "keyframes", "adaptive"] | None = Field(
        None,
        description="Which frames of the detect stream are decoded. 'all' every frame; "
        "'keyframes' only key frames (every 1-4 s, least CPU, slow to notice motion); "
        "'adaptive' key frames while the scene is still and every frame as soon as the stream "
        "shows activity, until the event ends. Default: 'all' with a separate detect "
        "sub-stream (it is small), 'adaptive' with one stream.")
    hwaccel: Literal["auto", "off", "v4l2m2m"] = Field(
        "auto", description="Hardware video decoding: 'auto' uses the board's V4L2 decoder "
        "(h264_v4l2m2m on a Raspberry Pi 4) for streams decoded in full (decode: all) when it "
        "opens, software otherwise; 'off' always software; 'v4l2m2m' asks for it in every "
        "mode (software if it fails, said in the status's 'decoder').")
    fast_decode: bool = Field(
        False, description="Adaptive mode: skip the H.264 deblocking filter on the frames "
        "between key frames, about 20 % less decoder CPU while motion lasts; key frames and "
        "'all' mode are always decoded in full. With a separate record stream it applies to "
        "the detect stream in every mode. Off by default: on dark, noisy pictures the block "
        "edges it leaves look like motion (measured in docs/detection-quality.md); true only for a "
        "well-lit camera on a gateway short of CPU.")
    activity_trigger: Literal["bitstream", "size", "off"] = Field(
        "bitstream", description="Adaptive mode with one stream: what starts decoding every "
        "frame between key frames. 'bitstream': H.264 slice headers (bytes x quantiser step "
        "against the still frames at the same place in the GOP), no decoding; other codecs "
        "fall back to 'size'. 'size': an inter frame more than twice the largest recent one "
        "(rarely fires on a constant-bit-rate camera). 'off': only key frames show motion "
        "(onset up to one GOP late), for a camera whose stream makes false catch-ups.")
    look_back: bool = Field(
        True, description="Adaptive mode: when a key frame shows motion after a still "
        "stretch, decode the GOP before it again (kept, not yet decoded) so the event starts "
        "where the motion did, not up to one GOP later. Costs one GOP's decode per onset.")
    decode_threads: int = Field(
        1, ge=0, le=16, description="Decoder threads for this camera (0 = one per CPU core). "
        "They share out the slices of a frame (never whole frames, which would make every "
        "frame late), so they help only a camera that sends several slices a frame, such as "
        "one large main stream; 1 is best when the gateway runs several cameras.")
    analysis_fps: float = Field(10, gt=0, le=60, description="Most frames analysed per second.")
    analysis_width: int = Field(
        160, ge=64, le=1280, description="Width (pixels) the picture is shrunk to before "
        "motion analysis. 160 finds a person at 20 m on a 90° camera; raise it (CPU grows "
        "with its square) only for small, distant things.")
    loop: bool = Field(True, description="For file sources: start again at the end.")
    status_interval_s: float = Field(30, ge=0.5, le=3600, description="Seconds between status "
                                     "messages (also sent at once when the state changes).")
    open_timeout_s: float = Field(8, gt=0, le=120, description="Give up connecting after this.")
    read_timeout_s: float = Field(
        5, gt=0, le=120, description="No data for this long = camera offline (hung camera).")
    no_picture_s: float = Field(
        10, gt=0, le=600, description="Data but no picture for this long (no key frame, "
        "undecodable data) = camera offline, with the reason; it reconnects. Raise it above "
        "the key frame interval of a camera whose key frames come further apart.")
    reconnect_min_s: float = Field(1, gt=0, le=3600,
                                   description="First reconnect delay cap (s).")
    reconnect_max_s: float = Field(30, gt=0, le=3600,
                                   description="Largest reconnect delay cap (s).")
    motion: MotionConfig = Field(default_factory=MotionConfig, description="Motion detection.")
    overlay: Literal["auto", "off"] = Field(
        "off", description="The camera's burnt-in on-screen display (date/time clock, "
        "name): 'auto' finds white text with a dark outline that stays at one place near the "
        "top or bottom edge over the first second (re-checked every 10 s) and holds it still "
        "for motion analysis, so a ticking clock makes no motion; where it was found is in "
        "the status ('overlay'). Off by default: on pictures without an overlay it can take "
        "text-like scenery in the top or bottom fifth for one and hide movers there, so check "
        "the status or `edge-agent camera replay --overlay auto` after switching it on. "
        "'off': analyse the picture as it comes (mask the clock by hand instead).")
    masks: list[list[Point]] = Field(
        default_factory=list,
        description="Areas ignored (trees, a road outside the village): polygons of [x, y] "
        "relative points.")
    zones: list[Zone] = Field(default_factory=list, description="Named areas reported in events.")
    arming: ArmingConfig = Field(default_factory=ArmingConfig, description="When to arm.")
    snapshot: SnapshotConfig = Field(default_factory=SnapshotConfig, description="Snapshots.")
    clips: ClipConfig = Field(default_factory=ClipConfig, description="Event video clips.")
    media: MediaConfig = Field(default_factory=MediaConfig, description="Media retention.")

    @field_validator("masks")
    @classmethod
    def _masks(cls, value: list[list[Point]]) -> list[list[Point]]:
        for poly in value:
            _check_polygon(poly)
        return value

    @model_validator(mode="after")
    def _check(self) -> CameraConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        if not (self.url or self.streams.detect or self.streams.record):
            raise ValueError("give the camera a 'url' (or streams.detect / streams.record)")
        return self

    @property
    def detect_stream(self) -> str:
        """URL (as configured, without credentials) of the stream detection decodes."""
        url = self.streams.detect or self.url or self.streams.record
        assert url is not None  # checked above
        return url

    @property
    def record_stream(self) -> str | None:
        """URL of a separate record stream; None when one stream does everything."""
        url = self.streams.record or self.url
        return url if url and url != self.detect_stream else None

    @property
    def decode_mode(self) -> Literal["all", "keyframes", "adaptive"]:
        if self.decode is not None:
            return self.decode
        return "all" if self.record_stream else "adaptive"

    def source_url(self, url: str | None = None) -> str:
        """``url`` (default: the detect stream) with username/password filled in (never log
        this)."""
        url = url or self.detect_stream
        if not self.username or "://" not in url:
            return url
        from urllib.parse import quote

        scheme, rest = url.split("://", 1)
        rest = rest.split("@", 1)[-1]
        pw = self.password.get_secret_value() if self.password else ""
        cred = quote(self.username, safe="") + (":" + quote(pw, safe="") if pw else "")
        return f"{scheme}://{cred}@{rest}"


__all__ = ["WEEKDAYS", "ArmWindow", "ArmingConfig", "CameraConfig", "ClipConfig",
           "MediaConfig", "MotionConfig", "SnapshotConfig", "StreamsConfig", "Zone"]
