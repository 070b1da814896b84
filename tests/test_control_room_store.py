"""The control room's store on SQLite and PostgreSQL, driven with contract messages: one
batch = one transaction, de-duplication on the envelope id, the newest state wins over late
replays, the seq completeness judge (grace, outbox/dropped, late arrivals, end of a life),
Last Will ordering, roll-ups; and the pure pieces (classification, range arithmetic)."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

import contract
from control_room.config import DatabaseSection, FleetSection
from control_room.ingest import completeness
from control_room.ingest.classify import Accepted, Rejected, classify
from control_room.store import queries, retention
from control_room.store import schema as t
from control_room.store.alert_view import AlertView
from control_room.store.db import create_engine, migrate
from control_room.store.writer import write_batch

T0 = 1_800_000_000.0
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSection(url=db_url))
    await migrate(engine)
    await migrate(engine)  # idempotent: every start runs it
    yield engine
    await engine.dispose()


def msg(relative: str, body: dict[str, Any], at: float, gw: str = "gw-1",
        site: str = "s1", retained: bool = False) -> Accepted | Rejected | None:
    full = {"v": 1, "ts": contract.utc_iso(at), "id": contract.new_id(), **body}
    return classify("commune", f"commune/{site}/{gw}/{relative}", contract.encode(full), at,
                    1 << 20, retained)


def health(seq: int, at: float, depth: int = 0) -> dict[str, Any]:
    outbox = {"depth": depth, "bytes": 0, "max_bytes": 1, "oldest_age_s": None, "dropped": {}}
    return {"seq": seq, "cpu_percent": 1.0, "ram_used_mb": 1.0, "ram_total_mb": 2.0,
            "disk_free_mb": 100.0, "disk_used_percent": 1.0, "soc_temp_c": None,
            "uptime_s": 1.0, "process_rss_mb": 1.0, "outbox": outbox, "clock_synced": True,
            "mqtt": {}, "components": {}}


def status(state: str, boot: int, last_seq: int, at: float,
           boot_time: str | None = None) -> dict[str, Any]:
    return {"state": state, "version": "1", "boot": boot, "last_seq": last_seq,
            "gateway": "gw-1", "site": "s1", "health_interval_s": 10.0,
            # births carry the boot time, a Last Will or a clean stop do not
            **({"boot_time": boot_time or contract.utc_iso(T0 - 1000 * boot)}
               if state == "online" else {})}


def light(seq: int, state: str, reason: str) -> dict[str, Any]:
    return {"seq": seq, "circuit": "c1", "state": state, "reason": reason, "driver": "sim",
            "driver_ok": True, "on_hours_today": 1.5, "clock_synced": True}


async def store(db: AsyncEngine, items: list[Any]) -> Any:
    accepted = [i for i in items if isinstance(i, Accepted)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    async with db.begin() as conn:
        return await write_batch(conn, accepted, rejected, {}, 100)


async def judge(db: AsyncEngine, now: float, grace: float = 60) -> list[completeness.Loss]:
    async with db.begin() as conn:
        return await completeness.judge(conn, now, grace)


async def test_duplicates_are_stored_once_and_newest_state_wins(db: AsyncEngine) -> None:
    first = msg("light/c1/state", light(1, "on", "schedule"), T0 + 10)
    older = msg("light/c1/state", light(2, "off", "override"), T0 + 5)  # ts older, late
    result = await store(db, [first, first, older])
    assert (result.stored, result.duplicates) == (2, 1)
    again = await store(db, [first, older])  # redelivered after a crash: nothing new
    assert (again.stored, again.duplicates) == (0, 2)
    async with db.connect() as conn:
        fleet = await queries.fleet(conn, T0 + 20, FleetSection())
        history = await queries.light_history(conn, "s1/gw-1")
    circuit = fleet[0]["circuits"][0]
    assert (circuit["state"], circuit["reason"]) == ("on", "schedule")
    assert len(history) == 2  # both switches are history, the older is not the latest


async def test_a_hole_is_a_loss_only_after_the_grace_and_dropped_ranges_explain(
        db: AsyncEngine) -> None:
    seqs = [1, 2, 3, 6, 7, 11, 12]  # holes 4-5 (lost) and 8-10 (dropped by policy)
    items = [msg("health", health(s, T0 + s), T0 + s) for s in seqs]
    dropped = {"seq": 13, "ranges": [{"first": 8, "last": 10}], "count": 3,
               "classes": {"telemetry": 3}, "reason": "outbox full (16 MB)"}
    items.append(msg("outbox/dropped", dropped, T0 + 13))
    await store(db, items)
    assert await judge(db, T0 + 30) == []  # inside the grace: replays may still come
    found = await judge(db, T0 + 100)
    assert [(x.first, x.last) for x in found] == [(4, 5)]
    assert await judge(db, T0 + 200) == []  # judged once
    await store(db, [msg("health", health(4, T0 + 4), T0 + 300)])  # very late arrival
    async with db.connect() as conn:
        rows = await queries.losses(conn, "s1/gw-1")
        view = await AlertView().read(conn, T0 + 300, FleetSection())
    assert [(r["first"], r["last"], r["count"], r["recovered"]) for r in rows] == \
        [(4, 5, 2, 1)]
    assert view.gateways[0].unexplained_loss == 1


async def test_a_birth_announcing_a_backlog_is_no_loss_until_the_replay_is_judged(
        db: AsyncEngine) -> None:
    """After an outage the birth says 6 were stored while 4..6 are still being replayed:
    that is not a loss; a hole left when later messages arrived is."""
    await store(db, [msg("health", health(s, T0 + s), T0 + s) for s in (1, 2, 3)])
    await store(db, [msg("status", status("online", 1, 6, T0 + 10), T0 + 10)])
    assert await judge(db, T0 + 100) == []
    await store(db, [msg("health", health(s, T0 + 101), T0 + 101) for s in (4, 6, 7)])
    assert [(x.first, x.last) for x in await judge(db, T0 + 200)] == [(5, 5)]


async def test_first_seq_seen_is_the_start_and_out_of_order_arrival_is_fine(
        db: AsyncEngine) -> None:
    # a gateway older than the room: 5000 is the first seen, not 4999 lost
    order = [5003, 5000, 5002, 5001]
    await store(db, [msg("health", health(s, T0), T0 + i) for i, s in enumerate(order)])
    assert await judge(db, T0 + 100) == []


async def test_retained_copies_sent_at_subscription_do_not_start_the_view(
        db: AsyncEngine) -> None:
    """The room subscribes after the gateway published health 8 and a motion event 9: the
    broker hands it the retained states 3..7 first, then live 10, 11. 8 and 9 were never
    this room's to receive: no loss. A hole after the first live message is one."""
    retained = [msg("light/c1/state", light(s, "on", "schedule"), T0, retained=True)
                for s in (3, 4, 5, 6, 7)]
    await store(db, retained)
    assert await judge(db, T0 + 100) == []  # no live message yet: nothing to judge from
    await store(db, [msg("health", health(s, T0), T0 + 1) for s in (10, 11, 14)])
    assert [(x.first, x.last) for x in await judge(db, T0 + 100)] == [(12, 13)]


