"""Pure arithmetic for the pages: time spent in a state per local day (lamp on-hours,
hotspot uptime) and sunrise/sunset. No I/O; the clock and zone are parameters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import sun


def day_starts(now: float, days: int, tz: ZoneInfo) -> list[float]:
    """Local midnights of the last ``days`` days (oldest first, today last), plus the next
    one as the end of today."""
    today = datetime.fromtimestamp(now, tz).date()
    out = []
    for back in range(days - 1, -2, -1):
        day = today - timedelta(days=back)
        out.append(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())
    return out


def time_in_state(changes: Iterable[tuple[float, str]], counting: frozenset[str],
                  bounds: Sequence[float], now: float, before: str | None = None
                  ) -> list[float | None]:
    """Seconds per interval ``bounds[i]..bounds[i+1]`` spent in a state of ``counting``.

    ``changes`` are ``(ts, new_state)`` in time order; ``before`` is the state before the
    first of them (None: unknown). An interval before anything was known is None (no data,
    not zero); time after ``now`` is not counted."""
    out: list[float | None] = [None] * (len(bounds) - 1)
    state, since = before, bounds[0]
    for ts, new in [*changes, (now, "\0end")]:
        ts = min(ts, now)
        if ts > since:
            _spread(out, bounds, since, ts, state, counting)
        state, since = new, max(since, ts)
    return out


def _spread(out: list[float | None], bounds: Sequence[float], start: float, end: float,
            state: str | None, counting: frozenset[str]) -> None:
    for i in range(len(out)):
        low, high = max(start, bounds[i]), min(end, bounds[i + 1])
        if high <= low or state is None:
            continue
        out[i] = (out[i] or 0.0) + (high - low if state in counting else 0.0)


def sun_times(latitude: float, longitude: float, day: date, tz: ZoneInfo
              ) -> tuple[float | None, float | None]:
    """(sunrise, sunset) of ``day`` at the place, Unix seconds; None where the sun does not
    rise or set that day."""
    try:
        found = sun(Observer(latitude, longitude), date=day, tzinfo=tz)
    except ValueError:
        return None, None
    return found["sunrise"].timestamp(), found["sunset"].timestamp()
