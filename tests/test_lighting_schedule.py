"""The schedule engine: table-driven cases and hypothesis properties over a whole year.

Places: the commune (19.9 N 105.4 E, Asia/Ho_Chi_Minh, no DST) and Tromsø (69.65 N 18.96 E,
Europe/Oslo: polar night and midnight sun, DST) and Anchorage (61.2 N -149.9 E, far west of
Greenwich, where astral's UTC default would give the previous day's sunset).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from astral import Observer
from astral.sun import elevation
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from edge_agent.lighting.schedule import (
    LOOKAHEAD_DAYS,
    Location,
    Override,
    Rule,
    evaluate,
    plan,
    sun_times,
    windows,
)
from edge_agent.lighting.sun import HORIZON_DEG
from edge_agent.lighting.timespec import parse_time_spec, parse_weekdays

VN = ZoneInfo("Asia/Ho_Chi_Minh")
COMMUNE = Location(19.9, 105.4)
OSLO = ZoneInfo("Europe/Oslo")
TROMSO = Location(69.65, 18.96)
AK = ZoneInfo("America/Anchorage")
ANCHORAGE = Location(61.2, -149.9)

NIGHT = Rule.make("night", "sunset+15m", "sunrise-10m")
EVENING = Rule.make("evening", "18:00", "22:00")
LATE = Rule.make("late", "22:00", "05:00")  # crosses midnight


def at(day: date, hh: int, mm: int = 0, ss: int = 0, tz: ZoneInfo = VN) -> datetime:
    return datetime.combine(day, time(hh, mm, ss), tzinfo=tz)


def sunset_of(day: date, loc: Location = COMMUNE, tz: ZoneInfo = VN) -> datetime:
    value = sun_times(day, loc, tz)[1]
    assert isinstance(value, datetime)
    return value


def sunrise_of(day: date, loc: Location = COMMUNE, tz: ZoneInfo = VN) -> datetime:
    value = sun_times(day, loc, tz)[0]
    assert isinstance(value, datetime)
    return value


D = date(2026, 11, 22)  # a Sunday


# -- table-driven --------------------------------------------------------------------------
@pytest.mark.parametrize(("rules", "instant", "state", "reason", "rule"), [
    ([EVENING], at(D, 17, 59, 59), False, "default", None),
    ([EVENING], at(D, 18, 0, 0), True, "schedule", "evening"),
    ([EVENING], at(D, 21, 59, 59), True, "schedule", "evening"),
    ([EVENING], at(D, 22, 0, 0), False, "default", None),
    ([LATE], at(D, 23, 30), True, "schedule", "late"),
    ([LATE], at(D, 0, 30), True, "schedule", "late"),  # the window that started yesterday
    ([LATE], at(D, 4, 59, 59), True, "schedule", "late"),
    ([LATE], at(D, 5, 0, 0), False, "default", None),
    ([LATE], at(D, 21, 59, 59), False, "default", None),
    ([NIGHT], at(D, 21, 0), True, "schedule", "night"),  # reboot at 21:00 → on
    ([NIGHT], at(D, 12, 0), False, "default", None),
    ([NIGHT], at(D, 3, 0), True, "schedule", "night"),
    # later rule wins: a forced-off window inside the night
    ([NIGHT, Rule.make("dim", "23:00", "04:30", state=False)], at(D, 23, 30), False,
     "schedule", "dim"),
    ([NIGHT, Rule.make("dim", "23:00", "04:30", state=False)], at(D, 4, 30), True,
     "schedule", "night"),
    # weekday mask: the Saturday-night window (Sat 22:00 → Sun 05:00) still runs on Sunday
    ([Rule.make("sat", "22:00", "05:00", weekdays=["sat"])], at(D, 1, 0), True, "schedule",
     "sat"),
    ([Rule.make("sat", "22:00", "05:00", weekdays=["sat"])], at(D, 23, 0), False, "default",
     None),
    ([Rule.make("wk", "18:00", "22:00", weekdays=["fri-sun"])], at(D, 19, 0), True, "schedule",
     "wk"),
    ([Rule.make("wk", "18:00", "22:00", weekdays=["mon-fri"])], at(D, 19, 0), False, "default",
     None),
    # date exceptions: holiday off, festival night on, yearly dates
    ([Rule.make("n", "18:00", "22:00", except_dates=["2026-11-22"])], at(D, 19, 0), False,
     "default", None),
    ([Rule.make("n", "18:00", "22:00", except_dates=["11-20..11-25"])], at(D, 19, 0), False,
     "default", None),
    ([Rule.make("fest", "00:00", "00:00", dates=["2026-11-22"])], at(D, 12, 0), True,
     "schedule", "fest"),  # on == off: the whole day
    ([Rule.make("fest", "00:00", "00:00", dates=["2026-11-21"])], at(D, 12, 0), False,
     "default", None),
    ([Rule.make("ny", "18:00", "02:00", dates=["12-31"])], at(date(2027, 1, 1), 1, 0), True,
     "schedule", "ny"),
])
def test_table(rules: list[Rule], instant: datetime, state: bool, reason: str,
               rule: str | None) -> None:
    decision = evaluate(rules, None, False, instant, COMMUNE, VN)
    assert (decision.state, decision.reason, decision.rule) == (state, reason, rule)


@pytest.mark.parametrize("day", [date(2026, 1, 10), date(2026, 6, 21), date(2026, 11, 22)])
def test_astro_boundaries_plus_minus_one_second(day: date) -> None:
    on = sunset_of(day) + timedelta(minutes=15)
    off = sunrise_of(day + timedelta(days=1)) - timedelta(minutes=10)
    for instant, expected in [(on - timedelta(seconds=1), False), (on, True),
                              (on + timedelta(seconds=1), True),
                              (off - timedelta(seconds=1), True), (off, False),
                              (off + timedelta(seconds=1), False)]:
        assert evaluate([NIGHT], None, False, instant, COMMUNE, VN).state is expected, instant
    assert evaluate([NIGHT], None, False, on - timedelta(seconds=1), COMMUNE,
                    VN).next_change == on
    assert evaluate([NIGHT], None, False, on, COMMUNE, VN).next_change == off


def test_local_timezone_sunset_west_of_greenwich() -> None:
    """Anchorage: the sunset used for a local day is that day's (not the UTC day's)."""
    day = date(2026, 3, 10)
    ss = sunset_of(day, ANCHORAGE, AK)
    assert ss.astimezone(AK).date() == day
    assert ss.astimezone(UTC).date() == day + timedelta(days=1)  # UTC date differs here
    d = evaluate([Rule.make("n", "sunset", "23:00")], None, False, ss + timedelta(seconds=1),
                 ANCHORAGE, AK)
    assert d.state and d.next_change == at(day, 23, tz=AK)


def test_polar_night_and_midnight_sun_do_not_crash() -> None:
    # Polar night: no sunset/sunrise; the dark rule stays on all day.
    for hour in (0, 11, 12, 23):
        d = evaluate([NIGHT], None, False, at(date(2026, 12, 10), hour, tz=OSLO), TROMSO, OSLO)
        assert d.state and d.reason == "schedule"
    # Midnight sun: never dark; the rule never starts.
    d = evaluate([NIGHT], None, False, at(date(2026, 6, 21), 23, tz=OSLO), TROMSO, OSLO)
    assert not d.state and d.reason == "default"
    # Midnight sun with a fixed start and a sunrise end: the window is empty.
    d = evaluate([Rule.make("f", "22:00", "sunrise")], None, False,
                 at(date(2026, 6, 21), 23, tz=OSLO), TROMSO, OSLO)
    assert not d.state
    # The first sunrise after polar night ends the window that ran all night.
    first_light = date(2026, 1, 16)
    sr = sunrise_of(first_light, TROMSO, OSLO)
    before = evaluate([NIGHT], None, False, at(first_light, 8, tz=OSLO), TROMSO, OSLO)
    assert before.state and before.next_change == sr - timedelta(minutes=10)


def test_overrides_start_and_expire() -> None:
    until = at(D + timedelta(days=1), 5, 0)
    ov = Override(True, until=until)
    d = evaluate([EVENING], ov, False, at(D, 12), COMMUNE, VN)
    assert (d.state, d.reason, d.override_until, d.next_change) == (True, "override", until,
                                                                   until)
    after = evaluate([EVENING], ov, False, until, COMMUNE, VN)
    assert (after.state, after.reason) == (False, "default")
    # an override equal to the schedule: the next change is when the schedule changes
    off_ov = Override(False, until=at(D, 20))
    d = evaluate([EVENING], off_ov, False, at(D, 19), COMMUNE, VN)
    assert (d.state, d.reason, d.next_change) == (False, "override", at(D, 20))
    # an override that starts later
    later = Override(True, until=at(D, 16), start=at(D, 14))
    d = evaluate([EVENING], later, False, at(D, 13), COMMUNE, VN)
    assert (d.state, d.next_change) == (False, at(D, 14))
    assert evaluate([EVENING], later, False, at(D, 14), COMMUNE, VN).reason == "override"


def test_clock_jumps_are_just_other_instants() -> None:
    """State is a function of the instant: a jump forward or back needs no history."""
    for instant in (at(D, 21), at(D, 3), at(D - timedelta(days=300), 21), at(D, 12)):
        assert evaluate([NIGHT], None, False, instant, COMMUNE, VN) == \
            evaluate([NIGHT], None, False, instant, COMMUNE, VN)
    jumped_back = evaluate([NIGHT], None, False, datetime(2000, 1, 1, 12, tzinfo=UTC),
                           COMMUNE, VN)
    assert jumped_back.state is True  # 19:00 local on 2000-01-01: dark


def test_fixed_times_on_dst_change_days() -> None:
    """Oslo: 02:30 does not exist on 29 March and happens twice on 25 October."""
    rule = Rule.make("r", "02:30", "03:30")
    # 02:30 falls in the gap and is read as 03:30 (PEP 495): that night's window is empty,
    # and above all not 24 hours long.
    spring = windows([rule], date(2026, 3, 28), date(2026, 3, 30), TROMSO, OSLO)
    assert [w.start.day for w in spring] == [28, 30]
    assert all(w.end - w.start == timedelta(hours=1) for w in spring)
    assert not evaluate([rule], None, False, at(date(2026, 3, 29), 12, tz=OSLO), TROMSO,
                        OSLO).state
    autumn = windows([rule], date(2026, 10, 25), date(2026, 10, 25), TROMSO, OSLO)
    assert len(autumn) == 1 and autumn[0].end - autumn[0].start == timedelta(hours=2)
    overnight = Rule.make("o", "22:00", "02:30")
    for w in windows([overnight], date(2026, 3, 27), date(2026, 3, 30), TROMSO, OSLO):
        assert timedelta(hours=3) <= w.end - w.start <= timedelta(hours=5)


def test_plan_lists_the_day() -> None:
    steps = plan([NIGHT], None, False, D, COMMUNE, VN)
    assert [s.state for s in steps] == [True, False, True]
    assert steps[2].at == sunset_of(D) + timedelta(minutes=15)


def test_time_spec_grammar() -> None:
    assert str(parse_time_spec("sunset+1h30m")) == "sunset+1h30m"
    assert str(parse_time_spec("SUNRISE - 10m")) == "sunrise-10m"
    assert str(parse_time_spec("5:07")) == "05:07"
    assert parse_weekdays(["fri-mon"]) == frozenset({4, 5, 6, 0})
    assert parse_weekdays(["Monday", "wed"]) == frozenset({0, 2})
    with pytest.raises(ValueError, match="'funday' is not a weekday"):
        parse_weekdays(["funday"])
    for bad in ("25:00", "sunset+", "noon", "sunset+7h"):
        with pytest.raises(ValueError):
            parse_time_spec(bad)


# -- properties over a whole year -----------------------------------------------------------
PLACES = [(COMMUNE, VN), (TROMSO, OSLO), (ANCHORAGE, AK)]
RULE_SETS = [
    [NIGHT],
    [NIGHT, Rule.make("dim", "23:00", "04:30", state=False)],
    [Rule.make("wk", "sunset-20m", "01:00", weekdays=["fri-sun"]), LATE],
    [Rule.make("m", "04:30", "sunrise+5m"), Rule.make("e", "sunset", "22:30",
                                                         except_dates=["01-01..01-03"])],
]
instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1),
                        timezones=st.just(UTC))


@settings(max_examples=120, deadline=None)
@given(instant=instants, place=st.sampled_from(PLACES), rules=st.sampled_from(RULE_SETS),
       default=st.booleans(), share=st.floats(0.0, 1.0))
def test_next_change_is_exact(instant: datetime, place: tuple[Location, ZoneInfo],
                              rules: list[Rule], default: bool, share: float) -> None:
    loc, tz = place
    d = evaluate(rules, None, default, instant, loc, tz)
    if d.next_change is None:
        # "no change within the look-ahead": then the state holds until its horizon, local
        # midnight LOOKAHEAD_DAYS ahead (checked every 6 h and at a drawn instant)
        horizon = instant + timedelta(days=LOOKAHEAD_DAYS - 1)
        probes = [instant + timedelta(hours=6 * k) for k in range(1, 4 * LOOKAHEAD_DAYS - 4)]
        for moment in [*probes, instant + (horizon - instant) * share]:
            assert evaluate(rules, None, default, moment, loc, tz).state == d.state, moment
        return
    assert d.next_change > instant
    just_before = d.next_change - timedelta(microseconds=1)
    assert evaluate(rules, None, default, just_before, loc, tz).state == d.state
    assert evaluate(rules, None, default, d.next_change, loc, tz).state != d.state
    middle = instant + (d.next_change - instant) / 2
    assert evaluate(rules, None, default, middle, loc, tz).state == d.state


POLAR_PLACES = [*PLACES, (Location(78.2, 15.6), ZoneInfo("Arctic/Longyearbyen")),
                (Location(-77.8, 166.7), ZoneInfo("Antarctica/McMurdo")),
                (Location(66.6, 25.7), ZoneInfo("Europe/Helsinki"))]


@settings(max_examples=200, deadline=None)
@given(instant=instants, place=st.sampled_from(POLAR_PLACES))
def test_night_rule_matches_darkness(instant: datetime, place: tuple[Location,
                                                                     ZoneInfo]) -> None:
    """sunset→sunrise is on exactly when the sun is below the horizon, checked against the
    sun's elevation computed independently (astral's elevation, not its event search).
    Instants within 0.3° of the horizon are skipped (event precision near the poles)."""
    loc, tz = place
    state = evaluate([Rule.make("n", "sunset", "sunrise")], None, False, instant, loc,
                     tz).state
    height = elevation(Observer(loc.latitude, loc.longitude), instant, with_refraction=False)
    assume(abs(height - HORIZON_DEG) > 0.3)
    assert state == (height < HORIZON_DEG), (instant.astimezone(tz), height)


def test_two_sunsets_on_one_local_day() -> None:
    """Rovaniemi-latitude July: the sunset drifts across midnight, so 17 July has one just
    after 00:00 and another just before 24:00; both start a night window."""
    helsinki, loc = ZoneInfo("Europe/Helsinki"), Location(66.6, 25.7)
    wins = windows([Rule.make("n", "sunset", "sunrise")], date(2026, 7, 17), date(2026, 7, 17),
                   loc, helsinki)
    assert len(wins) == 2
    assert wins[0].start.astimezone(helsinki).hour == 0
    assert wins[1].start.astimezone(helsinki).hour == 23
    assert evaluate([Rule.make("n", "sunset", "sunrise")], None, False,
                    at(date(2026, 7, 17), 1, 12, tz=helsinki), loc, helsinki).state


def test_last_sunset_before_polar_night_starts_a_window() -> None:
    svalbard, loc = ZoneInfo("Arctic/Longyearbyen"), Location(78.2, 15.6)
    d = evaluate([Rule.make("n", "sunset", "sunrise")], None, False,
                 at(date(2026, 10, 26), 19, 0, tz=svalbard), loc, svalbard)
    assert d.state and d.reason == "schedule"


def test_tromso_may_14_has_a_night() -> None:
    """astral says "always above the horizon" for the sunrise of 14 May 2026 in Tromsø, yet
    the sun dips below around 01:50: the scan finds it and the night window exists."""
    rise, sset = sun_times(date(2026, 5, 14), TROMSO, OSLO)
    assert isinstance(rise, datetime) and rise.astimezone(OSLO).hour == 1
    assert isinstance(sset, datetime)
    d = evaluate([Rule.make("n", "sunset", "sunrise")], None, False,
                 at(date(2026, 5, 14), 1, 0, tz=OSLO), TROMSO, OSLO)
    assert d.state and d.next_change == rise


@settings(max_examples=60, deadline=None)
@given(instant=instants, hours=st.integers(1, 48), state=st.booleans())
def test_override_wins_until_expiry(instant: datetime, hours: int, state: bool) -> None:
    until = instant + timedelta(hours=hours)
    ov = Override(state, until=until)
    inside = evaluate([NIGHT], ov, False, instant, COMMUNE, VN)
    assert (inside.state, inside.reason, inside.override_until) == (state, "override", until)
    expired = evaluate([NIGHT], ov, False, until, COMMUNE, VN)
    assert expired.reason in ("schedule", "default")
    assert expired == evaluate([NIGHT], None, False, until, COMMUNE, VN)


def test_windows_cover_a_year_without_gaps_in_the_commune() -> None:
    """Every local day of 2026 has exactly one night window of a sane length."""
    wins = windows([NIGHT], date(2026, 1, 1), date(2026, 12, 31), COMMUNE, VN)
    assert len(wins) == 365
    for w in wins:
        assert timedelta(hours=9) < w.end - w.start < timedelta(hours=13)
