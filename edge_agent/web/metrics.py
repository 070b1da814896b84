"""Prometheus ``/metrics``: a custom collector that reads the live state at scrape time.

Nothing is counted twice or kept in sync by hand: every scrape asks ``ctx.status()`` and the
retained-state cache, so the numbers are exactly what the page and MQTT show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge_agent.runtime import AgentContext
from edge_agent.web.view import entities

P = "edge_agent_"
CAMERA_FPS_FIELDS = ("fps_in", "fps_decoded", "fps_analysed")
HOTSPOT_STATES = ("up", "degraded", "down")
HOTSPOT_GAUGES = {  # metric suffix -> (payload field names, newest first; help)
    "rtt_median_ms": (("rtt_median_ms",), "Median round-trip time over the window (ms)."),
    "rtt_p95_ms": (("rtt_p95_ms",), "95th percentile round-trip time (ms)."),
    "loss_percent": (("loss_pct", "loss_percent"), "Probe loss over the window (%)."),
    "jitter_ms": (("jitter_ms",), "Round-trip time jitter (ms)."),
    "clients": (("clients",), "Associated wifi clients."),
    "uptime_24h_percent": (("uptime_24h_pct", "uptime_24h"), "Uptime, last 24 hours (%)."),
    "uptime_30d_percent": (("uptime_30d_pct", "uptime_30d"), "Uptime, last 30 days (%)."),
    "flaps_1h": (("flaps_1h", "flaps"), "State changes in the last hour."),
}
RELAY_SWITCH_FIELDS = ("switch_count", "switches", "relay_switches", "switch_count_total")


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


def _find(payload: Mapping[str, Any], names: tuple[str, ...]) -> float | None:
    """A numeric field at top level or one level down (e.g. ``driver.switch_count``)."""
    for name in names:
        if (value := _num(payload.get(name))) is not None:
            return value
    for nested in payload.values():
        if isinstance(nested, Mapping):
            for name in names:
                if (value := _num(nested.get(name))) is not None:
                    return value
    return None


class AgentCollector(Collector):
    def __init__(self, ctx: AgentContext, health: Callable[[], Mapping[str, Any]]) -> None:
        self._ctx = ctx
        self._health = health

    def collect(self) -> Iterator[Metric]:
        status = self._ctx.status()
        yield from self._gateway(status)
        yield from self._outbox(status.get("outbox") or {})
        yield from self._components(status.get("components") or {})
        yield from self._lights()
        yield from self._cameras()
        yield from self._hotspots()

    def _gateway(self, status: Mapping[str, Any]) -> Iterator[Metric]:
        info = GaugeMetricFamily(P + "info", "Agent version and identity.",
                                 labels=["version", "gateway", "site"])
        info.add_metric([str(status.get("version", "")), str(status.get("gateway", "")),
                         str(status.get("site", ""))], 1)
        yield info
        yield GaugeMetricFamily(P + "healthy", "1 when /healthz answers 200.",
                                value=1 if self._health().get("healthy") else 0)
        yield GaugeMetricFamily(P + "uptime_seconds", "Seconds since the agent started.",
                                value=float(status.get("uptime_s") or 0))
        yield GaugeMetricFamily(P + "clock_synced", "1 when the system clock is synced.",
                                value=1 if status.get("clock_synced") else 0)
        mqtt = status.get("mqtt") or {}
        yield GaugeMetricFamily(P + "mqtt_connected", "1 while the MQTT link is up.",
                                value=1 if mqtt.get("connected") else 0)
        yield CounterMetricFamily(P + "mqtt_connects", "Successful MQTT connections.",
                                  value=float(mqtt.get("connects") or 0))
        yield CounterMetricFamily(P + "mqtt_sent", "Messages acknowledged by the broker.",
                                  value=float(mqtt.get("sent") or 0))
        commands = status.get("commands") or {}
        yield CounterMetricFamily(P + "commands_handled", "Commands executed.",
                                  value=float(commands.get("handled") or 0))
        yield CounterMetricFamily(P + "commands_rejected", "Commands refused.",
                                  value=float(commands.get("rejected") or 0))
        yield CounterMetricFamily(P + "commands_unanswerable",
                                  "Commands whose reply could not be sent at all.",
                                  value=float(commands.get("unanswerable") or 0))

    def _outbox(self, outbox: Mapping[str, Any]) -> Iterator[Metric]:
        yield GaugeMetricFamily(P + "outbox_depth", "Messages waiting to be sent.",
                                value=float(outbox.get("depth") or 0))
        yield GaugeMetricFamily(P + "outbox_bytes", "Bytes waiting in the outbox.",
                                value=float(outbox.get("bytes") or 0))
        yield GaugeMetricFamily(P + "outbox_max_bytes", "Outbox size limit in bytes.",
                                value=float(outbox.get("max_bytes") or 0))
        yield GaugeMetricFamily(P + "outbox_oldest_age_seconds",
                                "Age of the oldest unsent message (0 when empty).",
                                value=float(outbox.get("oldest_age_s") or 0))
        dropped = CounterMetricFamily(P + "outbox_dropped",
                                      "Messages dropped because the outbox was full.",
                                      labels=["message_class"])
        for cls, count in sorted((outbox.get("dropped") or {}).items()):
            dropped.add_metric([str(cls)], float(count))
        yield dropped

    def _components(self, components: Mapping[str, Any]) -> Iterator[Metric]:
        running = GaugeMetricFamily(P + "component_running", "1 while the component runs.",
                                    labels=["component"])
        restarts = CounterMetricFamily(P + "component_restarts",
                                       "Restarts after a failure.", labels=["component"])
        for name, info in sorted(components.items()):
            running.add_metric([name], 1 if (info or {}).get("state") == "running" else 0)
            restarts.add_metric([name], float((info or {}).get("restarts") or 0))
        yield running
        yield restarts

    def _lights(self) -> Iterator[Metric]:
        on = GaugeMetricFamily(P + "light_on", "1 when the circuit is on.", labels=["circuit"])
        switches = CounterMetricFamily(P + "relay_switches", "Relay switch operations.",
                                       labels=["circuit"])
        today = GaugeMetricFamily(P + "relay_switches_today",
                                  "Relay switch operations since local midnight.",
                                  labels=["circuit"])
        driver_ok = GaugeMetricFamily(P + "relay_driver_ok", "0 while the relay fails.",
                                      labels=["circuit"])
        on_hours = GaugeMetricFamily(P + "light_on_hours_today",
                                     "Hours on since local midnight.", labels=["circuit"])
        for circuit, payload in sorted(entities(self._ctx.state, "light", "state").items()):
            state = str(payload.get("state", "")).lower()
            if state in ("on", "off"):
                on.add_metric([circuit], 1 if state == "on" else 0)
            if (count := _find(payload, RELAY_SWITCH_FIELDS)) is not None:
                switches.add_metric([circuit], count)
            for family, name in ((today, "switches_today"), (driver_ok, "driver_ok"),
                                 (on_hours, "on_hours_today")):
                if (value := _num(payload.get(name))) is not None:
                    family.add_metric([circuit], value)
        yield from (on, switches, today, driver_ok, on_hours)

    def _cameras(self) -> Iterator[Metric]:
        online = GaugeMetricFamily(P + "camera_online", "1 when the stream is up.",
                                   labels=["camera"])
        fps = GaugeMetricFamily(P + "camera_fps", "Frames per second by stage.",
                                labels=["camera", "stage"])
        reconnects = GaugeMetricFamily(P + "camera_reconnects_last_hour",
                                       "Stream reconnects in the last hour.", labels=["camera"])
        for camera, payload in sorted(entities(self._ctx.state, "camera", "status").items()):
            status = payload.get("state", payload.get("status"))
            online.add_metric([camera], 1 if status == "online" else 0)
            for name in CAMERA_FPS_FIELDS:
                if (value := _num(payload.get(name))) is not None:
                    fps.add_metric([camera, name.removeprefix("fps_")], value)
            if (value := _num(payload.get("reconnects_last_hour"))) is not None:
                reconnects.add_metric([camera], value)
        yield online
        yield fps
        yield reconnects

    def _hotspots(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(P + "hotspot_state", "1 for the hotspot's current state.",
                                  labels=["hotspot", "state"])
        gauges = {suffix: (fields, GaugeMetricFamily(f"{P}hotspot_{suffix}", text,
                                                     labels=["hotspot"]))
                  for suffix, (fields, text) in HOTSPOT_GAUGES.items()}
        for hotspot, payload in sorted(entities(self._ctx.state, "hotspot", "state").items()):
            current = payload.get("state")
            for name in HOTSPOT_STATES:
                state.add_metric([hotspot, name], 1 if current == name else 0)
            for fields, family in gauges.values():
                value = next((v for f in fields if (v := _num(payload.get(f))) is not None),
                             None)
                if value is not None:
                    family.add_metric([hotspot], value)
        yield state
        yield from (family for _, family in gauges.values())


def make_registry(ctx: AgentContext, health: Callable[[], Mapping[str, Any]]
                  ) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(ctx, health))
    ProcessCollector(registry=registry)  # process_cpu_seconds_total, resident memory, fds
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
