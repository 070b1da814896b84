"""The lighting service: evaluates every circuit's schedule and reconciles relays to it.

A pass runs at start, at every boundary (the engine gives the next change; the loop sleeps
until then), when a command arrives, after a clock jump, when a failed relay is due for a
retry, and every ``reconcile_interval_s`` (re-asserting the state even without a change).
The loop never sleeps longer than ``MAX_TICK_S`` so clock jumps are noticed quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from drivers.relays.base import Relay, RelayError
from edge_agent.lighting.circuit import Circuit, on_off
from edge_agent.lighting.config import LightingConfig
from edge_agent.lighting.schedule import Location, Rule, evaluate
from edge_agent.lighting.store import LightingStore

log = logging.getLogger("edge_agent.lighting")

MAX_TICK_S = 5.0
JUMP_S = 5.0  # wall clock moved this much more/less than the monotonic clock: a jump
SWITCH_TIMEOUT_S = 15.0
INITIAL_READ_S = 5.0
ENERGY_SAVE_S = 600.0

PublishFn = Callable[[str, Mapping[str, Any]], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


class LightingService:
    def __init__(self, config: LightingConfig, location: Location, tz: tzinfo, *,
                 relays: Mapping[str, Relay], store: LightingStore, publish: PublishFn,
                 clock_synced: Callable[[], bool], now: Callable[[], datetime] = utcnow,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cfg = config
        self.location, self.tz = location, tz
        self.store = store
        self._publish = publish
        self._clock_synced = clock_synced
        self._now, self._mono = now, monotonic
        self.circuits = {c.id: Circuit(c, relays[c.id], [Rule.from_config(r) for r in c.rules])
                         for c in config.circuits}
        self.lock = asyncio.Lock()  # one pass (or a pulse's bookkeeping) at a time
        self._wake = asyncio.Event()
        self._was_synced: bool | None = None
        self._last_clock: tuple[datetime, float] | None = None
        self._published: dict[str, tuple[dict[str, Any], float]] = {}
        self._dirty = False
        self._energy_saved = monotonic()
        self.passes = 0

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.store.load)
        for c in self.circuits.values():
            if c.id in self.store.energy:
                c.energy = self.store.energy[c.id]
            self.store.energy[c.id] = c.energy
            c.switch_count = self.store.switch_count.get(c.id, 0)
        await asyncio.gather(*(self._read_initial(c) for c in self.circuits.values()))

    async def _read_initial(self, c: Circuit) -> None:
        try:
            # Bounded tighter than a switch: a dead device must not hold up the first pass.
            c.actual = await asyncio.wait_for(c.relay.read(c.channel), INITIAL_READ_S)
        except Exception as exc:  # RelayError, a timeout, or a driver bug: switch anyway
            self._failed(c, exc)
            c.retry_at = 0.0

    async def run(self) -> None:
        await self.start()
        while True:
            await self.reconcile()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._sleep_s())

    async def stop(self) -> None:
        """Leave relays as they are unless a circuit asks for an on_stop state."""
        forced = [c for c in self.circuits.values() if c.cfg.on_stop != "keep"]
        for c in forced:
            try:
                await asyncio.wait_for(c.relay.set(c.channel, c.cfg.on_stop == "on"), 3.0)
                log.info("circuit %s: set %s on stop (on_stop)", c.id, c.cfg.on_stop)
            except Exception as exc:  # stopping must go on for the other circuits
                log.error("circuit %s: on_stop %s failed: %s", c.id, c.cfg.on_stop, exc)
        for relay in {id(c.relay): c.relay for c in self.circuits.values()}.values():
            try:
                await relay.close()
            except Exception as exc:  # closing must never switch or hang the stop
                log.warning("lighting: closing a relay failed: %s", exc)
        await self.store.save()

    def wake(self) -> None:
        self._wake.set()

    def now(self) -> datetime:
        return self._now()

    # -- one pass ----------------------------------------------------------------------------
    async def reconcile(self, force: bool = False) -> None:
        async with self.lock:
            now, mono = self._now(), self._mono()
            synced = self._clock_synced()
            force = self._clock_events(now, mono, synced) or force
            self._expire_overrides(now)
            for c in self.circuits.values():
                self._decide(c, now, synced)
            await self._drive(now, mono, force)
            for c in self.circuits.values():
                c.energy.update(now, bool(c.actual), self.tz)
            await self._publish_states(synced)
            self.passes += 1
            if self._dirty or mono - self._energy_saved > ENERGY_SAVE_S:
                await self.store.save()
                self._dirty, self._energy_saved = False, mono
        # A pass run by a command changes what the loop waits for (a retry, a pending
        # switch, an override expiry): make the loop recompute its sleep.
        self._wake.set()

    def _clock_events(self, now: datetime, mono: float, synced: bool) -> bool:
        force = False
        if self._last_clock is not None:
            last_wall, last_mono = self._last_clock
            jump = (now - last_wall).total_seconds() - (mono - last_mono)
            if abs(jump) > JUMP_S:
                log.warning("lighting: system clock jumped by %+.0f s; re-evaluating", jump)
                force = True
        self._last_clock = (now, mono)
        if synced != self._was_synced:
            if synced and self._was_synced is not None:
                log.info("lighting: clock synced; reconciling to the schedule")
                force = True
            elif not synced:
                log.warning("lighting: clock not synced; keeping relays as they are")
            self._was_synced = synced
        return force

    def _expire_overrides(self, now: datetime) -> None:
        for cid, ov in list(self.store.overrides.items()):
            if ov.until is not None and now >= ov.until:
                del self.store.overrides[cid]
                self._dirty = True
                log.info("circuit %s: override %s expired; back to schedule", cid,
                         on_off(ov.state))

    def _decide(self, c: Circuit, now: datetime, synced: bool) -> None:
        if c.pulsing:
            return
        ov = self.store.overrides.get(c.id)
        if synced or (ov is not None and ov.active_at(now)):
            d = evaluate(c.rules, ov, c.cfg.default == "on", now, self.location, self.tz)
            c.decision, c.target, c.reason = d, d.state, d.reason
            return
        c.decision = None  # the clock is wrong: the schedule cannot be trusted
        if c.actual is not None:
            c.target, c.reason = c.actual, "clock_unsynced"
        elif c.id in self.store.last_state:
            c.target, c.reason = self.store.last_state[c.id], "clock_unsynced"
        elif c.cfg.unsynced_state != "keep":
            c.target, c.reason = c.cfg.unsynced_state == "on", "failsafe"
        else:
            c.target, c.reason = None, "clock_unsynced"

    async def _drive(self, now: datetime, mono: float, force: bool) -> None:
        changes: list[Circuit] = []
        reasserts: list[Circuit] = []
        for c in self.circuits.values():
            c.pending_until = None
            if c.pulsing or c.target is None or (not c.driver_ok and mono < c.retry_at):
                continue
            if c.actual != c.target:
                wait = self._protect_wait(c, mono)
                if wait > 0:
                    c.pending_until = now + timedelta(seconds=wait)
                    continue
                changes.append(c)
            elif force or not c.driver_ok or \
                    mono - c.last_assert_mono >= self.cfg.reconcile_interval_s:
                reasserts.append(c)
        await asyncio.gather(self._staggered(changes),
                             *(self._switch(c, 0.0) for c in reasserts))

    async def _staggered(self, changes: list[Circuit]) -> None:
        """Inrush: several circuits switching at once start stagger_s apart, counted from the
        previous switch's start (not as offsets from a common start: a loop that ran late
        would then fire two at once). A hung relay does not hold the ones after it."""
        switches: list[asyncio.Task[None]] = []
        try:
            for i, c in enumerate(changes):
                if i:
                    await asyncio.sleep(self.cfg.stagger_s)
                switches.append(asyncio.create_task(self._switch(c, 0.0)))
                await asyncio.sleep(0)  # its relay call starts now, before the next delay
            await asyncio.gather(*switches)
        except BaseException:  # cancelled (stop): as before, no switch goes on without us
            for task in switches:
                task.cancel()
            raise

    def _protect_wait(self, c: Circuit, mono: float) -> float:
        if c.actual is None or c.last_switch_mono is None:
            return 0.0
        return c.cfg.min_switch_interval_s - (mono - c.last_switch_mono)

    async def _switch(self, c: Circuit, delay: float) -> None:
        target = c.target
        assert target is not None
        if delay:
            await asyncio.sleep(delay)
        try:
            await asyncio.wait_for(c.relay.set(c.channel, target), SWITCH_TIMEOUT_S)
        except (RelayError, TimeoutError) as exc:
            self._failed(c, exc)
            return
        except Exception as exc:  # a driver bug must not take the other circuits down
            log.exception("circuit %s: relay driver error", c.id)
            self._failed(c, RelayError(f"driver error: {type(exc).__name__}: {exc}"))
            return
        if not c.driver_ok:
            log.info("circuit %s: relay works again", c.id)
        c.driver_ok, c.driver_error = True, None
        c.last_assert_mono = self._mono()
        if c.actual != target:
            rule = f", rule {c.decision.rule}" if c.decision and c.decision.rule else ""
            verb = "switched" if c.actual is not None else "set (state was unknown)"
            log.info("circuit %s: %s %s (%s%s)", c.id, verb, on_off(target), c.reason, rule)
            if c.actual is not None:
                # A first set from an unknown state does not start the protection interval.
                c.record_switch(self._now(), self._mono(), self.tz)
                self.store.switch_count[c.id] = c.switch_count
        c.actual = target
        if self.store.last_state.get(c.id) is not target:
            self.store.last_state[c.id] = target
            self._dirty = True

    def _failed(self, c: Circuit, exc: BaseException) -> None:
        text = str(exc) or f"no answer within {SWITCH_TIMEOUT_S:g} s"
        if c.driver_ok or text != c.driver_error:
            log.warning("circuit %s: relay failed: %s (retrying every %g s)", c.id, text,
                        self.cfg.retry_s)
        c.driver_ok, c.driver_error = False, text
        c.retry_at = self._mono() + self.cfg.retry_s

    # -- publishing / scheduling -------------------------------------------------------------
    async def _publish_states(self, synced: bool) -> None:
        mono = self._mono()
        for c in self.circuits.values():
            payload = c.state_payload(self.store.overrides.get(c.id), synced)
            compare = {k: v for k, v in payload.items() if not k.startswith("on_hours")}
            last = self._published.get(c.id)
            if last is not None and last[0] == compare and \
                    mono - last[1] < self.cfg.publish_interval_s:
                continue
            try:
                await self._publish(c.id, payload)
            except Exception as exc:  # the outbox refusing must not stop the lights
                log.error("circuit %s: cannot publish state: %s", c.id, exc)
                continue
            self._published[c.id] = (compare, mono)

    def _sleep_s(self) -> float:
        now, mono = self._now(), self._mono()
        waits = [MAX_TICK_S]
        for c in self.circuits.values():
            if c.decision is not None and c.decision.next_change is not None:
                # Land just after the boundary so the next pass sees the new state.
                waits.append((c.decision.next_change - now).total_seconds() + 0.01)
            if c.pending_until is not None:
                waits.append((c.pending_until - now).total_seconds() + 0.01)
            if not c.driver_ok:
                waits.append(c.retry_at - mono)
            waits.append(c.last_assert_mono + self.cfg.reconcile_interval_s - mono)
        return min(max(0.02, w) for w in waits)

    def health(self) -> dict[str, Any]:
        return {"circuits": {c.id: {"state": on_off(c.actual), "reason": c.reason,
                                    "driver_ok": c.driver_ok,
                                    "on_hours_today": round(c.energy.on_s / 3600, 3)}
                             for c in self.circuits.values()}}
