"""One hotspot's monitor: runs its probes each round, keeps statistics, state and uptime,
and builds the ``hotspot/{id}/state`` payload. I/O happens only in the probes (drivers) and
in the uptime store (called from a worker thread); statistics and state are pure."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from contract import utc_iso
from contract.hotspots import HotspotStatePayload
from drivers.probes import Probe, ProbeResult, ProbeSetupError, build_probe
from edge_agent.hotspots.config import HotspotConfig
from edge_agent.hotspots.state import State, StateMachine, Transition, judge
from edge_agent.hotspots.stats import LinkStats, RollingStats, RoundSample
from edge_agent.hotspots.uptime import Uptime, UptimeLedger, uptime_pct

log = logging.getLogger(__name__)

Clock = Callable[[], float]
UptimeReader = Callable[[str, float], Awaitable[Uptime]]


def probe_budget_s(cfg: object) -> float:
    """The longest a probe can legitimately take; a guard timeout is set a bit above it."""
    count = float(getattr(cfg, "count", 1))
    timeout = float(getattr(cfg, "timeout_s", 5.0))
    pause = float(getattr(cfg, "packet_interval_s", getattr(cfg, "attempt_interval_s", 0.0)))
    return count * (timeout + pause) + 1.0


def iso(ts: float | None) -> str | None:
    return None if ts is None else utc_iso(ts)


class HotspotMonitor:
    """Everything about one hotspot. ``round()`` is safe to call from a command while the
    scheduled loop runs: rounds of one hotspot never overlap."""

    def __init__(self, config: HotspotConfig, semaphore: asyncio.Semaphore,
                 ledger: UptimeLedger, *, probes: Sequence[Probe] | None = None,
                 wall: Clock = time.time, mono: Clock = time.monotonic) -> None:
        self.config = config
        self.probes: list[Probe] = list(probes) if probes is not None else \
            [build_probe(p) for p in config.probes]
        self._budgets = {p.name: probe_budget_s(c) for p, c in zip(self.probes, config.probes,
                                                                   strict=False)}
        self._semaphore = semaphore
        self._ledger = ledger
        self._wall = wall
        self._mono = mono
        self._lock = asyncio.Lock()
        self.stats = RollingStats(config.window, max_age_s=config.window * config.interval_s * 3)
        self.machine = StateMachine(down_after=config.down_after, up_after=config.up_after,
                                    degraded_after=config.degraded_after)
        self.link = LinkStats()
        self.last_results: list[ProbeResult] = []
        self.last_round_at: float | None = None
        self.last_error: str | None = None
        self._setup_errors_logged: set[str] = set()
        self._accounted_until: float | None = None

    @property
    def id(self) -> str:
        return self.config.id

    async def _run_probe(self, probe: Probe) -> ProbeResult:
        """One probe, bounded by the shared semaphore and a guard timeout; never raises."""
        budget = self._budgets.get(probe.name, 30.0)
        try:
            async with self._semaphore, asyncio.timeout(budget):
                return await probe.run()
        except ProbeSetupError as exc:
            if probe.name not in self._setup_errors_logged:  # say it once, clearly
                self._setup_errors_logged.add(probe.name)
                log.error("hotspot %s, probe %s: %s", self.id, probe.name, exc)
            return ProbeResult(probe=probe.name, kind=probe.kind, ok=False, error=str(exc),
                               detail={"unavailable": True})
        except TimeoutError:
            return ProbeResult(probe=probe.name, kind=probe.kind, ok=False, sent=1,
                               error=f"probe did not finish within {budget:g} s")
        except Exception as exc:  # a probe bug must not stop the hotspot's monitoring
            log.exception("hotspot %s, probe %s crashed", self.id, probe.name)
            return ProbeResult(probe=probe.name, kind=probe.kind, ok=False,
                               error=f"internal error: {type(exc).__name__}: {exc}")

    async def round(self) -> tuple[list[ProbeResult], Transition | None]:
        """Run every probe once (concurrently), then update statistics and state."""
        async with self._lock:
            results = list(await asyncio.gather(*(self._run_probe(p) for p in self.probes)))
            return results, self.absorb(results)

    def absorb(self, results: list[ProbeResult]) -> Transition | None:
        """Feed one round's results into statistics, state and uptime accounting."""
        now_wall, now_mono = self._wall(), self._mono()
        sample = RoundSample.from_results(results, now_mono)
        self.stats.add(sample)
        self.link = self.stats.snapshot(now_mono)
        verdict = judge(sample, self.link, self.config.thresholds.loss_pct,
                        self.config.thresholds.rtt_ms)
        self._account(now_wall)
        transition = self.machine.observe(verdict, now_wall)
        self.last_results = results
        self.last_round_at = now_wall
        # real failures before "cannot run here" ones, which repeat every round
        errors = [f"{r.probe}: {r.error}" for r in sorted(
            results, key=lambda r: bool(r.detail.get("unavailable"))) if r.error]
        if errors:
            self.last_error = errors[0]
        if transition is not None:
            level = logging.WARNING if transition.new is State.DOWN else logging.INFO
            log.log(level, "hotspot %s: %s -> %s %s", self.id, transition.old,
                    transition.new, "; ".join(transition.reasons))
        return transition

    def _account(self, now: float) -> None:
        """Credit the time since the last round to the state we were in. Gaps longer than a
        few intervals (agent paused, clock jump) are not credited to anything."""
        start = self._accounted_until
        self._accounted_until = now
        if start is None or now <= start or now - start > 3 * self.config.interval_s + 5:
            return
        self._ledger.record(self.id, self.machine.state.value, start, now)

    def pending_uptime(self, since: float) -> tuple[float, float, float]:
        totals = [0.0, 0.0, 0.0]
        for (hotspot, bucket), values in self._ledger.pending.items():
            if hotspot == self.id and bucket >= since - 300:
                totals[0] += values["up"]
                totals[1] += values["degraded"]
                totals[2] += values["down"]
        return totals[0], totals[1], totals[2]

    def payload(self, stored: tuple[tuple[float, float, float], tuple[float, float, float]]
                | None = None) -> dict[str, Any]:
        """The ``hotspot/{id}/state`` payload; ``stored`` = uptime totals (24 h, 30 d) read
        from the store, to which the not-yet-written seconds are added."""
        now = self._wall()
        u24 = u30 = None
        if stored is not None:
            day, month = stored
            p24 = self.pending_uptime(now - 86400)
            p30 = self.pending_uptime(now - 30 * 86400)
            u24 = uptime_pct(*(a + b for a, b in zip(day, p24, strict=True)))
            u30 = uptime_pct(*(a + b for a, b in zip(month, p30, strict=True)))
        link = self.link
        body = HotspotStatePayload(
            hotspot=self.id, name=self.config.name, state=self.machine.state.value,
            since=iso(self.machine.since),
            reasons=list(self.machine.reasons) if self.machine.state is not State.UP else [],
            rtt_median_ms=_r(link.rtt_median_ms), rtt_p95_ms=_r(link.rtt_p95_ms),
            jitter_ms=_r(link.jitter_ms), loss_pct=_r(link.loss_pct, 2), clients=link.clients,
            clients_per_radio=link.clients_per_radio, clients_per_ssid=link.clients_per_ssid,
            uptime_24h_pct=u24, uptime_30d_pct=u30, flaps_1h=self.machine.flaps(now),
            rounds=link.rounds, last_round=iso(self.last_round_at), last_error=self.last_error,
        )
        return body.model_dump(mode="json")

    def summary(self) -> dict[str, Any]:
        return {"state": self.machine.state.value, "loss_pct": _r(self.link.loss_pct, 2),
                "rtt_median_ms": _r(self.link.rtt_median_ms), "clients": self.link.clients,
                "flaps_1h": self.machine.flaps(self._wall())}

    async def close(self) -> None:
        for probe in self.probes:
            try:
                await probe.close()
            except Exception:  # closing is best effort at shutdown
                log.debug("closing probe %s failed", probe.name, exc_info=True)


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
