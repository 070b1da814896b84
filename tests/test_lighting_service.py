"""The lighting service with simulated relays and a hand-driven clock (no sleeps needed
except for the stagger and pulse tests)."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from contract import utc_iso
from drivers.relays.base import RelayError
from drivers.relays.registry import create_relay
from edge_agent.lighting.commands import LightingCommands
from edge_agent.lighting.config import LightingConfig
from edge_agent.lighting.schedule import Location
from edge_agent.lighting.service import LightingService
from edge_agent.lighting.store import Energy, LightingStore
from edge_agent.runtime import CommandError, CommandRequest
from tests.infra.loop_probe import loop_ticks

VN = ZoneInfo("Asia/Ho_Chi_Minh")
LOC = Location(19.9, 105.4)
DAY = date(2026, 11, 22)


def local(hh: int, mm: int = 0, ss: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hh, mm, ss), tzinfo=VN)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.wall = start
        self.mono = 1000.0
        self.synced = True

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


class Recorder:
    """Wraps a relay and records every set() with the loop time."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[int, bool, float]] = []
        self.closed = False

    async def set(self, channel: int, state: bool) -> None:
        self.calls.append((channel, state, asyncio.get_running_loop().time()))
        await self.inner.set(channel, state)

    async def read(self, channel: int) -> bool | None:
        return await self.inner.read(channel)

    async def close(self) -> None:
        self.closed = True


def circuit(cid: str, board: str, channel: int = 1, **extra: Any) -> dict[str, Any]:
    return {"id": cid, "relay": {"driver": "sim", "board": board, "channel": channel,
                                 **extra.pop("relay", {})},
            "rules": [{"name": "night", "on": "sunset+15m", "off": "sunrise-10m"},
                      {"name": "evening", "on": "18:00", "off": "22:00"}], **extra}


def make(tmp: Path, clock: Clock, circuits: list[dict[str, Any]], **cfg: Any,
         ) -> tuple[LightingService, list[tuple[str, dict[str, Any]]], dict[str, Recorder]]:
    config = LightingConfig.model_validate({"circuits": circuits, "stagger_s": 0, **cfg})
    published: list[tuple[str, dict[str, Any]]] = []
    relays = {c.id: Recorder(create_relay(c.relay)) for c in config.circuits}

    async def publish(cid: str, payload: Any) -> None:
        published.append((cid, dict(payload)))

    service = LightingService(config, LOC, VN, relays=relays,
                              store=LightingStore(tmp / "lighting.json"), publish=publish,
                              clock_synced=lambda: clock.synced, now=clock.now,
                              monotonic=clock.monotonic)
    return service, published, relays


def board() -> str:
    return f"b-{uuid.uuid4().hex[:8]}"


def last(published: list[tuple[str, dict[str, Any]]], cid: str) -> dict[str, Any]:
    return [p for c, p in published if c == cid][-1]


async def test_reboot_at_21h_finds_lights_on_by_schedule(tmp_path: Path) -> None:
    clock = Clock(local(21))
    service, published, relays = make(tmp_path, clock, [circuit("main", board())])
    await service.start()
    await service.reconcile()
    state = last(published, "main")
    assert (state["state"], state["reason"], state["rule"]) == ("on", "schedule", "evening")
    assert relays["main"].calls[-1][:2] == (1, True)
    next_change = datetime.fromisoformat(state["next_change"])
    assert state["next_change"].endswith("Z")  # every time field: UTC, ms, Z
    assert next_change.astimezone(VN).isoformat().startswith("2026-11-23T06:0")  # sunrise-10m


async def test_boundary_switches_and_reasserts_every_interval(tmp_path: Path) -> None:
    clock = Clock(local(5, 50))
    service, published, relays = make(tmp_path, clock, [circuit("main", board())])
    await service.start()
    await service.reconcile()
    assert last(published, "main")["state"] == "on"
    boundary = service.circuits["main"].decision.next_change  # type: ignore[union-attr]
    assert boundary is not None
    clock.advance((boundary - clock.wall).total_seconds() - 1)
    await service.reconcile()
    assert last(published, "main")["state"] == "on"
    clock.advance(1)
    await service.reconcile()
    assert (last(published, "main")["state"], last(published, "main")["reason"]) == \
        ("off", "default")
    n = len(relays["main"].calls)
    clock.advance(30)
    await service.reconcile()
    assert len(relays["main"].calls) == n  # nothing to do within the interval
    clock.advance(31)
    await service.reconcile()
    assert relays["main"].calls[n:] == [(1, False, relays["main"].calls[-1][2])]  # re-asserted


