"""Modbus RTU relay driver against a real pymodbus RTU server on a socat pty pair."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.relays.base import RelayError
from drivers.relays.modbus import ModbusRelay, ModbusRelayConfig
from tests.infra.relay_boards import ModbusModule, SocatPair


@pytest.fixture
async def module(tmp_path: Path) -> AsyncIterator[tuple[SocatPair, ModbusModule]]:
    pair = SocatPair(tmp_path)
    server = await ModbusModule(pair.b, unit=3).start()
    yield pair, server
    await server.stop()
    pair.close()


async def test_write_and_read_back_coils(module: tuple[SocatPair, ModbusModule]) -> None:
    pair, server = module
    relay = ModbusRelay(ModbusRelayConfig(driver="modbus", port=str(pair.a), unit=3, channel=2,
                                          timeout_s=1.0))
    await relay.set(2, True)
    assert server.coil(2) is True and server.coil(1) is False
    assert await relay.read(2) is True
    await relay.set(5, True)
    await relay.set(2, False)
    assert (server.coil(2), server.coil(5)) == (False, True)
    assert await relay.read(5) is True
    await relay.close()
    assert server.coil(5) is True  # closing leaves outputs alone


async def test_module_not_answering(module: tuple[SocatPair, ModbusModule]) -> None:
    pair, _ = module
    relay = ModbusRelay(ModbusRelayConfig(driver="modbus", port=str(pair.a), unit=9, channel=0,
                                          timeout_s=0.3, retries=0))
    with pytest.raises(RelayError, match=r"Modbus unit 9 .* write coil 0 failed"):
        await relay.set(0, True)
    await relay.close()


async def test_unplugged_port(tmp_path: Path) -> None:
    relay = ModbusRelay(ModbusRelayConfig(driver="modbus", port=str(tmp_path / "nope"),
                                          timeout_s=0.3))
    with pytest.raises(RelayError, match="cannot open Modbus port"):
        await relay.set(0, True)
