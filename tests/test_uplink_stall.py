"""A silent uplink stall: the village link stops carrying packets, with no RST and no FIN.

The publisher (tests/infra/burst.py: the agent's own Agent/Bus/Outbox/MqttLink) runs in its
own network namespace and reaches mosquitto over a veth pair; the control room listens on
127.0.0.1, a second listener of the same broker. Mid-burst, iptables inside the namespace
DROPs the broker's packets to the agent, and once 20 more messages reached the broker (their
PUBACKs lost) and the flow has stopped by itself, the agent's packets too. Then:

- the broker publishes the Last Will within 2.5 x keepalive (mosquitto: 1.5 x);
- the agent notices by itself (unanswered keepalive ping or PUBACKs); the link is kept down
  until the reconnect backoff has grown to reconnect_max_s, and once it is back the agent is
  online again within reconnect_max_s plus a margin;
- every accepted message is delivered, in per-topic order; duplicates (sent before the
  stall, PUBACK lost in it) carry the same envelope ``id``.

Once with fast settings, once with the defaults (keepalive 30 s, reconnect up to 60 s; about
three minutes, marked slow).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.infra.agent_proc import base_config, write_config
from tests.infra.broker import Broker, free_port
from tests.infra.burst_proc import BurstProcess
from tests.infra.mqtt_client import ControlRoom, Received
from tests.infra.netns import Netns, netns_unavailable_reason

REASON = netns_unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

GW = "gw-stall"
BASE = f"commune/testsite/{GW}"
# after the link is back, an attempt already under way may still wait for its SYN (paho's
# connect timeout is 5 s) before the backoff delay runs; then CONNECT, CONNACK, birth
RECONNECT_MARGIN_S = 8.0


@dataclass(frozen=True)
class Settings:
    keepalive_s: int
    reconnect_min_s: float
    reconnect_max_s: float

    @property
    def failures_to_cap(self) -> int:
        """Failed attempts after which the next delay is drawn below reconnect_max_s itself
        (full jitter's ceiling doubles from reconnect_min_s per attempt)."""
        attempt = 0
        while self.reconnect_min_s * 2 ** attempt < self.reconnect_max_s:
            attempt += 1
        return attempt + 1

    def mqtt(self) -> dict[str, Any]:
        return {"keepalive_s": self.keepalive_s, "reconnect_min_s": self.reconnect_min_s,
                "reconnect_max_s": self.reconnect_max_s}


# keepalive 10 s, not less: at 5 s the 2.5x bound left a loaded machine ~5 s of slack
FAST = Settings(keepalive_s=10, reconnect_min_s=0.2, reconnect_max_s=2.0)
DEFAULT = Settings(keepalive_s=30, reconnect_min_s=1.0, reconnect_max_s=60.0)  # the config's


def test_default_settings_are_the_configs() -> None:
    from edge_agent.config.model import MqttConfig

    fields = MqttConfig.model_fields
    assert (fields["keepalive_s"].default, fields["reconnect_min_s"].default,
            fields["reconnect_max_s"].default) == (DEFAULT.keepalive_s,
                                                   DEFAULT.reconnect_min_s,
                                                   DEFAULT.reconnect_max_s)


class Stall:
    """DROP (no RST, no FIN) everything between the namespace and the agent's listener."""

    def __init__(self, ns: Netns, port: int) -> None:
        self.rules = [
            ["OUTPUT", "-p", "tcp", "-d", ns.host_ip, "--dport", str(port), "-j", "DROP"],
            ["INPUT", "-p", "tcp", "-s", ns.host_ip, "--sport", str(port), "-j", "DROP"]]
        self.ns = ns

    def begin_inbound(self) -> None:
        """The broker's packets (PUBACKs) stop arriving; the agent's still get through."""
        self.ns.exec("iptables", "-I", *self.rules[1])

    def begin_outbound(self) -> None:
        self.ns.exec("iptables", "-I", *self.rules[0])

    def end(self) -> None:
        for rule in self.rules:
            self.ns.exec("iptables", "-D", *rule, check=False)


@pytest.fixture
def netns() -> Iterator[Netns]:
    with Netns() as ns:
        yield ns


def _status(state: str, after: int, room: ControlRoom) -> Any:
    def match(m: Received) -> bool:
        return any(m is x for x in room.messages[after:]) and m.topic == f"{BASE}/status" \
            and m.json().get("state") == state
    return match


def _logged_times(pub: BurstProcess, text: str, after: float) -> list[float]:
    """When the publisher logged ``text`` since ``after`` (its log's own timestamps)."""
    return [t for t in (datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                        for line in pub.log().splitlines() if text in line) if t >= after]


def _wait_logged(pub: BurstProcess, text: str, after: float, count: int,
                 timeout: float) -> list[float]:
    deadline = time.monotonic() + timeout
    while len(times := _logged_times(pub, text, after)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} logged {len(times)}/{count} times in {timeout} s:"
                                 f"\n{pub.log()[-3000:]}")
        time.sleep(0.1)
    return times


def _burst_count(room: ControlRoom) -> int:
    with room._cond:
        return sum("/burst/" in m.topic for m in room.messages)


def _wait_until_burst_stops(room: ControlRoom, quiet_s: float, timeout: float) -> None:
    """Return once no burst message arrived for ``quiet_s`` (or after ``timeout``)."""
    deadline = time.monotonic() + timeout
    last, since = _burst_count(room), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        time.sleep(0.1)
        now = _burst_count(room)
        if now != last:
            last, since = now, time.monotonic()


