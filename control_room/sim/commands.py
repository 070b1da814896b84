"""Commands a simulated gateway obeys: the ``contract.COMMANDS`` table, exactly one reply each.

The reply goes to the MQTT 5 response topic with the request's correlation data when there
is one, otherwise to ``cmd/{path}/result`` echoing the request ``id``; anything invalid or
unknown gets ``{"ok": false, "error": ...}``. An override switches the simulated circuit (and
publishes its new ``light/{circuit}/state``), an arm/disarm changes the camera, a snapshot
publishes one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from contract import find_command, parse_time, utc_iso, validation_text
from contract.hotspots import ProbeCommandReply, ProbeReport
from contract.lighting import OverrideRequest, PulseRequest
from control_room.sim import payloads
from control_room.sim.gateway import SimGateway

ENVELOPE_KEYS = frozenset({"v", "ts", "seq", "id", "expires_at"})
Switch = Callable[[payloads.Circuit, payloads.OnOff, payloads.Reason], None]


class Refused(Exception):
    """A command that gets ``ok: false`` with this message."""


class SimCommands:
    def __init__(self, gateway: SimGateway, switch: Switch,
                 snapshot: Callable[[str], int]) -> None:
        self.gw = gateway
        self._switch = switch  # (circuit, state, reason): relay + light state message
        self._snapshot = snapshot  # camera id -> bytes published
        self.handled = self.rejected = 0

    def handle(self, path: str, raw: bytes, response_topic: str | None,
               correlation: bytes | None) -> None:
        if path == "result" or path.endswith("/result"):
            return  # our own replies come back on our cmd/# subscription
        reply = self.execute(path, raw, datetime.now(UTC))
        if response_topic and not any(c in response_topic for c in "+#\0"):
            self.gw.reply(response_topic, reply, correlation)
        else:
            self.gw.reply(f"{self.gw.spec.base}/cmd/{path}/result", reply, None)
        self.gw.figures.handled, self.gw.figures.rejected = self.handled, self.rejected

    def execute(self, path: str, raw: bytes, now: datetime) -> dict[str, Any]:
        request_id: Any = None
        try:
            body = _json_object(raw)
            request_id = body.get("id")
            if "expires_at" in body and parse_time(str(body["expires_at"])) < now:
                raise Refused(f"command expired at {body['expires_at']}")
            found = find_command(path)
            if found is None:
                raise Refused(f"unknown command 'cmd/{path}'")
            spec, params = found
            request = {k: v for k, v in body.items() if k not in ENVELOPE_KEYS}
            spec.request.model_validate(request)
            reply: dict[str, Any] = {"ok": True, **self._run(spec.path, params, request, now)}
            self.handled += 1
        except ValidationError as exc:
            reply = self._refuse(validation_text(exc))
        except (Refused, ValueError) as exc:
            reply = self._refuse(str(exc))
        reply["command"] = path
        if request_id is not None:
            reply["request_id"] = request_id
        return reply

    def _refuse(self, message: str) -> dict[str, Any]:
        self.rejected += 1
        return {"ok": False, "error": message}

    def _run(self, path: str, params: dict[str, str], request: dict[str, Any],
             now: datetime) -> dict[str, Any]:
        gw = self.gw
        if path == "ping":
            return {"pong": True, "version": payloads.VERSION,
                    "uptime_s": round(gw.uptime_s, 1)}
        if path == "config/get":
            return {"config": {"gateway": {"id": gw.spec.gateway, "site": gw.spec.site},
                               "mqtt": {"password": "**********"}},
                    "config_hash": "5170f1ee7a11"}
        if path == "config/reload":
            return {"config_hash": "5170f1ee7a11"}
        if path == "outbox/stats":
            f = gw.link_figures()
            return {"outbox": {"depth": f.depth, "bytes": f.bytes, "max_bytes": 16 * 2**20,
                               "oldest_age_s": f.oldest_age_s, "dropped": f.dropped,
                               "write_failures": 0, "last_seq": f.last_seq},
                    "dropped_qos0_offline": 0}
        if path.startswith("light/"):
            return self._light(path.rsplit("/", 1)[1], params["circuit"], request, now)
        if path.startswith("camera/"):
            return self._camera(path.rsplit("/", 1)[1], params["camera"], request)
        return self._probe(params["hotspot"], now)

    def _light(self, action: str, circuit_id: str, request: dict[str, Any],
               now: datetime) -> dict[str, Any]:
        circuit = self.gw.devices.circuits.get(circuit_id)
        if circuit is None:
            raise Refused(f"unknown circuit {circuit_id!r} (known: "
                          f"{', '.join(self.gw.devices.circuits)})")
        extra: dict[str, Any] = {}
        if action == "override":
            req = OverrideRequest.model_validate(request)
            if req.until <= now:
                raise Refused(f"'until' {req.until.isoformat()} is already past")
            if req.until - now > timedelta(days=31):
                raise Refused("'until' is more than 31 days ahead")
            circuit.override_state, circuit.override_until = req.state, utc_iso(req.until)
            self._switch(circuit, req.state, "override")
            extra = {"override": {"state": req.state, "until": req.until.isoformat()}}
        elif action == "clear":
            extra = {"cleared": circuit.override_state is not None}
            circuit.override_state = circuit.override_until = None
            self._switch(circuit, circuit.state, "schedule")
        else:
            pulse = PulseRequest.model_validate(request)
            state = pulse.state or ("off" if circuit.state == "on" else "on")
            extra = {"pulsed": state, "seconds": pulse.seconds}
        return {"circuit": circuit.id, "state": circuit.state, "desired": circuit.state,
                "reason": circuit.reason, "pending_until": None, "driver_ok": True,
                "driver_error": None, **extra}

    def _camera(self, action: str, camera_id: str, request: dict[str, Any]) -> dict[str, Any]:
        camera = self.gw.devices.cameras.get(camera_id)
        if camera is None:
            raise Refused(f"unknown camera {camera_id!r}")
        if action == "snapshot":
            size = self._snapshot(camera.id)
            return {"camera": camera.id, "topic": f"camera/{camera.id}/snapshot",
                    "bytes": size, "file": f"{camera.id}/snap.jpg", "width": 1280,
                    "height": 720}
        camera.armed = action == "arm"
        return {"camera": camera.id, "armed": camera.armed, "until": request.get("until")}

    def _probe(self, hotspot_id: str, now: datetime) -> dict[str, Any]:
        hotspot = self.gw.devices.hotspots.get(hotspot_id)
        if hotspot is None:
            raise Refused(f"unknown hotspot {hotspot_id!r}")
        up = hotspot.state != "down"
        rtt = [round(self.gw.rng.uniform(2, 30), 3) for _ in range(3)] if up else []
        probe = ProbeReport(probe="icmp", kind="icmp", ok=up, sent=3, received=len(rtt),
                            rtts_ms=rtt, latency_ms=12.0,
                            error=None if up else "no reply")
        state = payloads.hotspot_state(hotspot, now, self.gw.rng)
        return ProbeCommandReply.model_validate(
            {"hotspot": hotspot.id, "reachable": up, "probes": [probe], "state": state}
        ).model_dump(mode="json", exclude_none=True)


def _json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Refused(f"payload is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Refused(f"payload must be a JSON object, got {type(data).__name__}")
    return data
