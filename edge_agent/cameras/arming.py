"""A camera's arming state: its schedule and the last arm/disarm command, kept on disk.

An arm/disarm command outlives a restart (a camera disarmed for maintenance must not re-arm
itself at the next power cut); an expired one is dropped when read. The file is read and
written off the event loop; commands are serialised so memory and disk always hold the last
command's override.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from edge_agent.cameras.config import ArmingConfig
from edge_agent.cameras.events import ArmOverride, is_armed
from edge_agent.state_file import write_json_atomic

log = logging.getLogger(__name__)
ARMING_NOT_SAVED = "arming not saved"


class CameraArming:
    def __init__(self, cam_id: str, schedule: ArmingConfig, data_dir: Path,
                 tz: ZoneInfo) -> None:
        self.cam_id, self.schedule, self.tz = cam_id, schedule, tz
        self.path = data_dir / "cameras" / f"{cam_id}-arming.json"
        self.override: ArmOverride | None = None
        self._lock = asyncio.Lock()

    def armed_now(self) -> bool:
        return is_armed(self.schedule, self.override, datetime.now(self.tz))

    async def load(self) -> None:
        saved = await asyncio.to_thread(self._read)
        if self.override is None:  # a command that came in meanwhile is newer
            self.override = saved

    def _read(self) -> ArmOverride | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("camera %s: ignoring unreadable %s: %s", self.cam_id, self.path, exc)
            return None
        return ArmOverride.from_json(data, datetime.now(self.tz))

    async def command(self, armed: bool, until: datetime | None) -> str | None:
        """Apply an arm/disarm command; the error text when it could not be saved (it still
        holds until a restart: a full disk must not refuse a disarm)."""
        async with self._lock:
            self.override = ArmOverride(armed, until)
            try:
                await asyncio.to_thread(write_json_atomic, self.path, self.override.as_json())
            except OSError as exc:
                error = f"{ARMING_NOT_SAVED}: {exc}"
                log.error("camera %s: %s", self.cam_id, error)
                return error
        return None