def _delivered(room: ControlRoom, accepted: set[int]) -> dict[int, list[dict[str, Any]]]:
    """k -> every receipt of message k (waits until each accepted k arrived once)."""
    deadline = time.monotonic() + 120
    while True:
        with room._cond:
            bodies = [m.json() for m in room.messages if "/burst/" in m.topic]
        receipts: dict[int, list[dict[str, Any]]] = {}
        for body in bodies:
            receipts.setdefault(body["k"], []).append(body)
        missing = accepted - set(receipts)
        if not missing:
            return receipts
        assert time.monotonic() < deadline, f"{len(missing)} accepted messages never arrived"
        time.sleep(0.2)


def run_stall(tmp_path: Path, ns: Netns, settings: Settings) -> None:
    agent_port = free_port()
    broker = Broker(tmp_path / "mosquitto",
                    extra_conf=f"listener {agent_port} {ns.host_ip}").start()
    room = ControlRoom(broker.port, f"{BASE}/#")
    config = write_config(tmp_path / "agent.yaml", base_config(
        tmp_path, f"mqtt://{ns.host_ip}:{agent_port}", gateway=GW, mqtt=settings.mqtt()))
    pub = BurstProcess(config, tmp_path / "publisher.log", run="stall",
                       prefix=ns.exec_cmd())
    stall = Stall(ns, agent_port)
    try:
        room.wait_for(_status("online", 0, room), 30)
        pub.send("burst 4000 10")  # ~10 per group commit: still going when the link stalls
        pub.wait_accepted(600, 60)
        # the inbound half first: messages that still reach the broker lose their PUBACK,
        # so the agent must send them again (duplicates, which must keep their id); then
        # the outbound half: the broker hears nothing more
        stalled_at = time.time()
        stall.begin_inbound()
        burst_seen = _burst_count(room)
        room.wait_for(lambda m: "/burst/" in m.topic, 15, count=burst_seen + 20)
        # and then all the agent's TCP window lets through (its ACKs are dropped too, so the
        # flow stops by itself after a few dozen): some of the 20 counted above were already
        # on their way to the room, their PUBACKs to the agent, when the DROP began, which
        # once left 19 duplicates for the >= 20 asserted below
        _wait_until_burst_stops(room, quiet_s=1.5, timeout=20)
        silent_at = time.time()
        seen = len(room.messages)
        stall.begin_outbound()
        room.wait_for(_status("offline", seen, room), 2.5 * settings.keepalive_s + 10)
        will_after = time.time() - silent_at
        noticed_after = _wait_logged(pub, "unavailable", stalled_at, 1,
                                     2.5 * settings.keepalive_s + 10)[0] - stalled_at
        pub.wait_line("BURST-DONE", 120)  # accepted on disk all through the stall
        pub.send("burst 300 10")
        pub.wait_line("BURST-DONE", 60)
        print(f"\nLast Will {will_after:.1f} s after the broker last heard the agent, the "
              f"agent noticed "
              f"{noticed_after:.1f} s after it last heard the broker (keepalive "
              f"{settings.keepalive_s} s)")
        assert will_after <= 2.5 * settings.keepalive_s
        assert noticed_after <= 2.5 * settings.keepalive_s, pub.log()[-2000:]
        # keep the link down until the backoff has grown to reconnect_max_s: the bound
        # below is then the one that matters (each attempt also waits paho's 5 s for a SYN)
        _wait_logged(pub, "unavailable", stalled_at, settings.failures_to_cap,
                     2 * settings.reconnect_max_s + 6 * settings.failures_to_cap + 60)
        seen = len(room.messages)
        stall.end()
        back_at = time.time()
        room.wait_for(_status("online", seen, room),
                      settings.reconnect_max_s + RECONNECT_MARGIN_S + 10)
        online_after = time.time() - back_at
        print(f"online again {online_after:.1f} s after the link came back "
              f"(reconnect_max_s {settings.reconnect_max_s})")
        assert online_after <= settings.reconnect_max_s + RECONNECT_MARGIN_S
        pub.send("drain")
        pub.wait_line("DRAINED", 120)
        receipts = _delivered(room, set(pub.accepted))
    finally:
        stall.end()
        pub.quit()
        room.close()
        broker.stop()
    assert len(pub.accepted) == 4300
    duplicates = sum(len(r) - 1 for r in receipts.values())
    assert duplicates >= 20, "messages whose PUBACK was lost were not sent again"
    for k, copies in receipts.items():
        assert len({c["id"] for c in copies}) == 1, f"copies of message {k} differ: {copies}"
    last_n: dict[int, int] = {}
    for k in sorted(receipts, key=lambda k: receipts[k][0]["seq"]):
        first = receipts[k][0]
        assert first["n"] > last_n.get(k % 4, -1), f"per-topic order broken at {first}"
        last_n[k % 4] = first["n"]
    print(f"{len(receipts)} delivered, {duplicates} duplicates (same id)")


def test_silent_stall_with_fast_settings(tmp_path: Path, netns: Netns) -> None:
    run_stall(tmp_path, netns, FAST)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_silent_stall_with_default_settings(tmp_path: Path, netns: Netns) -> None:
    run_stall(tmp_path, netns, DEFAULT)
