"""Plain-text tables of the API's JSON for ``control-room status`` and ``alerts``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any


def _age(iso: str | None, now: datetime | None = None) -> str:
    if not iso:
        return "-"
    then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    seconds = ((now or datetime.now(UTC)) - then).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def render(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    text = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r]
                                          for r in rows]
    widths = [max(len(row[i]) for row in text) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in text)


def _children(items: list[dict[str, Any]], name: str) -> str:
    return " ".join(f"{c[name]}:{c.get('state') or '?'}" for c in items) or "-"


def fleet_table(gateways: list[dict[str, Any]]) -> str:
    if not gateways:
        return "no gateway has reported yet"
    rows = []
    for g in gateways:
        lights = " ".join(f"{c['circuit']}:{c['state']}({c.get('reason') or '?'})"
                          for c in g["circuits"]) or "-"
        rows.append([g["gateway_key"], g["state"], _age(g.get("last_seen")), g.get("version"),
                     g.get("outbox_depth"), g.get("unexplained_loss") or 0, lights,
                     _children(g["cameras"], "camera"), _children(g["hotspots"], "hotspot")])
    return render(["gateway", "state", "last seen", "version", "outbox", "lost", "lights",
                   "cameras", "hotspots"], rows)


def alerts_table(alerts: list[dict[str, Any]]) -> str:
    if not alerts:
        return "no alerts"
    rows = [[a["status"], a["severity"], a["key"], _age(a.get("since")),
             a.get("acked_by") or "", a["message"][:80]] for a in alerts]
    return render(["status", "severity", "alert", "since", "acked by", "message"], rows)


def events_table(events: list[dict[str, Any]]) -> str:
    if not events:
        return "no events yet"
    rows = []
    for e in events:
        data = e.get("data") or {}
        if "from" in data and "to" in data:
            what = f"{data['from']} -> {data['to']}"
        elif e["kind"] == "motion":
            what = f"{data.get('event')} {data.get('event_id', '')[:12]} zones={data.get('zones')}"
        else:
            what = ", ".join(f"{k}={v}" for k, v in list(data.items())[:4])
        rows.append([e["ts"][11:19], e["gateway_key"], e["kind"], e.get("subject"), what[:70]])
    return render(["time", "gateway", "event", "subject", "what"], rows)
