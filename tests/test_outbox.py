"""The durable outbox: bound and drop policy, seq across restarts, broker outage, kill -9.

The outage and kill -9 tests run ``tests/infra/burst.py``: a process built from the agent's own
Agent/Bus/Outbox/MqttLink, publishing to a real mosquitto, watched by a real subscriber.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from edge_agent.bus import Bus
from edge_agent.health import HealthReporter
from edge_agent.outbox import Outbox
from edge_agent.outbox_messages import OutgoingMessage
from edge_agent.runtime import MessageClass, RetainedState
from tests.infra.agent_proc import base_config, write_config
from tests.infra.broker import Broker
from tests.infra.burst_proc import BurstProcess
from tests.infra.mqtt_client import ControlRoom, Received

BASE = "commune/testsite/gw-test"
DROPPED = f"{BASE}/outbox/dropped"


# -- bound and drop policy (no broker: the outbox alone) -----------------------------------
async def _fill(bus: Bus, topic: str, count: int, cls: MessageClass, start: int = 0) -> None:
    await asyncio.gather(*(bus.publish(topic, {"i": start + i, "pad": "x" * 100},
                                       message_class=cls) for i in range(count)))


def _rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    with sqlite3.connect(path) as conn:
        return [(t, json.loads(p)) for t, p in
                conn.execute("SELECT topic, payload FROM messages ORDER BY id")]


async def test_overfill_drops_health_first_keeps_events_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, max_bytes=60_000, commit_window_s=0.005, dropped_topic=DROPPED)
    await outbox.open()
    bus = Bus(BASE, outbox, RetainedState())
    await _fill(bus, "health", 150, MessageClass.TELEMETRY)  # ~33 KB, oldest
    await _fill(bus, "camera/c1/motion", 100, MessageClass.EVENT)  # ~23 KB
    await _fill(bus, "health", 100, MessageClass.TELEMETRY, start=150)  # overfills
    stats = outbox.stats()
    assert stats.bytes <= 60_000
    assert stats.dropped["event"] == 0 and stats.dropped["state"] == 0
    await outbox.close()

    rows = _rows(path)
    events = [b["i"] for t, b in rows if t.endswith("/camera/c1/motion")]
    health = [b["i"] for t, b in rows if t.endswith("/health")]
    assert events == list(range(100)), "every event is kept, in order"
    assert stats.dropped["telemetry"] == 250 - len(health) > 0
    assert health == list(range(250 - len(health), 250)), "the oldest health went first"
    assert stats.depth == len(rows)

    # seq is dense: what is stored plus what the drop notices name is 1..last, no gap
    assert_dense(rows, stats.last_seq)
    notices = [b for t, b in rows if t == f"{BASE}/outbox/dropped"]
    assert notices and sum(n["count"] for n in notices) == stats.dropped["telemetry"]
    assert all(set(n["classes"]) == {"telemetry"} for n in notices)

    # counters and seq survive a restart; the health message reports the counters
    reopened = Outbox(path, max_bytes=60_000, commit_window_s=0.005, dropped_topic=DROPPED)
    await reopened.open()
    assert reopened.stats().dropped == stats.dropped
    assert reopened.stats().depth == len(rows)
    assert reopened.last_seq == stats.last_seq and reopened.boot == 2
    sample = HealthReporter(reopened, tmp_path, time.time()).sample()
    assert sample["outbox"]["dropped"]["telemetry"] == stats.dropped["telemetry"]
    assert sample["outbox"]["depth"] == len(rows)

    # only events left to drop: the oldest events go, counted
    bus = Bus(BASE, reopened, RetainedState())
    await _fill(bus, "camera/c1/motion", 200, MessageClass.EVENT, start=100)
    after = reopened.stats()
    assert after.bytes <= 60_000
    assert after.dropped["telemetry"] == 250, "every health message went before any event"
    assert after.dropped["event"] > 0
    await reopened.close()
    events = [b["i"] for t, b in _rows(path) if t.endswith("/motion")]
    assert events == list(range(300 - len(events), 300))
    assert after.dropped["event"] == 300 - len(events)
    assert_dense(_rows(path), after.last_seq)


def assert_dense(rows: list[tuple[str, dict[str, Any]]], last_seq: int) -> None:
    """Every seq 1..last_seq is either stored or named by exactly one outbox/dropped."""
    stored = [b["seq"] for _, b in rows]
    dropped = [seq for t, b in rows if t == DROPPED for r in b["ranges"]
               for seq in range(r["first"], r["last"] + 1)]
    assert sorted(stored + dropped) == list(range(1, last_seq + 1))


async def test_overfill_without_telemetry_drops_superseded_state_before_events(
        tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, max_bytes=30_000, commit_window_s=0.005)
    await outbox.open()
    bus = Bus(BASE, outbox, RetainedState())
    for version in range(60):  # one retained topic, 60 versions: only the newest matters
        await bus.publish("light/main-road/state", {"i": version, "pad": "x" * 100},
                          retain=True)
    await _fill(bus, "camera/c1/motion", 100, MessageClass.EVENT)
    stats = outbox.stats()
    await outbox.close()
    rows = _rows(path)
    states = [b["i"] for t, b in rows if t.endswith("/light/main-road/state")]
    events = [b["i"] for t, b in rows if t.endswith("/motion")]
    assert events == list(range(100)) and stats.dropped["event"] == 0
    assert states[-1] == 59, "the newest retained state is never the one dropped"
    assert stats.dropped["state"] == 60 - len(states) > 0


async def test_seq_is_dense_across_restarts_and_boot_counts(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    for boot in range(1, 4):
        outbox = Outbox(path, max_bytes=10_000_000, commit_window_s=0.005)
        await outbox.open()
        assert outbox.boot == boot
        bus = Bus(BASE, outbox, RetainedState())
        await asyncio.gather(*(bus.publish("x", {"a": i}) for i in range(5)))
        # a reply to a response topic outside the base is not in the gateway's stream
        await bus.publish_reply("control-room/replies/1", {"ok": True}, b"\x01")
        await outbox.close()
    rows = _rows(path)
    assert [b["seq"] for t, b in rows if t.startswith(BASE)] == list(range(1, 16))
    assert all("seq" not in b for t, b in rows if not t.startswith(BASE))


# -- real broker, real publisher process ---------------------------------------------------
def _subscriber(port: int, client_id: str, clean: bool) -> ControlRoom:
    room = ControlRoom(port, f"{BASE}/burst/#", client_id=client_id, clean=clean)
    room.client.reconnect_delay_set(1, 2)
    return room


def _first_receipts(messages: list[Received], run: str) -> tuple[dict[int, int], int]:
    """k → index of its first receipt, and the number of duplicates."""
    first: dict[int, int] = {}
    duplicates = 0
    for index, m in enumerate(messages):
        body = m.json()
        if body.get("run") != run:
            continue
        if body["k"] in first:
            duplicates += 1
        else:
            first[body["k"]] = index
    return first, duplicates


def _wait_all(room: ControlRoom, run_ids: dict[str, set[int]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with room._cond:  # a consistent snapshot
            seen: dict[str, set[int]] = defaultdict(set)
            for m in room.messages:
                body = m.json()
                seen[body["run"]].add(body["k"])
        missing = {run: len(ids - seen[run]) for run, ids in run_ids.items()}
        if not any(missing.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"messages accepted but never delivered: {missing}")
        time.sleep(0.2)


def _wait_quiet(room: ControlRoom, quiet_s: float, timeout: float) -> int:
    """Wait until ``room`` received nothing for ``quiet_s``; returns its message count."""
    deadline = time.monotonic() + timeout
    count, since = len(room.messages), time.monotonic()
    while time.monotonic() - since < quiet_s:
        if time.monotonic() > deadline:
            raise AssertionError(f"the subscriber never went quiet ({count} messages)")
        time.sleep(0.1)
        if len(room.messages) != count:
            count, since = len(room.messages), time.monotonic()
    return count


def _check_order(messages: list[Received], run: str) -> list[int]:
    """Per topic, first receipts come in publish order (n and seq increasing); returns seqs."""
    seen: set[int] = set()
    last_n: dict[str, int] = {}
    last_seq: dict[str, int] = {}
    seqs = []
    for m in messages:
        body = m.json()
        if body.get("run") != run or body["k"] in seen:
            continue
        seen.add(body["k"])
        assert body["n"] > last_n.get(m.topic, -1), f"order broken on {m.topic} at {body}"
        assert body["seq"] > last_seq.get(m.topic, 0), f"seq went back on {m.topic}: {body}"
        last_n[m.topic], last_seq[m.topic] = body["n"], body["seq"]
        seqs.append(body["seq"])
    return seqs


@pytest.mark.timeout(120)
def test_outage_5000_messages_all_delivered(tmp_path: Path) -> None:
    # persistence on, saved (SIGUSR1) once the subscriber's session exists, so the session
    # survives the kill -9 and queues what the agent replays before the subscriber is back
    broker = Broker(tmp_path / "mosquitto", persistence=True).start()
    room = _subscriber(broker.port, "control-room-outage", clean=False)
    config = write_config(tmp_path / "agent.yaml", base_config(tmp_path, broker.url))
    pub = BurstProcess(config, tmp_path / "publisher.log", run="o1")
    try:
        pub.send("burst 200")
        pub.wait_line("BURST-DONE", 30)
        _wait_all(room, {"o1": set(range(200))}, 20)
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGUSR1)
        saved = tmp_path / "mosquitto" / "mosquitto.db"
        deadline = time.monotonic() + 15  # the save is asynchronous to the signal: poll
        while not saved.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert saved.exists()

        killed_at = time.monotonic()
        broker.stop()  # kill -9
        pub.send("burst 5000")
        pub.wait_line("BURST-DONE", 60)
        assert len(pub.accepted) == 5200
        time.sleep(max(0.0, 10.0 - (time.monotonic() - killed_at)))
        broker.start()
        pub.send("burst 200")
        pub.wait_line("BURST-DONE", 30)
        _wait_all(room, {"o1": set(pub.accepted)}, 90)
        pub.send("drain")
        pub.wait_line("DRAINED", 30)

        first, duplicates = _first_receipts(room.messages, "o1")
        assert set(first) == set(range(5400))
        _check_order(room.messages, "o1")
        replayed = [room.messages[first[k]].json().get("replayed") for k in range(200, 5200)]
        assert all(replayed), "messages accepted during the outage are flagged replayed"
        print(f"outage: 5400 accepted, 5400 delivered, {duplicates} duplicates")
        assert pub.quit() == 0
    finally:
        pub.quit()
        room.close()
        broker.stop()


@pytest.mark.timeout(120)
def test_kill9_mid_burst_then_restart_delivers_every_accepted(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "mosquitto").start()
    room = _subscriber(broker.port, "control-room-k9", clean=True)
    config = write_config(tmp_path / "agent.yaml", base_config(tmp_path, broker.url))
    status = ControlRoom(broker.port, f"{BASE}/status")
    first_pub = BurstProcess(config, tmp_path / "publisher1.log", run="k1")
    second_pub: BurstProcess | None = None
    try:
        first_pub.send("burst 30000 2000")
        first_pub.wait_accepted(8000, 60)
        first_pub.kill9()
        accepted1 = set(first_pub.accepted)
        # Whatever the dead process had on the wire must be counted as "before the restart".
        # The broker publishes its Last Will only once it has read the closed socket to the
        # end, i.e. after every publish the dead process sent; then wait for the subscriber
        # to stop receiving (a fixed 1 s was not enough on a loaded machine).
        status.wait_for(lambda m: m.json().get("state") == "offline", 30)
        before_restart = _wait_quiet(room, quiet_s=2.0, timeout=60)

        second_pub = BurstProcess(config, tmp_path / "publisher2.log", run="k2")
        second_pub.send("burst 100")
        second_pub.wait_line("BURST-DONE", 30)
        second_pub.send("drain")
        second_pub.wait_line("DRAINED", 60)
        _wait_all(room, {"k1": accepted1, "k2": set(range(100))}, 60)

        messages = list(room.messages)
        first, duplicates = _first_receipts(messages, "k1")
        assert accepted1 <= set(first)
        assert all(getattr(m.properties, "ContentType", None) == "application/json"
                   for m in messages[:50]), "MQTT 5 content type on every outbox message"
        late = [k for k, index in first.items() if index >= before_restart]
        assert late, "the kill left messages in the outbox for the restart to replay"
        assert all(messages[first[k]].json().get("replayed") is True for k in late)
        seqs1 = _check_order(messages, "k1")
        seqs2 = _check_order(messages, "k2")
        assert min(seqs2) > max(seqs1), "seq never goes back after a crash"
        print(f"kill -9: {len(accepted1)} accepted before the kill, {len(late)} replayed "
              f"after restart, {duplicates} duplicates")
        assert second_pub.quit() == 0
    finally:
        first_pub.quit()
        if second_pub is not None:
            second_pub.quit()
        status.close()
        room.close()
        broker.stop()


class _LiveRecorder:
    """Stands in for the link's QoS 0 path: records what the bus sent live."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.props: list[Any] = []

    def send_nowait(self, topic: str, payload: bytes, *, retain: bool,
                    props: Any = None) -> bool:
        self.sent.append(topic)
        self.props.append(props)
        return True


