"""ICMP echo (ping) via icmplib, unprivileged (SOCK_DGRAM "ping sockets")."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from icmplib import async_ping
from icmplib.exceptions import ICMPLibError, NameLookupError, SocketPermissionError
from pydantic import BaseModel, ConfigDict, Field

from drivers.probes.base import ProbeResult, ProbeSetupError
from drivers.probes.resolve import resolve

ICMP_FIX = (
    "unprivileged ICMP is not permitted on this machine. Fix: "
    "sysctl -w net.ipv4.ping_group_range=\"0 2147483647\" (persist it in /etc/sysctl.d/), "
    "or give the service AmbientCapabilities=CAP_NET_RAW in its systemd unit. "
    "The hotspot's other probes keep running."
)


class IcmpProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # as StrictModel

    probe: Literal["icmp"] = Field("icmp", description="ICMP echo (ping).")
    name: str | None = Field(None, description="Name in reports; default 'icmp'.")
    host: str = Field(description="Address or host name to ping, e.g. 192.168.10.1.")
    count: int = Field(5, ge=1, le=100, description="Echo requests per round.")
    packet_interval_s: float = Field(
        0.2, ge=0.01, le=5, description="Pause between echo requests of a round (s)."
    )
    timeout_s: float = Field(1.0, gt=0, le=30, description="Wait for each reply at most (s).")
    payload_size: int = Field(56, ge=0, le=1472, description="Echo payload bytes.")


class IcmpProbe:
    kind = "icmp"

    def __init__(self, config: IcmpProbeConfig) -> None:
        self.config = config
        self.name = config.name or "icmp"

    async def run(self) -> ProbeResult:
        cfg = self.config
        started = time.monotonic()
        try:
            # icmplib would resolve a name in the loop's default executor: use the probes'
            # own pool, where a hung lookup cannot starve the rest of the agent
            async with asyncio.timeout(cfg.timeout_s):
                address = (await resolve(cfg.host))[0]
        except (OSError, IndexError, TimeoutError):
            return self._failed(f"cannot resolve host name {cfg.host!r}")
        try:
            host = await async_ping(
                address, count=cfg.count, interval=cfg.packet_interval_s,
                timeout=cfg.timeout_s, privileged=False, payload_size=cfg.payload_size)
        except SocketPermissionError:
            raise ProbeSetupError(ICMP_FIX) from None
        except NameLookupError:
            return self._failed(f"cannot resolve host name {cfg.host!r}")
        except (ICMPLibError, OSError) as exc:
            # e.g. "network is unreachable" while the link is down: every packet is lost
            return self._failed(str(exc) or type(exc).__name__)
        received = host.packets_received
        result = ProbeResult(
            probe=self.name, kind=self.kind, ok=received > 0, sent=host.packets_sent or cfg.count,
            received=received, rtts_ms=list(host.rtts),
            latency_ms=(time.monotonic() - started) * 1000)
        if received == 0:
            result.error = f"no reply to {host.packets_sent} echo request(s)"
        return result

    def _failed(self, error: str) -> ProbeResult:
        return ProbeResult.failure(self.name, self.kind, error, sent=self.config.count)

    async def close(self) -> None:
        return None