async def test_a_wiped_gateway_numbering_again_from_1_is_a_new_stream_not_a_loss(
        db: AsyncEngine) -> None:
    await store(db, [msg("status", status("online", 1, 0, T0), T0)])
    await store(db, [msg("health", health(s, T0 + s), T0 + s) for s in range(1, 51)])
    assert await judge(db, T0 + 100) == []
    # new SD card: boot 1 again (another boot time), seq from 1; a retained copy of the old
    # life's state arrives too (it says nothing about completeness)
    await store(db, [msg("status", status("online", 1, 0, T0 + 200, contract.utc_iso(T0 + 199)),
                         T0 + 200),
                     msg("light/c1/state", light(50, "on", "schedule"), T0 + 200,
                         retained=True)])
    await store(db, [msg("health", health(s, T0 + 201), T0 + 201) for s in (1, 2, 4)])
    assert [(x.first, x.last) for x in await judge(db, T0 + 300)] == [(3, 3)]
    # a Last Will (last_seq of connect time) and a reconnect's birth are no new numbering
    await store(db, [msg("status", status("offline", 1, 0, T0 + 301), T0 + 301),
                     msg("status", status("online", 1, 4, T0 + 302, contract.utc_iso(T0 + 199)),
                         T0 + 302)])
    async with db.connect() as conn:
        events = await queries.events(conn, kind="seq_reset")
        row = (await queries.fleet(conn, T0 + 303, FleetSection()))[0]
    assert len(events) == 1 and row["max_seq"] == 4 and row["seq_checked"] == 4


async def test_last_will_made_at_connect_time_still_wins_within_one_life(
        db: AsyncEngine) -> None:
    will = msg("status", status("offline", 3, 0, T0), T0 + 50)  # ts from connect time
    birth = msg("status", status("online", 3, 0, T0 + 1), T0 + 1)
    await store(db, [birth])
    await store(db, [will])
    old_life = msg("status", status("online", 2, 0, T0 + 60), T0 + 60, retained=True)
    await store(db, [old_life])
    async with db.connect() as conn:
        row = (await queries.fleet(conn, T0 + 61, FleetSection()))[0]
        events = await queries.events(conn, kind="gateway_state")
    assert (row["state"], row["boot"]) == ("offline", 3)
    assert [e["data"]["to"] for e in reversed(events)] == ["online", "offline"]


