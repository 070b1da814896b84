"""Sunrise and sunset per *local* day, robust at high latitudes.

astral gives the events when asked with the local timezone (its UTC default returns the
previous day's sunset west of Greenwich). Near the poles astral is not enough: it sometimes
reports "always above the horizon" on a day that does have a sunrise (Tromsø, 14 May), and a
day can hold two sunsets (Helsinki-latitude July: 00:00:40 and 23:59:10). There, and
whenever astral's answer falls on another local date, the day is scanned: the sun's
geometric elevation is sampled every 10 minutes and each crossing of -0.833° (refraction +
the sun's radius, astral's own definition) is refined to one second.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

from astral import Observer
from astral.sun import elevation, sunrise, sunset

HORIZON_DEG = -0.833
_STEP = timedelta(minutes=10)
_PRECISION = timedelta(seconds=1)


def local_midnight(day: date, tz: tzinfo) -> datetime:
    return local_time(day, time(0), tz)


def local_time(day: date, at: time, tz: tzinfo) -> datetime:
    """A local wall time as a UTC instant. Instants are kept in UTC on purpose: Python
    compares and subtracts two datetimes with the *same* tzinfo by wall time, which is
    wrong across a DST change. (A time in a DST gap is read with the offset before it.)"""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def sun_up(instant: datetime, lat: float, lon: float) -> bool:
    return elevation(Observer(lat, lon), instant, with_refraction=False) > HORIZON_DEG


HIGH_LATITUDE = 60.0  # beyond this a sunset can fall on both ends of one local day
_NEAR_MIDNIGHT, _BEFORE_MIDNIGHT = time(1, 0), time(23, 0)


@lru_cache(maxsize=8192)
def sun_events(kind: str, day: date, lat: float, lon: float, tz: tzinfo) -> tuple[datetime,
                                                                                   ...]:
    """Every sunrise (or sunset) during a local day, in order, in UTC; usually one.

    Near the poles a day can have none (polar day/night) or two (the sunset drifts across
    midnight: 00:00:40 and 23:59:10 of the same date); there the day is scanned."""
    observer = Observer(lat, lon)
    try:
        event = (sunrise if kind == "sunrise" else sunset)(observer, day, tzinfo=tz)
    except ValueError:
        return _scan(kind == "sunrise", day, lat, lon, tz)
    local = event.astimezone(tz)
    if local.date() != day:
        return _scan(kind == "sunrise", day, lat, lon, tz)
    if abs(lat) >= HIGH_LATITUDE and not _NEAR_MIDNIGHT <= local.time() <= _BEFORE_MIDNIGHT:
        # The event drifts by minutes a day: a second one the same day needs it near 00:00.
        return _scan(kind == "sunrise", day, lat, lon, tz)
    return (event.astimezone(UTC),)


def sun_event(kind: str, day: date, lat: float, lon: float, tz: tzinfo) -> datetime | str:
    """The day's (first) event, or "up"/"down" (the sun at local noon) if it has none."""
    events = sun_events(kind, day, lat, lon, tz)
    if events:
        return events[0]
    return "up" if sun_up(local_time(day, time(12), tz), lat, lon) else "down"


def _scan(rising: bool, day: date, lat: float, lon: float, tz: tzinfo) -> tuple[datetime, ...]:
    start, end = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
    found: list[datetime] = []
    prev_t, prev_up = start, sun_up(start, lat, lon)
    while prev_t < end:
        t = min(prev_t + _STEP, end)
        up = sun_up(t, lat, lon)
        if up != prev_up and up == rising:
            lo, hi = prev_t, t
            while hi - lo > _PRECISION:
                mid = lo + (hi - lo) / 2
                if sun_up(mid, lat, lon) == up:
                    hi = mid
                else:
                    lo = mid
            if hi < end:
                found.append(hi)
        prev_t, prev_up = t, up
    return tuple(found)
