"""The control room's side of the alerts: build the ``FleetView`` from the store, run the
engine (``control_room.alerts.rules.AlertEngine``), persist the ``AlertState``s and their
history, hand transitions to the notifier. The engine itself is pure and lives elsewhere."""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from control_room.alerts.model import AlertState, FleetView, Transition
from control_room.config import ControlRoomConfig
from control_room.store import queries
from control_room.store import schema as t
from control_room.store.alert_view import AlertView
from control_room.store.db import upsert

log = logging.getLogger(__name__)
_TIMES = ("since", "fired_at", "resolved_at", "acked_at", "clear_since")


class Engine(Protocol):
    def evaluate(self, fleet: FleetView, now: datetime, previous: Mapping[str, AlertState]
                 ) -> tuple[dict[str, AlertState], list[Transition]]: ...


class Notifier(Protocol):
    def submit(self, transition: Transition) -> None: ...
    async def run(self) -> None: ...


def load_engine(config: ControlRoomConfig) -> tuple[Engine, Notifier | None] | None:
    """The rule engine and notifier for the config's ``alerts``/``notifications`` sections."""
    engine = importlib.import_module("control_room.alerts.rules").AlertEngine(config.alerts)
    try:
        notifier = importlib.import_module("control_room.alerts.notify").Notifier(
            config.notifications)
    except ImportError:
        notifier = None
    return engine, notifier


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def to_state(row: Mapping[str, Any]) -> AlertState:
    names = {f.name for f in dataclasses.fields(AlertState)}
    values = {k: v for k, v in row.items() if k in names}
    for name in _TIMES:
        values[name] = _dt(values.get(name))
    return AlertState(**values)


def to_row(state: AlertState, now: float) -> dict[str, Any]:
    row = dataclasses.asdict(state)
    for name in _TIMES:
        value = row[name]
        row[name] = value.timestamp() if value is not None else None
    row["updated_at"] = now
    return row


class AlertRunner:
    def __init__(self, config: ControlRoomConfig, db: AsyncEngine, engine: Engine,
                 notifier: Notifier | None) -> None:
        self._cfg = config
        self._db = db
        self.engine = engine
        self.notifier = notifier
        self.evaluations = 0
        self._view = AlertView()

    async def evaluate(self, now: datetime) -> list[Transition]:
        async with self._db.connect() as conn:
            fleet = await self._view.read(conn, now.timestamp(), self._cfg.fleet)
            previous = {r["key"]: to_state(r) for r in await queries.alert_rows(conn)}
        states, transitions = self.engine.evaluate(fleet, now, previous)
        stamp = now.timestamp()
        async with self._db.begin() as conn:
            gone = set(previous) - set(states)
            if gone:
                await conn.execute(delete(t.alerts).where(t.alerts.c.key.in_(sorted(gone))))
            changed = [to_row(s, stamp) for k, s in states.items() if previous.get(k) != s]
            if changed:
                stmt = upsert(conn, t.alerts)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["key"],
                    set_={c: stmt.excluded[c] for c in changed[0] if c != "key"})
                await conn.execute(stmt, changed)
            if transitions:
                await conn.execute(t.alert_history.insert(), [
                    {"key": tr.alert.key, "kind": tr.kind, "at": tr.at.timestamp(),
                     "severity": tr.alert.severity, "message": tr.alert.message}
                    for tr in transitions])
        self.evaluations += 1
        for tr in transitions:
            log.info("alert %s %s: %s", tr.kind, tr.alert.key, tr.alert.message)
            if self.notifier is not None and tr.kind in ("fired", "resolved"):
                self.notifier.submit(tr)  # never blocks: the notifier has its own task
        return transitions


async def acknowledge(db: AsyncEngine, key: str, by: str, note: str | None,
                      now: float) -> bool:
    """Mark an alert acknowledged (the engine keeps ``acked_*`` from the previous state)."""
    async with db.begin() as conn:
        result = await conn.execute(update(t.alerts).where(t.alerts.c.key == key).values(
            acked_by=by, acked_at=now, ack_note=note, updated_at=now))
        if not result.rowcount:
            return False
        await conn.execute(t.alert_history.insert().values(
            key=key, kind="acknowledged", at=now, message=f"by {by}: {note or ''}".strip()))
    return True
