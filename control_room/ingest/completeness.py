"""``seq`` completeness (docs/mqtt.md "seq proves completeness"): per gateway, the holes in
the seq numbers stored, minus the ranges an ``outbox/dropped`` announced, are losses.

A hole is judged only after a grace: the highest seq that may be judged is the highest one
*received* more than ``grace`` ago (replays arrive late and out of order). ``seq_checked`` is
the per-gateway watermark, so every pass only looks at new seq numbers; one pass judges the
whole fleet with a handful of statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select, text, update
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
WITH work AS (
  SELECT g.gateway_key, g.seq_checked AS low, MAX(m.seq) AS high
  FROM gateways g JOIN messages m ON m.gateway_key = g.gateway_key
  WHERE g.gateway_key IN :keys AND m.seq > g.seq_checked AND m.received_at <= :cut
  GROUP BY g.gateway_key, g.seq_checked
), ordered AS (
  SELECT w.gateway_key, m.seq,
         LAG(m.seq, 1, w.low) OVER (PARTITION BY w.gateway_key ORDER BY m.seq) AS prev
  FROM work w JOIN messages m
    ON m.gateway_key = w.gateway_key AND m.seq > w.low AND m.seq <= w.high
)
SELECT w.gateway_key, w.high, o.prev, o.seq
FROM work w LEFT JOIN ordered o ON o.gateway_key = w.gateway_key AND o.seq > o.prev + 1
""").bindparams(bindparam("keys", expanding=True))
# statements take at most 3 parameters per gateway: well inside SQLite's and asyncpg's limits
CHUNK = 1000


async def judge(conn: AsyncConnection, now: float, grace: float) -> list[Loss]:
    """Judge every gateway with seqs above its watermark received more than ``grace`` ago,
    in the caller's transaction, with a fixed number of statements per ``CHUNK`` gateways
    (the per-gateway passes took as much of the room's time as the ingest, on PostgreSQL);
    records and returns the losses."""
    keys = await _lock_work(conn, now - grace)
    found: list[Loss] = []
    for i in range(0, len(keys), CHUNK):
        found += await _judge_chunk(conn, keys[i:i + CHUNK], now - grace)
    if found:
        await conn.execute(t.loss.insert(), [
            {"gateway_key": x.gateway_key, "first": x.first, "last": x.last, "count": x.count,
             "detected_at": now, "recovered": 0} for x in found])
        await conn.execute(t.events.insert(), [
            {"gateway_key": x.gateway_key, "kind": "loss", "subject": None, "ts": now,
             "data": {"first": x.first, "last": x.last, "count": x.count}} for x in found])
    return found


async def _lock_work(conn: AsyncConnection, cut: float) -> list[str]:
    """Lock the rows of the gateways with something to judge, as ingest locks a batch's
    gateways before it reads their watermark: a batch of theirs that commits after our reads
    then reads the new watermark and counts its seqs as recovered, one that committed before
    is seen by our reads (each statement reads what was committed when it began). Only the
    watermarks of these rows move. PostgreSQL: FOR UPDATE in key order, the order ingest
    locks in (no deadlock); SQLite: a write takes the database's single write lock."""
    g, m = t.gateways.c, t.messages.c
    new = select(m.seq).where(m.gateway_key == g.gateway_key, m.seq > g.seq_checked,
                              m.received_at <= cut).exists()
    where = (g.max_seq.is_not(None), g.seq_checked.is_not(None), new)
    if conn.dialect.name == "postgresql":
        query = select(g.gateway_key).where(*where).order_by(g.gateway_key).with_for_update()
        return list(await conn.scalars(query))
    touch = update(t.gateways).where(*where).values(seq_checked=g.seq_checked)
    return sorted(await conn.scalars(touch.returning(g.gateway_key)))


async def _judge_chunk(conn: AsyncConnection, keys: list[str], cut: float) -> list[Loss]:
    """One window query finds every hole of these (locked) gateways between their watermark
    and their horizon, the highest seq received before ``cut`` (a status' last_seq is no
    horizon: a birth's counts the backlog about to be replayed). ``LAG``'s default is the
    watermark, so a hole right after it counts too; the horizon is a stored seq, so there is
    no hole after the last row. One executemany moves the watermarks to the horizons."""
    highs: dict[str, int] = {}
    holes: list[tuple[str, int, int]] = []
    for key, high, prev, seq in await conn.execute(_GAPS, {"keys": keys, "cut": cut}):
        highs[key] = int(high)
        if prev is not None:
            holes.append((key, int(prev) + 1, int(seq) - 1))
    found = []
    if holes:
        dropped = await _dropped(conn, sorted({key for key, _, _ in holes}))
        found = [Loss(key, a, b) for key, first, last in sorted(holes)
                 for a, b in subtract(first, last, dropped.get(key, []))]
    if highs:
        # one executemany with a fixed text, not one UPDATE ... CASE with a WHEN per
        # gateway: that was a new statement for every count of gateways judged, and
        # SQLAlchemy's compiled cache (500 entries) kept each, with its thousands of bound
        # literals - the soak's RSS growth (issue 14: 22,700 BindParameters live after
        # 5 minutes with 1,000 gateways, and growing)
        g = t.gateways.c
        await conn.execute(update(t.gateways).where(g.gateway_key == bindparam("j_key"))
                           .values(seq_checked=bindparam("j_high")),
                           [{"j_key": key, "j_high": high} for key, high in highs.items()])
    return found


async def _dropped(conn: AsyncConnection, keys: list[str]) -> dict[str, list[tuple[int, int]]]:
    """The ``outbox/dropped`` ranges of these gateways that reach above their watermark."""
    d, g = t.dropped.c, t.gateways.c
    rows = await conn.execute(select(d.gateway_key, d.first, d.last)
                              .join(t.gateways, g.gateway_key == d.gateway_key)
                              .where(d.gateway_key.in_(keys), d.last >= g.seq_checked))
    out: dict[str, list[tuple[int, int]]] = {}
    for key, first, last in rows:
        out.setdefault(key, []).append((int(first), int(last)))
    return out
