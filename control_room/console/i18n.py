"""Languages: gettext catalogs (``locale/{lang}/LC_MESSAGES/messages.po``, compiled in memory
when the service starts, so a stale ``.mo`` can never be served), and Babel formatting of
times and numbers in the configured zone (24 h) with the language's conventions.

Strings in Python code are marked with ``N_`` (extracted by ``pybabel extract -k N_``) and
translated where they are shown."""

from __future__ import annotations

import functools
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from contract import parse_time

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("vi", "en")  # the first is the default; msgids are English
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}


def N_(message: str) -> str:
    return message


@functools.cache
def translations(language: str) -> NullTranslations:
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po.exists():  # English: the msgids themselves
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def seconds(value: float | str) -> float:
    """Unix seconds from a stored float or an API row's ISO 8601 string."""
    if isinstance(value, str):
        return parse_time(value).timestamp()
    return float(value)


class Formats:
    """Times and numbers for one language and zone."""

    def __init__(self, language: str, zone: str) -> None:
        self.language = language
        self.tz = ZoneInfo(zone)
        self._ = translations(language).gettext

    def local(self, ts: float | str) -> datetime:
        return datetime.fromtimestamp(seconds(ts), UTC).astimezone(self.tz)

    def time(self, ts: float | str | None) -> str:
        return "–" if ts is None else format_datetime(self.local(ts), "HH:mm",
                                                      locale=self.language)

    def when(self, ts: float | str | None, now: float | None = None) -> str:
        """HH:mm today, HH:mm dd/MM otherwise (the reader's day, in the site's zone)."""
        if ts is None:
            return "–"
        here = self.local(ts)
        today = self.local(now if now is not None else datetime.now(UTC).timestamp()).date()
        pattern = "HH:mm" if here.date() == today else "HH:mm dd/MM"
        return format_datetime(here, pattern, locale=self.language)

    def full(self, ts: float | str | None) -> str:
        return "–" if ts is None else format_datetime(self.local(ts), "HH:mm:ss dd/MM/yyyy",
                                                      locale=self.language)

    def date(self, ts: float | str) -> str:
        return format_datetime(self.local(ts), "dd/MM", locale=self.language)

    def num(self, value: float | None, digits: int = 1) -> str:
        if value is None:
            return "–"
        return format_decimal(round(value, digits), format="#,##0." + "#" * digits
                              if digits else "#,##0", locale=self.language)

    def ago(self, ts: float | str | None, now: float) -> str:
        if ts is None:
            return "–"
        span = format_timedelta(timedelta(seconds=max(0.0, now - seconds(ts))), threshold=1.5,
                                locale=self.language)
        return self._("%(span)s ago") % {"span": span}
