"""A camera's motion events out of the agent: analysed results in (from the source thread),
``camera/{id}/motion`` start/update/end and the event snapshot and clip out.

The source thread offers only results that can start, extend or end an event (a still scene
costs the event loop nothing); the loop feeds them to the pure ``EventTracker``. On a start the
clip recorder starts (when there is room), the start message goes out at once and the snapshot
follows it: from the record stream's next key frame at full resolution when that stream is up,
else the detect frame that started the event. A broken snapshot costs the snapshot only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from contract import utc_iso
from contract.cameras import MotionEvent
from edge_agent.cameras.config import CameraConfig
from edge_agent.cameras.events import EventMessage, EventTracker
from edge_agent.cameras.frames import encode_jpeg
from edge_agent.cameras.media import MediaStore
from edge_agent.cameras.motion import MotionResult
from edge_agent.cameras.status import CameraStatusReporter
from edge_agent.cameras.streams import CameraStreams
from edge_agent.runtime import AgentContext, MessageClass

# Two streams: the event snapshot is the record stream's next key frame (one GOP at most).
EVENT_KEY_FRAME_WAIT_S = 6.0
RESULT_QUEUE = 200  # results waiting for the loop; when it falls behind the oldest go


class CameraEvents:
    def __init__(self, cfg: CameraConfig, ctx: AgentContext, tz: ZoneInfo, media: MediaStore,
                 streams: CameraStreams, status: CameraStatusReporter,
                 record_up: Callable[[], bool]) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.tz = tz
        self.media = media
        self.streams = streams
        self.clips = streams.clips
        self.status = status
        self.record_up = record_up
        self.tracker = EventTracker(cfg.motion)
        self.started = 0  # motion events started since the agent started
        self.active = False  # an event runs (read by the source thread)
        self.loop: asyncio.AbstractEventLoop | None = None
        # (result, detect frame or None, wall time, monotonic time of the frame)
        self._results: asyncio.Queue[tuple[MotionResult, Any, float, float]] = \
            asyncio.Queue(RESULT_QUEUE)
        self._started_wall: dict[str, float] = {}
        self._clip_ref: str | None = None
        self._snapshots: asyncio.TaskGroup | None = None

    # -- source thread -------------------------------------------------------------------
    def offer_threadsafe(self, result: MotionResult, frame: Any, mono: float,
                         age_s: float = 0.0) -> None:
        """From the source thread: a result that may start, extend or end an event. Only a
        possible start needs the frame (its snapshot); other frames are not held. ``age_s``:
        how long ago the frame was taken (a look-back's frames are analysed up to a GOP
        late), so an event started by one is dated when it began."""
        if self.loop is not None and (result.motion or self.active):
            # the frame of a possible start: a new event, or one cut at max_event_s while
            # the mover is still there (the next one starts on this frame)
            starts = not self.active or self.tracker.due_to_cut(result.ts)
            keep = frame if result.motion and starts else None
            self.loop.call_soon_threadsafe(self._offer, result, keep, time.time() - age_s, mono)

    def _offer(self, result: MotionResult, frame: Any, wall: float, mono: float) -> None:
        if self._results.full():
            self._results.get_nowait()  # the loop fell behind: drop the oldest result
        self._results.put_nowait((result, frame, wall, mono))

    # -- event loop ----------------------------------------------------------------------
    async def run(self, armed: Callable[[], bool]) -> None:
        """Consume offered results for ever; snapshots run beside, in this task group. The
        owner sets ``loop`` before its source threads start (no early result is lost)."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._snapshots = tg
                tg.create_task(self._consume(armed), name=f"camera-{self.cfg.id}-events")
        finally:
            self._snapshots = None

    async def end(self, ts: float) -> None:
        """End a running event now (camera disarmed or offline)."""
        await self._emit(self.tracker.end(ts), time.time())

    async def _consume(self, armed: Callable[[], bool]) -> None:
        while True:
            result, frame, wall, mono = await self._results.get()
            if not armed():
                continue
            messages = self.tracker.feed(result)
            start = next((m for m in messages if m.kind == "start"), None)
            if start is None:
                await self._emit(messages, wall)
                continue
            # An event cut at max_event_s ends first (its clip closes), then the next starts
            # with its own snapshot and clip: it used to go out with neither.
            await self._emit([m for m in messages if m is not start], wall)
            self.active = True
            self.started += 1
            # Dated when the mover was first seen (``started_ts``, a few analysed frames
            # before the one that confirmed it), as ``duration_s`` is counted.
            self._started_wall[start.event_id] = wall - (start.ts - start.started_ts)
            if frame is not None:
                start = replace(start, snapshot=await self._on_start(frame, wall, mono))
            await self._emit([start], wall)

    async def _on_start(self, frame: Any, wall: float, mono: float) -> str:
        event_id = self.tracker.event_id
        assert event_id is not None
        when = datetime.fromtimestamp(wall, self.tz)
        if self.clips is not None:
            path = self.media.path_for(event_id, ".mp4", when)
            if await asyncio.to_thread(self.media.room_for, int(self.cfg.clips.max_s * 250e3)):
                self.clips.start(path)
                self._clip_ref = self.media.ref(path)
        # The snapshot is saved and published right after the start message (latency).
        if self._snapshots is not None:
            self._snapshots.create_task(self._snapshot(event_id, frame, when, mono),
                                        name=f"camera-{self.cfg.id}-snapshot")
        ref = self.media.ref(self.media.path_for(event_id, ".jpg", when))
        self.tracker.set_snapshot(ref)
        return ref

    async def _snapshot(self, event_id: str, frame: Any, when: datetime, mono: float) -> None:
        try:
            if self.record_up():
                # Full resolution: the main stream's first key frame since the detection;
                # none in time (a very long GOP, the stream just dropped): the detect frame.
                with contextlib.suppress(LookupError):
                    frame = await asyncio.to_thread(self.streams.event_frame, mono - 0.05,
                                                    EVENT_KEY_FRAME_WAIT_S)
            jpeg = await asyncio.to_thread(encode_jpeg, frame, self.cfg.snapshot.width,
                                           self.cfg.snapshot.quality)
        except Exception as exc:  # a broken frame must not stop the camera
            self.status.last_error = f"snapshot failed: {exc}"
            return
        await self.save_and_publish(self.media.path_for(event_id, ".jpg", when), jpeg)

    async def save_and_publish(self, path: Any, jpeg: bytes) -> bool:
        """Save a snapshot (within the media quota) and publish it retained; saved or not."""
        saved = await asyncio.to_thread(self.media.save, path, jpeg)
        await self.ctx.bus.publish(f"camera/{self.cfg.id}/snapshot", jpeg, retain=True,
                                   message_class=MessageClass.STATE)
        return saved

    async def _emit(self, messages: list[EventMessage], wall: float) -> None:
        for msg in messages:
            started = self._started_wall.get(msg.event_id, wall)
            payload = MotionEvent(
                camera=self.cfg.id, event=msg.kind, event_id=msg.event_id,
                started_at=utc_iso(started), boxes=list(msg.boxes), zones=list(msg.zones),
                score=msg.score, peak_score=msg.peak_score, duration_s=msg.duration_s,
                snapshot=msg.snapshot, clip=self._clip_ref)
            await self.ctx.bus.publish(f"camera/{self.cfg.id}/motion",
                                       payload.model_dump(mode="json"),
                                       message_class=MessageClass.EVENT)
            if msg.kind == "end":
                self._started_wall.pop(msg.event_id, None)
                self.active = False
                self._clip_ref = None
                if self.clips is not None:
                    self.clips.finish()