async def test_full_database_refuses_cleanly_counters_stay_right_and_bus_goes_live(
        tmp_path: Path) -> None:
    """A full disk (SQLite's SQLITE_FULL, made with max_page_count): the failed batch is
    refused to its producers, the counters are not corrupted by the rolled-back batch, the
    bus still sends live, and storing works again once there is room."""
    outbox = Outbox(tmp_path / "o.sqlite3", max_bytes=50_000_000, commit_window_s=0.01)
    await outbox.open()
    try:
        for i in range(5):
            await outbox.put(OutgoingMessage(f"t/{i}", b'{"a":1}'))
        before = outbox.stats()
        conn = outbox._require_conn()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(sqlite3.OperationalError, match="full"):
            await outbox.put(OutgoingMessage("t/big", b"x" * 200_000))
        after = outbox.stats()
        assert (after.depth, after.bytes) == (before.depth, before.bytes)
        assert after.write_failures == 1

        live = _LiveRecorder()
        bus = Bus("base", outbox, RetainedState())
        bus.direct = live
        await bus.publish("big", {"blob": "y" * 200_000})  # must not raise
        assert live.sent == ["base/big"]
        assert outbox.stats().write_failures == 2
        assert "disk is full" in (outbox.stats().storage_error or "")
        # a command reply sent live keeps its MQTT 5 correlation data
        await bus.publish_reply("room/replies", {"ok": True, "pad": "z" * 200_000}, b"\x07")
        assert live.sent[-1] == "room/replies"
        assert live.props[-1] == {"correlation_data": "07"}

        conn.execute("PRAGMA max_page_count = 1073741823")
        await outbox.put(OutgoingMessage("t/after", b'{"b":2}'))
        assert outbox.stats().depth == before.depth + 1
        assert outbox.stats().storage_error is None, "a good commit clears the error"
    finally:
        await outbox.close()
    reopened = Outbox(tmp_path / "o.sqlite3", max_bytes=50_000_000)
    await reopened.open()
    try:
        assert reopened.stats().depth == 6  # nothing accepted was lost, nothing refused kept
    finally:
        await reopened.close()


