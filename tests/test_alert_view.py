"""The alert engine's lean fleet read (control_room/store/alert_view.py) on SQLite and
PostgreSQL: it says what the general fleet read says, reuses a gateway's view while its rows
are unchanged, rebuilds it when one changes, and forgets gateways that are gone."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from contract import utc_iso
from control_room.config import ControlRoomConfig, FleetSection
from control_room.console import data, data_media
from control_room.sim import payloads
from control_room.store import queries
from control_room.store import schema as t
from control_room.store.alert_view import AlertView
from tests.test_control_room_store import T0, db, health, light, msg, store

__all__ = ["db"]  # the fixture, imported for these tests


def hotspot(seq: int, state: str, at: float) -> dict[str, object]:
    spot = payloads.Hotspot("hs1", state, "2026-12-01T00:00:00Z")  # type: ignore[arg-type]
    body = payloads.hotspot_state(spot, datetime.fromtimestamp(at, UTC), random.Random(1))
    return {"seq": seq, **body}


async def test_the_lean_view_says_what_the_fleet_read_says_and_is_reused(
        db: AsyncEngine) -> None:
    await store(db, [msg("health", health(1, T0 + 1), T0 + 1),
                     msg("light/c1/state", light(2, "on", "schedule"), T0 + 2),
                     msg("hotspot/hs1/state", hotspot(3, "down", T0 + 3), T0 + 3),
                     msg("health", health(1, T0 + 1), T0 + 1, gw="gw-2")])
    view = AlertView()
    cfg = FleetSection()
    async with db.connect() as conn:
        first = await view.read(conn, T0 + 10, cfg)
        fleet = await queries.fleet(conn, T0 + 10, cfg)
        again = await view.read(conn, T0 + 10, cfg)
    assert [g.key for g in first.gateways] == [r["gateway_key"] for r in fleet]
    gw1, full = first.gateways[0], fleet[0]
    assert (gw1.state, gw1.disk_free_mb, gw1.clock_synced) == \
        (full["state"], full["disk_free_mb"], full["clock_synced"])
    assert [(c.id, c.state, c.reason) for c in gw1.circuits] == \
        [(c["circuit"], c["state"], c["reason"]) for c in full["circuits"]]
    assert [(h.id, h.state, h.reasons) for h in gw1.hotspots] == \
        [("hs1", "down", ("loss above 20 %",))]
    assert all(a is b for a, b in zip(first.gateways, again.gateways, strict=True))
    await store(db, [msg("health", health(4, T0 + 15), T0 + 15)])  # last_seen moves
    async with db.connect() as conn:
        seen = await view.read(conn, T0 + 16, cfg)
    assert seen.gateways[0].last_seen != first.gateways[0].last_seen
    assert seen.gateways[0].circuits is first.gateways[0].circuits  # children kept
    assert seen.gateways[0].hotspots is first.gateways[0].hotspots
    await store(db, [msg("light/c1/state", light(5, "off", "override"), T0 + 20)])
    async with db.connect() as conn:
        changed = await view.read(conn, T0 + 21, cfg)
        stale = await view.read(conn, T0 + 1000, cfg)  # nothing new for many intervals
        await conn.execute(delete(t.gateways).where(t.gateways.c.gateway_key == "s1/gw-2"))
        await conn.commit()
        gone = await view.read(conn, T0 + 1000, cfg)
    assert changed.gateways[0] is not first.gateways[0]
    assert [(c.state, c.reason) for c in changed.gateways[0].circuits] == [("off", "override")]
    assert changed.gateways[1] is first.gateways[1]  # gw-2 did not change
    assert [g.state for g in stale.gateways] == ["stale", "stale"]  # time alone changes it
    assert [g.key for g in gone.gateways] == ["s1/gw-1"]
    assert set(view._built) == {"s1/gw-1"}  # the cache does not keep what is gone


def camera(seq: int, cam: str, at: float, name: str | None) -> dict[str, object]:
    body = payloads.camera_status(payloads.Camera(cam, since=utc_iso(at)), 60, random.Random(1))
    return {"seq": seq, **body, "name": name}


async def test_a_cameras_name_is_read_for_the_alerts_and_the_console(db: AsyncEngine) -> None:
    """What people call a camera ("Cổng làng", the status's ``name``) reaches the alert
    engine's view, the overview's lean read, the commands' words and the motion events, on
    SQLite and PostgreSQL (JSON reads differ); a camera without a name has none (the pages
    show its id)."""
    start = datetime.fromtimestamp(T0 + 3, UTC)
    moved = payloads.motion(payloads.Camera("cong-lang"), "start", "e1", start, start,
                            random.Random(1))
    await store(db, [msg("camera/cong-lang/status", camera(1, "cong-lang", T0, "Cổng làng"),
                         T0 + 1),
                     msg("camera/cho/status", camera(2, "cho", T0, None), T0 + 2),
                     msg("camera/cong-lang/motion", {"seq": 3, **moved}, T0 + 3),
                     msg("camera/cho/motion", {"seq": 4, **moved, "camera": "cho",
                                               "event_id": "e2"}, T0 + 4)])
    config = ControlRoomConfig.model_validate({"database": {"url": "sqlite://"}})
    async with db.connect() as conn:
        view = await AlertView().read(conn, T0 + 10, config.fleet)
        summary = await data.summary(conn, T0 + 10, config)
        names = await data.subject_names(conn, ["s1/gw-1"])
        events = await data_media.events(conn)
    assert [(c.id, c.name) for c in view.gateways[0].cameras] == [
        ("cho", None), ("cong-lang", "Cổng làng")]
    assert [(c["camera"], c["name"]) for c in summary[0]["cameras"]] == [
        ("cho", None), ("cong-lang", "Cổng làng")]
    assert names == {"s1/gw-1": {"camera/cong-lang": "Cổng làng"}}
    assert [(e["camera"], e["name"]) for e in events] == [("cho", "cho"),
                                                          ("cong-lang", "Cổng làng")]


async def test_a_circuits_and_a_hotspots_name_is_read_for_the_alerts_and_the_console(
        db: AsyncEngine) -> None:
    """As a camera's: a circuit's and a hotspot's ``name`` (light and hotspot state) reach the
    alert engine's view, the overview's lean read, the commands' words and the alert history
    (which names the circuit, not its id), on SQLite and PostgreSQL; one without a name has
    none (the pages show its id)."""
    named = {**light(1, "off", "schedule"), "name": "Đường trục chính"}
    unnamed = {**light(2, "on", "schedule"), "circuit": "c2"}
    spot = {**hotspot(3, "down", T0 + 3), "name": "Nhà văn hoá"}
    bare = {**hotspot(4, "up", T0 + 4), "hotspot": "hs2", "name": None}
    await store(db, [msg("light/c1/state", named, T0 + 1),
                     msg("light/c2/state", unnamed, T0 + 2),
                     msg("hotspot/hs1/state", spot, T0 + 3),
                     msg("hotspot/hs2/state", bare, T0 + 4)])
    async with db.begin() as conn:
        await conn.execute(t.alert_history.insert().values(
            key="light_not_due:s1/gw-1:c1", kind="fired", at=T0 + 5, severity="warning",
            message="light Đường trục chính (c1) should be on"))
    config = ControlRoomConfig.model_validate({"database": {"url": "sqlite://"}})
    async with db.connect() as conn:
        view = await AlertView().read(conn, T0 + 10, config.fleet)
        summary = await data.summary(conn, T0 + 10, config)
        names = await data.subject_names(conn, ["s1/gw-1"])
        history = (await data.alerts(conn))["history"]
    gw = view.gateways[0]
    assert [(c.id, c.name) for c in gw.circuits] == [("c1", "Đường trục chính"), ("c2", None)]
    assert [(h.id, h.name) for h in gw.hotspots] == [("hs1", "Nhà văn hoá"), ("hs2", None)]
    assert [(c["circuit"], c["name"]) for c in summary[0]["circuits"]] == [
        ("c1", "Đường trục chính"), ("c2", None)]
    assert [(h["hotspot"], h["name"]) for h in summary[0]["hotspots"]] == [
        ("hs1", "Nhà văn hoá"), ("hs2", None)]
    assert names == {"s1/gw-1": {"light/c1": "Đường trục chính", "hotspot/hs1": "Nhà văn hoá"}}
    assert [h.get("subject_name") for h in history] == ["Đường trục chính"]
