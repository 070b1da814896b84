"""The live pages: each view loads its data once and renders its fragments (the parts of
the page the SSE stream swaps). A page and its live updates use the same templates, so what
arrives over SSE is exactly what a reload would show."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from control_room.config import ControlRoomConfig
from control_room.console import data, data_media

Params = tuple[tuple[str, str], ...]
Loader = Callable[[AsyncConnection, float, ControlRoomConfig, dict[str, str]],
                  Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class View:
    name: str  # also the page permission (control_room.auth.roles)
    template: str
    fragments: dict[str, str]  # element id -> fragment template
    load: Loader
    params: tuple[str, ...] = ()
    page: str = ""  # the permission, when not the view's name

    @property
    def permission(self) -> str:
        return self.page or self.name


@dataclass(frozen=True, slots=True)
class ViewKey:
    view: str
    params: Params
    lang: str
    role: str


def _num(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        raise web.HTTPBadRequest(text="not a number") from None


def _when(text: str | None, zone: str) -> float | None:
    """Unix seconds, or the page's date-time picker (local time of the commune)."""
    if not text or "T" not in text:
        return _num(text)
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        raise web.HTTPBadRequest(text="not a date and time") from None
    return (found if found.tzinfo else found.replace(tzinfo=ZoneInfo(zone))).timestamp()


async def _overview(conn: AsyncConnection, now: float, cfg: ControlRoomConfig,
                    p: dict[str, str]) -> dict[str, Any]:
    return await data.overview(conn, now, cfg)


async def _gateway(conn: AsyncConnection, now: float, cfg: ControlRoomConfig,
                   p: dict[str, str]) -> dict[str, Any] | None:
    return await data.gateway(conn, p.get("gw", ""), now, cfg)


async def _lights(conn: AsyncConnection, now: float, cfg: ControlRoomConfig,
                  p: dict[str, str]) -> dict[str, Any]:
    return await data.lights(conn, now, cfg, p.get("site"), p.get("gw"))


async def _cameras(conn: AsyncConnection, now: float, cfg: ControlRoomConfig,
                   p: dict[str, str]) -> dict[str, Any]:
    found = await data_media.cameras(conn, now, cfg, p.get("site"))
    found["sites"] = await data.sites(conn, cfg)
    return found


async def _events(conn: AsyncConnection, now: float, cfg: ControlRoomConfig,
                  p: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {"cameras": await data_media.camera_names(conn)}
    keys = await data.keys_of(conn, p.get("site"))
    found["events"] = await data_media.events(
        conn, camera=p.get("camera"), zone=p.get("zone"),
        since=_when(p.get("since"), cfg.console.timezone),
        until=_when(p.get("until"), cfg.console.timezone), keys=keys,
        limit=min(200, int(_num(p.get("limit")) or 50)))
    found["zones"] = await data_media.zones(conn, now - 7 * 86400)
    found["filters"] = p
    return found


async def _hotspots(conn: AsyncConnection, now: float, cfg: ControlRoomConfig,
                    p: dict[str, str]) -> dict[str, Any]:
    return await data_media.hotspots(conn, now, cfg, p.get("site"))


async def _alerts(conn: AsyncConnection, now: float, cfg: ControlRoomConfig,
                  p: dict[str, str]) -> dict[str, Any]:
    return await data.alerts(conn)


async def _wall(conn: AsyncConnection, now: float, cfg: ControlRoomConfig,
                p: dict[str, str]) -> dict[str, Any]:
    found = await data.overview(conn, now, cfg)
    found["grid"] = (await data_media.cameras(conn, now, cfg))["grid"]
    return found


VIEWS = {v.name: v for v in (
    View("overview", "overview.html", {"f-alerts": "frag/alerts_top.html",
                                       "f-villages": "frag/villages.html"}, _overview),
    View("gateway", "gateway.html", {"f-gateway": "frag/gateway.html"}, _gateway, ("gw",)),
    View("lights", "lights.html", {"f-lights": "frag/lights.html"}, _lights, ("site", "gw")),
    View("cameras", "cameras.html", {"f-grid": "frag/camera_grid.html"}, _cameras,
         ("site",)),
    View("events", "events.html", {"f-events": "frag/camera_events.html"}, _events,
         ("site", "camera", "zone", "since", "until", "limit"), page="cameras"),
    View("hotspots", "hotspots.html", {"f-hotspots": "frag/hotspots.html"}, _hotspots,
         ("site",)),
    View("alerts", "alerts.html", {"f-alerts-all": "frag/alerts_all.html"}, _alerts),
    View("wall", "wall.html", {"f-wall": "frag/wall.html"}, _wall),
)}


def params_of(view: View, query: Any) -> Params:
    return tuple((name, str(query[name])[:200]) for name in view.params
                 if query.get(name))


async def load(view: View, conn: AsyncConnection, cfg: ControlRoomConfig, params: Params
               ) -> dict[str, Any] | None:
    return await view.load(conn, time.time(), cfg, dict(params))
