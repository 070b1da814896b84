"""HTTP GET: status code, latency, and optionally a text the page must contain (captive
portal check)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from drivers.probes.base import ProbeResult, short_error
from drivers.probes.resolve import aiohttp_connector

if TYPE_CHECKING:  # aiohttp costs ~19 MB: loaded only when a probe runs, not with the config
    import aiohttp


class HttpProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # as StrictModel

    probe: Literal["http"] = Field("http", description="HTTP GET.")
    name: str | None = Field(None, description="Name in reports; default 'http'.")
    url: str = Field(description="URL to fetch, e.g. http://192.168.10.1/portal.")
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=lambda: [200], description="Status codes that count as success."
    )
    expect_text: str | None = Field(
        None, description="Text the page must contain (e.g. the portal's title)."
    )
    timeout_s: float = Field(3.0, gt=0, le=60, description="Whole request timeout (s).")
    max_bytes: int = Field(
        262144, ge=0, le=16 * 1024 * 1024,
        description="Read at most this much of the body when checking text."
    )
    verify_tls: bool = Field(True, description="Verify HTTPS certificates.")


class HttpProbe:
    kind = "http"

    def __init__(self, config: HttpProbeConfig) -> None:
        self.config = config
        self.name = config.name or "http"
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            # no keep-alive: every round measures a fresh request like a visitor's phone would
            connector = aiohttp_connector(force_close=True, ssl=self.config.verify_tls)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def run(self) -> ProbeResult:
        import aiohttp

        cfg = self.config
        started = time.perf_counter()
        try:
            async with asyncio.timeout(cfg.timeout_s):
                async with self._get_session().get(cfg.url, allow_redirects=False) as resp:
                    body = await resp.content.read(cfg.max_bytes) if cfg.expect_text else b""
                    status = resp.status
        except TimeoutError:
            return self._failed(f"no complete answer within {cfg.timeout_s:g} s")
        except aiohttp.ClientConnectorError as exc:
            return self._failed(f"cannot connect to {exc.host}:{exc.port}: {short_error(exc)}")
        except (aiohttp.ClientError, OSError) as exc:
            return self._failed(short_error(exc))
        # the server answered: not a lost packet, whatever it said
        result = ProbeResult(probe=self.name, kind=self.kind, ok=False, sent=1, received=1,
                             latency_ms=(time.perf_counter() - started) * 1000,
                             detail={"status": status})
        if status not in cfg.expect_status:
            expected = ", ".join(str(s) for s in cfg.expect_status)
            result.error = f"HTTP {status} (expected {expected})"
        elif cfg.expect_text and cfg.expect_text not in body.decode("utf-8", errors="replace"):
            result.error = f"expected text {cfg.expect_text!r} not found in the page"
        else:
            result.ok = True
        return result

    def _failed(self, error: str) -> ProbeResult:
        return ProbeResult.failure(self.name, self.kind, error)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
