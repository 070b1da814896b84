"""What every network probe returns, and the small protocol each probe implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ProbeSetupError(Exception):
    """The probe cannot run at all on this machine (e.g. ICMP not permitted).

    Unlike a failed measurement this will not fix itself between rounds; the service reports
    it once, clearly, and keeps running the hotspot's other probes.
    """


@dataclass(slots=True)
class ProbeResult:
    """One probe's outcome in one round.

    ``sent``/``received`` count packets (ICMP echoes, TCP connects, HTTP requests) so loss can
    be pooled across probes; ``rtts_ms`` holds one round-trip time per answered packet and is
    only filled by probes that measure network RTT (ICMP, TCP), not by application latency.
    """

    probe: str  # the probe's name in the config, e.g. "icmp" or "portal"
    kind: str  # icmp | tcp | http | ubus | dns
    ok: bool
    sent: int = 0
    received: int = 0
    rtts_ms: list[float] = field(default_factory=list)
    latency_ms: float | None = None  # whole-operation time (HTTP request, ubus calls, DNS)
    error: str | None = None
    # ubus: associated clients per radio device and per SSID, and mean signal per radio
    clients_per_radio: dict[str, int] | None = None
    clients_per_ssid: dict[str, int] | None = None
    signal_dbm: dict[str, float] | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. HTTP status code

    @classmethod
    def failure(cls, probe: str, kind: str, error: str, sent: int = 1) -> ProbeResult:
        """A round in which nothing was answered, with the readable reason."""
        return cls(probe=probe, kind=kind, ok=False, sent=sent, received=0, error=error)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "probe": self.probe, "kind": self.kind, "ok": self.ok,
            "sent": self.sent, "received": self.received,
            "rtts_ms": [round(r, 3) for r in self.rtts_ms],
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "error": self.error,
        }
        if self.clients_per_radio is not None:
            body["clients_per_radio"] = self.clients_per_radio
            body["clients_per_ssid"] = self.clients_per_ssid
            body["signal_dbm"] = self.signal_dbm
        if self.detail:
            body["detail"] = self.detail
        return body


class Probe(Protocol):
    """A configured probe. ``run`` never raises for a failed measurement: it returns a
    ``ProbeResult`` with ``ok=False`` and a readable ``error``. It raises ``ProbeSetupError``
    only when the probe cannot work on this machine at all."""

    name: str
    kind: str

    async def run(self) -> ProbeResult: ...

    async def close(self) -> None: ...


def short_error(exc: BaseException) -> str:
    """A one-line, human description of a network exception."""
    text = str(exc).strip()
    inner = getattr(exc, "os_error", None)  # aiohttp wraps the socket error
    if isinstance(inner, OSError) and inner is not exc:
        return short_error(inner)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
