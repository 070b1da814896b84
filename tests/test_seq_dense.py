"""``seq`` proves completeness: a persistent QoS 1 subscriber sees every number 1..last of
the gateway's durable stream, through broker kills, an agent ``kill -9`` while spooling,
reconnect attempts against a dead broker, and policy drops that ``outbox/dropped`` names.

The receiver's rule (docs/mqtt.md): a hole that no ``outbox/dropped`` explains is a loss.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import contract
from tests.infra.agent_proc import base_config, write_config
from tests.infra.broker import Broker
from tests.infra.burst_proc import BurstProcess
from tests.infra.mqtt_client import ControlRoom, Received

BASE = "commune/testsite/gw-test"


def _stream(messages: list[Received]) -> tuple[set[int], set[int], int]:
    """(seqs received, seqs named dropped, duplicates) of the durable stream."""
    seen: dict[str, int] = {}
    dropped: set[int] = set()
    duplicates = 0
    for m in messages:
        relative = m.topic.removeprefix(BASE + "/")
        if relative.startswith("burst/"):  # the test publisher's topics: envelope only
            body = contract.decode(m.payload)
            contract.Envelope.model_validate(body)
        else:
            parsed = contract.parse(relative, m.payload)  # every message follows the contract
            if parsed.spec.model is None or not parsed.spec.durable:
                assert "seq" not in parsed.body
                continue
            body = parsed.body
        if body["id"] in seen:
            duplicates += 1
            assert seen[body["id"]] == body["seq"], "a duplicate carries the same seq"
        seen[body["id"]] = body["seq"]
        if relative == "outbox/dropped":
            for r in body["ranges"]:
                dropped.update(range(r["first"], r["last"] + 1))
    seqs = set(seen.values())
    assert len(seqs) == len(seen), "two different messages with one seq"
    return seqs, dropped, duplicates


def _last_seq(pub: BurstProcess) -> int:
    pub.send("stats")
    return int(json.loads(pub.wait_line("STATS", 10).split(" ", 1)[1])["outbox"]["last_seq"])


def _wait_dense(room: ControlRoom, last: int, timeout: float) -> tuple[set[int], set[int]]:
    deadline = time.monotonic() + timeout
    while True:
        with room._cond:
            messages = list(room.messages)
        seqs, dropped, _ = _stream(messages)
        missing = set(range(1, last + 1)) - seqs - dropped
        if not missing:
            return seqs, dropped
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(missing)} seq never arrived, e.g. {sorted(missing)[:10]}"
                                 f" (of 1..{last})")
        time.sleep(0.2)


def _save_and_kill(broker: Broker, workdir: Path) -> None:
    """Save the broker's persistent sessions (SIGUSR1), then kill -9 it."""
    assert broker.proc is not None
    saved = workdir / "mosquitto.db"
    before = saved.stat().st_mtime_ns if saved.exists() else 0
    broker.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 15
    while (not saved.exists() or saved.stat().st_mtime_ns == before) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert saved.exists()
    broker.stop()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[Broker, ControlRoom]]:
    """A persistent broker and a persistent QoS 1 subscriber to the gateway's whole base."""
    broker = Broker(tmp_path / "mosquitto", persistence=True).start()
    room = ControlRoom(broker.port, f"{BASE}/#", client_id="seq-checker", clean=False)
    room.client.reconnect_delay_set(1, 2)
    yield broker, room
    room.close()
    broker.stop()


@pytest.mark.timeout(180)
def test_seq_dense_through_broker_kills_agent_kill9_and_dead_broker(
        tmp_path: Path, rig: tuple[Broker, ControlRoom]) -> None:
    broker, room = rig
    workdir = tmp_path / "mosquitto"
    config = write_config(tmp_path / "agent.yaml", base_config(tmp_path, broker.url))
    first = BurstProcess(config, tmp_path / "pub1.log", run="s1")
    second: BurstProcess | None = None
    try:
        first.send("burst 300 100")
        first.wait_line("BURST-DONE", 30)
        _wait_dense(room, _last_seq(first), 30)

        _save_and_kill(broker, workdir)  # broker kill 1
        first.send("burst 1500 300")  # spooled while the link retries a dead broker
        first.wait_line("BURST-DONE", 60)
        time.sleep(3.0)  # several reconnect attempts (0.2-1 s backoff) against nothing
        first.send("burst 500 100")
        first.wait_accepted(2000, 30)
        first.kill9()  # kill -9 while spooling: everything accepted is on disk

        second = BurstProcess(config, tmp_path / "pub2.log", run="s2")
        second.send("burst 300 100")
        second.wait_line("BURST-DONE", 30)
        broker.start()
        second.send("drain")
        second.wait_line("DRAINED", 60)
        _wait_dense(room, _last_seq(second), 60)

        _save_and_kill(broker, workdir)  # broker kill 2
        second.send("burst 400 100")
        second.wait_line("BURST-DONE", 30)
        broker.start()
        second.send("drain")
        second.wait_line("DRAINED", 60)
        last = _last_seq(second)
        seqs, dropped = _wait_dense(room, last, 60)
        assert not dropped, "nothing was dropped by policy: every number arrived"
        assert seqs == set(range(1, max(seqs) + 1))  # (health may have come after 'last')
        assert last >= 2700  # the accepted burst messages (2000 + 300 + 400) + health
        assert second.quit() == 0
    finally:
        first.quit()
        if second is not None:
            second.quit()


@pytest.mark.timeout(120)
def test_policy_drops_are_named_exactly_by_outbox_dropped(
        tmp_path: Path, rig: tuple[Broker, ControlRoom]) -> None:
    broker, room = rig
    workdir = tmp_path / "mosquitto"
    config = write_config(tmp_path / "agent.yaml", base_config(
        tmp_path, broker.url, storage={"outbox_max_mb": 0.1}))
    pub = BurstProcess(config, tmp_path / "pub.log", run="d1")
    try:
        pub.send("burst 20 20")
        pub.wait_line("BURST-DONE", 30)
        _wait_dense(room, _last_seq(pub), 30)
        _save_and_kill(broker, workdir)
        pub.send("burst 3000 200 telemetry")  # ~300 KB into a 100 KB outbox: drops
        pub.wait_line("BURST-DONE", 60)
        pub.send("burst 50 50 event")  # events are dropped last: all kept
        pub.wait_line("BURST-DONE", 30)
        broker.start()
        pub.send("drain")
        pub.wait_line("DRAINED", 60)
        last = _last_seq(pub)
        seqs, dropped = _wait_dense(room, last, 60)
        assert dropped, "the bounded outbox dropped telemetry and said so"
        assert not seqs & dropped, "a seq named dropped never arrives too"
        assert seqs | dropped == set(range(1, max(seqs) + 1))
        assert max(seqs) >= last
        events = [m.json()["k"] for m in room.messages
                  if m.topic.startswith(f"{BASE}/burst/") and m.json().get("k", 0) >= 3020]
        assert set(events) == set(range(3020, 3070)), "no event was dropped"
        assert pub.quit() == 0
    finally:
        pub.quit()
