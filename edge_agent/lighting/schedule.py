"""The schedule engine: what should a circuit be *now*? Pure, sans-IO, clock passed in.

``evaluate(rules, override, default, instant, location, tz)`` gives the desired state, the
reason, the active rule and the next instant the answer changes. Because it answers for any
instant, a reboot at 21:00 finds the lights on, and a missed boundary is never lost.

Rules are windows that belong to the local day they start on. Sun times come from astral in
the *local* timezone (astral's UTC default gives the previous day's sunset west of
Greenwich), see ``sun.py``. "sunset" means "it gets dark", "sunrise" "it gets light". On a
day without the event (polar night/day and the days around them) a window that waits for
dark starts at midnight if it is already dark then, else there is none that day; a window
that ends at sunrise ends at the next real sunrise within two days, at once if it is already
light, or else at the end of the next day (the next day's window continues it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from edge_agent.lighting.sun import local_midnight, local_time, sun_event, sun_events, sun_up
from edge_agent.lighting.timespec import (
    DateSpec,
    TimeSpec,
    parse_date_spec,
    parse_time_spec,
    parse_weekdays,
)

if TYPE_CHECKING:
    from edge_agent.lighting.config import RuleConfig

LOOKBEHIND_DAYS = 2  # windows that started this many days ago may still be running
LOOKAHEAD_DAYS = 9  # how far next_change looks (weekly rules need a week)


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    on: TimeSpec
    off: TimeSpec
    state: bool = True
    weekdays: frozenset[int] | None = None
    dates: tuple[DateSpec, ...] | None = None
    except_dates: tuple[DateSpec, ...] = ()

    @classmethod
    def from_config(cls, cfg: RuleConfig) -> Rule:
        return cls.make(cfg.name or "rule", cfg.on, cfg.off, state=cfg.state == "on",
                        weekdays=cfg.weekdays, dates=cfg.dates, except_dates=cfg.except_dates)

    @classmethod
    def make(cls, name: str, on: str, off: str, *, state: bool = True,
             weekdays: Sequence[str] | None = None, dates: Sequence[str] | None = None,
             except_dates: Sequence[str] = ()) -> Rule:
        return cls(name, parse_time_spec(on), parse_time_spec(off), state,
                   parse_weekdays(list(weekdays)) if weekdays is not None else None,
                   tuple(parse_date_spec(d) for d in dates) if dates is not None else None,
                   tuple(parse_date_spec(d) for d in except_dates))

    def applies_on(self, day: date) -> bool:
        if self.weekdays is not None and day.weekday() not in self.weekdays:
            return False
        if self.dates is not None and not any(d.contains(day) for d in self.dates):
            return False
        return not any(d.contains(day) for d in self.except_dates)


@dataclass(frozen=True, slots=True)
class Override:
    """A commanded state from ``start`` (None: now) until ``until`` (None: until cleared)."""

    state: bool
    until: datetime | None = None
    start: datetime | None = None

    def active_at(self, instant: datetime) -> bool:
        return (self.start is None or self.start <= instant) and \
            (self.until is None or instant < self.until)


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime  # UTC
    end: datetime  # UTC
    index: int  # position of the rule in the list: the later rule wins
    rule: Rule


@dataclass(frozen=True, slots=True)
class Decision:
    state: bool
    reason: str  # "schedule" | "override" | "default"
    rule: str | None
    next_change: datetime | None
    override_until: datetime | None = None


# -- sun ---------------------------------------------------------------------------------
def sun_times(day: date, location: Location, tz: tzinfo | str) -> tuple[datetime | str,
                                                                         datetime | str]:
    """(sunrise, sunset) of a local day in local time; "up"/"down" when the day has none."""
    zone = _zone(tz)
    out = [sun_event(kind, day, location.latitude, location.longitude, zone)
           for kind in ("sunrise", "sunset")]
    rise, sset = (v.astimezone(zone) if isinstance(v, datetime) else v for v in out)
    return rise, sset


def _zone(tz: tzinfo | str) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


# "sunset" means "it gets dark" (the sun goes down), "sunrise" means "it gets light".
_LEADS_TO_UP = {"sunset": False, "sunrise": True}


def _resolve_on(spec: TimeSpec, day: date, loc: Location, tz: tzinfo) -> list[datetime]:
    if spec.kind == "fixed":
        assert spec.at is not None
        return [local_time(day, spec.at, tz)]
    events = sun_events(spec.kind, day, loc.latitude, loc.longitude, tz)
    if events:
        return [event + spec.offset for event in events]
    # No such event today (polar night/day and the days around them): if the sun is
    # already where the event would bring it, the window starts with the day.
    midnight = local_midnight(day, tz)
    if sun_up(midnight, loc.latitude, loc.longitude) == _LEADS_TO_UP[spec.kind]:
        return [midnight]
    return []


def _resolve_off(spec: TimeSpec, start: datetime, loc: Location, tz: tzinfo,
                 start_wall: time | None = None) -> datetime:
    """The end of a window that began at ``start`` (``start_wall``: its nominal local time
    when it was a fixed one; a DST gap moves the instant, the day arithmetic must not)."""
    if spec.kind == "fixed":
        assert spec.at is not None
        local = start.astimezone(tz)
        wall = start_wall if start_wall is not None else local.time()
        end_day = local.date() if spec.at > wall else local.date() + timedelta(days=1)
        return local_time(end_day, spec.at, tz)
    after = start - spec.offset  # event + offset > start  <=>  event > start - offset
    first = after.astimezone(tz).date() - timedelta(days=1)
    for n in range(3):
        for event in sun_events(spec.kind, first + timedelta(days=n), loc.latitude,
                                loc.longitude, tz):
            if event > after:
                return event + spec.offset
    # No such event for two days: polar day or night, judged by the sun at tomorrow's noon.
    # Already there (a fixed 23:00 start under the midnight sun, ending at sunrise) → empty
    # window; otherwise run to the end of the next day, where that day's window continues.
    noon = local_time(first + timedelta(days=2), time(12), tz)
    if sun_up(noon, loc.latitude, loc.longitude) == _LEADS_TO_UP[spec.kind]:
        return start
    return local_midnight(first + timedelta(days=3), tz)


def windows(rules: Sequence[Rule], first: date, last: date, location: Location,
            tz: tzinfo | str) -> list[Window]:
    """Every rule window starting on a local day from ``first`` to ``last`` (inclusive)."""
    return list(_windows(tuple(rules), first, last, location, _zone(tz)))


@lru_cache(maxsize=512)  # the service asks for the same days every few seconds
def _windows(rules: tuple[Rule, ...], first: date, last: date, location: Location,
             zone: tzinfo) -> tuple[Window, ...]:
    out: list[Window] = []
    day = first
    while day <= last:
        for index, rule in enumerate(rules):
            if not rule.applies_on(day):
                continue
            for start in _resolve_on(rule.on, day, location, zone):
                end = _resolve_off(rule.off, start, location, zone, rule.on.at)
                if end > start:
                    out.append(Window(start, end, index, rule))
        day += timedelta(days=1)
    return tuple(out)


# -- evaluation --------------------------------------------------------------------------
def _scheduled(wins: Sequence[Window], instant: datetime) -> Window | None:
    best: Window | None = None
    for w in wins:
        if w.start <= instant < w.end and (best is None or w.index > best.index):
            best = w
    return best


def _decide(wins: Sequence[Window], override: Override | None, default: bool,
            instant: datetime) -> tuple[bool, str, str | None]:
    if override is not None and override.active_at(instant):
        return override.state, "override", None
    window = _scheduled(wins, instant)
    if window is not None:
        return window.rule.state, "schedule", window.rule.name
    return default, "default", None


def evaluate(rules: Sequence[Rule], override: Override | None, default: bool,
             instant: datetime, location: Location, tz: tzinfo | str) -> Decision:
    """The desired state at ``instant`` (timezone-aware) and when it next changes."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    instant = instant.astimezone(UTC)  # see sun.local_time: compare instants in UTC only
    zone = _zone(tz)
    today = instant.astimezone(zone).date()
    wins = _windows(tuple(rules), today - timedelta(days=LOOKBEHIND_DAYS),
                    today + timedelta(days=LOOKAHEAD_DAYS), location, zone)
    state, reason, rule = _decide(wins, override, default, instant)
    edges = {w.start for w in wins} | {w.end for w in wins}
    if override is not None:
        edges |= {t for t in (override.start, override.until) if t is not None}
    horizon = local_midnight(today + timedelta(days=LOOKAHEAD_DAYS), zone)
    next_change = None
    for edge in sorted(e for e in edges if instant < e <= horizon):
        if _decide(wins, override, default, edge)[0] != state:
            next_change = edge
            break
    until = override.until if reason == "override" and override is not None else None
    return Decision(state, reason, rule,
                    next_change.astimezone(zone) if next_change is not None else None, until)


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    state: bool
    reason: str
    rule: str | None


def plan(rules: Sequence[Rule], override: Override | None, default: bool, day: date,
         location: Location, tz: tzinfo | str,
         evaluate_fn: Callable[..., Decision] = evaluate) -> list[Step]:
    """The state at the start of a local day and every change during it."""
    zone = _zone(tz)
    moment = local_midnight(day, zone)
    end = local_midnight(day + timedelta(days=1), zone)
    steps: list[Step] = []
    while moment < end:
        decision = evaluate_fn(rules, override, default, moment, location, zone)
        steps.append(Step(moment.astimezone(zone), decision.state, decision.reason,
                          decision.rule))
        if decision.next_change is None:
            break
        moment = decision.next_change
    return steps
