"""Hotspot monitoring over a real network: a namespace behind a veth pair, loss made with
iptables' statistic match, outages made by taking the link down. No mocked sockets."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.hotspots.config import HotspotConfig
from edge_agent.hotspots.service import HotspotMonitor
from edge_agent.hotspots.state import State
from edge_agent.hotspots.uptime import UptimeLedger
from tests.infra.netns import Netns, PingGroupRange, netns_unavailable_reason

REASON = netns_unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def unprivileged_icmp() -> Iterator[None]:
    """The product pings unprivileged (as the service user would); allow it for the tests."""
    with PingGroupRange("0 2147483647"):
        yield


@pytest.fixture
def ns(unprivileged_icmp: None) -> Iterator[Netns]:
    with Netns() as namespace:
        yield namespace


def monitor_for(host: str, **overrides: Any) -> HotspotMonitor:
    probe = {"probe": "icmp", "host": host, "count": 10, "packet_interval_s": 0.01,
             "timeout_s": 0.15}
    probe.update(overrides.pop("icmp", {}))
    config = HotspotConfig.model_validate({
        "id": "pagoda", "probes": [probe], "interval_s": 1, "window": 20,
        "down_after": 3, "up_after": 2, "degraded_after": 2,
        "thresholds": {"loss_pct": 10, "rtt_ms": 100}, **overrides})
    return HotspotMonitor(config, asyncio.Semaphore(4), UptimeLedger())


async def test_reachable_host_is_up(ns: Netns) -> None:
    # loss must be 0: give each reply 1 s (a reply arrives in well under 1 ms, but a loaded
    # machine can delay the prober past the default 0.15 s and count it lost)
    monitor = monitor_for(ns.peer_ip, icmp={"timeout_s": 1.0})
    for _ in range(3):
        results, _ = await monitor.round()
        assert results[0].ok, results[0].error
    assert monitor.machine.state is State.UP
    assert monitor.link.loss_pct == 0.0
    assert monitor.link.rtt_median_ms is not None and 0 < monitor.link.rtt_median_ms < 100
    assert monitor.link.rtt_p95_ms is not None
    assert monitor.link.rtt_p95_ms >= monitor.link.rtt_median_ms
    assert monitor.link.jitter_ms is not None
    payload = monitor.payload()
    assert payload["state"] == "up" and payload["since"] and payload["flaps_1h"] == 0


async def test_random_loss_makes_it_degraded_with_the_right_loss(ns: Netns) -> None:
    monitor = monitor_for(ns.peer_ip)
    await monitor.round()
    assert monitor.machine.state is State.UP
    ns.drop_incoming(0.3)  # 30 % of echo requests never reach the host
    for _ in range(20):  # 200 echo requests: loss ~30 % ± 3.2 % (one sigma)
        await monitor.round()
    # the window holds the 20 lossy rounds only (window=20): expect 30 %, allow ±15 points
    assert monitor.link.rounds == 20
    assert monitor.link.loss_pct is not None and 15.0 <= monitor.link.loss_pct <= 45.0, \
        monitor.link.loss_pct
    assert monitor.machine.state is State.DEGRADED
    assert any("loss" in r for r in monitor.machine.reasons)
    ns.clear_rules()
    for _ in range(20):  # a clean window again → back up
        await monitor.round()
    assert monitor.link.loss_pct == 0.0
    assert monitor.machine.state is State.UP
    assert monitor.machine.flaps(monitor._wall()) == 2


async def test_link_down_after_n_rounds_and_up_after_m(ns: Netns) -> None:
    # 0.5 s per reply: the two rounds after the link is back must both be answered
    monitor = monitor_for(ns.peer_ip, icmp={"count": 3, "timeout_s": 0.5})
    await monitor.round()
    assert monitor.machine.state is State.UP
    ns.link(False)
    states = []
    for _ in range(3):  # down_after = 3
        results, _ = await monitor.round()
        assert not results[0].ok and results[0].error
        states.append(monitor.machine.state)
    assert states == [State.UP, State.UP, State.DOWN]
    down_since = monitor.machine.since
    ns.link(True)  # returns once the link has carrier again
    states = []
    for _ in range(2):  # up_after = 2
        await monitor.round()
        states.append(monitor.machine.state)
    assert states == [State.DOWN, State.UP]
    assert monitor.machine.since is not None and down_since is not None
    assert monitor.machine.since > down_since
    assert monitor.machine.flaps(monitor._wall()) == 2  # up→down, down→up
    payload = monitor.payload()
    assert payload["state"] == "up" and payload["flaps_1h"] == 2
    # the outage stays in the window's loss, the recovered link is judged on answered rounds
    assert payload["loss_pct"] is not None and payload["loss_pct"] > 0


ICMP_DENIED_SCRIPT = textwrap.dedent("""
    import asyncio, json, logging, sys
    sys.path.insert(0, sys.argv[1])
    import edge_agent.config
    from edge_agent.hotspots.config import HotspotConfig
    from edge_agent.hotspots.service import HotspotMonitor
    from edge_agent.hotspots.uptime import UptimeLedger

    async def main():
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        config = HotspotConfig.model_validate({"id": "clinic", "probes": [
            {"probe": "icmp", "host": "127.0.0.1", "count": 2, "timeout_s": 0.2},
            {"probe": "tcp", "host": "127.0.0.1", "port": port, "count": 2}]})
        monitor = HotspotMonitor(config, asyncio.Semaphore(4), UptimeLedger())
        rounds = []
        for _ in range(3):
            results, _ = await monitor.round()
            rounds.append([r.as_dict() for r in results])
        print(json.dumps({"rounds": rounds, "state": monitor.machine.state.value}))

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(main())
""")


def test_icmp_not_permitted_gives_one_clear_error_and_other_probes_run(
        unprivileged_icmp: None) -> None:
    """Run inside a fresh namespace whose ping_group_range we set to "1 0" (no unprivileged
    ICMP): the host's own setting is left alone, the namespace is deleted afterwards."""
    with Netns() as ns:
        ns.exec("sysctl", "-w", "net.ipv4.ping_group_range=1 0")
        proc = subprocess.run(ns.exec_cmd(sys.executable, "-c", ICMP_DENIED_SCRIPT, str(ROOT)),
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for icmp, tcp in report["rounds"]:
        assert not icmp["ok"]
        assert "ping_group_range" in icmp["error"] and "CAP_NET_RAW" in icmp["error"]
        assert tcp["ok"] and tcp["received"] == 2
    # the gateway's ICMP problem does not make the hotspot look degraded
    assert report["state"] == "up"
    assert proc.stderr.count("unprivileged ICMP is not permitted") == 1  # said once
