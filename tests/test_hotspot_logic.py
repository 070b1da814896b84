"""Pure hotspot logic: rolling statistics, the state machine's hysteresis, uptime buckets,
and the SQLite uptime store surviving a reopen. The clock is always passed in."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.probes.base import ProbeResult
from edge_agent.hotspots.state import State, StateMachine, Verdict, judge
from edge_agent.hotspots.stats import RollingStats, RoundSample, jitter, percentile
from edge_agent.hotspots.uptime import BUCKET_S, DAY_S, UptimeLedger, UptimeStore, uptime_pct

GOOD = Verdict(True, False)
POOR = Verdict(True, True, ("loss 30.0% > 10%",))
FAIL = Verdict(False, True, ("icmp: no reply",))


def icmp(sent: int, rtts: list[float], name: str = "icmp") -> ProbeResult:
    return ProbeResult(probe=name, kind="icmp", ok=bool(rtts), sent=sent,
                       received=len(rtts), rtts_ms=rtts)


def test_percentiles_and_jitter() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == pytest.approx(50.5)
    assert percentile(values, 0.95) == pytest.approx(95.05)
    assert percentile([7.0], 0.95) == 7.0
    assert jitter([[10, 12, 11, 15]]) == pytest.approx((2 + 1 + 4) / 3)
    # never across two probes: 1 ms ICMP and 40 ms TCP samples are separate series
    assert jitter([[1, 1, 1], [40, 40]]) == 0.0
    assert jitter([[5.0]]) is None


@given(st.lists(st.floats(0, 1e4), min_size=1, max_size=50), st.floats(0, 1))
def test_percentile_stays_within_the_samples(values: list[float], q: float) -> None:
    assert min(values) <= percentile(values, q) <= max(values)


def test_window_loss_rtt_and_age_out() -> None:
    stats = RollingStats(window=3, max_age_s=100)
    stats.add(RoundSample.from_results([icmp(10, [1.0] * 10)], at=0))
    stats.add(RoundSample.from_results([icmp(10, [3.0] * 5)], at=10))
    snap = stats.snapshot(now=10)
    assert snap.rounds == 2 and snap.loss_pct == pytest.approx(25.0)
    assert snap.rtt_median_ms == 1.0
    stats.add(RoundSample.from_results([icmp(10, [])], at=20))  # an outage round
    snap = stats.snapshot(now=20)
    assert snap.loss_pct == pytest.approx(50.0)
    assert snap.loss_pct_reachable == pytest.approx(25.0)  # outage excluded for quality
    stats.add(RoundSample.from_results([icmp(10, [2.0] * 10)], at=30))  # window=3: 1st goes
    assert stats.snapshot(now=30).loss_pct == pytest.approx(100 * 15 / 30, abs=1e-3)
    assert stats.snapshot(now=125).rounds == 1  # rounds older than 100 s are forgotten
    assert stats.snapshot(now=1000).rounds == 0


def test_clients_come_from_the_latest_ubus_round() -> None:
    ubus = ProbeResult(probe="ubus", kind="ubus", ok=True, sent=1, received=1,
                       clients_per_radio={"wlan0": 4, "wlan1": 2},
                       clients_per_ssid={"Free": 6})
    stats = RollingStats(window=5, max_age_s=100)
    stats.add(RoundSample.from_results([ubus, icmp(3, [1.0, 1.0, 1.0])], at=0))
    failed = ProbeResult(probe="ubus", kind="ubus", ok=False, sent=1, error="timeout")
    stats.add(RoundSample.from_results([failed, icmp(3, [1.0])], at=1))
    snap = stats.snapshot(now=2)
    assert snap.clients == 6 and snap.clients_per_radio == {"wlan0": 4, "wlan1": 2}


def test_judge_thresholds_and_failing_probes() -> None:
    stats = RollingStats(window=5, max_age_s=100)
    sample = RoundSample.from_results([icmp(10, [250.0] * 7)], at=0)
    stats.add(sample)
    verdict = judge(sample, stats.snapshot(0), loss_pct=10, rtt_ms=200)
    assert verdict.reachable and verdict.poor
    assert verdict.reasons == ("loss 30.0% > 10%", "RTT median 250.0 ms > 200 ms")
    portal = ProbeResult(probe="portal", kind="http", ok=False, sent=1, received=1,
                         error="HTTP 500 (expected 200)")
    sample = RoundSample.from_results([icmp(5, [1.0] * 5), portal], at=1)
    stats = RollingStats(window=5, max_age_s=100)
    stats.add(sample)
    verdict = judge(sample, stats.snapshot(1), loss_pct=10, rtt_ms=200)
    assert verdict.reachable and verdict.poor
    assert verdict.reasons == ("portal: HTTP 500 (expected 200)",)


def test_down_after_n_up_after_m_and_flaps() -> None:
    sm = StateMachine(down_after=3, up_after=2, degraded_after=2)
    assert sm.observe(GOOD, 0) is not None and sm.state is State.UP
    assert sm.flaps(0) == 0  # leaving 'unknown' is not a flap
    assert sm.observe(FAIL, 1) is None and sm.observe(FAIL, 2) is None
    assert sm.observe(GOOD, 3) is None  # one good round resets the failure streak
    sm.observe(FAIL, 4)
    sm.observe(FAIL, 5)
    change = sm.observe(FAIL, 6)
    assert change is not None and change.new is State.DOWN and sm.since == 6
    assert sm.observe(GOOD, 7) is None and sm.state is State.DOWN
    assert sm.observe(FAIL, 8) is None  # not two good rounds in a row
    sm.observe(GOOD, 9)
    change = sm.observe(GOOD, 10)
    assert change is not None and change.new is State.UP and sm.since == 10
    assert sm.flaps(10) == 2
    assert sm.flaps(10 + 3601) == 0  # flaps are counted over the last hour


def test_degraded_needs_consecutive_poor_rounds_and_good_ones_to_leave() -> None:
    sm = StateMachine(down_after=3, up_after=3, degraded_after=2)
    sm.observe(GOOD, 0)
    sm.observe(POOR, 1)
    sm.observe(GOOD, 2)
    sm.observe(POOR, 3)
    assert sm.state is State.UP  # isolated poor rounds do not flap it
    sm.observe(POOR, 4)
    assert sm.state is State.DEGRADED and sm.reasons == POOR.reasons
    sm.observe(GOOD, 5)
    sm.observe(GOOD, 6)
    sm.observe(POOR, 7)
    sm.observe(GOOD, 8)
    sm.observe(GOOD, 9)
    assert sm.state is State.DEGRADED
    sm.observe(GOOD, 10)
    assert sm.state is State.UP and sm.since == 10


def test_coming_back_poor_goes_to_degraded() -> None:
    sm = StateMachine(down_after=1, up_after=2, degraded_after=2)
    sm.observe(FAIL, 0)
    assert sm.state is State.DOWN  # unknown → down after down_after failed rounds
    sm.observe(POOR, 1)
    sm.observe(POOR, 2)
    assert sm.state is State.DEGRADED


def test_ledger_splits_intervals_at_bucket_boundaries() -> None:
    ledger = UptimeLedger()
    start = 10 * BUCKET_S - 30
    ledger.record("pagoda", "up", start, start + 90)
    ledger.record("pagoda", "unknown", start, start + 90)  # not counted either way
    pending = ledger.take()
    assert pending[("pagoda", 9 * BUCKET_S)]["up"] == pytest.approx(30)
    assert pending[("pagoda", 10 * BUCKET_S)]["up"] == pytest.approx(60)
    assert ledger.take() == {}
    assert uptime_pct(90, 0, 10) == 90.0 and uptime_pct(0, 0, 0) is None


def test_uptime_store_survives_reopen(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    ledger = UptimeLedger()
    ledger.record("pagoda", "up", now - 2 * DAY_S, now - 2 * DAY_S + 3600)  # outside 24 h
    ledger.record("pagoda", "up", now - 3600, now - 900)
    ledger.record("pagoda", "degraded", now - 900, now - 600)
    ledger.record("pagoda", "down", now - 600, now)
    ledger.record("school", "down", now - 600, now)
    store = UptimeStore(tmp_path / "hotspots.sqlite3")
    store.write(ledger.take(), now)
    store.close()
    store = UptimeStore(tmp_path / "hotspots.sqlite3")  # as after a restart
    up = store.uptime("pagoda", now)
    assert up.pct_24h == pytest.approx(100 * 3000 / 3600, abs=1e-3)
    assert up.pct_30d == pytest.approx(100 * 6600 / 7200, abs=1e-3)
    assert store.uptime("school", now).pct_24h == 0.0
    assert store.uptime("clinic", now).pct_24h is None
    ledger.record("pagoda", "up", now, now + 600)  # adds to the stored buckets
    store.write(ledger.take(), now + 600)
    after = store.uptime("pagoda", now + 600)
    assert after.pct_24h == pytest.approx(100 * 3600 / 4200, abs=1e-3)
    store.close()


def test_restart_keeps_since_of_an_unchanged_state_and_recent_flaps() -> None:
    sm = StateMachine(down_after=2, up_after=2, degraded_after=2)
    sm.restore(State.DOWN, since=500.0, flaps=[100.0, 400.0])
    sm.observe(FAIL, 1000)
    change = sm.observe(FAIL, 1001)
    assert change is not None and change.new is State.DOWN
    assert sm.since == 500.0  # still the outage that began before the restart
    assert sm.flaps(1001) == 2
    other = StateMachine(down_after=2, up_after=2, degraded_after=2)
    other.restore(State.DOWN, since=500.0, flaps=[])
    change = other.observe(GOOD, 1000)  # it came back while the agent was off
    assert change is not None and change.old is State.DOWN and change.new is State.UP
    assert other.since == 1000 and other.flaps(1000) == 1


def test_store_keeps_state_history(tmp_path: Path) -> None:
    store = UptimeStore(tmp_path / "hotspots.sqlite3")
    store.add_transition("pagoda", 100.0, "unknown", "up")
    store.add_transition("pagoda", 200.0, "up", "down")
    store.add_transition("pagoda", 300.0, "down", "up")
    store.close()
    store = UptimeStore(tmp_path / "hotspots.sqlite3")
    assert store.history("pagoda", since=150.0) == ("up", 300.0, [200.0, 300.0])
    assert store.history("school", since=0.0) == (None, None, [])
    store.close()


def test_reasons_stay_while_degraded_and_clear_when_up() -> None:
    sm = StateMachine(down_after=3, up_after=2, degraded_after=1)
    sm.observe(GOOD, 0)
    sm.observe(POOR, 1)
    assert sm.state is State.DEGRADED and sm.reasons == POOR.reasons
    sm.observe(GOOD, 2)  # one good round: still degraded, still saying why
    assert sm.state is State.DEGRADED and sm.reasons == POOR.reasons
    sm.observe(GOOD, 3)
    assert sm.state is State.UP and sm.reasons == ()
