"""What a simulated gateway says, built from the ``contract`` payload models (no I/O, no clock
reads: ``now`` and the random source are parameters).

Every builder constructs the contract model and returns ``model_dump(mode="json")``, so a
field the contract adds or renames breaks the simulator at once instead of drifting.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from contract import utc_iso
from contract.cameras import CameraStatus, MotionEvent
from contract.core import HealthPayload, OutboxSummary, StatusPayload
from contract.hotspots import HotspotStatePayload
from contract.lighting import LightState

VERSION = "0.1.0-sim"
OnOff = Literal["on", "off"]
Reason = Literal["schedule", "override", "default"]


@dataclass(slots=True)
class Circuit:
    id: str
    state: OnOff = "off"
    reason: Reason = "schedule"
    override_state: OnOff | None = None
    override_until: str | None = None
    last_switch: str | None = None
    switch_count: int = 0
    switches_today: int = 0


@dataclass(slots=True)
class Camera:
    id: str
    armed: bool = True
    events: int = 0
    since: str = ""


@dataclass(slots=True)
class Hotspot:
    id: str
    state: Literal["up", "degraded", "down"] = "up"
    since: str = ""
    flaps_1h: int = 0


@dataclass(slots=True)
class Devices:
    circuits: dict[str, Circuit] = field(default_factory=dict)
    cameras: dict[str, Camera] = field(default_factory=dict)
    hotspots: dict[str, Hotspot] = field(default_factory=dict)

    @classmethod
    def make(cls, circuits: int, cameras: int, hotspots: int, now: datetime) -> Devices:
        since = utc_iso(now)
        return cls({f"c{i}": Circuit(f"c{i}") for i in range(1, circuits + 1)},
                   {f"cam{i}": Camera(f"cam{i}", since=since) for i in range(1, cameras + 1)},
                   {f"hs{i}": Hotspot(f"hs{i}", since=since) for i in range(1, hotspots + 1)})


def status(state: Literal["online", "offline", "stopped"], *, boot: int, last_seq: int,
           site: str, gateway: str, boot_time: datetime,
           health_interval_s: float) -> dict[str, Any]:
    """``status``: not in the seq stream; birth has every field, Will/stop the short form."""
    if state != "online":
        # like a real agent's Will / clean stop: the short form, no nulls
        return StatusPayload(state=state, version=VERSION, boot=boot, last_seq=last_seq,
                             gateway=gateway).model_dump(mode="json", exclude_none=True)
    return StatusPayload(state=state, version=VERSION, boot=boot, last_seq=last_seq,
                         config_hash="5170f1ee7a11", boot_time=utc_iso(boot_time),
                         clock_synced=True, gateway=gateway, site=site,
                         health_interval_s=health_interval_s).model_dump(mode="json")


def light_state(circuit: Circuit, now: datetime, next_change: datetime) -> dict[str, Any]:
    on_hours = 0.0 if circuit.state == "off" else round((now.hour % 12) + now.minute / 60, 2)
    return LightState(
        circuit=circuit.id, name=f"Circuit {circuit.id}", state=circuit.state,
        desired=circuit.state, reason=circuit.reason, rule="night"
        if circuit.reason == "schedule" else None, override_state=circuit.override_state,
        override_until=circuit.override_until, next_change=utc_iso(next_change),
        next_state="off" if circuit.state == "on" else "on", pending_until=None,
        driver=f"sim board ch {circuit.id[1:]}", driver_ok=True, driver_error=None,
        last_switch=circuit.last_switch, switches_today=circuit.switches_today,
        switch_count=circuit.switch_count, on_hours_today=on_hours, on_hours_yesterday=11.5,
        clock_synced=True).model_dump(mode="json")


def camera_status(camera: Camera, uptime_s: float, rng: random.Random) -> dict[str, Any]:
    packets = int(uptime_s * 15)
    return CameraStatus(
        camera=camera.id, state="online" if camera.armed else "disarmed", armed=camera.armed,
        connected=True, decode="adaptive", fps_in=round(rng.uniform(14.5, 15.2), 1),
        fps_decoded=round(rng.uniform(0.9, 3.5), 1), fps_analysed=round(rng.uniform(0.9, 3), 1),
        packets_total=packets, decoded_total=packets // 8, codec="h264", width=1280,
        height=720, keyframe_interval_s=2.0, reconnects_last_hour=0, last_error=None,
        since=camera.since, media_mb=round(rng.uniform(10, 900), 1)).model_dump(mode="json")


def motion(camera: Camera, event: Literal["start", "update", "end"], event_id: str,
           started: datetime, now: datetime, rng: random.Random) -> dict[str, Any]:
    x, y = round(rng.uniform(0, 0.8), 4), round(rng.uniform(0, 0.7), 4)
    score = 0.0 if event == "end" else round(rng.uniform(0.01, 0.2), 5)
    return MotionEvent(
        camera=camera.id, event=event, event_id=event_id, started_at=utc_iso(started),
        boxes=[(x, y, round(rng.uniform(0.05, 0.2), 4), round(rng.uniform(0.1, 0.3), 4))],
        zones=["road"], score=score, peak_score=max(score, 0.2),
        duration_s=round((now - started).total_seconds(), 2),
        snapshot=f"{camera.id}/{now:%Y-%m-%d}/{event_id}.jpg", clip=None,
    ).model_dump(mode="json")


def hotspot_state(hotspot: Hotspot, now: datetime, rng: random.Random) -> dict[str, Any]:
    up = hotspot.state != "down"
    rtt = round(rng.uniform(2, 40), 3) if up else None
    radios = {"radio0": rng.randint(0, 12), "radio1": rng.randint(0, 20)}
    return HotspotStatePayload(
        hotspot=hotspot.id, name=f"Hotspot {hotspot.id}", state=hotspot.state,
        since=hotspot.since, reasons=[] if hotspot.state == "up" else ["loss above 20 %"],
        rtt_median_ms=rtt, rtt_p95_ms=None if rtt is None else round(rtt * 1.8, 3),
        jitter_ms=None if rtt is None else round(rtt / 10, 3),
        loss_pct=round(rng.uniform(0, 2), 1) if up else 100.0, clients=sum(radios.values()),
        clients_per_radio=radios, clients_per_ssid={"Free-WiFi": sum(radios.values())},
        uptime_24h_pct=99.7, uptime_30d_pct=99.2, flaps_1h=hotspot.flaps_1h, rounds=20,
        last_round=utc_iso(now - timedelta(seconds=rng.uniform(0, 30))), last_error=None,
    ).model_dump(mode="json")


@dataclass(slots=True)
class LinkFigures:
    """What the health message says about the gateway's own link and outbox."""

    depth: int = 0
    bytes: int = 0
    oldest_age_s: float | None = None
    dropped: dict[str, int] = field(default_factory=lambda: {"telemetry": 0, "state": 0,
                                                               "event": 0})
    last_seq: int = 0
    connected: bool = False
    connects: int = 0
    sent: int = 0
    last_error: str | None = None
    handled: int = 0
    rejected: int = 0


