"""Network probes for hotspot monitoring: ICMP, TCP connect, HTTP, OpenWrt ubus, DNS.

Each probe module holds its config model (``probe: Literal["<key>"]``) and a class
implementing ``Probe``. ``REGISTRY`` maps the key to (config model, probe class) and
``ProbeConfig`` is the discriminated union the hotspot config uses.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from drivers.probes.base import Probe, ProbeResult, ProbeSetupError
from drivers.probes.dns import DnsProbe, DnsProbeConfig
from drivers.probes.http import HttpProbe, HttpProbeConfig
from drivers.probes.icmp import IcmpProbe, IcmpProbeConfig
from drivers.probes.tcp import TcpProbe, TcpProbeConfig
from drivers.probes.ubus import UbusProbe, UbusProbeConfig

REGISTRY: dict[str, tuple[type[BaseModel], Any]] = {
    "icmp": (IcmpProbeConfig, IcmpProbe),
    "tcp": (TcpProbeConfig, TcpProbe),
    "http": (HttpProbeConfig, HttpProbe),
    "ubus": (UbusProbeConfig, UbusProbe),
    "dns": (DnsProbeConfig, DnsProbe),
}

ProbeConfig = Annotated[
    IcmpProbeConfig | TcpProbeConfig | HttpProbeConfig | UbusProbeConfig | DnsProbeConfig,
    Field(discriminator="probe"),
]


def build_probe(config: BaseModel) -> Probe:
    key = getattr(config, "probe", None)
    if key not in REGISTRY:
        raise ValueError(f"unknown probe {key!r} (known: {', '.join(sorted(REGISTRY))})")
    _, cls = REGISTRY[key]
    probe: Probe = cls(config)
    return probe


__all__ = ["REGISTRY", "Probe", "ProbeConfig", "ProbeResult", "ProbeSetupError",
           "build_probe"]
