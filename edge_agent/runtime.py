"""The small contract every capability (lights, cameras, hotspots, web) is written against.

A *component* is a long-running coroutine owned by the supervisor. It receives an
``AgentContext`` and talks to the outside world only through it:

- ``ctx.bus.publish(...)`` hands a message to the durable outbox (never MQTT directly);
- ``ctx.commands.register(...)`` adds a handler for ``cmd/{target}/{action}``;
- ``ctx.health.add_source(...)`` contributes fields to the periodic ``health`` message;
- ``ctx.state`` is the latest retained payload per topic (the web page reads it);
- ``ctx.mqtt_port`` reaches absolute MQTT topics (for drivers such as MQTT smart relays).

Nothing here does I/O; the concrete implementations live in ``bus.py``, ``commands.py``,
``health.py`` and ``mqtt/``.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from edge_agent.config.model import AgentConfig


class MessageClass(enum.IntEnum):
    """What a message is, which decides what the bounded outbox drops first when full.

    Lower values are dropped first: periodic telemetry, then superseded state, then events.
    """

    TELEMETRY = 0  # health and high-rate stats: the next one replaces it
    STATE = 1  # retained state: only the newest per topic matters to a late reader
    EVENT = 2  # motion events, command replies: each one matters, dropped last


@runtime_checkable
class Publisher(Protocol):
    """Where components send messages. Topics are relative to the gateway base topic."""

    async def publish(
        self,
        topic: str,
        payload: Mapping[str, Any] | bytes,
        *,
        retain: bool = False,
        qos: int = 1,
        message_class: MessageClass = MessageClass.STATE,
    ) -> None:
        """Accept a message. Returns once it is durable (QoS 1) or queued (QoS 0).

        Mapping payloads get the envelope (``v``, ``ts``, ``seq``, ``id``) added; bytes are
        sent as they are (snapshots). When the outbox cannot store (disk full, I/O error) the
        message is sent live without the guarantee and counted; publishing never raises for it.
        """
        ...


class CommandError(Exception):
    """Raised by a command handler for a request it refuses; becomes ``{"ok": false}``."""


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """One command as a handler sees it, after parsing and expiry checks."""

    target: str  # e.g. "light"
    subject: str | None  # e.g. "main-road" in cmd/light/main-road/override, None for cmd/ping
    action: str  # e.g. "override"
    payload: dict[str, Any]
    received_at: datetime


CommandHandler = Callable[[CommandRequest], Awaitable[Mapping[str, Any] | None]]


class CommandRegistry(Protocol):
    def register(self, target: str, action: str, handler: CommandHandler, *,
                 has_subject: bool = True) -> None:
        """Handle ``cmd/{target}/{subject}/{action}`` (or ``cmd/{target}/{action}``).

        The handler returns the reply's fields (``ok: true`` is added) or raises
        ``CommandError`` / ``pydantic.ValidationError`` for an error reply.
        """
        ...

    def unregister_all(self, owner_prefix: str) -> None: ...

    async def execute(self, path: str, raw: bytes | dict[str, Any]) -> dict[str, Any]:
        """Run ``cmd/{path}`` locally (e.g. from the web page) and return its reply."""
        ...


HealthSource = Callable[[], Mapping[str, Any]]


class HealthRegistry(Protocol):
    def add_source(self, name: str, source: HealthSource) -> None:
        """``source()`` is called for every health message; its fields go under ``name``."""
        ...


MessageCallback = Callable[[str, bytes], None]


class MqttPort(Protocol):
    """Raw access to absolute topics, for drivers that speak to other MQTT devices."""

    async def publish_raw(self, topic: str, payload: bytes, *, qos: int = 1,
                          retain: bool = False) -> None: ...

    def subscribe_raw(self, topic_filter: str,
                      callback: MessageCallback) -> Callable[[], None]:
        """Deliver every message matching ``topic_filter`` to ``callback(topic, payload)``.

        Returns a function that ends the subscription (call it when the owner closes).
        """
        ...


@dataclass(slots=True)
class ComponentStatus:
    state: str = "starting"  # starting | running | failed | stopped
    restarts: int = 0
    last_error: str | None = None


@dataclass(slots=True)
class AgentContext:
    config: AgentConfig
    config_path: Path | None
    bus: Publisher
    commands: CommandRegistry
    health: HealthRegistry
    mqtt_port: MqttPort
    state: RetainedState
    data_dir: Path
    clock_synced: Callable[[], bool]
    status: Callable[[], Mapping[str, Any]]  # gateway, version, mqtt, outbox, components...
    components: dict[str, ComponentStatus] = field(default_factory=dict)


class RetainedState:
    """The newest retained payload per relative topic, as last accepted by the bus."""

    def __init__(self) -> None:
        self._latest: dict[str, Mapping[str, Any] | bytes] = {}

    def update(self, topic: str, payload: Mapping[str, Any] | bytes) -> None:
        self._latest[topic] = payload

    def get(self, topic: str) -> Mapping[str, Any] | bytes | None:
        return self._latest.get(topic)

    def matching(self, prefix: str) -> dict[str, Mapping[str, Any] | bytes]:
        return {t: p for t, p in self._latest.items() if t.startswith(prefix)}


class Component(Protocol):
    """A long-running part of the agent. ``run`` returns only when it is finished.

    Raising means "I failed": the supervisor reports it and restarts it with backoff.
    Cancellation means "stop now": release hardware into its safe state and return.
    """

    name: str

    async def run(self, ctx: AgentContext) -> None: ...


ComponentFactory = Callable[["AgentConfig"], list[Component]]