async def test_stale_when_nothing_arrives_for_three_health_intervals(db: AsyncEngine) -> None:
    await store(db, [msg("status", status("online", 1, 0, T0), T0)])  # health every 10 s
    async with db.connect() as conn:
        assert (await queries.fleet(conn, T0 + 29, FleetSection()))[0]["state"] == "online"
        assert (await queries.fleet(conn, T0 + 31, FleetSection()))[0]["state"] == "stale"


async def test_quarantine_keeps_the_seq_of_a_valid_envelope(db: AsyncEngine) -> None:
    unknown = classify("commune", "commune/s1/gw-1/newer/topic",
                       contract.encode({"v": 1, "ts": contract.utc_iso(T0), "id": "n1",
                                        "seq": 2}), T0, 1 << 20)
    assert isinstance(unknown, Rejected) and unknown.seq == 2
    await store(db, [msg("health", health(1, T0), T0), unknown, unknown,
                     msg("health", health(3, T0), T0)])
    async with db.connect() as conn:
        assert await queries.quarantine_count(conn) == 1
    assert await judge(db, T0 + 100) == []  # it arrived: not a loss


async def test_hourly_roll_up_then_raw_expiry(db: AsyncEngine) -> None:
    samples = [msg("health", {**health(i + 1, T0 + i * 600), "cpu_percent": float(i)},
                   T0 + i * 600) for i in range(12)]  # two hours of samples
    await store(db, samples)
    async with db.begin() as conn:
        assert await retention.roll_up(conn, T0 + 3 * 3600) > 0
        assert await retention.roll_up(conn, T0 + 3 * 3600) == 0  # done once
        rows = (await conn.execute(select(t.rollups).where(t.rollups.c.metric ==
                                                           "cpu_percent"))).mappings().all()
        assert sum(r["count"] for r in rows) == 12
        assert sum(r["sum"] for r in rows) == sum(range(12))
        from control_room.config import StorageSection
        expired = await retention.expire(conn, T0 + 15 * 86400, StorageSection())
        assert expired["telemetry"] == 12
        left = await conn.scalar(select(func.count()).select_from(t.rollups))
        assert left == len(rows) + (await conn.scalar(select(func.count()).select_from(
            t.rollups).where(t.rollups.c.metric != "cpu_percent")) or 0)


def test_classification_rejects_with_one_line_reasons() -> None:
    def reason(topic: str, payload: bytes) -> str:
        item = classify("commune", topic, payload, T0, 1000)
        assert isinstance(item, Rejected), item
        return item.reason

    assert "outside the root" in reason("other/s/g/health", b"{}")
    assert "no {site}/{gateway}" in reason("commune/s", b"{}")
    assert "too large" in reason("commune/s/g/camera/c/snapshot", b"\xff\xd8\xff" + b"0" * 2000)
    assert classify("commune", "commune/s/g/cmd/light/c1/override", b"{}", T0, 10) is None
    ok = classify("commune", "commune/s/g/camera/c/snapshot", b"\xff\xd8\xff\xe0", T0, 1000)
    assert isinstance(ok, Accepted)


def test_subtract_ranges() -> None:
    assert completeness.subtract(1, 10, [(3, 4), (8, 20)]) == [(1, 2), (5, 7)]
    assert completeness.subtract(5, 6, [(1, 10)]) == []
    assert completeness.subtract(5, 6, []) == [(5, 6)]


def test_control_room_never_imports_edge_agent() -> None:
    code = ("import sys, control_room.service, control_room.cli, control_room.api.routes; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('edge_agent', "
            "'drivers')); print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "control_room").rglob("*.py")
                 if any(word in p.read_text() for word in ("import edge_agent",
                                                          "from edge_agent", "import drivers",
                                                          "from drivers"))]
    assert offenders == []
    # one module speaks MQTT in the service; control_room/sim/ holds separate programs (the
    # gateway simulator and its test subscriber), which are not the service
    paho = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "control_room").rglob("*.py")
                  if p.relative_to(ROOT / "control_room").parts[0] != "sim" and
                  ("import paho" in p.read_text() or "import aiomqtt" in p.read_text()))
    assert paho == ["control_room/mqtt.py"]


