"""TCP connect latency: the time until the three-way handshake completes."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from drivers.probes.base import ProbeResult, short_error
from drivers.probes.resolve import resolve


class TcpProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # as StrictModel

    probe: Literal["tcp"] = Field("tcp", description="TCP connect.")
    name: str | None = Field(None, description="Name in reports; default 'tcp:<port>'.")
    host: str = Field(description="Address or host name to connect to.")
    port: int = Field(description="TCP port, e.g. 80 for the captive portal.", ge=1, le=65535)
    count: int = Field(3, ge=1, le=50, description="Connection attempts per round.")
    attempt_interval_s: float = Field(
        0.1, ge=0, le=5, description="Pause between attempts of a round (s)."
    )
    timeout_s: float = Field(1.0, gt=0, le=30, description="Give up one attempt after (s).")


class TcpProbe:
    kind = "tcp"

    def __init__(self, config: TcpProbeConfig) -> None:
        self.config = config
        self.name = config.name or f"tcp:{config.port}"

    async def _connect_once(self) -> float:
        cfg = self.config
        async with asyncio.timeout(cfg.timeout_s):
            # resolved on the probes' own pool (asyncio would use the default executor);
            # the handshake time below excludes the lookup
            address = (await resolve(cfg.host))[0]
            started = time.perf_counter()
            _, writer = await asyncio.open_connection(address, cfg.port)
        elapsed = (time.perf_counter() - started) * 1000
        # the measurement is done: drop the connection without waiting for a slow peer
        writer.transport.abort()
        return elapsed

    async def run(self) -> ProbeResult:
        cfg = self.config
        rtts: list[float] = []
        last_error: str | None = None
        started = time.monotonic()
        for attempt in range(cfg.count):
            if attempt:
                await asyncio.sleep(cfg.attempt_interval_s)
            try:
                rtts.append(await self._connect_once())
            except (OSError, TimeoutError) as exc:
                last_error = short_error(exc)
                if isinstance(exc, TimeoutError):
                    last_error = f"no answer within {cfg.timeout_s:g} s"
        error = None
        if not rtts:
            error = f"{cfg.host}:{cfg.port}: {last_error}"
        return ProbeResult(probe=self.name, kind=self.kind, ok=bool(rtts), sent=cfg.count,
                           received=len(rtts), rtts_ms=rtts, error=error,
                           latency_ms=(time.monotonic() - started) * 1000)

    async def close(self) -> None:
        return None
