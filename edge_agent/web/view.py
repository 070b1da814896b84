"""What the page, the JSON API and /metrics show: built from ``ctx.status()`` and
``ctx.state`` (the retained payloads), whatever fields the capabilities put in them."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from edge_agent.runtime import AgentContext, RetainedState

ENVELOPE_KEYS = ("v", "seq", "id", "replayed")  # "id" is the message id, not the entity's


def entities(state: RetainedState, kind: str, leaf: str) -> dict[str, dict[str, Any]]:
    """``{entity_id: payload}`` for retained topics ``{kind}/{entity_id}/{leaf}``."""
    found: dict[str, dict[str, Any]] = {}
    for topic, payload in state.matching(f"{kind}/").items():
        parts = topic.split("/")
        if len(parts) == 3 and parts[2] == leaf and isinstance(payload, Mapping):
            found[parts[1]] = {k: v for k, v in payload.items() if k not in ENVELOPE_KEYS}
    return found


def snapshots(state: RetainedState) -> dict[str, bytes]:
    """``{camera_id: jpeg}`` for the retained ``camera/{id}/snapshot`` payloads."""
    found: dict[str, bytes] = {}
    for topic, payload in state.matching("camera/").items():
        parts = topic.split("/")
        if len(parts) == 3 and parts[2] == "snapshot" and isinstance(payload, bytes):
            found[parts[1]] = payload
    return found


def configured(section: Any) -> dict[str, str | None]:
    """``{id: human name}`` of the items of a config section: a list of models, a dict, or a
    model with ``circuits``. Tolerant on purpose: capability configs grow independently."""
    if section is None:
        return {}
    if hasattr(section, "circuits"):
        section = section.circuits
    if isinstance(section, Mapping):
        return {str(key): None for key in section}
    found: dict[str, str | None] = {}
    if isinstance(section, list | tuple):
        for item in section:
            get = item.get if isinstance(item, Mapping) else \
                lambda key, obj=item: getattr(obj, key, None)
            ident = get("id") or get("name")
            if ident:
                name = get("name")
                found[str(ident)] = str(name) if name and name != ident else None
    return found


def configured_ids(section: Any) -> list[str]:
    return list(configured(section))


def _merge(config: dict[str, str | None],
           live: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Configured items (even before their first message) plus live ones; the config's
    human name fills in when the payload has none."""
    merged: dict[str, dict[str, Any]] = {ident: {} for ident in config}
    merged.update(live)
    for ident, name in config.items():
        if name and not merged[ident].get("name"):
            merged[ident]["name"] = name
    return dict(sorted(merged.items()))


def api_status(ctx: AgentContext, health: Mapping[str, Any],
               writes_enabled: bool) -> dict[str, Any]:
    """The body of ``/api/status``: one fetch gives the page everything."""
    cfg = ctx.config
    shots = snapshots(ctx.state)
    cameras = _merge(configured(cfg.cameras), entities(ctx.state, "camera", "status"))
    for ident, camera in cameras.items():
        jpeg = shots.get(ident)
        # the checksum changes the URL only when the image changes (no needless reloads)
        camera["snapshot_url"] = (f"/snapshot/{ident}.jpg?v={zlib.adler32(jpeg):08x}"
                                  if jpeg else None)
    return {
        "gateway": dict(ctx.status()),
        "timezone": cfg.gateway.timezone,
        "health": dict(health),
        "writes_enabled": writes_enabled,
        "lights": _merge(configured(getattr(cfg, "lighting", None)),
                         entities(ctx.state, "light", "state")),
        "cameras": cameras,
        "hotspots": _merge(configured(cfg.hotspots), entities(ctx.state, "hotspot", "state")),
    }