def test_check_config_reports_file_line_and_did_you_mean(tmp_path: Path) -> None:
    bad = tmp_path / "room.yaml"
    bad.write_text("mqtt:\n  url: mqtt://127.0.0.1\ndatabase:\n  urll: sqlite:///x.db\n"
                   "ingest:\n  batch_ms: lots\n")
    done = subprocess.run([sys.executable, "-m", "control_room", "check-config", str(bad)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"{bad}:4:3 database.urll: unknown key 'urll'" in done.stderr
    assert "did you mean 'url'?" in done.stderr
    assert f"{bad}:6:3 ingest.batch_ms: Input should be a valid integer" in done.stderr
    assert "Traceback" not in done.stderr
    good = tmp_path / "good.yaml"
    good.write_text(f"database:\n  url: sqlite:///{tmp_path}/x.db\n")
    done = subprocess.run([sys.executable, "-m", "control_room", "-c", str(good),
                           "check-config"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr


def test_migrations_match_the_schema(tmp_path: Path) -> None:
    """A table changed without a migration fails here (alembic autogenerate finds a diff)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine as sync_engine

    asyncio.run(_migrate_file(tmp_path / "m.db"))
    with sync_engine(f"sqlite:///{tmp_path}/m.db").connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert diff == []


async def _migrate_file(path: Path) -> None:
    engine = create_engine(DatabaseSection(url=f"sqlite:///{path}"))
    await migrate(engine)
    await engine.dispose()


async def test_a_row_the_database_refuses_is_quarantined_alone(db: AsyncEngine,
                                                               tmp_path: Path) -> None:
    """PostgreSQL refuses a circuit id longer than its column (SQLite stores it): the batch
    falls back to one message at a time, the refused one goes to quarantine, the rest is
    stored and the whole batch acknowledged. The ack callback is the seam to MQTT."""
    from control_room.config import ControlRoomConfig
    from control_room.ingest.pipeline import Ingest
    from control_room.metrics import Metrics
    from control_room.mqtt import Delivery
    from control_room.store.snapshots import SnapshotStore

    acked: list[Delivery] = []
    config = ControlRoomConfig()
    ingest = Ingest(config, db, SnapshotStore(tmp_path, 10), Metrics(),
                    lambda ds: acked.extend(ds) or len(acked))
    long_id = "c" * 150
    bodies = [("light/c1/state", light(1, "on", "schedule")),
              (f"light/{long_id}/state", {**light(2, "on", "schedule"), "circuit": long_id}),
              ("health", health(3, T0))]
    batch = [Delivery(f"commune/s1/gw-1/{rel}", contract.encode(
        {"v": 1, "ts": contract.utc_iso(T0), "id": contract.new_id(), **body}), 1, i, 0,
        T0, False) for i, (rel, body) in enumerate(bodies)]
    await ingest.process(batch)
    assert acked == batch
    async with db.connect() as conn:
        quarantined = await queries.quarantine(conn)
        stored = await queries.message_count(conn)
    if db.dialect.name == "postgresql":
        assert [q["reason"][:19] for q in quarantined] == ["could not be stored"]
    else:
        assert quarantined == []
    assert stored == 3  # every message id is logged: the quarantined one's seq is no hole
    assert await judge(db, T0 + 100) == []


def test_the_config_reference_in_the_docs_is_current() -> None:
    from control_room.reference import render

    document = (ROOT / "docs" / "control-room.md").read_text()
    assert render() in document, "run: control-room schema --markdown -o docs/control-room.md"


async def test_snapshots_are_files_named_by_their_hash_within_a_quota(
        db: AsyncEngine, tmp_path: Path) -> None:
    from control_room.config import ControlRoomConfig
    from control_room.ingest.pipeline import Ingest
    from control_room.metrics import Metrics
    from control_room.mqtt import Delivery
    from control_room.store.snapshots import SnapshotStore

    snapshots = SnapshotStore(tmp_path, quota_mb=0.15)  # room for one picture of 100 KB
    ingest = Ingest(ControlRoomConfig(), db, snapshots, Metrics(), lambda ds: 0)
    pictures = [b"\xff\xd8\xff\xe0" + bytes([n]) * 100_000 for n in range(3)]
    for n, jpeg in enumerate(pictures):
        await ingest.process([Delivery("commune/s1/gw-1/camera/gate/snapshot", jpeg, 1, n, 0,
                                       T0 + n, True)])
    hashes = [hashlib.sha256(p).hexdigest() for p in pictures]
    assert all(snapshots.path(h).read_bytes() == p for h, p in zip(hashes, pictures,
                                                                   strict=True))
    async with db.connect() as conn:
        camera = (await queries.fleet(conn, T0 + 5, FleetSection()))[0]["cameras"][0]
        keep = await retention.current_snapshots(conn)
    assert camera["snapshot_sha"] == hashes[-1] and keep == {hashes[-1]}
    deleted = snapshots.enforce_quota(keep)
    assert set(deleted) == set(hashes[:2])  # the current one stays, whatever its age
    assert snapshots.path(hashes[-1]).exists()
    with pytest.raises(ValueError):
        snapshots.path("../../etc/passwd")


async def test_two_events_with_the_same_picture_both_show_it(
        db: AsyncEngine, tmp_path: Path) -> None:
    """A looping clip (or a frozen camera) sends byte-identical snapshots: the picture is
    one file, but each event found its thumbnail by the picture's first arrival only, so
    the newest event had none (CI, test_console_live)."""
    from control_room.config import ControlRoomConfig
    from control_room.console import data_media
    from control_room.ingest.pipeline import Ingest
    from control_room.metrics import Metrics
    from control_room.mqtt import Delivery
    from control_room.store.snapshots import SnapshotStore

    ingest = Ingest(ControlRoomConfig(), db, SnapshotStore(tmp_path, quota_mb=5), Metrics(),
                    lambda ds: 0)
    jpeg = b"\xff\xd8\xff\xe0" + b"same picture" * 100
    other = b"\xff\xd8\xff\xe0" + b"another one" * 100
    for n, (start, picture) in enumerate(((T0, jpeg), (T0 + 300, other), (T0 + 600, jpeg))):
        body = {"camera": "gate", "event": "start", "event_id": f"ev{n}",
                "started_at": contract.utc_iso(start), "boxes": [], "zones": [],
                "score": 0.1, "peak_score": 0.1, "duration_s": 0.0}
        await store(db, [msg("camera/gate/motion", {**body, "seq": n + 1}, start)])
        await ingest.process([Delivery("commune/s1/gw-1/camera/gate/snapshot", picture, 1,
                                       n, 0, start + 1, True)])
    async with db.connect() as conn:
        events = await data_media.events(conn, limit=10)
        await retention.forget_snapshots(conn, [hashlib.sha256(jpeg).hexdigest()])
        sightings = await conn.scalar(select(func.count()).select_from(t.snapshot_sightings))
    shown = {e["event_id"]: e["snapshot_sha"] for e in events}
    assert shown == {"ev0": hashlib.sha256(jpeg).hexdigest(),
                     "ev1": hashlib.sha256(other).hexdigest(),
                     "ev2": hashlib.sha256(jpeg).hexdigest()}, shown
    assert sightings == 1  # a forgotten file takes its sightings with it


async def test_energy_api_counts_on_hours_per_local_day_not_per_utc_day(
        db: AsyncEngine, tmp_path: Path) -> None:
    """A lamp on from 22:00 to 06:00 in Vietnam (UTC+7) burns 2 h on the first local day and
    6 h on the next; per UTC day all 8 h would fall on one date (the old report)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from aiohttp.test_utils import TestClient, TestServer

    from control_room.api.app import create_app
    from control_room.config import ControlRoomConfig
    from control_room.context import ServiceContext
    from control_room.metrics import Metrics
    from control_room.store.snapshots import SnapshotStore

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    on_at = datetime(2026, 11, 20, 22, 0, tzinfo=tz).timestamp()
    off_at = datetime(2026, 11, 21, 6, 0, tzinfo=tz).timestamp()
    await store(db, [msg("light/c1/state", light(1, "on", "schedule"), on_at),
                     msg("light/c1/state", light(2, "off", "schedule"), off_at)])
    cfg = ControlRoomConfig.model_validate({"http": {"token": "t0ken"}})
    now = datetime(2026, 11, 21, 12, 0, tzinfo=tz).timestamp()
    ctx = ServiceContext(cfg, db, Metrics(), SnapshotStore(tmp_path, 10), clock=lambda: now)
    async with TestClient(TestServer(create_app(ctx))) as client:
        response = await client.get("/api/energy?days=3",
                                    headers={"Authorization": "Bearer t0ken"})
        assert response.status == 200
        body = await response.json()
    by_day = {r["day"]: r["on_hours"] for r in body["energy"] if r["circuit"] == "c1"}
    # 2026-11-19 is not listed: nothing was known about the lamp yet (no data, not 0 h)
    assert by_day == {"2026-11-20": 2.0, "2026-11-21": 6.0}, by_day
    assert body["timezone"] == "Asia/Ho_Chi_Minh"
