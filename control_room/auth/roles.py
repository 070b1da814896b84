"""Who may do what: pure tables, no I/O.

``admin`` everything; ``operator`` every page and every command; ``viewer`` every page but
users, no writes; ``police`` only the cameras and their events (and a fresh snapshot, which
changes nothing on the gateway but its picture)."""

from __future__ import annotations

from typing import Literal

Role = Literal["admin", "operator", "viewer", "police"]
ROLES: tuple[Role, ...] = ("admin", "operator", "viewer", "police")

PAGES = ("overview", "gateway", "lights", "cameras", "hotspots", "alerts", "audit", "users",
         "wall")
_ALL_PAGES = frozenset(PAGES) - {"users"}
_VIEW: dict[str, frozenset[str]] = {
    "admin": frozenset(PAGES),
    "operator": _ALL_PAGES,
    "viewer": _ALL_PAGES,
    "police": frozenset({"cameras"}),
}
# writes: light/… and camera arm/disarm are commands; snapshot is asking for a picture
_WRITE: dict[str, frozenset[str]] = {
    "admin": frozenset({"command", "snapshot", "ack", "users"}),
    "operator": frozenset({"command", "snapshot", "ack"}),
    "viewer": frozenset(),
    "police": frozenset({"snapshot"}),
}


def can_view(role: str, page: str) -> bool:
    return page in _VIEW.get(role, frozenset())


def can(role: str, action: str) -> bool:
    return action in _WRITE.get(role, frozenset())


def home(role: str) -> str:
    """The first page after login."""
    return "/" if can_view(role, "overview") else "/cameras"


def command_action(path: str) -> str:
    """The permission a gateway command needs (``camera/X/snapshot`` is a snapshot)."""
    return "snapshot" if path.startswith("camera/") and path.endswith("/snapshot") \
        else "command"


def api_allows(role: str, method: str, path: str, command: str | None = None) -> bool:
    """The JSON API with a user's own token: reads by what the role may see, writes by what
    it may do (``command`` is the body's command path for ``POST /api/commands``)."""
    if method in ("GET", "HEAD"):
        if role == "police":
            return path.startswith(("/api/events", "/api/snapshots/"))
        return role in ROLES
    if path == "/api/commands":
        return command is not None and can(role, command_action(command))
    if path == "/api/alerts/ack":
        return can(role, "ack")
    return False
