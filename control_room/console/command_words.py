"""A command and its arguments in the reader's words ("Hold main-road: On, until 23:15"),
for the audit log and a gateway's recent commands: an official reads words, not the JSON
that went over MQTT. Arguments come from API callers too, so anything unexpected is shown
as sent (short, never dropped, never an error page)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from control_room.console import labels
from control_room.console.i18n import Formats

MAX_VALUE = 60  # a hostile or pasted argument must not stretch the table


def command_words(gettext: Callable[[str], str], fmt: Formats, path: str, args: Any,
                  now: float, names: Mapping[str, str] | None = None) -> str:
    """``names``: "camera/cong-lang" -> "Cổng làng" for the gateway the command went to (the
    target's id is shown when it has no name)."""
    parts = path.split("/")
    code = parts[-1]
    name = labels.COMMANDS.get(code)
    what = gettext(name) if name else path
    target = parts[1] if len(parts) >= 3 else ""
    target = (names or {}).get(f"{parts[0]}/{target}", target) if target else ""
    head = f"{what} {target}".strip()
    if not args:
        return head
    if not isinstance(args, dict):
        return f"{head}: {_short(args)}"
    details = [_argument(gettext, fmt, str(key), value, now) for key, value in args.items()]
    return f"{head}: {', '.join(details)}"


def _argument(gettext: Callable[[str], str], fmt: Formats, key: str, value: Any,
              now: float) -> str:
    if key == "state" and value in labels.STATES:
        return gettext(labels.STATES[value])
    if key in ("until", "start") and isinstance(value, str):
        try:
            shown = fmt.when(value, now)
        except ValueError:
            return f"{key}: {_short(value)}"
        text = gettext("until %(time)s") if key == "until" else gettext("from %(time)s")
        return text % {"time": shown}
    if key == "seconds" and isinstance(value, int | float) and not isinstance(value, bool):
        return gettext("for %(seconds)s s") % {"seconds": fmt.num(float(value))}
    return f"{key}: {_short(value)}"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 1] + "…"
