"""Backoff: full jitter's bounds, growth and cap; the supervisor's and the MQTT link's delays.

The pure function is tested with a seeded generator. The supervisor and the link are tested
through what they do (when a failing component is started again, when the link knocks on the
broker's port again) with the random draw pinned to the top of its range: that makes each
delay its ceiling, so growth and cap become exact figures, whichever helper draws them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from contract.reconnect import full_jitter
from edge_agent import agent as agent_module
from edge_agent.agent import Agent
from edge_agent.config import load_config
from edge_agent.runtime import AgentContext
from tests.infra.agent_proc import base_config, write_config
from tests.infra.broker import Broker

TOP = 1.0 - 1e-12  # random() never returns 1.0


# -- the function --------------------------------------------------------------------------
@pytest.mark.parametrize("attempt", [0, 1, 2, 3, 5, 8])
def test_full_jitter_spans_zero_to_the_ceiling(attempt: int) -> None:
    """Uniform over the whole [0, ceiling]: a province's gateways spread out, not +-10 %."""
    rng = random.Random(attempt)
    base, cap = 0.5, 30.0
    ceiling = min(cap, base * 2 ** attempt)
    draws = [full_jitter(attempt, base, cap, rng) for _ in range(4000)]
    assert all(0.0 <= d <= ceiling for d in draws), (min(draws), max(draws), ceiling)
    assert min(draws) < 0.02 * ceiling and max(draws) > 0.98 * ceiling
    assert statistics.mean(draws) == pytest.approx(ceiling / 2, rel=0.05)
    # a quarter of the draws in each quarter of the range (uniform), within 3 points
    quarters = [sum(q * ceiling / 4 <= d < (q + 1) * ceiling / 4 for d in draws) / len(draws)
                for q in range(4)]
    assert all(abs(share - 0.25) < 0.03 for share in quarters), quarters


def test_full_jitter_ceiling_doubles_until_the_cap() -> None:
    rng = random.Random(7)
    base, cap = 1.0, 60.0
    means = [statistics.mean(full_jitter(a, base, cap, rng) for _ in range(3000))
             for a in range(9)]
    for a, (low, high) in enumerate(itertools.pairwise(means)):
        if base * 2 ** (a + 1) <= cap:  # still growing: about twice the previous
            assert high / low == pytest.approx(2.0, rel=0.12), (a, means)
    assert means[6] == pytest.approx(cap / 2, rel=0.06)  # 64 > 60: capped from here on
    assert means[8] == pytest.approx(cap / 2, rel=0.06)


def test_full_jitter_never_exceeds_the_cap_even_after_thousands_of_attempts() -> None:
    rng = random.Random(3)
    for attempt in (10, 31, 64, 1000, 10**6):
        draws = [full_jitter(attempt, 1.0, 60.0, rng) for _ in range(200)]
        assert all(0.0 <= d <= 60.0 for d in draws)
        assert max(draws) > 55.0  # the cap is reached, not some smaller overflowed value


def test_gateways_that_lost_the_broker_together_do_not_retry_in_step() -> None:
    """1000 gateways, one shared outage: their 5th retries spread over the whole window."""
    delays = [full_jitter(4, 1.0, 60.0, random.Random(seed)) for seed in range(1000)]
    in_busiest_second = max(sum(s <= d < s + 1 for d in delays) for s in range(16))
    assert in_busiest_second < 120, in_busiest_second  # ~62 expected per second of 16


