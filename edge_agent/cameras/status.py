"""A camera's connection bookkeeping and its reports: the retained ``camera/{id}/status``
(published when the state or the reason changes, and periodically) and its line in
``health``."""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from contract import utc_iso
from contract.cameras import CameraStatus, RecordStreamStatus
from drivers.cameras.pyav_source import PyAVSource, SourceStats, redact
from edge_agent.runtime import AgentContext, MessageClass

log = logging.getLogger(__name__)
CONNECTING = "connecting (first attempt not finished yet)"

Rates = tuple[float, float, float]  # packets, decoded, analysed per second


class CameraStatusReporter:
    def __init__(self, cam_id: str, decode: str, ctx: AgentContext,
                 name: str | None = None) -> None:
        self.cam_id, self.decode, self.ctx, self.name = cam_id, decode, ctx, name
        self.connected = False
        self.session_up = False  # the source says a session runs (data may still stall)
        # Until the first try ends, say so: an offline status never comes without a reason.
        self.last_error: str | None = CONNECTING
        self.since = time.time()
        self.rates: Rates = (0.0, 0.0, 0.0)  # as last published
        self.record_up: bool | None = None  # None: no separate record stream
        self.record_error: str | None = None
        self.record_fps = 0.0
        self._reconnect_times: deque[float] = deque()  # back online after offline
        self._ever_online = False
        self.published: tuple[str, str | None] | None = None  # (state, last_error) sent

    def set_connected(self, online: bool, error: str | None) -> None:
        if error:
            self.last_error = redact(error)
            log.warning("camera %s: %s", self.cam_id, self.last_error)
        if online and self.last_error == CONNECTING:
            self.last_error = None
        if online != self.connected:
            self.connected = online
            self.since = time.time()
            if online and self._ever_online:
                self._reconnect_times.append(time.monotonic())
            self._ever_online = self._ever_online or online
            log.info("camera %s is %s", self.cam_id, "online" if online else "offline")

    def set_record(self, online: bool, error: str | None) -> None:
        if error:
            self.record_error = redact(error)
            log.warning("camera %s record stream: %s", self.cam_id, self.record_error)
        self.record_up = online

    def state(self, armed: bool) -> str:
        if not self.connected:
            return "offline"
        return "online" if armed else "disarmed"

    def reconnects_last_hour(self) -> int:
        hour_ago = time.monotonic() - 3600
        while self._reconnect_times and self._reconnect_times[0] < hour_ago:
            self._reconnect_times.popleft()
        return len(self._reconnect_times)

    def health(self, armed: bool, events: int) -> dict[str, Any]:
        """This camera's line in the ``health`` message (the status topic has the details)."""
        return {"state": self.state(armed), "fps_decoded": round(self.rates[1], 1),
                "fps_analysed": round(self.rates[2], 1), "events": events,
                "reconnects_last_hour": self.reconnects_last_hour(),
                "last_error": self.last_error}

    def error_text(self, *others: str | None) -> str | None:
        """The camera's own last error, else the first of ``others`` (media, clips)."""
        text = self.last_error or next((o for o in others if o), None)
        return redact(text) if text else None

    async def publish(self, detect: PyAVSource, record: PyAVSource | None, armed: bool,
                      error: str | None, media_mb: float, rates: Rates | None = None,
                      overlay: list[tuple[float, float, float, float]] | None = None) -> None:
        """Publish the retained status; ``rates`` None = the last measured ones; ``overlay``:
        the burnt-in text's boxes (None: not looked for)."""
        rates = self.rates if rates is None else rates
        info, stats = detect.info, detect.stats
        status = CameraStatus(
            camera=self.cam_id, state=self.state(armed), armed=armed,
            connected=self.connected, decode=self.decode, fps_in=round(rates[0], 1),
            fps_decoded=round(rates[1], 1), fps_analysed=round(rates[2], 1),
            packets_total=stats.packets, decoded_total=stats.decoded,
            codec=info.codec if info else None, width=info.width if info else None,
            height=info.height if info else None,
            keyframe_interval_s=round(stats.key_interval, 2) if stats.key_interval else None,
            reconnects_last_hour=self.reconnects_last_hour(), last_error=error,
            since=utc_iso(self.since), media_mb=round(media_mb, 2), decoder=stats.decoder,
            record=self._record(record), name=self.name, overlay=overlay, **_activity(stats))
        self.published = (status.state, error)
        self.rates = rates
        await self.ctx.bus.publish(f"camera/{self.cam_id}/status",
                                   status.model_dump(mode="json", exclude_none=False),
                                   retain=True, message_class=MessageClass.STATE)

    def _record(self, record: PyAVSource | None) -> RecordStreamStatus | None:
        if record is None:
            return None
        info = record.info
        return RecordStreamStatus(
            connected=bool(self.record_up), codec=info.codec if info else None,
            width=info.width if info else None, height=info.height if info else None,
            fps_in=round(self.record_fps, 1), last_error=self.record_error)


def _activity(stats: SourceStats) -> dict[str, Any]:
    """Adaptive decode's trigger and how often it fired and was borne out (absent otherwise:
    ``stats.activity`` is set once an adaptive session has started)."""
    if stats.activity is None:
        return {}
    return {"activity_trigger": stats.activity, "activity_fired": stats.triggers,
            "activity_confirmed": stats.confirmed, "look_backs": stats.look_backs}
