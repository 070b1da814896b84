"""What a gateway's new messages change in the store: computed in Python per batch
(``gateway_effects``), then written with a few multi-row statements (``Effects.apply``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from control_room.ingest.classify import Accepted, epoch
from control_room.store import schema as t
from control_room.store.db import upsert

ENVELOPE = ("v", "ts", "id", "seq", "replayed")
HEALTH_METRICS = ("cpu_percent", "ram_used_mb", "disk_free_mb", "soc_temp_c", "process_rss_mb")
HOTSPOT_METRICS = ("rtt_median_ms", "rtt_p95_ms", "loss_pct", "jitter_ms", "clients")
Row = dict[str, Any]


def payload(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ENVELOPE}


@dataclass(slots=True)
class Effects:
    gateways: list[Row] = field(default_factory=list)
    circuits: list[Row] = field(default_factory=list)
    light_history: list[Row] = field(default_factory=list)
    cameras: list[Row] = field(default_factory=list)
    camera_events: list[Row] = field(default_factory=list)
    camera_snapshots: list[Row] = field(default_factory=list)
    hotspots: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)
    telemetry: list[Row] = field(default_factory=list)
    dropped: list[Row] = field(default_factory=list)
    snapshots: list[Row] = field(default_factory=list)
    snapshot_sightings: list[Row] = field(default_factory=list)
    recovered: list[tuple[str, int]] = field(default_factory=list)
    seq_resets: list[tuple[str, float]] = field(default_factory=list)  # (key, from when)

    async def apply(self, conn: AsyncConnection) -> None:
        for row in self.gateways:
            key = row.pop("gateway_key")
            if not row:
                continue  # only duplicates of this gateway in the batch
            await conn.execute(update(t.gateways).where(t.gateways.c.gateway_key == key)
                               .values(**row))
        await self._state_changes(conn, t.cameras, "camera", self.cameras, "camera_state")
        await self._state_changes(conn, t.hotspots, "hotspot", self.hotspots, "hotspot_state")
        await _upsert_newer(conn, t.circuits, ("gateway_key", "circuit"), self.circuits)
        await _upsert_newer(conn, t.cameras, ("gateway_key", "camera"), self.cameras)
        await _upsert_newer(conn, t.hotspots, ("gateway_key", "hotspot"), self.hotspots)
        await _upsert_newer(conn, t.cameras, ("gateway_key", "camera"), self.camera_events,
                            "last_event_at")
        await _upsert_newer(conn, t.cameras, ("gateway_key", "camera"),
                            self.camera_snapshots, "snapshot_at")
        for table, rows in ((t.light_history, self.light_history), (t.events, self.events),
                            (t.telemetry, self.telemetry), (t.dropped, self.dropped),
                            (t.snapshot_sightings, self.snapshot_sightings)):
            if rows:
                await conn.execute(table.insert(), rows)
        if self.snapshots:
            stmt = upsert(conn, t.snapshots).on_conflict_do_nothing(index_elements=["sha256"])
            await conn.execute(stmt, self.snapshots)
        for key, since in self.seq_resets:  # forget the old numbering's seqs
            await conn.execute(update(t.messages).where(
                t.messages.c.gateway_key == key, t.messages.c.received_at < since,
                t.messages.c.seq.is_not(None)).values(seq=None))
        if self.recovered:
            # one executemany, not a statement per seq: a room behind by more than the
            # judge's grace gets every queued seq back as "recovered", thousands a batch
            # (a statement each made its batches slower and the backlog longer)
            loss = t.loss.c
            seq: BindParameter[int] = bindparam("r_seq")
            await conn.execute(update(t.loss).where(
                loss.gateway_key == bindparam("r_key"), loss.first <= seq, loss.last >= seq)
                .values(recovered=loss.recovered + 1),
                [{"r_key": key, "r_seq": s} for key, s in self.recovered])

    async def _state_changes(self, conn: AsyncConnection, table: Any, subject: str,
                             rows: list[Row], kind: str) -> None:
        """A history event for every change of ``state`` (against the stored row, then
        within the batch in ts order)."""
        if not rows:
            return
        pairs = sorted({(r["gateway_key"], r[subject]) for r in rows})
        query = select(table.c.gateway_key, table.c[subject], table.c.state, table.c.ts) \
            .where(tuple_(table.c.gateway_key, table.c[subject]).in_(pairs))
        known = {(r[0], r[1]): (r[2], r[3]) for r in await conn.execute(query)}
        for row in sorted(rows, key=lambda r: r["ts"] or 0):
            pair = (row["gateway_key"], row[subject])
            before, before_ts = known.get(pair, (None, None))
            if before_ts is not None and (row["ts"] or 0) < before_ts:
                continue  # an old state replayed late: not a change
            if row["state"] != before:
                self.events.append({"gateway_key": pair[0], "kind": kind, "subject": pair[1],
                                    "ts": row["ts"], "data": {"from": before,
                                                              "to": row["state"]}})
            known[pair] = (row["state"], row["ts"])


async def _upsert_newer(conn: AsyncConnection, table: Any, keys: tuple[str, ...],
                        rows: list[Row], ts_column: str = "ts") -> None:
    """Insert or update each row, unless the stored one is newer (replays arrive late)."""
    if not rows:
        return
    newest: dict[tuple[Any, ...], Row] = {}
    for row in rows:  # only the newest per key can win: one statement row per key
        key = tuple(row[k] for k in keys)
        old = newest.get(key)
        if old is None or (row[ts_column] or 0) >= (old[ts_column] or 0):
            newest[key] = row
    rows = list(newest.values())
    # executemany needs one column set per statement
    columns = sorted(rows[0])
    stmt = upsert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: stmt.excluded[c] for c in columns if c not in keys},
        where=(table.c[ts_column].is_(None)) | (table.c[ts_column] <= stmt.excluded[ts_column]))
    await conn.execute(stmt, [{c: r.get(c) for c in columns} for r in rows])


def gateway_effects(key: str, row: Row, fresh: Sequence[Accepted], out: Effects,
                    snapshots: dict[int, str], late: Sequence[Accepted] = ()) -> None:
    """Everything ``fresh`` (this gateway's new messages, arrival order) changes. ``late``:
    live copies of messages whose retained copy was stored first (without a seq): their
    effects are in, only their seq is new."""
    upd: Row = {"gateway_key": key}
    state = {"state": row["state"], "boot": row["boot"], "health_at": row["health_at"],
             "max_seq": row["max_seq"], "boot_time": row["boot_time"], "reset_at": None,
             "reset_seq": None}
    for m in fresh:
        handler = _HANDLERS.get(m.kind)
        if handler is not None:
            handler(key, m, upd, state, out, snapshots)
    received = [m.received_at for m in fresh]
    if received:
        upd["last_seen"] = max(row["last_seen"] or 0, *received)
    checked, top = row["seq_checked"], row["max_seq"] or 0
    if state["reset_at"] is not None:  # a new numbering: the view starts again at its birth
        out.seq_resets.append((key, state["reset_at"]))
        checked = top = state["reset_seq"]
        upd["seq_checked"] = checked
        fresh = [m for m in fresh if m.received_at >= state["reset_at"]]
        late = [m for m in late if m.received_at >= state["reset_at"]]
    fresh = [*fresh, *late]
    seqs = [m.seq for m in fresh if m.seq is not None]
    if seqs or state["reset_at"] is not None:
        upd["max_seq"] = max(top, *seqs) if seqs else top
    out.recovered += [(key, s) for s in seqs if checked is not None and s <= checked]
    live = [m.seq for m in fresh if m.seq is not None and not m.retained]
    if checked is None and live:
        upd["seq_checked"] = min(live) - 1  # the first live message: the view starts
    out.gateways.append(upd)


def _status(key: str, m: Accepted, upd: Row, state: Row, out: Effects, _s: Any) -> None:
    body = m.body
    # live statuses come in the order they happened (the Last Will is made at connect time,
    # so its ts is older than what it reports: arrival order, not ts); a retained copy sent
    # at subscription is applied only if it is not from an older life
    if m.retained and state["boot"] is not None and body["boot"] < state["boot"]:
        return
    if _new_numbering(m, state):
        # the gateway numbers from a lower seq than it already used: a new outbox (data
        # wiped, SD card replaced). Its old numbers mean nothing for the new stream.
        state["reset_at"], state["reset_seq"] = m.received_at, body["last_seq"]
        state["max_seq"] = body["last_seq"]
        out.events.append({"gateway_key": key, "kind": "seq_reset", "subject": None,
                           "ts": m.received_at, "data": {"last_seq": body["last_seq"],
                                                         "boot": body["boot"]}})
    if body["state"] != state["state"]:
        upd["state_since"] = m.received_at
        out.events.append({"gateway_key": key, "kind": "gateway_state", "subject": None,
                           "ts": m.received_at, "data": {"from": state["state"],
                                                         "to": body["state"]}})
    state["state"], state["boot"] = body["state"], body["boot"]
    state["boot_time"] = body.get("boot_time") or state["boot_time"]
    upd.update(state=body["state"], boot=body["boot"], status_last_seq=body["last_seq"],
               status_at=m.received_at)
    for column in ("version", "config_hash", "clock_synced", "boot_time", "health_interval_s"):
        if body.get(column) is not None:
            upd[column] = body[column]


def _new_numbering(m: Accepted, state: Row) -> bool:
    """A live birth whose ``last_seq`` is below seqs already seen, from an older boot number
    or the same number with another boot time: a new outbox, not a reordering (a Last Will
    reports its connect time's last_seq, so only births count)."""
    body = m.body
    if m.retained or body["state"] != "online" or state["max_seq"] is None or \
            body["last_seq"] >= state["max_seq"] or state["boot"] is None:
        return False
    if body["boot"] < state["boot"]:
        return True
    return bool(body["boot"] == state["boot"] and body.get("boot_time") and
                state["boot_time"] and body["boot_time"] != state["boot_time"])


def _health(key: str, m: Accepted, upd: Row, state: Row, out: Effects, _s: Any) -> None:
    body = m.body
    ts = m.made_at or m.received_at
    out.telemetry.append({"gateway_key": key, "kind": "health", "subject": "", "ts": ts,
                          "data": {**{k: body.get(k) for k in HEALTH_METRICS},
                                   "outbox_depth": body["outbox"]["depth"]}})
    if state["health_at"] is not None and ts < state["health_at"]:
        return
    state["health_at"] = ts
    outbox = body["outbox"]
    upd.update(health_at=ts, health=payload(body), outbox_depth=outbox["depth"],
               outbox_oldest_age_s=outbox.get("oldest_age_s"),
               disk_free_mb=body.get("disk_free_mb"), clock_synced=body["clock_synced"])


def _light(key: str, m: Accepted, upd: Row, state: Row, out: Effects, _s: Any) -> None:
    b = m.body
    ts = m.made_at or m.received_at
    out.circuits.append({
        "gateway_key": key, "circuit": m.message.params["circuit"], "state": b["state"],
        "desired": b.get("desired"), "reason": b["reason"], "rule": b.get("rule"),
        "next_change": epoch(b.get("next_change")), "next_state": b.get("next_state"),
        "override_until": epoch(b.get("override_until")), "driver_ok": b["driver_ok"],
        "driver_error": b.get("driver_error"), "on_hours_today": b["on_hours_today"],
        "ts": ts, "payload": payload(b)})
    out.light_history.append({
        "gateway_key": key, "circuit": m.message.params["circuit"], "ts": ts,
        "state": b["state"], "reason": b["reason"], "rule": b.get("rule"),
        "on_hours_today": b["on_hours_today"]})


def _camera(key: str, m: Accepted, upd: Row, state: Row, out: Effects, _s: Any) -> None:
    b = m.body
    out.cameras.append({
        "gateway_key": key, "camera": m.message.params["camera"], "state": b["state"],
        "armed": b["armed"], "since": epoch(b["since"]), "last_error": b.get("last_error"),
        "ts": m.made_at or m.received_at, "payload": payload(b)})


def _motion(key: str, m: Accepted, upd: Row, state: Row, out: Effects, _s: Any) -> None:
    b = m.body
    ts = m.made_at or m.received_at
    camera = m.message.params["camera"]
    out.events.append({"gateway_key": key, "kind": "motion", "subject": camera, "ts": ts,
                       "data": payload(b)})
    out.camera_events.append({"gateway_key": key, "camera": camera,
                              "last_event_id": b["event_id"], "last_event_at": ts})


def _snapshot(key: str, m: Accepted, upd: Row, state: Row, out: Effects,
              snapshots: dict[int, str]) -> None:
    sha = snapshots.get(id(m))
    camera = m.message.params["camera"]
    if sha is not None:
        out.snapshots.append({"sha256": sha, "size": len(m.message.raw),
                              "stored_at": m.received_at, "gateway_key": key,
                              "camera": camera})
        out.snapshot_sightings.append({"gateway_key": key, "camera": camera,
                                       "seen_at": m.received_at, "sha256": sha})
    out.camera_snapshots.append({"gateway_key": key, "camera": camera, "snapshot_sha": sha,
                                 "snapshot_at": m.received_at})


def _hotspot(key: str, m: Accepted, upd: Row, state: Row, out: Effects, _s: Any) -> None:
    b = m.body
    ts = m.made_at or m.received_at
    hotspot = m.message.params["hotspot"]
    out.hotspots.append({
        "gateway_key": key, "hotspot": hotspot, "state": b["state"],
        "since": epoch(b.get("since")), "rtt_median_ms": b.get("rtt_median_ms"),
        "loss_pct": b.get("loss_pct"), "uptime_24h_pct": b.get("uptime_24h_pct"),
        "clients": b.get("clients"), "ts": ts, "payload": payload(b)})
    out.telemetry.append({"gateway_key": key, "kind": "hotspot", "subject": hotspot, "ts": ts,
                          "data": {k: b.get(k) for k in HOTSPOT_METRICS}})


def _dropped(key: str, m: Accepted, upd: Row, state: Row, out: Effects, _s: Any) -> None:
    b = m.body
    ts = m.made_at or m.received_at
    out.dropped += [{"gateway_key": key, "first": r["first"], "last": r["last"],
                     "reason": b["reason"], "ts": ts} for r in b["ranges"]]
    out.events.append({"gateway_key": key, "kind": "outbox_dropped", "subject": None,
                       "ts": ts, "data": payload(b)})


def _result(key: str, m: Accepted, upd: Row, state: Row, out: Effects, _s: Any) -> None:
    b = m.body
    out.events.append({"gateway_key": key, "kind": "command_result",
                       "subject": m.message.params["path"][:100],
                       "ts": m.made_at or m.received_at, "data": payload(b)})


_HANDLERS = {
    "status": _status, "health": _health, "light/{circuit}/state": _light,
    "camera/{camera}/status": _camera, "camera/{camera}/motion": _motion,
    "camera/{camera}/snapshot": _snapshot, "hotspot/{hotspot}/state": _hotspot,
    "outbox/dropped": _dropped, "cmd/{path}/result": _result,
}
