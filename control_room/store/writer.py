"""One ingest batch → one transaction: de-duplicate on the envelope id, then latest state,
history, telemetry, drops and quarantine. The caller acknowledges the batch's messages at the
broker only after this commits."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from control_room.ingest.classify import Accepted, Rejected
from control_room.store import schema as t
from control_room.store.db import upsert
from control_room.store.effects import Effects, gateway_effects


@dataclass(slots=True)
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    per_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))


async def write_batch(conn: AsyncConnection, accepted: Sequence[Accepted],
                      rejected: Sequence[Rejected], snapshots: dict[int, str],
                      keep_bytes: int) -> BatchResult:
    """``snapshots`` maps ``id()`` of a snapshot message to its stored file's sha256."""
    result = BatchResult()
    fresh = await _new_messages(conn, accepted)
    late = await _late_seqs(conn, accepted, fresh)
    result.duplicates = len(accepted) - len(fresh)
    result.stored = len(fresh)
    keys = sorted({m.key for m in accepted})
    if keys:
        await _ensure_gateways(conn, accepted)
        current = await _lock_gateways(conn, keys)
        effects = Effects()
        per_gateway: dict[str, list[Accepted]] = {key: [] for key in keys}
        late_per_gateway: dict[str, list[Accepted]] = {key: [] for key in keys}
        for m in fresh:
            per_gateway[m.key].append(m)
        for m in late:
            late_per_gateway[m.key].append(m)
        for key in keys:
            gateway_effects(key, current[key], per_gateway[key], effects, snapshots,
                            late_per_gateway[key])
        await effects.apply(conn)
        for m in fresh:
            result.per_kind[m.kind] += 1
    rejected = await _new_rejections(conn, rejected)
    result.quarantined = len(rejected)
    if rejected:
        await conn.execute(t.quarantine.insert(), [
            {"received_at": r.received_at, "topic": r.topic[:1000], "gateway_key": r.gateway_key,
             "reason": r.reason[:2000], "size": len(r.payload), "payload": r.payload[:keep_bytes]}
            for r in rejected])
    return result


async def _new_messages(conn: AsyncConnection, accepted: Sequence[Accepted]) -> list[Accepted]:
    """The messages not seen before (by envelope id), in arrival order. Raw snapshots carry
    no id: they are always new (content addressing de-duplicates their files)."""
    by_id: dict[str, Accepted] = {}
    raw: list[Accepted] = []
    for m in accepted:
        msg_id = m.msg_id
        if msg_id is None:
            raw.append(m)
        elif msg_id not in by_id:
            by_id[msg_id] = m
    if not by_id:
        return raw
    stmt = upsert(conn, t.messages).on_conflict_do_nothing(index_elements=["id"])
    now = time.time()
    rows = [{"id": i, "gateway_key": m.key, "seq": m.seq, "topic": m.relative[:300],
             "ts": m.made_at, "received_at": m.received_at, "stored_at": now,
             "replayed": m.body.get("replayed") is True}
            for i, m in by_id.items()]
    inserted = await conn.execute(stmt.returning(t.messages.c.id), rows)
    new_ids = {row[0] for row in inserted}
    fresh = []
    for m in accepted:  # the first copy of each new id, in arrival order
        if m.msg_id is None:
            fresh.append(m)
        elif m.msg_id in new_ids:
            new_ids.discard(m.msg_id)
            fresh.append(m)
    return fresh


async def _late_seqs(conn: AsyncConnection, accepted: Sequence[Accepted],
                     fresh: Sequence[Accepted]) -> list[Accepted]:
    """Live duplicates whose stored row has no seq, given their seq now.

    A retained copy is stored without a seq (it says nothing about completeness). With
    several workers on a shared subscription the broker may hand worker A the retained copy
    of a message (A resubscribed) while the live copy waits in worker B's session (B is
    still down, or its backlog is long): A stores the id first, and B's live copy, a
    duplicate by id, would leave its seq a hole for ever (issue 14: 406 "lost" with 2
    workers after an ingest kill). The live copy proves the seq arrived."""
    new = {id(m) for m in fresh}
    live = {m.msg_id: m for m in accepted if id(m) not in new and m.msg_id is not None
            and m.seq is not None and not m.retained}
    if not live:
        return []
    msg = t.messages.c
    query = select(msg.id).where(msg.id.in_(sorted(live)), msg.seq.is_(None))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # a second worker with a live copy then sees the seq
    ids = sorted(await conn.scalars(query))
    if not ids:
        return []
    await conn.execute(update(t.messages).where(msg.id == bindparam("b_id"))
                       .values(seq=bindparam("b_seq")),
                       [{"b_id": i, "b_seq": live[i].seq} for i in ids])
    return [live[i] for i in ids]


async def _new_rejections(conn: AsyncConnection,
                          rejected: Sequence[Rejected]) -> list[Rejected]:
    """Refused messages not quarantined before; those with a valid envelope are logged in
    ``messages`` (they arrived: their seq is no hole)."""
    with_id = {r.msg_id: r for r in rejected if r.msg_id is not None and r.gateway_key}
    if not with_id:
        return list(rejected)
    stmt = upsert(conn, t.messages).on_conflict_do_nothing(index_elements=["id"])
    rows = [{"id": i, "gateway_key": r.gateway_key, "seq": r.seq, "topic": r.relative[:300],
             "ts": None, "received_at": r.received_at} for i, r in with_id.items()]
    new_ids = {row[0] for row in await conn.execute(stmt.returning(t.messages.c.id), rows)}
    fresh = []
    for r in rejected:
        if r.msg_id is None or not r.gateway_key:
            fresh.append(r)
        elif r.msg_id in new_ids:
            new_ids.discard(r.msg_id)
            fresh.append(r)
    return fresh


async def _ensure_gateways(conn: AsyncConnection, accepted: Sequence[Accepted]) -> None:
    first: dict[str, Accepted] = {}
    low: dict[str, int] = {}
    for m in accepted:
        first.setdefault(m.key, m)
        if m.seq is not None and not m.retained:
            low[m.key] = min(low.get(m.key, m.seq), m.seq)
    rows = [{"gateway_key": k, "site": m.site, "gateway": m.gateway, "state": "unknown",
             "last_seen": m.received_at, "seq_checked": start_of_view(low.get(k))}
            for k, m in sorted(first.items())]
    stmt = upsert(conn, t.gateways).on_conflict_do_nothing(index_elements=["gateway_key"])
    await conn.execute(stmt, rows)


def start_of_view(first_live_seq: int | None) -> int | None:
    """Loss is judged from the first *live* seq this room saw: a gateway that ran before the
    room (or before its subscription) has not lost 1..first-1, and retained copies sent at
    subscription are older than that start. None: no live message yet, nothing judged."""
    return first_live_seq - 1 if first_live_seq is not None else None


async def _lock_gateways(conn: AsyncConnection, keys: list[str]) -> dict[str, dict[str, Any]]:
    # FOR UPDATE (PostgreSQL; SQLite has one writer): workers sharing the subscription
    # update a gateway one after the other, in key order (no deadlock)
    query = select(t.gateways).where(t.gateways.c.gateway_key.in_(keys)) \
        .order_by(t.gateways.c.gateway_key)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = (await conn.execute(query)).mappings().all()
    return {row["gateway_key"]: dict(row) for row in rows}
