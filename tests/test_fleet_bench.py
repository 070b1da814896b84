"""benchmarks/fleet_run: the per-phase arithmetic (pure): loss only in the phase's own seq
range, duplicates received in the window, time until every gateway was born again."""

from __future__ import annotations

from benchmarks.fleet_run import Window, analyse, births_after
from control_room.sim.consumer import Record

A, B = "commune/s/gw-1", "commune/s/gw-2"


def _seq(base: str, seq: int, ts: float, recv: float | None = None,
         replayed: bool = False) -> Record:
    return Record(recv if recv is not None else ts + 0.01, ts, base, "seq", seq, replayed)


def test_a_phase_counts_its_own_holes_duplicates_and_latency() -> None:
    records = [_seq(A, 1, 1.0), _seq(A, 2, 2.0), _seq(A, 4, 11.0), _seq(A, 4, 11.0, 12.0),
               _seq(B, 1, 10.5, 13.5, replayed=True), _seq(B, 3, 12.0)]
    # phase 2 covers ts 10-20; before it, A had reached seq 2 and B seq 0; A's 3 and B's 2
    # never came: 2 losses in this phase (none charged to earlier seqs)
    result = analyse(records, Window("p2", 10.0, 20.0), {A: 4, B: 3}, {A: 2, B: 0})
    assert result["lost"] == 2
    assert result["lost_examples"] == {A: [3], B: [2]}
    assert result["duplicates"] == 1  # A's seq 4, received again at 12.0
    assert result["latency_replayed_ms"]["p50"] == 3000.0
    assert result["latency_live_ms"]["n"] == 3
    earlier = analyse(records, Window("p1", 0.0, 10.0), {A: 2}, {})
    assert earlier["lost"] == 0 and earlier["messages_made"] == 2


def test_back_online_waits_for_every_gateway() -> None:
    births = [Record(5.0, 4.0, A, "status:online", 0), Record(9.0, 8.5, A, "status:online", 3),
              Record(9.0, 7.0, B, "status:online", 2)]
    assert births_after(births, 5.0, {A, B}) == {
        "back_online": 2, "of": 2, "all_online_s": 3.5, "median_online_s": 3.5}
    missing = births_after(births[:2], 5.0, {A, B})
    assert missing["all_online_s"] is None and missing["back_online"] == 1


def test_commit_lag_percentiles_are_bucket_bounds_of_the_window() -> None:
    from benchmarks.fleet_room import lag_percentiles

    inf = float("inf")
    before = {0.1: 10.0, 0.5: 10.0, 1.0: 10.0, inf: 10.0}  # cumulative, as Prometheus
    # the window: 90 more within 0.1 s, 9 within 0.5 s, 1 within 1 s
    after = {0.1: 100.0, 0.5: 109.0, 1.0: 110.0, inf: 110.0}
    assert lag_percentiles(before, after) == {"n": 100, "p50_le": 100.0, "p99_le": 500.0}
    assert lag_percentiles(after, after)["n"] == 0  # nothing new in the window
    slow = {**after, 1.0: 100.0 + 9, inf: 120.0}  # 11 beyond the last finite bucket
    assert lag_percentiles(before, slow)["p99_le"] is None