async def test_min_switch_interval_delays_the_second_switch(tmp_path: Path) -> None:
    clock = Clock(local(12))
    service, published, _ = make(tmp_path, clock, [circuit("main", board(),
                                                               min_switch_interval_s=120)])
    cmds = LightingCommands(service)
    await service.start()
    await service.reconcile()
    reply = await cmds.override(req("main", "override", {"state": "on",
                                                         "until": local(12, 0, 30).isoformat()}))
    assert reply["state"] == "on"
    clock.advance(31)  # the override expired; the schedule says off, but only 31 s passed
    await service.reconcile()
    state = last(published, "main")
    assert (state["state"], state["desired"], state["reason"]) == ("on", "off", "default")
    assert state["pending_until"] is not None
    clock.advance(90)
    await service.reconcile()
    assert last(published, "main")["state"] == "off"


async def test_unsynced_clock_keeps_state_then_reconciles(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    clock = Clock(local(12))  # schedule says off at noon
    clock.synced = False
    name = board()
    sim = create_relay(LightingConfig.model_validate(
        {"circuits": [circuit("main", name)]}).circuits[0].relay)
    await sim.set(1, True)  # the relay is on (readable) when the box boots
    service, published, relays = make(tmp_path, clock, [circuit("main", name)])
    await service.start()
    await service.reconcile()
    state = last(published, "main")
    assert (state["state"], state["reason"], state["clock_synced"]) == \
        ("on", "clock_unsynced", False)
    assert all(call[1] is True for call in relays["main"].calls)  # never switched off
    clock.synced = True
    with caplog.at_level(logging.INFO):
        await service.reconcile()
    assert "clock synced" in caplog.text
    state = last(published, "main")
    assert (state["state"], state["reason"]) == ("off", "default")


async def test_unsynced_unknown_state_uses_failsafe(tmp_path: Path) -> None:
    clock = Clock(local(12))
    clock.synced = False
    service, published, _ = make(tmp_path, clock, [
        circuit("a", board(), unsynced_state="on"), circuit("b", board())])
    await service.start()
    await service.reconcile()
    assert (last(published, "a")["state"], last(published, "a")["reason"]) == ("on",
                                                                               "failsafe")
    assert (last(published, "b")["state"], last(published, "b")["reason"]) == \
        ("unknown", "clock_unsynced")


async def test_clock_jump_is_detected_and_reconciled(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(local(12))
    service, published, relays = make(tmp_path, clock, [circuit("main", board())])
    await service.start()
    await service.reconcile()
    n = len(relays["main"].calls)
    clock.wall += timedelta(hours=9)  # NTP steps the wall clock; monotonic barely moves
    clock.mono += 1
    with caplog.at_level(logging.WARNING):
        await service.reconcile()
    assert "clock jumped by +32399 s" in caplog.text
    assert relays["main"].calls[n][:2] == (1, True)  # 21:00 → on
    clock.wall -= timedelta(hours=9)  # and back
    clock.mono += 1
    await service.reconcile()
    assert last(published, "main")["state"] == "on"  # min interval protects the contactor
    assert last(published, "main")["desired"] == "off"


async def test_override_survives_restart_and_expires(tmp_path: Path) -> None:
    clock = Clock(local(12))
    name = board()
    service, published, _ = make(tmp_path, clock, [circuit("main", name,
                                                           min_switch_interval_s=0)])
    await service.start()
    await service.reconcile()
    until = local(14)
    await LightingCommands(service).override(req("main", "override", {
        "state": "on", "until": until.isoformat()}))
    assert (last(published, "main")["state"], last(published, "main")["reason"]) == \
        ("on", "override")
    await service.stop()
    clock.advance(600)  # reboot
    again, published2, _ = make(tmp_path, clock, [circuit("main", name,
                                                          min_switch_interval_s=0)])
    await again.start()
    await again.reconcile()
    state = last(published2, "main")
    assert (state["state"], state["reason"], state["override_until"]) == \
        ("on", "override", utc_iso(until))
    assert state["switch_count"] == 1  # off→on before the reboot, kept on disk
    clock.advance((until - clock.wall).total_seconds())
    await again.reconcile()
    assert (last(published2, "main")["state"], last(published2, "main")["reason"]) == \
        ("off", "default")
    assert "main" not in LightingStore(tmp_path / "lighting.json").overrides


async def test_failing_relay_is_reported_retried_and_isolated(tmp_path: Path) -> None:
    clock = Clock(local(21))
    unplug = tmp_path / "unplugged"
    unplug.touch()
    service, published, relays = make(tmp_path, clock, [
        circuit("bad", board(), relay={"fail_if_exists": str(unplug)}),
        circuit("good", board())], retry_s=10)
    await service.start()
    await service.reconcile()
    bad, good = last(published, "bad"), last(published, "good")
    assert good["state"] == "on" and good["driver_ok"] is True
    assert bad["driver_ok"] is False and "unplugged" in bad["driver_error"]
    assert bad["state"] == "unknown" and bad["desired"] == "on"
    n = len(relays["bad"].calls)
    clock.advance(5)
    await service.reconcile()
    assert len(relays["bad"].calls) == n  # not before retry_s
    unplug.unlink()
    clock.advance(6)
    await service.reconcile()
    bad = last(published, "bad")
    assert (bad["state"], bad["driver_ok"], bad["driver_error"]) == ("on", True, None)


async def test_driver_bug_is_isolated(tmp_path: Path) -> None:
    class Buggy:
        async def set(self, channel: int, state: bool) -> None:
            raise KeyError("oops")

        async def read(self, channel: int) -> bool | None:
            raise ZeroDivisionError

        async def close(self) -> None:
            return None

    clock = Clock(local(21))
    service, published, _ = make(tmp_path, clock, [circuit("bug", board()),
                                                        circuit("ok", board())])
    service.circuits["bug"].relay = Buggy()
    await service.start()
    await service.reconcile()
    assert last(published, "ok")["state"] == "on"
    bug = last(published, "bug")
    assert bug["driver_ok"] is False and "driver error: KeyError" in bug["driver_error"]


async def test_staggered_switching(tmp_path: Path) -> None:
    clock = Clock(local(21))
    service, _, relays = make(tmp_path, clock, [circuit("a", board()), circuit("b", board()),
                                                circuit("c", board())], )
    service.cfg.stagger_s = 0.2
    await service.start()
    await service.reconcile()
    times = sorted(relays[c].calls[0][2] for c in "abc")
    assert times[1] - times[0] >= 0.19 and times[2] - times[1] >= 0.19


async def test_stagger_counts_from_the_previous_switch_when_the_loop_runs_late(
        tmp_path: Path) -> None:
    """Inrush: on a busy gateway the loop came back 0.3 s late after the first relay switched;
    the second then switched at once and the third 0.1 s after it (each had slept its planned
    offset from the common start). Every switch must start stagger_s after the one before."""
    clock = Clock(local(21))
    service, _, relays = make(tmp_path, clock, [circuit(c, board()) for c in "abc"])
    service.cfg.stagger_s = 0.2
    await service.start()
    for recorder in relays.values():
        plain = recorder.set

        async def busy_after_first(channel: int, state: bool, plain: Any = plain) -> None:
            await plain(channel, state)
            if sum(len(r.calls) for r in relays.values()) == 1:
                # the loop is blocked (other work, a slow SD card): sleep without yielding
                threading.Event().wait(0.3)
        recorder.set = busy_after_first  # type: ignore[method-assign]
    await service.reconcile()
    times = sorted(relays[c].calls[0][2] for c in "abc")
    assert times[1] - times[0] >= 0.29 and times[2] - times[1] >= 0.19, times


async def test_stop_leaves_relays_unless_on_stop(tmp_path: Path) -> None:
    clock = Clock(local(21))
    service, _, relays = make(tmp_path, clock, [circuit("keep", board()),
                                                circuit("off", board(), on_stop="off")])
    await service.start()
    await service.reconcile()
    n_keep = len(relays["keep"].calls)
    await service.stop()
    assert len(relays["keep"].calls) == n_keep  # closing did not switch anything
    assert relays["off"].calls[-1][:2] == (1, False)
    assert relays["keep"].closed and relays["off"].closed


SWITCH_MARGIN_S = 1.0


async def test_run_loop_follows_a_boundary_in_real_time(tmp_path: Path) -> None:
    """The loop sleeps until the computed next change and switches by itself."""
    # 2-3 s ahead (whole seconds): the loop must start and publish "off" before the
    # boundary, which 0-1 s ahead did not leave room for on a loaded machine
    soon = datetime.now(UTC) + timedelta(seconds=3)
    hhmmss = soon.astimezone(VN).strftime("%H:%M:%S")
    boundary = soon.replace(microsecond=0).timestamp()
    config = [{"id": "x", "relay": {"driver": "sim", "board": board()},
               "rules": [{"on": hhmmss, "off": "23:59:59" if hhmmss < "23:59:50" else "00:00"}],
               "min_switch_interval_s": 0}]
    lc = LightingConfig.model_validate({"circuits": config})
    relay = Recorder(create_relay(lc.circuits[0].relay))
    states: list[str] = []
    switched_on: list[float] = []

    async def publish(cid: str, payload: Any) -> None:
        states.append(payload["state"])
        if payload["state"] == "on" and not switched_on:
            switched_on.append(datetime.now(UTC).timestamp())

    service = LightingService(lc, LOC, VN, relays={"x": relay},
                              store=LightingStore(tmp_path / "l.json"), publish=publish,
                              clock_synced=lambda: True)
    task = asyncio.create_task(service.run())
    try:
        for _ in range(300):  # poll, up to ~15 s
            await asyncio.sleep(0.05)
            if "on" in states:
                break
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert states[0] == "off" and "on" in states
    late = switched_on[0] - boundary
    print(f"switched {late:+.3f} s after the boundary")
    # at the boundary, never before it; SWITCH_MARGIN_S for waking and publishing on a
    # loaded machine (the loop sleeps until the computed next change, not a polling tick)
    assert 0.0 <= late < SWITCH_MARGIN_S, late


def req(subject: str, action: str, payload: dict[str, Any]) -> CommandRequest:
    return CommandRequest("light", subject, action, payload, datetime.now(UTC))


async def test_command_validation(tmp_path: Path) -> None:
    clock = Clock(local(12))
    service, _, _ = make(tmp_path, clock, [circuit("main", board())])
    cmds = LightingCommands(service)
    await service.start()
    with pytest.raises(CommandError, match="unknown circuit 'nope'"):
        await cmds.override(req("nope", "override", {"state": "on", "until": "x"}))
    with pytest.raises(CommandError, match="already past"):
        await cmds.override(req("main", "override", {"state": "on",
                                                     "until": local(11).isoformat()}))
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="UTC offset"):
        await cmds.override(req("main", "override", {"state": "on",
                                                     "until": "2026-11-23T05:00:00"}))
    with pytest.raises(ValidationError):
        await cmds.override(req("main", "override", {"state": "maybe",
                                                     "until": local(13).isoformat()}))
    # (the router strips envelope fields such as "id" before a handler sees the request)
    ok = await cmds.override(req("main", "override", {"state": "on",
                                                      "until": local(13).isoformat()}))
    assert ok["reason"] == "override"
    cleared = await cmds.clear(req("main", "clear", {}))
    assert cleared["cleared"] is True and cleared["reason"] == "default"


async def test_pulse_switches_and_restores(tmp_path: Path) -> None:
    clock = Clock(local(12))
    service, published, relays = make(tmp_path, clock, [circuit("main", board())])
    cmds = LightingCommands(service)
    await service.start()
    await service.reconcile()
    reply = await cmds.pulse(req("main", "pulse", {"seconds": 0.1}))
    assert reply["pulsed"] == "on" and reply["state"] == "off"
    assert [c[1] for c in relays["main"].calls[-2:]] == [True, False]
    assert any(p["reason"] == "manual" and p["state"] == "on" for c, p in published)


def test_energy_splits_at_local_midnight() -> None:
    e = Energy()
    e.update(local(23), True, VN)
    e.update(local(1, day=DAY + timedelta(days=1)), True, VN)
    assert e.day == "2026-11-23" and e.on_s == pytest.approx(3600)
    assert e.yesterday_on_s == pytest.approx(3600)


def test_broken_driver_does_not_break_config() -> None:
    with pytest.raises(RelayError, match="running agent"):
        create_relay(LightingConfig.model_validate({"circuits": [
            {"id": "m", "relay": {"driver": "mqtt", "topic": "t"}}]}).circuits[0].relay)


async def test_store_save_runs_off_the_loop_and_keeps_the_latest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow fsync (an SD card) must not stall the event loop, and overlapping saves must
    leave the newest state on disk, not whichever thread finished last."""
    import edge_agent.state_file as state_file_mod  # the lighting store writes through it

    real_fsync = state_file_mod.os.fsync
    loop_thread = threading.get_ident()
    fsync_threads: list[int] = []

    def slow_fsync(fd: int) -> None:
        fsync_threads.append(threading.get_ident())
        threading.Event().wait(0.2)  # a slow SD card
        real_fsync(fd)

    monkeypatch.setattr(state_file_mod.os, "fsync", slow_fsync)
    store = LightingStore(tmp_path / "lighting.json")
    async with loop_ticks() as ticks:
        store.last_state["a"] = False
        first = asyncio.create_task(store.save())
        await asyncio.sleep(0)
        store.last_state["a"] = True
        await asyncio.gather(first, store.save())
    assert fsync_threads and loop_thread not in fsync_threads
    assert ticks.count > 0  # the loop ran while the fsyncs slept (it cannot if they block it)
    reloaded = LightingStore(tmp_path / "lighting.json")
    reloaded.load()
    assert reloaded.last_state == {"a": True}


@pytest.mark.parametrize("failure", ["relays", "register"])
async def test_component_failure_at_start_releases_the_relay_lock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    """A start that fails after the relay lock was taken (a driver bug building the relays,
    a clash registering commands) must not leak the lock: the supervisor's restart would
    then fail "held by another process" forever."""
    import edge_agent.lighting.component as component_mod
    from edge_agent.commands import CommandRouter
    from edge_agent.config.model import AgentConfig
    from edge_agent.runtime import AgentContext, RetainedState
    from tests.infra.agent_proc import base_config

    def boom(*_: Any, **__: Any) -> Any:
        raise ValueError(f"simulated bug in {failure}")

    if failure == "relays":
        monkeypatch.setattr(component_mod, "build_relays", boom)
    else:
        monkeypatch.setattr(LightingCommands, "register", boom)
    config = AgentConfig.model_validate(base_config(
        tmp_path, "mqtt://127.0.0.1:1", lighting={"circuits": [circuit("a", board())]}))

    async def no_reply(*_: Any) -> None:
        return None

    none = cast(Any, None)  # the run fails before it publishes or reports health
    ctx = AgentContext(config=config, config_path=None, bus=none,
                       commands=CommandRouter("base", no_reply), health=none, mqtt_port=none,
                       state=RetainedState(), data_dir=tmp_path, clock_synced=lambda: True,
                       status=lambda: {})
    with pytest.raises(ValueError, match="simulated bug"):
        await component_mod.LightingComponent(config).run(ctx)
    fd = component_mod.take_lock(tmp_path)
    assert fd is not None, "the relay lock leaked"
    component_mod.release_lock(fd)


def test_state_file_writes_at_once_never_break_the_file(tmp_path: Path) -> None:
    """Two writers at once (two commands in flight): every write completes and the file is
    always whole JSON from one of them (a shared temp name made one write fail and left
    broken files)."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    from edge_agent.state_file import write_json_atomic

    path = tmp_path / "cameras" / "gate-arming.json"
    with ThreadPoolExecutor(4) as pool:
        for i in range(100):
            jobs = [pool.submit(write_json_atomic, path, {"armed": bool(k), "n": i})
                    for k in range(2)]
            for job in jobs:
                job.result()  # raises if a write failed
            assert json.loads(path.read_text())["n"] == i
    assert sorted(p.name for p in path.parent.iterdir()) == ["gate-arming.json"]  # no temps
