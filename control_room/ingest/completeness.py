"""``seq`` completeness (docs/mqtt.md "seq proves completeness"): per gateway, the holes in
the seq numbers stored, minus the ranges an ``outbox/dropped`` announced, are losses.

A hole is judged only after a grace: the highest seq that may be judged is the highest one
*received* more than ``grace`` ago (replays arrive late and out of order), or the ``last_seq``
of a status that old (messages lost at the end of a life of the agent). ``seq_checked`` is
the per-gateway watermark, so every pass only looks at new seq numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from control_room.store import schema as t


@dataclass(frozen=True, slots=True)
class Loss:
    gateway_key: str
    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1


def subtract(first: int, last: int, explained: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``first..last`` (inclusive) outside every ``explained`` range."""
    parts = [(first, last)]
    for low, high in explained:
        nxt = []
        for a, b in parts:
            if high < a or low > b:
                nxt.append((a, b))
                continue
            if a < low:
                nxt.append((a, low - 1))
            if b > high:
                nxt.append((high + 1, b))
        parts = nxt
    return parts


_GAPS = text("""
SELECT prev, seq FROM (
  SELECT seq, LAG(seq) OVER (ORDER BY seq) AS prev
  FROM messages WHERE gateway_key = :key AND seq > :low AND seq <= :high
) AS ordered WHERE prev IS NOT NULL AND seq > prev + 1
""")


async def judge(conn: AsyncConnection, now: float, grace: float) -> list[Loss]:
    """Record the losses found since the last pass; returns them."""
    found: list[Loss] = []
    rows = (await conn.execute(select(
        t.gateways.c.gateway_key, t.gateways.c.seq_checked, t.gateways.c.status_last_seq,
        t.gateways.c.status_at).where(t.gateways.c.max_seq.is_not(None),
                                      t.gateways.c.seq_checked.is_not(None)))).all()
    for key, checked, status_last, status_at in rows:
        cut = now - grace
        horizon = await conn.scalar(select(func.max(t.messages.c.seq)).where(
            t.messages.c.gateway_key == key, t.messages.c.received_at <= cut))
        if status_last is not None and status_at is not None and status_at <= cut:
            horizon = max(horizon or 0, status_last)
        low = checked
        if horizon is None or horizon <= low:
            continue
        holes = await _holes(conn, key, low, horizon)
        dropped = [(r[0], r[1]) for r in await conn.execute(
            select(t.dropped.c.first, t.dropped.c.last).where(
                t.dropped.c.gateway_key == key, t.dropped.c.last >= low,
                t.dropped.c.first <= horizon))]
        for first, last in holes:
            for a, b in subtract(first, last, dropped):
                found.append(Loss(key, a, b))
        await conn.execute(update(t.gateways).where(t.gateways.c.gateway_key == key)
                           .values(seq_checked=horizon))
    if found:
        await conn.execute(t.loss.insert(), [
            {"gateway_key": x.gateway_key, "first": x.first, "last": x.last, "count": x.count,
             "detected_at": now, "recovered": 0} for x in found])
        await conn.execute(t.events.insert(), [
            {"gateway_key": x.gateway_key, "kind": "loss", "subject": None, "ts": now,
             "data": {"first": x.first, "last": x.last, "count": x.count}} for x in found])
    return found


async def _holes(conn: AsyncConnection, key: str, low: int, high: int) -> list[tuple[int, int]]:
    """Missing seq ranges in ``low+1..high``; ``low`` itself was judged before (or is the
    number before the first one this room saw)."""
    result = await conn.execute(_GAPS, {"key": key, "low": low, "high": high})
    holes = [(int(prev) + 1, int(seq) - 1) for prev, seq in result]
    first = await conn.scalar(select(func.min(t.messages.c.seq)).where(
        t.messages.c.gateway_key == key, t.messages.c.seq > low, t.messages.c.seq <= high))
    if first is None:
        return [(low + 1, high)]
    if first > low + 1:
        holes.insert(0, (low + 1, int(first) - 1))
    last = await conn.scalar(select(func.max(t.messages.c.seq)).where(
        t.messages.c.gateway_key == key, t.messages.c.seq <= high))
    if last is not None and last < high:
        holes.append((int(last) + 1, high))
    return holes
