"""DNS resolve through the system resolver (what a visitor's phone would experience)."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from drivers.probes.base import ProbeResult
from drivers.probes.resolve import getaddrinfo


class DnsProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # as StrictModel

    probe: Literal["dns"] = Field("dns", description="Resolve a host name.")
    name: str | None = Field(None, description="Name in reports; default 'dns'.")
    query: str = Field(description="Host name to resolve, e.g. portal.lan.")
    timeout_s: float = Field(3.0, gt=0, le=30, description="Give up after (s).")


class DnsProbe:
    kind = "dns"

    def __init__(self, config: DnsProbeConfig) -> None:
        self.config = config
        self.name = config.name or "dns"

    async def run(self) -> ProbeResult:
        cfg = self.config
        started = time.perf_counter()
        try:
            async with asyncio.timeout(cfg.timeout_s):
                # the probes' own pool: a hung lookup keeps its thread after the timeout
                infos = await getaddrinfo(cfg.query, None, socktype=socket.SOCK_STREAM)
        except TimeoutError:
            return self._failed(f"no answer within {cfg.timeout_s:g} s")
        except OSError as exc:
            return self._failed(str(exc.strerror or exc))
        return ProbeResult(probe=self.name, kind=self.kind, ok=bool(infos), sent=1,
                           received=1 if infos else 0,
                           latency_ms=(time.perf_counter() - started) * 1000,
                           detail={"addresses": sorted({str(i[4][0]) for i in infos})})

    def _failed(self, why: str) -> ProbeResult:
        return ProbeResult.failure(self.name, self.kind, f"resolving {self.config.query!r}: {why}")

    async def close(self) -> None:
        return None