def health(devices: Devices, link: LinkFigures, uptime_s: float,
           rng: random.Random) -> dict[str, Any]:
    """``health`` with the capability summaries a real agent adds (lighting, cameras,
    hotspots) beside the contract's fields."""
    outbox = OutboxSummary(depth=link.depth, bytes=link.bytes, max_bytes=16 * 2**20,
                           oldest_age_s=link.oldest_age_s, dropped=dict(link.dropped),
                           write_failures=0, last_seq=link.last_seq)
    components = {name: {"state": "running", "restarts": 0, "last_error": None}
                  for name in ["health", "lighting", *(f"camera:{c}" for c in
                                                       devices.cameras), "hotspots"]}
    body = HealthPayload(
        cpu_percent=round(rng.uniform(8, 45), 1), ram_used_mb=round(rng.uniform(600, 900), 1),
        ram_total_mb=3796.0, disk_free_mb=round(rng.uniform(20000, 25000), 1),
        disk_used_percent=round(rng.uniform(20, 30), 1), soc_temp_c=round(rng.uniform(45, 62),
                                                                          1),
        uptime_s=round(uptime_s, 1), process_rss_mb=round(rng.uniform(140, 190), 1),
        outbox=outbox, clock_synced=True,
        mqtt={"connected": link.connected, "connects": link.connects, "sent": link.sent,
              "last_error": link.last_error},
        components=components, storage={"ok": True, "reason": None}).model_dump(mode="json")
    body["commands"] = {"handled": link.handled, "rejected": link.rejected, "unanswerable": 0}
    body["lighting"] = {"circuits": {c.id: {"state": c.state, "reason": c.reason,
                                            "driver_ok": True, "on_hours_today": 0.0}
                                     for c in devices.circuits.values()}}
    per_camera = {c.id: {"state": "online" if c.armed else "disarmed",
                         "fps_decoded": round(rng.uniform(0.9, 3.5), 1),
                         "fps_analysed": round(rng.uniform(0.9, 3), 1), "events": c.events,
                         "reconnects_last_hour": 0, "last_error": None}
                  for c in devices.cameras.values()}
    body["cameras"] = {"online": len(per_camera), "total": len(per_camera),
                       "per_camera": per_camera}
    states = [h.state for h in devices.hotspots.values()]
    body["hotspots"] = {
        "up": states.count("up"), "degraded": states.count("degraded"),
        "down": states.count("down"), "unknown": 0,
        "hotspots": {h.id: {"state": h.state, "loss_pct": 0.0 if h.state == "up" else 100.0,
                            "rtt_median_ms": round(rng.uniform(2, 40), 3)
                            if h.state != "down" else None,
                            "clients": rng.randint(0, 30), "flaps_1h": h.flaps_1h}
                     for h in devices.hotspots.values()}}
    return body
