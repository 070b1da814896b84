"""A full disk with the link up, end to end: a real tmpfs this test mounts (and unmounts)
holds the agent's data dir, a real mosquitto, a real subscriber counting deliveries, the
agent's real /healthz.

Rows the broker acknowledged while the disk is full cannot be deleted; they must not be sent
again (not even after a reconnect), /healthz must say degraded with the reason, and the
outbox must empty once there is room again.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge_agent.agent import Agent
from edge_agent.config import load_config
from edge_agent.runtime import MessageClass
from tests.infra.agent_proc import base_config, write_config
from tests.infra.broker import Broker
from tests.infra.mqtt_client import ControlRoom, Received
from tests.infra.web import free_port, get

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")

ROWS = 100


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs of our own; only this mount is unmounted afterwards."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "edge-test-full",
                    str(mount_point)], check=True, timeout=30)
    try:
        yield mount_point
    finally:
        done = subprocess.run(["umount", str(mount_point)], timeout=30)
        if done.returncode != 0:  # still busy (a failed test left a file open): detach it
            subprocess.run(["umount", "-l", str(mount_point)], check=True, timeout=30)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


async def _until(predicate: object, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


def _save_and_stop(broker: Broker) -> None:
    """Save mosquitto's sessions (SIGUSR1) and kill it: the subscriber's persistent session
    survives and queues what the agent sends before the subscriber is back."""
    saved = broker.workdir / "mosquitto.db"
    before = saved.stat().st_mtime_ns if saved.exists() else 0
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 15  # the save is asynchronous to the signal: poll
    while (not saved.exists() or saved.stat().st_mtime_ns == before) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert saved.exists() and saved.stat().st_mtime_ns != before
    broker.stop()


async def _clean_up(filler: Path | None, agent: Agent, runner: asyncio.Task[None],
                    room: ControlRoom, broker: Broker) -> None:
    if filler is not None:
        await asyncio.to_thread(filler.unlink)
    agent.request_stop()
    await asyncio.wait_for(runner, 30)
    room.close()
    broker.stop()


def _deliveries(room: ControlRoom, topic: str) -> Counter[int]:
    with room._cond:
        return Counter(json.loads(m.payload)["i"] for m in room.messages if m.topic == topic)


async def test_acknowledged_rows_are_not_resent_on_a_full_disk_and_leave_once_deletable(
        tmp_path: Path, small_disk: Path) -> None:
    broker = Broker(tmp_path / "mosquitto", persistence=True).start()
    base = "commune/testsite/gw-full"
    topic = f"{base}/test/event"
    # a persistent session: the subscriber misses nothing across the broker restarts
    room = ControlRoom(broker.port, topic, client_id="full-disk-subscriber", clean=False)
    port = free_port()
    config = base_config(small_disk, broker.url, gateway="gw-full",
                         health={"interval_s": 1}, http={"enabled": True, "port": port})
    agent = Agent(load_config(write_config(tmp_path / "a.yaml", config)))
    runner = asyncio.create_task(agent.run())
    filler: Path | None = None
    try:
        await asyncio.wait_for(agent.link.connected.wait(), 30)
        await asyncio.to_thread(_save_and_stop, broker)
        await _until(lambda: not agent.link.connected.is_set(), 30, "link down")
        for i in range(ROWS):  # stored while the link is down
            await agent.bus.publish("test/event", {"i": i, "pad": "x" * 2000},
                                    message_class=MessageClass.EVENT)
        assert agent.outbox.stats().depth >= ROWS
        filler = await asyncio.to_thread(_fill, small_disk)

        await asyncio.to_thread(broker.start)  # link up, disk full
        await _until(lambda: len(_deliveries(room, topic)) == ROWS, 60, "all rows delivered")
        await _until(lambda: agent.outbox.storage_error is not None, 30,
                     "the deletes of acknowledged rows failed")
        assert agent.outbox.stats().depth == 0, "acknowledged rows are not waiting to be sent"
        status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/healthz")
        verdict = json.loads(body)
        assert status == 503 and verdict["status"] == "degraded", verdict
        assert any("cannot be stored" in r and "full" in r for r in verdict["reasons"]), verdict

        connects, sent = agent.link.connects, agent.link.sent
        await asyncio.sleep(1.0)  # the subscriber's PUBACKs reach the broker before the save
        await asyncio.to_thread(_save_and_stop, broker)  # a reconnect: the sender starts over
        await asyncio.to_thread(broker.start)
        await _until(lambda: agent.link.connects > connects and
                     agent.link.connected.is_set(), 30, "reconnected")
        await asyncio.sleep(3.0)  # re-sent rows would have arrived by now
        counts = _deliveries(room, topic)
        assert sorted(counts) == list(range(ROWS))
        assert set(counts.values()) == {1}, f"re-sent: {[i for i, n in counts.items() if n > 1]}" \
            f" (agent acks {sent} -> {agent.link.sent})"
        assert agent.link.sent == sent, "no stored row was sent (and acknowledged) again"
        assert agent.outbox.storage_error is not None, "the disk was still full all along"

        filler.unlink()  # room again: the pending deletes go through
        filler = None
        await _until(lambda: agent.outbox.storage_error is None and
                     agent.outbox.stats().bytes == 0, 30, "outbox emptied")
        assert agent.outbox.stats().depth == 0
        status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["status"] == "healthy", body
        assert set(_deliveries(room, topic).values()) == {1}
    finally:
        await _clean_up(filler, agent, runner, room, broker)


async def test_an_agent_starting_on_a_full_disk_runs_live_and_stores_again_once_there_is_room(
        tmp_path: Path, small_disk: Path) -> None:
    """The data dir's disk filled up while the agent was stopped: it must still start, say
    why in /healthz, publish live (birth with the next boot number included), and open its
    outbox as soon as there is room again (before: the start failed on 'disk I/O error')."""
    broker = Broker(tmp_path / "mosquitto").start()
    base = "commune/testsite/gw-full"
    room = ControlRoom(broker.port, f"{base}/#")
    port = free_port()
    config = base_config(small_disk, broker.url, gateway="gw-full",
                         health={"interval_s": 1}, http={"enabled": True, "port": port})
    path = write_config(tmp_path / "a.yaml", config)
    first = Agent(load_config(path))  # one earlier life: the outbox file exists, boot 1
    runner = asyncio.create_task(first.run())
    await asyncio.wait_for(first.link.connected.wait(), 30)
    first.request_stop()
    await asyncio.wait_for(runner, 30)
    filler: Path | None = await asyncio.to_thread(_fill, small_disk)

    agent = Agent(load_config(path))
    runner = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.link.connected.wait(), 30)
        assert agent.outbox.storage_error and "cannot open" in agent.outbox.storage_error
        def birth(m: Received) -> bool:
            if m.topic != f"{base}/status":
                return False
            body = json.loads(m.payload)
            return bool(body["state"] == "online" and body["boot"] == 2)

        def event(i: int) -> Callable[[Received], bool]:
            return lambda m: m.topic == f"{base}/test/event" and json.loads(m.payload)["i"] == i

        await asyncio.to_thread(room.wait_for, birth, 15)  # the next life's number, unsaved
        await agent.bus.publish("test/event", {"i": 1}, message_class=MessageClass.EVENT)
        await asyncio.to_thread(room.wait_for, event(1), 15)  # sent live
        status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/healthz")
        verdict = json.loads(body)
        assert status == 503 and any("cannot open" in r for r in verdict["reasons"]), verdict

        assert filler is not None
        await asyncio.to_thread(filler.unlink)  # room again: the next message is stored
        filler = None
        await asyncio.sleep(5.5)  # the reopen interval
        await agent.bus.publish("test/event", {"i": 2}, message_class=MessageClass.EVENT)
        await _until(lambda: agent.outbox.storage_error is None, 30, "outbox open again")
        stored = json.loads((await asyncio.to_thread(room.wait_for, event(2), 15))[0].payload)
        assert stored.get("seq") == agent.outbox.last_seq > 0, stored  # stored, numbered
    finally:
        await _clean_up(filler, agent, runner, room, broker)
