"""What the alert engine sees (``FleetView``), read for every evaluation (every 5 s) on the
leader, whose event loop also runs its ingest.

Lean on purpose. The general fleet read (``queries.fleet``: every column as a dict, every
JSON payload decoded, children sorted in Python) took 19.5 % of a busy room's samples for
1,000 gateways (issue 14). This reads only the columns the rules use, in four set-wise
statements ordered by the database, and keeps each gateway's view from the previous
evaluation: a gateway whose rows did not change (most of them, between two evaluations 5 s
apart) costs one tuple comparison, not a rebuild.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from control_room.alerts.model import (
    CameraView,
    CircuitView,
    FleetView,
    GatewayView,
    HotspotView,
)
from control_room.config import FleetSection
from control_room.store import schema as t
from control_room.store.queries import effective_state

Key = tuple[Any, ...]


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


class AlertView:
    """Reads the ``FleetView``; one per alert runner (its cache lives as long)."""

    def __init__(self) -> None:
        # gateway key -> its rows as read and the views built from them
        self._built: dict[str, Built] = {}

    async def read(self, conn: AsyncConnection, now: float, cfg: FleetSection) -> FleetView:
        g, c, k, h, loss = t.gateways.c, t.circuits.c, t.cameras.c, t.hotspots.c, t.loss.c
        gateways = (await conn.execute(select(
            g.gateway_key, g.site, g.gateway, g.state, g.state_since, g.last_seen,
            g.health_interval_s, g.clock_synced, g.outbox_oldest_age_s, g.disk_free_mb)
            .order_by(g.gateway_key))).all()
        circuits = await _children(conn, select(
            c.gateway_key, c.circuit, c.state, c.reason, c.next_change, c.next_state,
            c.desired, c.driver_ok, c.driver_error, c.ts, c.payload["name"])
            .order_by(c.gateway_key, c.circuit))
        cameras = await _children(conn, select(
            k.gateway_key, k.camera, k.state, k.since, k.last_error, k.payload["name"])
            .order_by(k.gateway_key, k.camera))
        hotspots = await _children(conn, select(
            h.gateway_key, h.hotspot, h.state, h.since, h.payload["reasons"], h.payload["name"])
            .order_by(h.gateway_key, h.hotspot))
        lost = {key: int(n or 0) for key, n in await conn.execute(
            select(loss.gateway_key, func.sum(loss.count - loss.recovered))
            .group_by(loss.gateway_key))}
        views = []
        built: dict[str, Built] = {}
        for row in gateways:
            key = row[0]
            state = effective_state(row._mapping, now, cfg)  # time-dependent: every time
            raw = (tuple(row), state, lost.get(key, 0))
            parts = (circuits.get(key, ()), cameras.get(key, ()), hotspots.get(key, ()))
            old = self._built.get(key)
            if old is not None and old.raw == raw and old.parts == parts:
                built[key] = old
            else:
                # last_seen moves with every message: the children, which change far less
                # often, keep their views unless their own rows changed
                children = tuple(
                    old.children[i] if old is not None and old.parts[i] == part
                    else make(part)
                    for i, (part, make) in enumerate(zip(parts, _MAKERS, strict=True)))
                built[key] = Built(raw, parts, children, _gateway(raw, children))
            views.append(built[key].view)
        self._built = built  # gateways gone from the table are forgotten
        return FleetView(gateways=tuple(views))


async def _children(conn: AsyncConnection, query: Any) -> dict[str, tuple[Key, ...]]:
    out: dict[str, list[Key]] = defaultdict(list)
    for row in await conn.execute(query):
        out[row[0]].append(tuple(row)[1:])
    return {key: tuple(rows) for key, rows in out.items()}


@dataclass(frozen=True, slots=True)
class Built:
    raw: Key  # the gateway's row, effective state and loss as read
    parts: tuple[tuple[Key, ...], ...]  # its circuits', cameras' and hotspots' rows
    children: tuple[tuple[Any, ...], ...]  # their views
    view: GatewayView


def _gateway(raw: Key, children: tuple[tuple[Any, ...], ...]) -> GatewayView:
    row, state, lost = raw
    return GatewayView(
        site=row[1], gateway=row[2], state=state, state_since=_dt(row[4]),
        last_seen=_dt(row[5]), clock_synced=row[7], outbox_oldest_age_s=row[8],
        disk_free_mb=row[9], unexplained_loss=lost, circuits=children[0],
        cameras=children[1], hotspots=children[2])


def _circuits(rows: tuple[Key, ...]) -> tuple[CircuitView, ...]:
    return tuple(_circuit(c) for c in rows)


# a camera's, circuit's or hotspot's name is free text of any length (agent config,
# contract); the alert keeps what its column holds, or PostgreSQL refuses the evaluation's
# one transaction: every alert lost
NAME_MAX: int = getattr(t.alerts.c.subject_name.type, "length")  # noqa: B009 (mypy: a String)


def _cameras(rows: tuple[Key, ...]) -> tuple[CameraView, ...]:
    return tuple(CameraView(id=cam, state=s or "unknown", since=_dt(since), last_error=err,
                            name=_name(name))
                 for cam, s, since, err, name in rows)


def _name(name: Any) -> str | None:
    return name[:NAME_MAX] if isinstance(name, str) and name else None


def _hotspots(rows: tuple[Key, ...]) -> tuple[HotspotView, ...]:
    return tuple(HotspotView(id=spot, state=s, since=_dt(since), reasons=tuple(reasons or ()),
                             name=_name(name))
                 for spot, s, since, reasons, name in rows)


_MAKERS: tuple[Callable[[tuple[Key, ...]], tuple[Any, ...]], ...] = (
    _circuits, _cameras, _hotspots)


def _circuit(c: Sequence[Any]) -> CircuitView:
    circuit, state, reason, next_change, next_state, desired, ok, error, ts, name = c
    return CircuitView(id=circuit, state=state, reason=reason, next_change=_dt(next_change),
                       next_state=next_state, desired=desired,
                       driver_ok=ok if ok is not None else True, driver_error=error,
                       updated_at=_dt(ts), name=_name(name))

