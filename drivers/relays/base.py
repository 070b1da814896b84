"""The small protocol every relay driver implements, and its one error type.

A driver instance owns one connection (a GPIO chip, a serial port, a Modbus bus, an MQTT
device) and may serve several circuits, one per channel. Drivers never switch anything on
their own: ``close()`` releases the connection and leaves the outputs as they are, because a
street-light contactor must not drop when the agent restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


class RelayError(Exception):
    """A relay could not be switched or read. The message is for a technician."""


@runtime_checkable
class Relay(Protocol):
    """One relay board / device with numbered channels."""

    async def set(self, channel: int, state: bool) -> None:
        """Drive ``channel`` to ``state`` (True = energised = lights on). Raises RelayError."""
        ...

    async def read(self, channel: int) -> bool | None:
        """The channel's state as the hardware reports it, or None if it cannot tell."""
        ...

    async def close(self) -> None:
        """Release the connection. Must not change any output."""
        ...


class BrokenRelay:
    """Stands in for a relay whose driver could not even be built: every use says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def set(self, channel: int, state: bool) -> None:
        raise RelayError(self.reason)

    async def read(self, channel: int) -> bool | None:
        raise RelayError(self.reason)

    async def close(self) -> None:
        return None


class MqttPortLike(Protocol):
    """Structural twin of ``edge_agent.runtime.MqttPort`` (drivers never import edge_agent)."""

    async def publish_raw(self, topic: str, payload: bytes, *, qos: int = 1,
                          retain: bool = False) -> None: ...

    def subscribe_raw(self, topic_filter: str, callback: Any) -> Callable[[], None]: ...
