"""Small server-rendered SVG charts (bars per day, a line over a day): no script, a few
hundred bytes, readable on a phone in sunlight (thick strokes, dark ink)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

INK, BAR, LINE, GRID = "#111", "#b45309", "#1d4ed8", "#9ca3af"


def bars(values: Sequence[tuple[str, float | None]], unit: str, high: float | None = None,
         width: int = 360, height: int = 120, label: str = "",
         fmt: Callable[[float], str] | None = None) -> Markup:
    """One bar per (label, value); None is drawn as a gap (no data that day)."""
    _num = fmt or _plain
    known = [v for _, v in values if v is not None]
    top = high or max([*known, 1.0])  # a few minutes must not look like a full day
    n = max(1, len(values))
    step = (width - 30) / n
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(label)}">',
             f'<line x1="28" y1="{height - 18}" x2="{width}" y2="{height - 18}" '
             f'stroke="{GRID}"/>',
             f'<text x="0" y="12" font-size="11" fill="{INK}">{escape(_num(top))} '
             f'{escape(unit)}</text>']
    every = max(1, n // 7)
    for i, (name, value) in enumerate(values):
        x = 30 + i * step
        if value is not None:
            h = max(1.0, (height - 34) * min(value, top) / top)
            parts.append(f'<rect x="{x:.1f}" y="{height - 18 - h:.1f}" '
                         f'width="{max(1.0, step - 2):.1f}" height="{h:.1f}" fill="{BAR}">'
                         f'<title>{escape(name)}: {escape(_num(value))} {escape(unit)}'
                         f'</title></rect>')
        if (n - 1 - i) % every == 0:  # today always labelled, the rest spaced out
            end = i == n - 1  # the last label ends at the edge instead of running off it
            anchor = ' text-anchor="end"' if end else ""
            parts.append(f'<text x="{width if end else x:.1f}" y="{height - 4}" '
                         f'font-size="10" fill="{INK}"{anchor}>{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line(points: Sequence[tuple[float, float | None]], start: float, end: float, unit: str,
         width: int = 360, height: int = 90, label: str = "",
         ticks: Sequence[tuple[float, str]] = (),
         fmt: Callable[[float], str] | None = None) -> Markup:
    """A line of (ts, value) between ``start`` and ``end``; None breaks the line."""
    _num = fmt or _plain
    known = [v for _, v in points if v is not None]
    top = max([*known, 1e-9]) * 1.1
    span = max(1e-9, end - start)
    runs: list[list[str]] = [[]]
    for ts, value in points:
        if value is None:
            runs.append([])
            continue
        x = 30 + (width - 32) * (ts - start) / span
        y = height - 16 - (height - 28) * value / top
        runs[-1].append(f"{x:.1f},{y:.1f}")
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(label)}">',
             f'<line x1="28" y1="{height - 16}" x2="{width}" y2="{height - 16}" '
             f'stroke="{GRID}"/>',
             f'<text x="0" y="11" font-size="11" fill="{INK}">{escape(_num(top))} '
             f'{escape(unit)}</text>']
    for run in runs:
        if len(run) > 1:
            parts.append(f'<polyline fill="none" stroke="{LINE}" stroke-width="2.5" '
                         f'points="{" ".join(run)}"/>')
        elif run:
            cx, cy = run[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{LINE}"/>')
    for ts, text in ticks:
        x = 30 + (width - 32) * (ts - start) / span
        parts.append(f'<text x="{x:.1f}" y="{height - 3}" font-size="10" fill="{INK}">'
                     f'{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _plain(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"
