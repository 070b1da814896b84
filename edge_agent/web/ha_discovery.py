"""Home Assistant MQTT discovery (off by default: ``homeassistant: {enabled: true}``).

Publishes retained ``{prefix}/{component}/{node}/{object}/config`` messages so Home Assistant
shows light circuits as switches, camera motion and camera links as binary sensors, and
hotspots as a connectivity binary sensor plus RTT/loss/clients/uptime sensors. Every entity is
available only while the gateway's retained ``status`` says ``online``.

The entity list comes from the config and from the retained state (so circuits, cameras and
hotspots appear as soon as their first state is published). Configs are sent again after each
MQTT reconnect and when Home Assistant announces itself (``{prefix}/status`` = ``online``).
Entities that disappear from the config get an empty retained message, which removes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edge_agent import __version__
from edge_agent.config.model import AgentConfig
from edge_agent.runtime import AgentContext, CommandError, CommandRequest, Component
from edge_agent.web.view import configured_ids, entities

log = logging.getLogger(__name__)

POLL_S = 2.0  # how often new entities / reconnects are looked for
STORE_NAME = "homeassistant-discovery.json"
MAX_HA_OVERRIDE = timedelta(hours=24)
AVAILABILITY_TEMPLATE = "{{ 'online' if value_json.state == 'online' else 'offline' }}"
MOTION_TEMPLATE = ("{{ 'ON' if (value_json.event | default(value_json.type | default('')))"
                   " in ['start', 'update'] else 'OFF' }}")
_SAFE = re.compile(r"[^A-Za-z0-9_-]")

# (field, name, unit, device_class, icon) of hotspot sensors
HOTSPOT_SENSORS: list[tuple[str, str, str | None, str | None, str]] = [
    ("rtt_median_ms", "RTT median", "ms", "duration", "mdi:timer-outline"),
    ("loss_pct", "packet loss", "%", None, "mdi:lan-disconnect"),
    ("clients", "clients", None, None, "mdi:account-multiple"),
    ("uptime_24h_pct", "uptime 24 h", "%", None, "mdi:percent"),
]


def safe_id(text: str) -> str:
    """Home Assistant allows only ``[A-Za-z0-9_-]`` in node and object ids."""
    return _SAFE.sub("_", text)


class Discovery:
    """Builds the discovery messages for one gateway. Pure: no I/O, no clock."""

    def __init__(self, base_topic: str, gateway: str, prefix: str = "homeassistant",
                 node_id: str | None = None, device_name: str | None = None) -> None:
        self.base = base_topic
        self.prefix = prefix
        self.node = safe_id(node_id or f"edge_{gateway}")
        self.device = {"identifiers": [self.node], "name": device_name or f"Gateway {gateway}",
                       "manufacturer": "commune edge agent", "model": "edge-agent",
                       "sw_version": __version__}

    def _common(self, kind: str, ident: str, name: str) -> dict[str, Any]:
        return {
            "name": name, "unique_id": f"{self.node}_{kind}_{safe_id(ident)}",
            "object_id": f"{self.node}_{kind}_{safe_id(ident)}", "device": self.device,
            "availability": [{"topic": f"{self.base}/status", "payload_available": "online",
                              "payload_not_available": "offline",
                              "value_template": AVAILABILITY_TEMPLATE}],
            "qos": 1,
        }

    def _topic(self, component: str, kind: str, ident: str) -> str:
        return f"{self.prefix}/{component}/{self.node}/{kind}_{safe_id(ident)}/config"

    def light(self, circuit: str) -> tuple[str, dict[str, Any]]:
        state = f"{self.base}/light/{circuit}/state"
        body = self._common("light", circuit, f"Light {circuit}") | {
            "state_topic": state, "value_template": "{{ value_json.state }}",
            "state_on": "on", "state_off": "off", "json_attributes_topic": state,
            # our own small command: HA cannot compute the override's "until" itself
            "command_topic": f"{self.base}/cmd/homeassistant/{circuit}/switch",
            "payload_on": json.dumps({"state": "on"}),
            "payload_off": json.dumps({"state": "off"}), "icon": "mdi:lightbulb-group",
        }
        return self._topic("switch", "light", circuit), body

    def camera(self, camera: str) -> list[tuple[str, dict[str, Any]]]:
        motion = self._common("motion", camera, f"Camera {camera} motion") | {
            "state_topic": f"{self.base}/camera/{camera}/motion",
            "value_template": MOTION_TEMPLATE, "device_class": "motion",
            "json_attributes_topic": f"{self.base}/camera/{camera}/motion",
        }
        status = f"{self.base}/camera/{camera}/status"
        link = self._common("camera", camera, f"Camera {camera}") | {
            "state_topic": status, "device_class": "connectivity",
            "value_template": "{{ 'ON' if value_json.state == 'online' else 'OFF' }}",
            "json_attributes_topic": status, "entity_category": "diagnostic",
        }
        return [(self._topic("binary_sensor", "motion", camera), motion),
                (self._topic("binary_sensor", "camera", camera), link)]

    def hotspot(self, hotspot: str) -> list[tuple[str, dict[str, Any]]]:
        state = f"{self.base}/hotspot/{hotspot}/state"
        up = self._common("hotspot", hotspot, f"Hotspot {hotspot}") | {
            "state_topic": state, "device_class": "connectivity",
            # degraded still serves users: on, with the details in the attributes
            "value_template": "{{ 'OFF' if value_json.state == 'down' else 'ON' }}",
            "json_attributes_topic": state,
        }
        messages = [(self._topic("binary_sensor", "hotspot", hotspot), up)]
        for field, label, unit, device_class, icon in HOTSPOT_SENSORS:
            kind = f"hotspot_{field}"
            body = self._common(kind, hotspot, f"Hotspot {hotspot} {label}") | {
                "state_topic": state, "state_class": "measurement", "icon": icon,
                "value_template": f"{{{{ value_json.{field} | default(none) }}}}",
            }
            if unit:
                body["unit_of_measurement"] = unit
            if device_class:
                body["device_class"] = device_class
            messages.append((self._topic("sensor", kind, hotspot), body))
        return messages

    def messages(self, circuits: Iterable[str], cameras: Iterable[str],
                 hotspots: Iterable[str]) -> dict[str, bytes]:
        """``{topic: payload}`` for every entity, payloads as compact JSON bytes."""
        found: list[tuple[str, dict[str, Any]]] = [self.light(c) for c in sorted(set(circuits))]
        for camera in sorted(set(cameras)):
            found.extend(self.camera(camera))
        for hotspot in sorted(set(hotspots)):
            found.extend(self.hotspot(hotspot))
        return {topic: json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
                for topic, body in found}


def override_until(light_state: Any, now: datetime) -> str:
    """When a switch from Home Assistant ends: at the schedule's next change (the schedule
    takes over again then), at most MAX_HA_OVERRIDE later; that long when nothing is known."""
    limit = now + MAX_HA_OVERRIDE
    text = light_state.get("next_change") if isinstance(light_state, Mapping) else None
    if isinstance(text, str):
        try:
            change = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            change = None
        if change is not None and change.tzinfo is not None and now < change < limit:
            return change.isoformat()
    return limit.isoformat()


class HaDiscoveryComponent:
    name = "homeassistant"

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._resend = asyncio.Event()
        self._clock = clock
        self._ctx: AgentContext | None = None

    async def _switch(self, request: CommandRequest) -> Mapping[str, Any]:
        """``cmd/homeassistant/{circuit}/switch`` ``{"state": "on"}``: an override of the
        circuit until the schedule's next change, through the lighting command itself."""
        assert self._ctx is not None
        state = str(request.payload.get("state", "")).lower()
        if state not in ("on", "off"):
            raise CommandError("state must be 'on' or 'off'")
        circuit = request.subject or ""
        until = override_until(self._ctx.state.get(f"light/{circuit}/state"), self._clock())
        reply = await self._ctx.commands.execute(f"light/{circuit}/override",
                                                 {"state": state, "until": until})
        if not reply.get("ok"):
            raise CommandError(str(reply.get("error")))
        return {"circuit": circuit, "state": state, "until": until}

    def _wanted(self, ctx: AgentContext, discovery: Discovery) -> dict[str, bytes]:
        cfg = ctx.config
        circuits = configured_ids(getattr(cfg, "lighting", None)) + \
            list(entities(ctx.state, "light", "state"))
        cameras = configured_ids(cfg.cameras) + list(entities(ctx.state, "camera", "status"))
        hotspots = configured_ids(cfg.hotspots) + list(entities(ctx.state, "hotspot", "state"))
        return discovery.messages(circuits, cameras, hotspots)

    def _ha_status(self, topic: str, payload: bytes) -> None:
        if payload.strip() == b"online":  # Home Assistant restarted: it forgot the configs
            self._resend.set()

    async def run(self, ctx: AgentContext) -> None:
        ha = ctx.config.homeassistant
        discovery = Discovery(ctx.config.base_topic, ctx.config.gateway.id, ha.prefix,
                              ha.node_id, ha.device_name)
        store = ctx.data_dir / STORE_NAME
        saved = await asyncio.to_thread(_load, store)
        unsubscribe = ctx.mqtt_port.subscribe_raw(f"{ha.prefix}/status", self._ha_status)
        self._ctx = ctx
        ctx.commands.register("homeassistant", "switch", self._switch)
        try:
            await self._publish_forever(ctx, discovery, store, saved)
        finally:
            unsubscribe()
            ctx.commands.unregister_all("homeassistant")

    async def _publish_forever(self, ctx: AgentContext, discovery: Discovery, store: Path,
                               saved: list[str]) -> None:
        stale = set(saved)
        sent: dict[str, bytes] = {}
        connects = -1
        while True:
            wanted = self._wanted(ctx, discovery)
            now_connects = int((ctx.status().get("mqtt") or {}).get("connects") or 0)
            if now_connects != connects or self._resend.is_set():
                sent.clear()  # new connection (broker may have lost retained) or HA restart
                self._resend.clear()
            try:
                for topic in sorted(stale - wanted.keys()):
                    await ctx.mqtt_port.publish_raw(topic, b"", qos=1, retain=True)
                    log.info("homeassistant: removed %s", topic)
                stale.clear()
                for topic, payload in wanted.items():
                    if sent.get(topic) != payload:
                        await ctx.mqtt_port.publish_raw(topic, payload, qos=1, retain=True)
                        sent[topic] = payload
                connects = now_connects
            except Exception as exc:  # link down: retry on the next round
                log.debug("homeassistant: discovery not sent yet: %s", exc)
            else:
                if sorted(wanted) != saved:
                    saved = sorted(wanted)
                    await asyncio.to_thread(_save, store, saved)  # small, but disk I/O
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resend.wait(), POLL_S)


def _load(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [str(t) for t in data] if isinstance(data, list) else []


def _save(path: Path, topics: list[str]) -> None:
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(topics))
        tmp.replace(path)
    except OSError as exc:
        log.warning("homeassistant: cannot save %s: %s", path, exc)


def build_components(config: AgentConfig) -> list[Component]:
    return [HaDiscoveryComponent()]
