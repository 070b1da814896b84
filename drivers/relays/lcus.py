"""LCUS-style USB/serial relay boards (CH340 + STC MCU, 1-8 channels) over pyserial.

Writes the 4-byte frame from ``lcus_frame``. Many boards never answer; boards that do answer
the status query can be read back (``readback: true``), which also detects a board that is
powered off while its USB-serial chip is still plugged in.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import threading
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from drivers.relays import lcus_frame
from drivers.relays.base import RelayError


class LcusRelayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # as StrictModel
    driver: Literal["lcus"] = Field(description="LCUS USB/serial relay board (A0 frames).")
    port: str = Field("/dev/ttyUSB0", description="Serial device of the board.")
    baudrate: int = Field(9600, ge=50, le=4_000_000,
                          description="Serial speed (LCUS boards use 9600).")
    channel: int = Field(1, ge=1, le=8, description="Relay channel on the board, 1..8.")
    readback: bool = Field(
        False, description="Ask the board for its channel states after switching (only for "
        "boards that answer the FF status query).")
    timeout_s: float = Field(1.0, gt=0, le=10, description="How long to wait for an answer.")


class LcusRelay:
    def __init__(self, config: LcusRelayConfig) -> None:
        self._cfg = config
        self._serial: Any = None
        self._lock = threading.Lock()  # one frame at a time on the wire

    def _open(self) -> Any:
        import serial

        if self._serial is None:
            try:
                self._serial = serial.Serial(self._cfg.port, self._cfg.baudrate,
                                             timeout=self._cfg.timeout_s,
                                             write_timeout=self._cfg.timeout_s, exclusive=True)
            except (serial.SerialException, OSError) as exc:
                raise RelayError(f"cannot open relay board {self._cfg.port}: "
                                 f"{_reason(exc)}") from None
        return self._serial

    def _drop(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(OSError):
                self._serial.close()
            self._serial = None

    def _status_sync(self) -> dict[int, bool]:
        port = self._open()
        port.reset_input_buffer()
        port.write(lcus_frame.STATUS_QUERY)
        deadline = time.monotonic() + self._cfg.timeout_s
        data = b""
        while time.monotonic() < deadline:
            data += port.read(port.in_waiting or 1)
            states = lcus_frame.parse_status(data)
            if self._cfg.channel in states and data.endswith(b"\n"):
                # Let the rest of a multi-line answer arrive before parsing it all.
                time.sleep(0.02)
                data += port.read(port.in_waiting)
                return lcus_frame.parse_status(data)
        raise RelayError(f"relay board on {self._cfg.port} did not answer the status query "
                         f"within {self._cfg.timeout_s:g} s (powered? right port?)")

    def _io(self, fn: Any) -> Any:
        import serial

        with self._lock:
            try:
                return fn()
            except (serial.SerialException, OSError) as exc:
                self._drop()  # unplugged: reopen on the next try
                raise RelayError(f"relay board {self._cfg.port}: {_reason(exc)}") from None
            except RelayError:
                self._drop()
                raise

    def _set_sync(self, channel: int, state: bool) -> None:
        self._open().write(lcus_frame.encode(channel, state))
        self._serial.flush()
        if self._cfg.readback:
            got = self._status_sync().get(channel)
            if got is not state:
                raise RelayError(f"relay board {self._cfg.port} channel {channel} reads "
                                 f"{_word(got)} after switching {_word(state)}")

    async def set(self, channel: int, state: bool) -> None:
        await asyncio.to_thread(self._io, lambda: self._set_sync(channel, state))

    async def read(self, channel: int) -> bool | None:
        if not self._cfg.readback:
            return None
        states = await asyncio.to_thread(self._io, self._status_sync)
        return states.get(channel)

    async def close(self) -> None:
        # Waits for a frame still on the wire (a set that timed out for its caller may still
        # hold the lock for up to ~2x timeout_s) in a thread, not on the event loop.
        await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        with self._lock:
            self._drop()


_HINTS = {errno.ENOENT: " (unplugged? wrong port?)",
          errno.EACCES: " (add the service user to the 'dialout' group)",
          errno.EBUSY: " (another program uses the port)"}


def _reason(exc: BaseException) -> str:
    """pyserial wraps OSError as SerialException(errno, long text): keep it short."""
    code = getattr(exc, "errno", None)
    if code is None and exc.args and isinstance(exc.args[0], int):
        code = exc.args[0]
    if isinstance(code, int) and code > 0:
        return os.strerror(code) + _HINTS.get(code, "")
    return str(exc)


def _word(state: bool | None) -> str:
    return "nothing" if state is None else ("ON" if state else "OFF")


def create(config: LcusRelayConfig) -> LcusRelay:
    return LcusRelay(config)
