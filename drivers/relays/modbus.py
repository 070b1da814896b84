"""Modbus RTU relay modules (coils) through pymodbus 3.8, with read-back.

One client per serial bus; several circuits (coils, unit ids) may share it. Every write is
followed by a read of the same coil, so a module that ignores writes is noticed.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from drivers.relays.base import RelayError


class ModbusRelayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # as StrictModel
    driver: Literal["modbus"] = Field(description="Modbus RTU relay module (coils).")
    port: str = Field("/dev/ttyUSB0", description="Serial device of the RS-485 adapter.")
    baudrate: int = Field(9600, ge=50, le=4_000_000, description="Serial speed of the bus.")
    parity: Literal["N", "E", "O"] = Field("N", description="Parity: N, E or O.")
    unit: int = Field(1, ge=0, le=247, description="Modbus unit (slave) id of the module.")
    channel: int = Field(0, ge=0, le=65535, description="Coil address (0-based) of the relay.")
    timeout_s: float = Field(1.0, gt=0, le=10, description="Answer timeout per request (s).")
    retries: int = Field(1, ge=0, le=5, description="Retries per request before failing.")


class ModbusRelay:
    def __init__(self, config: ModbusRelayConfig) -> None:
        self._cfg = config
        self._client: Any = None
        self._lock = asyncio.Lock()  # RTU is half duplex: one request at a time

    async def _connect(self) -> Any:
        from pymodbus.client import AsyncModbusSerialClient

        if self._client is None:
            self._client = AsyncModbusSerialClient(
                self._cfg.port, baudrate=self._cfg.baudrate, parity=self._cfg.parity,
                timeout=self._cfg.timeout_s, retries=self._cfg.retries,
                reconnect_delay=0)  # we retry ourselves; pymodbus must not reconnect behind us
        if not self._client.connected and not await self._client.connect():
            self._client.close()
            self._client = None
            raise RelayError(f"cannot open Modbus port {self._cfg.port} (unplugged? "
                             "permissions?)")
        return self._client

    async def _call(self, what: str, fn: Any) -> Any:
        from pymodbus.exceptions import ModbusException

        async with self._lock:
            client = await self._connect()
            try:
                response = await fn(client)
            except (ModbusException, OSError, TimeoutError) as exc:
                self._reset()
                raise RelayError(f"Modbus unit {self._cfg.unit} on {self._cfg.port}: {what} "
                                 f"failed: {exc}") from None
            if response.isError():
                raise RelayError(f"Modbus unit {self._cfg.unit} on {self._cfg.port}: {what} "
                                 f"refused: {response}")
            return response

    def _reset(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def set(self, channel: int, state: bool) -> None:
        unit = self._cfg.unit
        await self._call(f"write coil {channel}",
                         lambda c: c.write_coil(channel, state, slave=unit))
        got = await self.read(channel)
        if got is not state:
            raise RelayError(f"Modbus unit {unit} coil {channel} reads "
                             f"{'ON' if got else 'OFF'} after writing {'ON' if state else 'OFF'}")

    async def read(self, channel: int) -> bool | None:
        unit = self._cfg.unit
        response = await self._call(f"read coil {channel}",
                                    lambda c: c.read_coils(channel, count=1, slave=unit))
        return bool(response.bits[0])

    async def close(self) -> None:
        async with self._lock:
            self._reset()


def create(config: ModbusRelayConfig) -> ModbusRelay:
    return ModbusRelay(config)