async def test_close_during_the_commit_window_returns_and_keeps_everything(
        tmp_path: Path) -> None:
    """close() while the writer waits out its group-commit window must not hang (it did:
    the writer cleared close()'s wake-up) and must store what was accepted."""
    outbox = Outbox(tmp_path / "o.sqlite3", max_bytes=1_000_000, commit_window_s=0.5)
    await outbox.open()
    await outbox.put(OutgoingMessage("t/1", b'{"a":1}'))  # commits at once; window starts
    pending = asyncio.ensure_future(outbox.put(OutgoingMessage("t/2", b'{"a":2}')))
    await asyncio.sleep(0.05)  # the writer now sleeps in its window
    await asyncio.wait_for(outbox.close(), 5)
    assert await pending > 0
    reopened = Outbox(tmp_path / "o.sqlite3", max_bytes=1_000_000)
    await reopened.open()
    try:
        assert reopened.stats().depth == 2
    finally:
        await reopened.close()


# -- storage settings: the basis of the power-cut promise ----------------------------------
async def test_outbox_opens_with_wal_and_synchronous_full(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """WAL + synchronous=FULL: a commit is fsynced before put() returns, so a power cut
    loses nothing accepted. NORMAL would be faster and lose the last commits at a power cut.
    synchronous is a setting of the connection, so it is read on the outbox's own one
    (whichever sqlite3.connect made it); the journal mode is stored in the file."""
    made: list[sqlite3.Connection] = []
    real_connect = sqlite3.connect

    def recording_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)
        made.append(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", recording_connect)
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, max_bytes=1_000_000)
    await outbox.open()
    try:
        monkeypatch.setattr(sqlite3, "connect", real_connect)
        await outbox.put(OutgoingMessage(f"{BASE}/x", b"{}"))
        assert made, "the outbox did not open its database with sqlite3.connect"
        modes = {conn.execute("PRAGMA synchronous").fetchone()[0] for conn in made}
        assert modes == {2}, f"synchronous must be FULL (2) on every connection: {modes}"
    finally:
        await outbox.close()
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
