"""One camera: source thread → detector (in that thread) → events (``event_flow.py``), plus
its status, arming, media retention and the snapshot command.

The source thread decodes and runs the pure detector (PyAV and OpenCV release the GIL), then
hands small results to the event loop with ``call_soon_threadsafe``. Everything slow on the
loop side (JPEG encoding, file writes, retention) runs in ``asyncio.to_thread``; a full disk
only costs media, never events, lights or telemetry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import cv2

from edge_agent.cameras.analysis import ACTIVE_TAIL_S, camera_analysis
from edge_agent.cameras.arming import ARMING_NOT_SAVED, CameraArming
from edge_agent.cameras.config import CameraConfig
from edge_agent.cameras.event_flow import CameraEvents
from edge_agent.cameras.frames import encode_jpeg, luma
from edge_agent.cameras.media import MediaStore
from edge_agent.cameras.memory import release_library_pages, trim_heap
from edge_agent.cameras.motion import MotionDetector
from edge_agent.cameras.status import CameraStatusReporter
from edge_agent.cameras.streams import CameraStreams
from edge_agent.runtime import AgentContext, CommandError

log = logging.getLogger(__name__)
# One OpenCV thread per camera thread: the frames are small, and OpenCV's own thread pool
# would only add wake-ups and contention on a 4-core Pi running several cameras.
cv2.setNumThreads(1)
TRIM_INTERVAL_S = 30.0  # malloc_trim: see memory.py
FIRST_RATES_AFTER_S = 2.0  # after a (re)connect: see _supervise
# Import-time library pages are released once the cameras run (memory.py): by then every
# import is done and the first sessions have opened, so what comes back is the working set.
RELEASE_PAGES_AFTER_S = 20.0
__all__ = ["ACTIVE_TAIL_S", "CameraService", "encode_jpeg", "luma"]


class CameraService:
    def __init__(self, cfg: CameraConfig, ctx: AgentContext) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.tz = ZoneInfo(ctx.config.gateway.timezone)
        self.media = MediaStore(ctx.data_dir / "media", cfg.id,
                                max_age_days=cfg.media.max_age_days,
                                quota_mb=cfg.media.quota_mb, min_free_mb=cfg.media.min_free_mb)
        self.streams = CameraStreams(cfg, self._on_frame, self._on_state, self._on_record_state)
        self.source = self.streams.detect
        self.analysis = camera_analysis(cfg, luma, self.source)
        self.clips = self.streams.clips
        self.status = CameraStatusReporter(cfg.id, cfg.decode_mode, ctx, cfg.name)
        self.arming = CameraArming(cfg.id, cfg.arming, ctx.data_dir, self.tz)
        self.events = CameraEvents(cfg, ctx, self.tz, self.media, self.streams, self.status,
                                   self._record_up)
        self.armed = True
        self.analysed = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._latest: tuple[Any, float] | None = None  # (frame, monotonic time)

    # -- source threads ------------------------------------------------------------------
    @property
    def detector(self) -> MotionDetector:
        return self.analysis.detector  # a look-back puts an earlier copy back

    @property
    def _next_analysis(self) -> float:
        return self.analysis.next_at

    def _on_frame(self, frame: Any, pts: float) -> None:
        now = time.monotonic()
        if not self.source.replaying:  # a look-back's frames are not the camera's latest
            self._latest = (frame, now)
        done = self.analysis.frame(frame, pts)
        if done is None:
            return
        self.analysed += 1
        if self.armed:
            self.events.offer_threadsafe(done.result, frame, now - done.age_s, done.age_s)

    def _on_state(self, state: str, error: str | None) -> None:
        if state != "online":
            self.detector.reset()  # here, in the thread that runs the detector
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._session_state, state == "online", error)

    def _on_record_state(self, state: str, error: str | None) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.status.set_record, state == "online", error)

    def _session_state(self, up: bool, error: str | None) -> None:
        self.status.session_up = up
        self.status.set_connected(up, error)

    # -- event loop ----------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = self.events.loop = asyncio.get_running_loop()  # before the threads start
        await self.arming.load()
        self.armed = self.arming.armed_now()
        self.streams.start()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.events.run(lambda: self.armed),
                               name=f"camera-{self.cfg.id}-events")
                tg.create_task(self._supervise(), name=f"camera-{self.cfg.id}-status")
                tg.create_task(self._retention(), name=f"camera-{self.cfg.id}-media")
        finally:
            await asyncio.to_thread(self.streams.stop)

    @property
    def connected(self) -> bool:
        return self.status.connected

    @property
    def state(self) -> str:
        return self.status.state(self.armed)

    async def _supervise(self) -> None:
        """Watchdog (no packets = offline), arming schedule, status publishing."""
        last_pub = last_trim = 0.0
        release_at = time.monotonic() + RELEASE_PAGES_AFTER_S
        counters = self._counters(time.monotonic())
        rates = (0.0, 0.0, 0.0)
        status = self.status
        was_connected, first_rates_at = False, 0.0
        while True:
            now = time.monotonic()
            if status.connected != was_connected:
                # A (re)connect starts a new rate window, published once it is a couple of
                # seconds long: the periodic status may be 30 s away, and "online, 0 fps"
                # read as a fault to a technician looking at a camera that just came up.
                was_connected = status.connected
                counters = self._counters(now)
                first_rates_at = now + FIRST_RATES_AFTER_S if status.connected else 0.0
            age = now - self.source.stats.last_packet
            if status.connected and age > self.cfg.read_timeout_s:
                # The source's own read timeout will reconnect; report it now.
                status.set_connected(False, f"no data for {age:.0f} s (camera hung?)")
            elif status.session_up and not status.connected and age < 1.0:
                status.set_connected(True, None)  # data flows again on the same connection
            if not status.connected and self.events.tracker.active:
                await self.events.end(self._next_analysis)
            armed = self.arming.armed_now()
            if armed != self.armed:
                self.armed = armed
                if not armed:
                    await self.events.end(self._next_analysis)
            # A new reason is news too (a camera that never answers is offline from the
            # start; its reason comes with the failed open and must not wait 30 s).
            changed = (self.state, self._last_error()) != status.published
            first_rates = bool(first_rates_at) and now >= first_rates_at
            if changed or first_rates or now - last_pub >= self.cfg.status_interval_s:
                if now - counters[4] >= 1.0:
                    # measured since the (re)connect: whichever publish took them, they
                    # are the first rates (a due first_rates never waits on a short window)
                    rates, counters = self._rates(counters, now)
                    first_rates_at = 0.0
                await self.publish_status(rates)
                last_pub = now
            if now - last_trim >= TRIM_INTERVAL_S:
                last_trim = now
                await asyncio.to_thread(trim_heap)  # freed snapshot/decoder buffers go back
            if release_at and now >= release_at:
                release_at = 0.0
                await asyncio.to_thread(release_library_pages)
            await asyncio.sleep(0.25)

    def _counters(self, now: float) -> tuple[int, int, int, int, float]:
        """Where a rate window starts: packets, decoded, analysed, record packets, time."""
        record = self.streams.record.stats.packets if self.streams.record else 0
        stats = self.source.stats
        return stats.packets, stats.decoded, self.analysed, record, now

    def _rates(self, counters: tuple[int, int, int, int, float], now: float
               ) -> tuple[tuple[float, float, float], tuple[int, int, int, int, float]]:
        end = self._counters(now)
        span = max(1e-3, now - counters[4])
        self.status.record_fps = (end[3] - counters[3]) / span
        return (((end[0] - counters[0]) / span, (end[1] - counters[1]) / span,
                 (end[2] - counters[2]) / span), end)

    def health(self) -> dict[str, Any]:
        """This camera's line in the ``health`` message (the status topic has the details)."""
        return self.status.health(self.armed, self.events.started)

    def _last_error(self) -> str | None:
        return self.status.error_text(self.media.stats.last_error,
                                      self.clips.last_error if self.clips else None)

    async def publish_status(self, rates: tuple[float, float, float] | None = None) -> None:
        """Publish the retained status; ``rates`` None = the last measured ones."""
        finder = self.analysis.overlay  # its boxes are replaced whole in the source thread
        overlay = [(b.x, b.y, b.w, b.h) for b in finder.boxes] if finder is not None else None
        await self.status.publish(self.source, self.streams.record, self.armed,
                                  self._last_error(), self.media.stats.bytes_used / 1048576,
                                  rates, overlay)

    async def _retention(self) -> None:
        while True:
            deleted = await asyncio.to_thread(self.media.enforce)
            if deleted:
                log.info("camera %s: deleted %d old media file(s)", self.cfg.id, deleted)
            await asyncio.sleep(60)

    # -- commands ------------------------------------------------------------------------
    async def set_override(self, armed: bool, until: datetime | None) -> dict[str, Any]:
        status = self.status
        error = await self.arming.command(armed, until)
        if error is not None:
            status.last_error = error
        elif status.last_error and status.last_error.startswith(ARMING_NOT_SAVED):
            status.last_error = None
        self.armed = self.arming.armed_now()
        if not self.armed:
            await self.events.end(self._next_analysis)
        await self.publish_status()
        return {"camera": self.cfg.id, "armed": self.armed,
                "until": until.isoformat() if until else None}

    async def snapshot(self, timeout: float = 4.0) -> dict[str, Any]:
        """A fresh JPEG: a frame decoded after the request, published retained (from the
        record stream at full resolution when the camera has one)."""
        asked = time.monotonic()
        # The record stream down: the detect stream's (smaller) picture rather than none.
        frame = await (self._record_frame(asked, timeout) if self._record_up() else
                       self._detect_frame(asked, timeout))
        jpeg = await asyncio.to_thread(encode_jpeg, frame, self.cfg.snapshot.width,
                                       self.cfg.snapshot.quality)
        when = datetime.now(self.tz)
        path = self.media.path_for(f"snap-{when:%H%M%S}", ".jpg", when)
        saved = await self.events.save_and_publish(path, jpeg)
        return {"camera": self.cfg.id, "topic": f"camera/{self.cfg.id}/snapshot",
                "bytes": len(jpeg), "file": self.media.ref(path) if saved else None,
                "width": frame.width, "height": frame.height}

    def _record_up(self) -> bool:
        return self.streams.record is not None and bool(self.status.record_up)

    def _no_snapshot(self, why: str) -> CommandError:
        reason = "camera is offline" if not self.connected else why
        return CommandError(f"no snapshot: {reason} ({self.status.last_error or 'n/a'})")

    async def _detect_frame(self, asked: float, timeout: float) -> Any:
        self.streams.hold_active(1.5)  # adaptive: decode the current frame, not the last key
        while True:
            latest = self._latest
            if latest is not None and latest[1] >= asked:
                return latest[0]
            if time.monotonic() - asked > timeout:
                raise self._no_snapshot("no new frame")
            await asyncio.sleep(0.05)

    async def _record_frame(self, asked: float, timeout: float) -> Any:
        try:
            return await asyncio.to_thread(self.streams.frame_now, asked, timeout)
        except LookupError as exc:
            raise self._no_snapshot(str(exc)) from None
