"""Cameras: ``camera/{id}/status`` and ``camera/{id}/motion`` payloads and the
``cmd/camera/{id}/...`` requests. ``camera/{id}/snapshot`` is raw JPEG bytes (no model)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RecordStreamStatus(BaseModel):
    """The separate record (main) stream of a camera with a detect sub-stream."""

    connected: bool = Field(description="Whether its packets arrive.")
    codec: str | None = Field(None, description="Video codec, e.g. h264.")
    width: int | None = Field(None, description="Picture width in pixels.")
    height: int | None = Field(None, description="Picture height in pixels.")
    fps_in: float = Field(0.0, description="Packets (frames) received per second.")
    last_error: str | None = Field(None, description="Last problem (credentials hidden).")


class CameraStatus(BaseModel):
    camera: str = Field(description="Camera id.")
    state: Literal["online", "offline", "disarmed"] = Field(
        description="online = frames arrive and motion is watched; disarmed = frames arrive "
        "but motion is not reported; offline = no frames.")
    armed: bool = Field(description="Whether motion is reported (schedule or command).")
    connected: bool = Field(description="Whether frames arrive.")
    decode: str = Field(description="Decode mode: all, keyframes or adaptive.")
    fps_in: float = Field(description="Packets (frames) received per second.")
    fps_decoded: float = Field(description="Frames decoded per second, counting frames decoded "
                               "again (adaptive catch-ups and look-backs), so it can briefly "
                               "exceed fps_in.")
    fps_analysed: float = Field(description="Frames analysed for motion per second.")
    packets_total: int = Field(description="Packets received since the agent started.")
    decoded_total: int = Field(description="Frames decoded since the agent started.")
    codec: str | None = Field(None, description="Video codec, e.g. h264.")
    width: int | None = Field(None, description="Picture width in pixels.")
    height: int | None = Field(None, description="Picture height in pixels.")
    keyframe_interval_s: float | None = Field(None, description="Seconds between key frames.")
    reconnects_last_hour: int = Field(description="Reconnections in the last hour.")
    last_error: str | None = Field(None, description="Last problem (credentials hidden).")
    since: str = Field(description="When this state began, UTC ISO 8601.")
    media_mb: float = Field(description="Disk space used by this camera's media, MB.")
    decoder: str | None = Field(None, description="Decoder of the detect stream, e.g. "
                                "'h264_v4l2m2m (hardware)' or 'h264 (software; ...why)'.")
    record: RecordStreamStatus | None = Field(
        None, description="The record stream (clips, snapshots) when the camera has a "
        "separate one; width/height/codec above are the detect stream's.")
    name: str | None = Field(None, description="The camera's name for people, e.g. 'Cổng "
                             "làng' (config ``name``); absent from older agents.")
    activity_trigger: Literal["bitstream", "size", "off"] | None = Field(
        None, description="Adaptive decode: what starts decoding every frame between key "
        "frames (bitstream = H.264 slice QP x bytes, size = packet sizes, off = nothing, key "
        "frames only). Absent when the camera is not in adaptive mode or not connected yet.")
    activity_fired: int | None = Field(
        None, description="Adaptive: times the activity trigger started decoding every "
        "frame since the agent started.")
    activity_confirmed: int | None = Field(
        None, description="Adaptive: of those, the times the motion detector then saw the "
        "scene move (the others were decoded for nothing, and make the next trigger harder).")
    look_backs: int | None = Field(
        None, description="Adaptive: times a key frame showing motion after a still stretch "
        "made the camera decode the GOP before it again, so the event starts where the motion "
        "did (config look_back).")
    overlay: list[tuple[float, float, float, float]] | None = Field(
        None, description="Where the camera's burnt-in text (date/time clock, name) was found "
        "and is held still for motion analysis, as [x, y, w, h] relative to the picture (0-1); "
        "[] none found (yet: it is looked for over the first second, then every 10 s). Absent "
        "with config overlay: off, and from older agents.")


class MotionEvent(BaseModel):
    camera: str = Field(description="Camera id.")
    event: Literal["start", "update", "end"] = Field(description="Lifecycle step.")
    event_id: str = Field(description="Same id on start, updates and end.")
    started_at: str = Field(description="When motion started, UTC ISO 8601.")
    boxes: list[tuple[float, float, float, float]] = Field(
        description="Moving things as [x, y, w, h] relative to the picture (0-1).")
    zones: list[str] = Field(description="Zones entered so far in this event.")
    score: float = Field(description="Part of the picture moving now (0-1).")
    peak_score: float = Field(description="Largest score so far in this event.")
    duration_s: float = Field(description="Seconds since start (at end: length of motion).")
    snapshot: str | None = Field(None, description="Snapshot file under the media folder, "
                                 "e.g. 'gate/2026-11-22/ev123.jpg'.")
    clip: str | None = Field(None, description="Clip file being written, when clips are on.")


class ArmRequest(BaseModel):
    """``cmd/camera/{id}/arm`` and ``cmd/camera/{id}/disarm``."""

    # forbid: a typo such as "untill" must be refused, not silently arm/disarm for ever
    model_config = ConfigDict(extra="forbid")
    until: datetime | None = Field(None, description="Keep this until then (ISO 8601 with "
                                   "offset); without it, until the next arm/disarm command.")


class SnapshotRequest(BaseModel):
    """``cmd/camera/{id}/snapshot``: take a snapshot now."""

    model_config = ConfigDict(extra="forbid")
