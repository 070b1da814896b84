"""Parsing of rule times: ``18:30``, ``05:00:30``, ``sunset``, ``sunset+15m``, ``sunrise-1h10m``.

Pure and tiny so the config validator and the schedule engine share one grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time, timedelta

_FIXED = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_ASTRO = re.compile(r"^(sunset|sunrise)\s*(?:([+-])\s*((?:\d+h)?(?:\d+m)?(?:\d+s)?))?$")
_PART = re.compile(r"(\d+)([hms])")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                  "sunday")
_RANGE_SEP = ".."


@dataclass(frozen=True, slots=True)
class TimeSpec:
    kind: str  # "fixed" | "sunset" | "sunrise"
    at: time | None = None  # fixed time of day
    offset: timedelta = timedelta(0)  # astro offset

    def __str__(self) -> str:
        if self.kind == "fixed":
            assert self.at is not None
            return self.at.strftime("%H:%M:%S" if self.at.second else "%H:%M")
        if not self.offset:
            return self.kind
        sign = "-" if self.offset < timedelta(0) else "+"
        return f"{self.kind}{sign}{_fmt_offset(abs(self.offset))}"


def _fmt_offset(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0m"


def parse_time_spec(text: str) -> TimeSpec:
    """Raises ValueError with a readable message for anything else."""
    raw = str(text).strip().lower()
    if m := _FIXED.match(raw):
        hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(f"{text!r} is not a time of day (00:00 to 23:59)")
        return TimeSpec("fixed", at=time(hour, minute, second))
    if m := _ASTRO.match(raw):
        offset = timedelta(0)
        if m.group(2):
            parts = m.group(3) or ""
            if not parts:
                raise ValueError(f"{text!r}: offset needs a unit, e.g. sunset+15m")
            seconds = sum(int(v) * {"h": 3600, "m": 60, "s": 1}[u] for v, u in
                          _PART.findall(parts))
            if seconds > 6 * 3600:
                raise ValueError(f"{text!r}: offsets above 6h are not supported")
            offset = timedelta(seconds=-seconds if m.group(2) == "-" else seconds)
        return TimeSpec(m.group(1), offset=offset)
    raise ValueError(f"{text!r} is not a time: use HH:MM, sunset, sunrise, sunset+15m or "
                     "sunrise-10m")


def parse_weekdays(items: list[str]) -> frozenset[int]:
    """``["mon", "fri-sun"]`` → {0, 4, 5, 6} (Monday is 0). Full names work too."""
    out: set[int] = set()
    for item in items:
        word = str(item).strip().lower()
        if "-" in word:
            first, last = word.split("-", 1)
            a, b = _weekday(first), _weekday(last)
            out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            out.add(_weekday(word))
    return frozenset(out)


def _weekday(word: str) -> int:
    word = word.strip()
    if word in _WEEKDAYS:
        return _WEEKDAYS.index(word)
    if word in _FULL_WEEKDAYS:
        return _FULL_WEEKDAYS.index(word)
    raise ValueError(f"{word!r} is not a weekday (mon, tue, ..., sun, or a range fri-sun)")


@dataclass(frozen=True, slots=True)
class DateSpec:
    """A date, a yearly date (``MM-DD``), or a range ``A..B`` of either."""

    first: tuple[int | None, int, int]  # (year or None, month, day)
    last: tuple[int | None, int, int]

    def contains(self, day: date) -> bool:
        a = (self.first[0] or day.year, self.first[1], self.first[2])
        b = (self.last[0] or day.year, self.last[1], self.last[2])
        key = (day.year, day.month, day.day)
        if self.first[0] is None and a > b:  # yearly range over new year: 12-30..01-02
            return key >= a or key <= b
        return a <= key <= b


def parse_date_spec(text: str) -> DateSpec:
    raw = str(text).strip()
    first, _, last = raw.partition(_RANGE_SEP)
    a = _one_date(first.strip(), raw)
    b = _one_date(last.strip(), raw) if last else a
    if (a[0] is None) != (b[0] is None):
        raise ValueError(f"{raw!r}: both ends of a range need a year, or neither")
    if a[0] is not None and a > b:
        raise ValueError(f"{raw!r}: the range ends before it starts")
    return DateSpec(a, b)


def _one_date(text: str, whole: str) -> tuple[int | None, int, int]:
    parts = text.split("-")
    try:
        if len(parts) == 3:
            d = date(int(parts[0]), int(parts[1]), int(parts[2]))
            return (d.year, d.month, d.day)
        if len(parts) == 2:
            d = date(2024, int(parts[0]), int(parts[1]))  # leap year: 02-29 is allowed
            return (None, d.month, d.day)
    except ValueError:
        pass
    raise ValueError(f"{whole!r} is not a date: use YYYY-MM-DD, MM-DD (every year), or a "
                     "range like 2026-02-16..2026-02-20")
