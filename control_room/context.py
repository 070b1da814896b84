"""What the HTTP app (and a later console) needs from a running control room."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from control_room.config import ControlRoomConfig
from control_room.metrics import Metrics
from control_room.store.snapshots import SnapshotStore

if TYPE_CHECKING:
    from control_room.alerting import AlertRunner
    from control_room.commands import Commander
    from control_room.ingest.pipeline import Ingest
    from control_room.mqtt import MqttClient


@dataclass
class ServiceContext:
    config: ControlRoomConfig
    db: AsyncEngine
    metrics: Metrics
    snapshots: SnapshotStore
    commander: Commander | None = None
    ingest: Ingest | None = None
    mqtt: MqttClient | None = None
    alerts: AlertRunner | None = None
    started_at: float = field(default_factory=time.time)
    is_leader: Callable[[], bool] = lambda: True
    clock: Callable[[], float] = time.time

    def status(self) -> dict[str, Any]:
        ingest = self.ingest.stats() if self.ingest else {}
        return {
            "instance": self.config.instance,
            "uptime_s": round(time.time() - self.started_at, 1),
            "mqtt_connected": bool(self.mqtt and self.mqtt.connected.is_set()),
            "mqtt_error": self.mqtt.last_error if self.mqtt else None,
            "database_error": ingest.get("db_error"),
            "ingest": ingest,
            "leader": self.is_leader(),
            "alert_engine": self.alerts is not None,
        }
