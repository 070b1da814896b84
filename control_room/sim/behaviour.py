"""What a simulated gateway does over time, at a real gateway's rates.

Health every 30 s, every hotspot's state every 60 s, every camera's status every 60 s,
light circuits on at dusk and off at dawn (each gateway a few minutes apart, circuits
staggered), motion events (start, update, end) with a JPEG snapshot at a configurable rate
per camera, and the dusk burst: every circuit of the gateway switches within one second.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from control_room.sim import payloads
from control_room.sim.commands import SimCommands
from control_room.sim.gateway import SimGateway, utc_now
from control_room.sim.snapshots import Snapshots

LOCAL = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh has no DST


@dataclass(frozen=True, slots=True)
class Rates:
    health_s: float = 30.0
    hotspot_s: float = 60.0
    camera_status_s: float = 60.0
    light_check_s: float = 15.0
    motion_per_hour: float = 2.0  # events per camera per hour


def light_plan(now: datetime, dusk_min: int, dawn_min: int) -> tuple[payloads.OnOff, datetime]:
    """Desired state of a night circuit at ``now`` and when it next changes (pure).

    ``dusk_min``/``dawn_min``: local minutes after midnight (on at dusk, off at dawn)."""
    local = now.astimezone(LOCAL)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    minute = local.hour * 60 + local.minute + local.second / 60
    if dawn_min <= minute < dusk_min:
        return "off", (midnight + timedelta(minutes=dusk_min)).astimezone(UTC)
    if minute >= dusk_min:
        return "on", (midnight + timedelta(days=1, minutes=dawn_min)).astimezone(UTC)
    return "on", (midnight + timedelta(minutes=dawn_min)).astimezone(UTC)


class Behaviour:
    def __init__(self, gw: SimGateway, rates: Rates, snapshots: Snapshots) -> None:
        self.gw = gw
        self.rates = rates
        self.rng = gw.rng
        self.snapshots = snapshots
        # sunset is the same minute across a province; the rules differ (sunset+10..25m)
        self.dusk = {c: 17 * 60 + 20 + self.rng.randint(0, 15) + i
                     for i, c in enumerate(gw.devices.circuits)}
        self.dawn = {c: 5 * 60 + 40 + self.rng.randint(0, 15) + i
                     for i, c in enumerate(gw.devices.circuits)}
        gw.commands = SimCommands(gw, self.switch, self.snapshot)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- actions -------------------------------------------------------------------------
    def switch(self, circuit: payloads.Circuit, state: payloads.OnOff,
               reason: payloads.Reason) -> None:
        now = utc_now()
        if state != circuit.state:
            circuit.state = state
            circuit.last_switch = payloads.utc_iso(now)
            circuit.switch_count += 1
            circuit.switches_today += 1
        circuit.reason = reason
        self.publish_light(circuit, now)

    def publish_light(self, circuit: payloads.Circuit, now: datetime) -> None:
        _, next_change = light_plan(now, self.dusk[circuit.id], self.dawn[circuit.id])
        self.gw.publish(f"light/{circuit.id}/state",
                        payloads.light_state(circuit, now, next_change), retain=True, now=now)

    def snapshot(self, camera_id: str) -> int:
        data = self.snapshots.pick(self.rng)
        self.gw.publish_raw(f"camera/{camera_id}/snapshot", data)
        return len(data)

    def burst(self) -> None:
        """Dusk burst: every circuit switches, all within one second of now (drawn in the
        first 0.8 s: a busy loop fires timers late, the promise is one second)."""
        for circuit in self.gw.devices.circuits.values():
            delay = self.rng.uniform(0.0, 0.8)
            state: payloads.OnOff = "off" if circuit.state == "on" else "on"
            asyncio.get_running_loop().call_later(delay, self.switch, circuit, state,
                                                  "schedule")

    # -- loops ---------------------------------------------------------------------------
    async def run(self) -> None:
        await self.gw.connected.wait()  # a real agent's first messages follow its birth
        now = utc_now()
        for circuit in self.gw.devices.circuits.values():
            circuit.state, _ = light_plan(now, self.dusk[circuit.id], self.dawn[circuit.id])
            self.publish_light(circuit, now)
        self._camera_statuses()
        self._hotspots()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._every(self.rates.health_s, self._health))
            tg.create_task(self._every(self.rates.hotspot_s, self._hotspots))
            tg.create_task(self._every(self.rates.camera_status_s, self._camera_statuses))
            tg.create_task(self._every(self.rates.light_check_s, self._lights))
            for camera in self.gw.devices.cameras.values():
                tg.create_task(self._motion(camera))

    async def _every(self, interval: float, action: object) -> None:
        assert callable(action)
        await asyncio.sleep(self.rng.uniform(0, interval))  # each gateway its own phase
        while True:
            action()
            await asyncio.sleep(interval)

    def _health(self) -> None:
        self.gw.publish("health", payloads.health(self.gw.devices, self.gw.link_figures(),
                                                  self.gw.uptime_s, self.rng),
                        cls="telemetry")

    def _hotspots(self) -> None:
        now = utc_now()
        for hotspot in self.gw.devices.hotspots.values():
            if self.rng.random() < 0.002:  # a rare flap, so states are not all "up"
                hotspot.state = "degraded" if hotspot.state == "up" else "up"
                hotspot.since, hotspot.flaps_1h = payloads.utc_iso(now), hotspot.flaps_1h + 1
            self.gw.publish(f"hotspot/{hotspot.id}/state",
                            payloads.hotspot_state(hotspot, now, self.rng), retain=True,
                            now=now)

    def _camera_statuses(self) -> None:
        for camera in self.gw.devices.cameras.values():
            self.gw.publish(f"camera/{camera.id}/status",
                            payloads.camera_status(camera, self.gw.uptime_s, self.rng),
                            retain=True)

    def _lights(self) -> None:
        now = utc_now()
        for circuit in self.gw.devices.circuits.values():
            if circuit.override_state is not None:
                continue
            state, _ = light_plan(now, self.dusk[circuit.id], self.dawn[circuit.id])
            if state != circuit.state:
                self.switch(circuit, state, "schedule")

    async def _motion(self, camera: payloads.Camera) -> None:
        rate = self.rates.motion_per_hour / 3600.0
        if rate <= 0:
            return
        while True:
            await asyncio.sleep(self.rng.expovariate(rate))
            if not camera.armed:
                continue
            event_id, started = uuid.uuid4().hex[:16], utc_now()
            camera.events += 1
            self.gw.publish(f"camera/{camera.id}/motion", payloads.motion(
                camera, "start", event_id, started, started, self.rng), cls="event")
            self.snapshot(camera.id)
            await asyncio.sleep(self.rng.uniform(1.0, 2.0))
            self.gw.publish(f"camera/{camera.id}/motion", payloads.motion(
                camera, "update", event_id, started, utc_now(), self.rng), cls="event")
            await asyncio.sleep(self.rng.uniform(2.0, 6.0))
            self.gw.publish(f"camera/{camera.id}/motion", payloads.motion(
                camera, "end", event_id, started, utc_now(), self.rng), cls="event")


def rng_for(name: str, seed: int) -> random.Random:
    return random.Random(f"{seed}:{name}")
