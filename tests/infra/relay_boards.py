"""Simulated relay hardware on real serial ports: an LCUS board on a pty, a Modbus RTU
module on a socat pty pair (both ends have paths, as pymodbus needs)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import select
import shutil
import subprocess
import threading
import time
import tty
from pathlib import Path
from typing import Any

from drivers.relays import lcus_frame


class LcusBoard:
    """An LCUS board: the driver opens ``port`` (the pty slave); a thread plays the MCU."""

    def __init__(self, channels: int = 4, answers_status: bool = True) -> None:
        self.master, slave = pty.openpty()
        tty.setraw(self.master)
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave  # kept open so the pty stays alive between driver opens
        self.states = {ch: False for ch in range(1, channels + 1)}
        self.answers_status = answers_status
        self.frames: list[lcus_frame.SwitchFrame] = []
        self.decoder = lcus_frame.StreamDecoder()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="lcus-board")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 256)
            except OSError:
                time.sleep(0.01)  # no one has the slave open right now
                continue
            for item in self.decoder.feed(data):
                if item is None:
                    if self.answers_status:
                        os.write(self.master, lcus_frame.encode_status(self.states))
                elif item.channel in self.states:
                    self.frames.append(item)
                    self.states[item.channel] = item.state

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class SocatPair:
    """``socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B``."""

    def __init__(self, tmp: Path) -> None:
        if shutil.which("socat") is None:
            raise RuntimeError("socat is not installed (apt install socat)")
        self.a, self.b = tmp / "ttyA", tmp / "ttyB"
        self.proc = subprocess.Popen(
            ["socat", "-d", "-d", f"pty,raw,echo=0,link={self.a}",
             f"pty,raw,echo=0,link={self.b}"], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not (self.a.exists() and self.b.exists()):
            if time.monotonic() > deadline:
                raise TimeoutError("socat did not create the pty pair")
            time.sleep(0.02)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


class ModbusModule:
    """A pymodbus RTU server (unit ``unit``, 8 coils) on one end of a socat pair."""

    def __init__(self, port: Path, unit: int = 1) -> None:
        from pymodbus.datastore import (
            ModbusSequentialDataBlock,
            ModbusServerContext,
            ModbusSlaveContext,
        )

        self.block = ModbusSequentialDataBlock(0, [False] * 16)
        self.context = ModbusServerContext(slaves={unit: ModbusSlaveContext(co=self.block)},
                                           single=False)
        self.port = str(port)
        self.server: Any = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> ModbusModule:
        from pymodbus.server import ModbusSerialServer

        self.server = ModbusSerialServer(self.context, port=self.port, baudrate=9600)
        self.task = asyncio.create_task(self.server.serve_forever())
        # wait until it has the port open (a fixed 0.2 s was a guess on a loaded machine)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not self.server.transport:
            if self.task.done() or loop.time() > deadline:
                raise RuntimeError(f"the Modbus test module did not open {self.port}")
            await asyncio.sleep(0.01)
        return self

    def coil(self, address: int) -> bool:
        # pymodbus data blocks are offset by one (address 0 is stored at index 1)
        return bool(self.context[next(iter(self.context.slaves()))].getValues(1, address, 1)[0])

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