# -- pinning the draw ----------------------------------------------------------------------
@pytest.fixture
def jitter_at_top(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every random draw returns the top of its range (module functions and instances)."""
    monkeypatch.setattr(random, "random", lambda: TOP)
    monkeypatch.setattr(random, "uniform", lambda a, b: a + (b - a) * TOP)
    monkeypatch.setattr(random.Random, "random", lambda self: TOP)
    monkeypatch.setattr(random.Random, "uniform", lambda self, a, b: a + (b - a) * TOP)
    yield


class AlwaysFails:
    name = "always-fails"

    def __init__(self) -> None:
        self.starts: list[float] = []

    async def run(self, ctx: AgentContext) -> None:
        self.starts.append(time.monotonic())
        raise RuntimeError("driver unplugged")


async def test_supervisor_restart_delay_grows(
        broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        jitter_at_top: None) -> None:
    """With the default restart settings, each restart of a component that keeps failing
    waits about twice as long as the one before (the jitter pinned to its top), and never
    less than the floor of 0.5 s."""
    failing = AlwaysFails()
    monkeypatch.setattr(agent_module, "build_components", lambda config: [failing])
    config = write_config(tmp_path / "a.yaml",
                          base_config(tmp_path, broker.url, gateway="gw-restarts"))
    agent = Agent(load_config(config))
    runner = asyncio.create_task(agent.run())
    try:
        for _ in range(400):  # 1.5 + 2.5 + 4.5 s with the defaults; up to 40 s
            if len(failing.starts) >= 4:
                break
            await asyncio.sleep(0.1)
    finally:
        agent.request_stop()
        await asyncio.wait_for(runner, 15)
    assert len(failing.starts) >= 4, failing.starts
    gaps = [b - a for a, b in itertools.pairwise(failing.starts[:4])]
    print(f"restart gaps {[round(g, 2) for g in gaps]}")
    assert gaps[0] >= 0.5
    for low, high in itertools.pairwise(gaps):
        assert high >= 1.5 * low, f"restart delay does not grow: {gaps}"
    assert gaps[-1] >= 3.0, gaps  # grown from ~1 s to several seconds in three restarts


async def _reconnect_gaps(tmp_path: Path, url: str, attempts: Callable[[], list[float]],
                          count: int) -> list[float]:
    """Run an agent (no components) on ``url`` with reconnects from 0.2 s up to 1.0 s until
    ``attempts()`` holds ``count`` times; the gaps between them."""
    config = write_config(tmp_path / "a.yaml", base_config(
        tmp_path, url, gateway="gw-backoff",
        mqtt={"reconnect_min_s": 0.2, "reconnect_max_s": 1.0}))
    agent = Agent(load_config(config))
    runner = asyncio.create_task(agent.run())
    try:
        for _ in range(300):
            if len(attempts()) >= count:
                break
            await asyncio.sleep(0.05)
    finally:
        agent.request_stop()
        await asyncio.wait_for(runner, 15)
    times = attempts()
    assert len(times) >= count, times
    gaps = [b - a for a, b in itertools.pairwise(times[:count])]
    print(f"reconnect gaps {[round(g, 2) for g in gaps]}")
    return gaps


def _assert_delays(gaps: list[float], expected: list[float]) -> None:
    for gap, want in zip(gaps, expected, strict=True):
        # at least the delay; at most the delay plus a failed attempt on a loaded machine
        assert want - 0.02 <= gap <= want + 0.4, (gaps, expected)


async def test_link_reconnect_delay_grows_to_its_cap_and_stays_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        jitter_at_top: None) -> None:
    """A real broker that refuses the gateway (not authorised): the link retries after 0.2,
    0.4, 0.8 s, then every 1.0 s (reconnect_max_s), the jitter pinned to its top. Each
    refused attempt is one log line; their times give the delays."""
    monkeypatch.setattr(agent_module, "build_components", lambda config: [])
    caplog.set_level(logging.WARNING, logger="edge_agent.mqtt")
    broker = Broker(tmp_path / "mosquitto", anonymous=False).start()
    try:
        gaps = await _reconnect_gaps(tmp_path, broker.url, lambda: [
            r.created for r in caplog.records if "unavailable" in r.getMessage()], 7)
    finally:
        broker.stop()
    assert any("Not authorized" in r.getMessage() for r in caplog.records)
    _assert_delays(gaps, [0.2, 0.4, 0.8, 1.0, 1.0, 1.0])


async def test_a_peer_that_hangs_up_is_retried_on_the_backoff_not_a_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jitter_at_top: None) -> None:
    """A TCP peer that accepts and hangs up before CONNACK (a proxy without its broker, a
    broker out of connection slots). Each attempt must fail at once and the next follow the
    backoff (0.2, 0.4, 0.8, 1.0 s), not wait aiomqtt's 10 s connect timeout (it did)."""
    knocks: list[float] = []

    def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        knocks.append(time.monotonic())
        writer.close()

    monkeypatch.setattr(agent_module, "build_components", lambda config: [])
    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        gaps = await _reconnect_gaps(
            tmp_path, f"mqtt://127.0.0.1:{server.sockets[0].getsockname()[1]}",
            lambda: knocks, 5)
    finally:
        server.close()
    _assert_delays(gaps, [0.2, 0.4, 0.8, 1.0])
