"""A simulated relay board, for the demo and tests.

Boards with the same ``board`` name share their channels inside one process. With
``state_file`` the channel states also live in a small JSON file, so another process (the
``edge-agent relay`` CLI, a test) sees them. ``fail_if_exists`` makes the board behave as
unplugged while that file exists (to demonstrate error reporting and recovery).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from drivers.relays.base import RelayError

_BOARDS: dict[str, dict[int, bool]] = {}


class SimRelayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # as StrictModel
    driver: Literal["sim"] = Field(description="Simulated relay (no hardware).")
    channel: int = Field(1, ge=0, le=64, description="Channel number on the simulated board.")
    board: str = Field("sim", description="Name of the simulated board (shared by circuits).")
    state_file: Path | None = Field(
        None, description="Keep the board's channel states in this JSON file (optional).")
    fail_if_exists: Path | None = Field(
        None, description="Act as an unplugged board while this file exists (demo/tests).")
    delay_s: float = Field(0.0, ge=0, le=10, description="Simulated switching delay (s).")


class SimRelay:
    def __init__(self, config: SimRelayConfig) -> None:
        self._cfg = config
        self._channels = _BOARDS.setdefault(config.board, {})
        self.switch_count = 0

    def _check(self) -> None:
        if self._cfg.fail_if_exists is not None and self._cfg.fail_if_exists.exists():
            raise RelayError(f"simulated board {self._cfg.board!r} is unplugged "
                             f"({self._cfg.fail_if_exists} exists)")

    def _load(self) -> None:
        path = self._cfg.state_file
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text())
                self._channels.update({int(k): bool(v) for k, v in data.items()})
            except (OSError, ValueError) as exc:
                raise RelayError(f"simulated board state file {path}: {exc}") from None

    def _save(self) -> None:
        path = self._cfg.state_file
        if path is not None:
            tmp = path.with_suffix(".tmp")
            try:
                tmp.write_text(json.dumps({str(k): v for k, v in
                                           sorted(self._channels.items())}))
                tmp.replace(path)
            except OSError as exc:
                raise RelayError(f"simulated board state file {path}: {exc}") from None

    async def set(self, channel: int, state: bool) -> None:
        self._check()
        if self._cfg.delay_s:
            await asyncio.sleep(self._cfg.delay_s)
        self._load()
        self._channels[channel] = state
        self.switch_count += 1
        self._save()

    async def read(self, channel: int) -> bool | None:
        self._check()
        self._load()
        return self._channels.get(channel)

    async def close(self) -> None:
        return None


def create(config: SimRelayConfig) -> SimRelay:
    return SimRelay(config)
