"""The supervisor: one TaskGroup, named tasks, isolated restarts, clean stop, live reload."""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from contract import utc_iso
from contract.topics import OUTBOX_DROPPED
from drivers.backoff import Backoff
from edge_agent import __version__
from edge_agent.bus import Bus
from edge_agent.clock import clock_is_synced
from edge_agent.command_log import CommandLog
from edge_agent.commands import CommandRouter
from edge_agent.components import build_components
from edge_agent.config import ConfigError, LoadedConfig, load_config, redacted_dump
from edge_agent.health import HealthReporter
from edge_agent.mqtt import MqttLink
from edge_agent.outbox import Outbox
from edge_agent.runtime import (
    AgentContext,
    CommandError,
    CommandRequest,
    Component,
    ComponentStatus,
    RetainedState,
)
from edge_agent.sd_notify import notify, watchdog_interval_s

log = logging.getLogger(__name__)

RESTART_BASE_S = 1.0
RESTART_CAP_S = 60.0
STABLE_AFTER_S = 60.0  # a component that ran this long starts its backoff afresh


class Agent:
    def __init__(self, loaded: LoadedConfig) -> None:
        self.loaded = loaded
        self.boot_time = time.time()
        self.boot_iso = utc_iso(datetime.fromtimestamp(self.boot_time, UTC))
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self.state = RetainedState()
        cfg = loaded.config
        data_dir = cfg.storage.data_dir
        self.outbox = Outbox(data_dir / "outbox.sqlite3",
                             max_bytes=int(cfg.storage.outbox_max_mb * 1024 * 1024),
                             commit_window_s=cfg.storage.outbox_commit_ms / 1000,
                             dropped_topic=f"{cfg.base_topic}/{OUTBOX_DROPPED.pattern}")
        self.bus = Bus(cfg.base_topic, self.outbox, self.state)
        self.router = CommandRouter(cfg.base_topic, self.bus.publish_reply)
        self.command_log = CommandLog(data_dir / "commands.sqlite3")
        self.link = MqttLink(cfg, self.outbox, self.router, self._birth, self._last_will)
        self.bus.direct = self.link
        self.health = HealthReporter(self.outbox, data_dir, self.boot_time, self._health_extra)
        self.components: dict[str, ComponentStatus] = {}
        self.last_reload_error: str | None = None
        self._reload_accepted = False
        self.ctx = self._make_context()
        self._register_builtin_commands()

    # -- context and messages ----------------------------------------------------------
    def _make_context(self) -> AgentContext:
        cfg = self.loaded.config
        return AgentContext(
            config=cfg, config_path=self.loaded.path, bus=self.bus, commands=self.router,
            health=self.health, mqtt_port=self.link, state=self.state,
            data_dir=cfg.storage.data_dir,
            clock_synced=lambda: clock_is_synced(self.loaded.config.gateway.clock_sync),
            status=self.status, components=self.components,
        )

    def _status(self, state: str, **fields: Any) -> Mapping[str, Any]:
        """A ``status`` body: not in the seq stream; ``boot`` and ``last_seq`` say where
        this life of the agent is (for the Last Will: as of the connect)."""
        return self.bus.envelope({"state": state, "version": __version__,
                                  "boot": self.outbox.boot, "last_seq": self.outbox.last_seq,
                                  "gateway": self.loaded.config.gateway.id, **fields})

    def _birth(self) -> Mapping[str, Any]:
        cfg = self.loaded.config
        return self._status("online", config_hash=self.loaded.digest,
                            boot_time=self.boot_iso, clock_synced=self.ctx.clock_synced(),
                            site=cfg.gateway.site, health_interval_s=cfg.health.interval_s)

    def _last_will(self) -> Mapping[str, Any]:
        return self._status("offline")

    def status(self) -> dict[str, Any]:
        """The agent's own state for the web page and /metrics."""
        cfg = self.loaded.config
        return {
            "gateway": cfg.gateway.id, "site": cfg.gateway.site, "version": __version__,
            "base_topic": cfg.base_topic, "config_hash": self.loaded.digest,
            "boot_time": self.boot_iso,
            "uptime_s": round(time.time() - self.boot_time, 1),
            "outbox": self.outbox.stats().as_dict(), **self._health_extra(),
        }

    def _health_extra(self) -> dict[str, Any]:
        storage_error = self.outbox.storage_error
        return {
            "storage": {"ok": storage_error is None, "reason": storage_error},
            "clock_synced": self.ctx.clock_synced(),
            "mqtt": {"connected": self.link.connected.is_set(), "connects": self.link.connects,
                     "sent": self.link.sent, "last_error": self.link.last_error},
            "commands": {"handled": self.router.handled, "rejected": self.router.rejected,
                         "unanswerable": self.router.unanswerable},
            "components": {name: {"state": s.state, "restarts": s.restarts,
                                  "last_error": s.last_error}
                           for name, s in self.components.items()},
        }

    # -- run ---------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        # put back what was there: an agent run inside another program (a benchmark, a
        # test) must not leave that program with the default "die at once" SIGTERM
        previous = {sig: signal.getsignal(sig)
                    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)
        await self.outbox.open()
        await self._open_command_log()
        try:
            async with asyncio.TaskGroup() as tg:
                background = [
                    tg.create_task(self.link.run(), name="mqtt-link"),
                    tg.create_task(self._ready_when_link_tried(), name="sd-notify-ready"),
                ]
                if (interval := watchdog_interval_s()) is not None:
                    background.append(tg.create_task(self._watchdog(interval),
                                                     name="sd-watchdog"))
                await self._run_generations()
                notify("STOPPING=1")
                if await self.link.publish_status(self._status("stopped")):
                    log.info("published 'stopped'")
                for task in background:
                    task.cancel()
        finally:
            if self.router.command_log is not None:
                self.router.command_log = None
                await self.command_log.close()
            await self.outbox.close()
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)
                if handler is not None:
                    signal.signal(sig, handler)
        log.info("stopped cleanly; %d message(s) wait in the outbox", self.outbox.stats().depth)

    async def _open_command_log(self) -> None:
        try:
            await self.command_log.open()
        except (sqlite3.Error, OSError) as exc:  # commands still run, only not de-duplicated
            log.error("command log %s unusable: %s (redelivered commands may run twice)",
                      self.loaded.config.storage.data_dir / "commands.sqlite3", exc)
            return
        self.router.command_log = self.command_log

    def request_stop(self) -> None:
        log.info("stop requested")
        self._stop.set()

    async def _run_generations(self) -> None:
        """Run the components; on reload, stop them and start the new config's set."""
        generation = 0
        while not self._stop.is_set():
            self._reload.clear()
            if generation:  # a reload: the retained birth must show the new config hash
                await self.link.publish_status(self._birth())
            generation += 1
            components: list[Component] = [self.health, *build_components(self.loaded.config)]
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(self._supervise(c), name=c.name) for c in components]
                stop = tg.create_task(self._stop.wait(), name="wait-stop")
                reload = tg.create_task(self._wait_reload(), name="wait-reload")
                await asyncio.wait([stop, reload], return_when=asyncio.FIRST_COMPLETED)
                for task in [*tasks, stop, reload]:
                    task.cancel()

    async def _wait_reload(self) -> None:
        while True:
            await self._reload.wait()
            self._reload.clear()
            if self._reload_accepted or self.try_reload() is not None:
                self._reload_accepted = False
                return

    def try_reload(self) -> str | None:
        """Load the config file again. Returns the new hash, or None if it was refused."""
        try:
            new = load_config(self.loaded.path)
        except ConfigError as exc:
            log.error("reload refused, keeping the running config:\n%s", exc)
            self.last_reload_error = str(exc)
            return None
        except Exception as exc:  # whatever a reload hits, the running config stays
            log.exception("reload refused, keeping the running config")
            self.last_reload_error = f"{type(exc).__name__}: {exc}"
            return None
        if new.config.base_topic != self.loaded.config.base_topic or \
                new.config.mqtt != self.loaded.config.mqtt or \
                new.config.storage != self.loaded.config.storage:
            log.error("reload refused: mqtt, storage and the gateway id/site need a restart")
            self.last_reload_error = "mqtt, storage and gateway id/site changes need a restart"
            return None
        self.loaded = new
        self.ctx.config = new.config
        log.info("config reloaded (%s)", new.digest)
        return new.digest

    async def _supervise(self, component: Component) -> None:
        status = self.components.setdefault(component.name, ComponentStatus())
        # +0.5 s: even the first restart of a component that dies at once is not immediate
        backoff = Backoff(RESTART_BASE_S, RESTART_CAP_S, stable_s=STABLE_AFTER_S, floor_s=0.5)
        while True:
            started = time.monotonic()
            status.state = "running"
            try:
                await component.run(self.ctx)
                status.state = "stopped"
                return
            except asyncio.CancelledError:
                status.state = "stopped"
                raise
            except Exception as exc:
                delay = backoff.failed(time.monotonic() - started)
                status.state = "failed"
                status.restarts += 1
                status.last_error = f"{type(exc).__name__}: {exc}"
                log.error("%s failed: %s (restart %d in %.1f s)", component.name,
                          status.last_error, status.restarts, delay,
                          exc_info=log.isEnabledFor(logging.DEBUG))
                await asyncio.sleep(delay)

    async def _ready_when_link_tried(self) -> None:
        try:
            await asyncio.wait_for(self.link.connected.wait(), 5.0)
        except TimeoutError:
            log.warning("no broker yet; spooling messages to the outbox")
        notify("READY=1")

    async def _watchdog(self, interval: float) -> None:
        while True:  # pings only while the event loop really turns
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    # -- built-in commands -------------------------------------------------------------
    def _register_builtin_commands(self) -> None:
        self.router.register("ping", "", self._cmd_ping, has_subject=False)
        self.router.register("config", "get", self._cmd_config_get, has_subject=False)
        self.router.register("config", "reload", self._cmd_config_reload, has_subject=False)
        self.router.register("outbox", "stats", self._cmd_outbox_stats, has_subject=False)

    async def _cmd_ping(self, request: CommandRequest) -> Mapping[str, Any]:
        return {"pong": True, "version": __version__,
                "uptime_s": round(time.time() - self.boot_time, 1)}

    async def _cmd_config_get(self, request: CommandRequest) -> Mapping[str, Any]:
        return {"config": redacted_dump(self.loaded.config), "config_hash": self.loaded.digest}

    async def _cmd_config_reload(self, request: CommandRequest) -> Mapping[str, Any]:
        digest = self.try_reload()
        if digest is None:
            raise CommandError(f"reload refused, running config kept: "
                               f"{self.last_reload_error}")
        self._reload_now()
        return {"config_hash": digest}

    def _reload_now(self) -> None:
        self._reload_accepted = True  # already loaded and checked: only restart components
        # a moment later, so the reply (web request or MQTT) leaves before its component
        # is restarted with the new config
        asyncio.get_running_loop().call_later(0.2, self._reload.set)

    async def _cmd_outbox_stats(self, request: CommandRequest) -> Mapping[str, Any]:
        return {"outbox": self.outbox.stats().as_dict(),
                "dropped_qos0_offline": self.outbox.dropped_not_connected}
