"""Relays on GPIO lines through libgpiod v2 (the ``gpiod`` package).

The line is requested as an output once and kept; ``active_low`` is handled by libgpiod
itself (boards with opto-isolated inputs are usually active-low). Releasing the request on
close leaves the line where the kernel keeps it; the service never switches it off to close.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from drivers.relays.base import RelayError


class GpioRelayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # as StrictModel
    driver: Literal["gpio"] = Field(description="A relay on a GPIO line (libgpiod v2).")
    chip: str = Field("/dev/gpiochip0", description="GPIO chip device.")
    channel: int = Field(ge=0, le=1023, description="Line offset on the chip (BCM number on "
                         "a Raspberry Pi).")
    active_low: bool = Field(False, description="True if the relay switches on at 0 V.")
    consumer: str = Field("edge-agent", description="Name shown by gpioinfo for the line.")


def _request_line(chip: str, offset: int, active_low: bool, initial: bool,
                  consumer: str) -> Any:
    import gpiod
    from gpiod.line import Direction, Value

    settings = gpiod.LineSettings(direction=Direction.OUTPUT, active_low=active_low,
                                  output_value=Value.ACTIVE if initial else Value.INACTIVE)
    return gpiod.request_lines(chip, consumer=consumer, config={offset: settings})


class GpioRelay:
    """``request_lines`` is the seam: tests pass a fake that returns a fake request object."""

    def __init__(self, config: GpioRelayConfig, request_lines: Any = _request_line) -> None:
        self._cfg = config
        self._request_lines = request_lines
        self._requests: dict[int, Any] = {}

    def _value(self, state: bool) -> Any:
        from gpiod.line import Value

        return Value.ACTIVE if state else Value.INACTIVE

    def _set_sync(self, channel: int, state: bool) -> None:
        try:
            request = self._requests.get(channel)
            if request is None:
                # First use: request the line already at the wanted level, no glitch.
                self._requests[channel] = self._request_lines(
                    self._cfg.chip, channel, self._cfg.active_low, state, self._cfg.consumer)
            else:
                request.set_value(channel, self._value(state))
        except (OSError, ValueError) as exc:
            raise RelayError(f"GPIO {self._cfg.chip} line {channel}: {exc}") from None

    async def set(self, channel: int, state: bool) -> None:
        await asyncio.to_thread(self._set_sync, channel, state)

    async def read(self, channel: int) -> bool | None:
        from gpiod.line import Value

        request = self._requests.get(channel)
        if request is None:
            return None  # not requested yet: reading would need claiming the line
        try:
            return bool(request.get_value(channel) == Value.ACTIVE)
        except (OSError, ValueError) as exc:
            raise RelayError(f"GPIO {self._cfg.chip} line {channel}: {exc}") from None

    async def close(self) -> None:
        for request in self._requests.values():
            with contextlib.suppress(OSError, ValueError):
                request.release()
        self._requests.clear()


def create(config: GpioRelayConfig) -> GpioRelay:
    return GpioRelay(config)
