"""Jinja2 pages and fragments, one environment per language (gettext installed), with the
labels and time/number formats of that language. Autoescaped: payload strings (camera
errors, names) are never HTML."""

from __future__ import annotations

import functools
import hashlib
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from control_room.auth import roles
from control_room.auth.store import User
from control_room.console import charts, labels
from control_room.console.command_words import command_words
from control_room.console.data import problem
from control_room.console.i18n import LANGUAGE_NAMES, LANGUAGES, N_, Formats, translations

CACHE_ENTRIES = 4096  # rendered villages kept (a province: ~100 per language and role)
TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
NAV = (("overview", "/", N_("Overview")), ("lights", "/lights", N_("Street lights")),
       ("cameras", "/cameras", N_("Cameras")), ("hotspots", "/hotspots", N_("Wifi")),
       ("alerts", "/alerts", N_("Alerts")), ("audit", "/audit", N_("Audit log")),
       ("users", "/users", N_("Users")))


@functools.cache
def static_version() -> str:
    """Changes with the static files: the page asks for new ones, and a wall screen reloads
    itself when the server comes back with other code."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.iterdir()):
        digest.update(path.read_bytes())
    for path in sorted(TEMPLATES.rglob("*.html")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


class Renderer:
    def __init__(self, zone: str, site_name: Any) -> None:
        self.zone = zone
        self._envs = {lang: self._env(lang) for lang in LANGUAGES}
        self._formats = {lang: Formats(lang, zone) for lang in LANGUAGES}
        self._site_name = site_name
        self._cache: OrderedDict[tuple[str, str, str, str], Markup] = OrderedDict()

    def _env(self, lang: str) -> jinja2.Environment:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                                 autoescape=True, extensions=["jinja2.ext.i18n"],
                                 trim_blocks=True, lstrip_blocks=True,
                                 undefined=jinja2.StrictUndefined)
        env.tests["problem"] = problem
        env.globals["problem"] = problem
        env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
        return env

    def render(self, name: str, lang: str, user: User | None, **context: Any) -> str:
        env = self._envs.get(lang) or self._envs[LANGUAGES[0]]
        return env.get_template(name).render(**self._globals(lang, user), **context)

    def _globals(self, lang: str, user: User | None) -> dict[str, Any]:
        fmt = self._formats.get(lang) or self._formats[LANGUAGES[0]]
        gettext = translations(lang).gettext
        role = user.role if user else ""
        now = time.time()

        def label(table: str, code: Any) -> str:
            text = getattr(labels, table.upper()).get(code)
            return gettext(text) if text else ("–" if code is None else str(code))

        found: dict[str, Any] = {
            "f": fmt, "now": now, "lang": lang, "me": user, "label": label,
            "tone": lambda code: labels.TONE.get(code, "off"),
            "command_words": lambda path, args, names=None: command_words(
                gettext, fmt, path, args, now, names),
            "can": lambda action: roles.can(role, action),
            "can_view": lambda page: roles.can_view(role, page),
            "nav": [(page, href, gettext(text)) for page, href, text in NAV
                    if roles.can_view(role, page)],
            "languages": LANGUAGE_NAMES, "version": static_version(),
            "site_name": self._site_name, "tz": self.zone,
            "bars_chart": lambda points, unit=None, high=None: charts.bars(
                [(fmt.date(b), v) for b, v in points], unit or gettext("h"), high,
                fmt=fmt.num),
            "line_chart": lambda series, metric, start, end, unit: charts.line(
                [(ts, d.get(metric)) for ts, d in series], start, end, unit, fmt=fmt.num,
                ticks=[(x, fmt.time(x)) for x in _hours(start, end)]),
        }

        def cached(name: str, **context: Any) -> Markup:
            """A template that depends only on ``context``, the language and the role (one
            village of the overview), rendered once per distinct input."""
            key = (name, lang, role, repr(sorted(context.items())))
            hit = self._cache.get(key)
            if hit is None:
                env = self._envs.get(lang) or self._envs[LANGUAGES[0]]
                hit = Markup(env.get_template(name).render(**found, **context))  # escaped
                self._cache[key] = hit
                if len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
            return hit

        found["cached"] = cached
        return found


def _hours(start: float, end: float, every_h: int = 6) -> list[float]:
    step = every_h * 3600
    first = start - start % step + step
    return [first + i * step for i in range(int((end - first) // step) + 1)]
