"""Village gateways for the control room's tests: real agents on simulated hardware (a sim
relay board, TCP hotspot probes on loopback, optionally a camera)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.infra.agent_proc import AgentProcess, base_config, write_config

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def village_config(tmp: Path, broker_url: str, broker_port: int, gateway: str, site: str, *,
                   health_s: float = 2.0, hotspot_up: bool = True,
                   relay_fails_if: Path | None = None, circuit_name: str | None = None,
                   hotspot_name: str | None = None, **sections: Any) -> dict[str, Any]:
    """One circuit that is due ON now (a window around the current local time), one hotspot
    probing the broker's port (up) or a closed port (down); each named as people call it if
    a name is given (else the console shows its id)."""
    now = datetime.now(VN)
    relay: dict[str, Any] = {"driver": "sim", "board": f"{gateway}-board", "channel": 1,
                             "state_file": str(tmp / f"{gateway}-relays.json")}
    if relay_fails_if is not None:
        relay["fail_if_exists"] = str(relay_fails_if)
    lighting = {"stagger_s": 0.2, "retry_s": 1, "circuits": [{
        "id": "main-road", "relay": relay, "min_switch_interval_s": 0,
        **({"name": circuit_name} if circuit_name else {}),
        "rules": [{"name": "night", "on": (now - timedelta(hours=1)).strftime("%H:%M"),
                   "off": (now + timedelta(hours=2)).strftime("%H:%M")}]}]}
    hotspots = [{"id": "cultural-house", **({"name": hotspot_name} if hotspot_name else {}),
                 "interval_s": 1, "stats_period_s": 5,
                 "down_after": 2, "probes": [{"probe": "tcp", "host": "127.0.0.1",
                                              "port": broker_port if hotspot_up else 9,
                                              "count": 1, "timeout_s": 0.5}]}]
    return base_config(tmp, broker_url, gateway=gateway, site=site, lighting=lighting,
                       hotspots=hotspots, health={"interval_s": health_s},
                       mqtt={"keepalive_s": 5}, **sections)


def start_village(tmp: Path, broker_url: str, broker_port: int, gateway: str, site: str,
                  **options: Any) -> AgentProcess:
    config = write_config(tmp / f"{gateway}.yaml",
                          village_config(tmp, broker_url, broker_port, gateway, site, **options))
    return AgentProcess(config, tmp / f"{gateway}.log").start()
