"""Waits and reads on the real control room consumer of the fleet tests
(``benchmarks.fleet_room.ControlRoomConsumer``): its database holds every seq, its judge
reached every last seq, what its loss table says."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import func, select

from benchmarks.fleet_room import ControlRoomConsumer
from control_room.config import DatabaseSection
from control_room.sim.consumer import Ledger
from control_room.store import schema as t
from control_room.store.db import create_engine


def drained(room: ControlRoomConsumer, expected: dict[str, int], timeout: float) -> Ledger:
    """The room's database holds everything up to each gateway's last seq (or timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        ledger = Ledger().extend(room.records())
        if not ledger.missing(expected) or time.monotonic() > deadline:
            return ledger
        time.sleep(0.5)


def judged(room: ControlRoomConsumer, expected: dict[str, int],
           timeout: float) -> dict[str, int | None]:
    """The room's completeness watermark per gateway, once it reached every last seq."""
    deadline = time.monotonic() + timeout
    while True:
        marks = {base: seq for base, seq in room.judged().items() if base in expected}
        if marks == expected or time.monotonic() > deadline:
            return marks
        time.sleep(0.5)


def loss_rows(url: str) -> int:
    """Holes the room's judge wrote down (each may be recovered later)."""
    return asyncio.run(_scalar(url, select(func.count()).select_from(t.loss)))


def unexplained_loss(url: str) -> int:
    """Seqs the room's judge counts lost and that never came (loss rows minus recovered)."""
    loss = t.loss.c
    return asyncio.run(_scalar(url, select(func.sum(loss.count - loss.recovered))))


async def _scalar(url: str, query: Any) -> int:
    engine = create_engine(DatabaseSection(url=url))
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(query)).scalar() or 0)
    finally:
        await engine.dispose()
