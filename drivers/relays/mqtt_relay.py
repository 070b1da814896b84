"""Smart relays reached over MQTT, Tasmota style.

Switch: publish ``ON``/``OFF`` to ``cmnd/<topic>/POWER<n>``; the device confirms on
``stat/<topic>/POWER<n>`` (and in ``stat/<topic>/RESULT`` as ``{"POWER<n>": "ON"}``). An
empty ``cmnd`` payload asks the device for its state. The MQTT connection is the agent's own,
passed in as a port object (publish_raw / subscribe_raw on absolute topics).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contract import decode
from drivers.relays.base import MqttPortLike, RelayError


class MqttRelayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # as StrictModel
    driver: Literal["mqtt"] = Field(description="Smart relay over MQTT (e.g. Tasmota).")
    topic: str = Field(min_length=1, description="Device topic, e.g. 'tasmota_5A3F21'.")
    channel: int = Field(1, ge=0, le=32, description="Relay number n in POWER<n>; 0 means "
                         "plain 'POWER' (single-relay devices).")
    cmnd_prefix: str = Field("cmnd", description="Command prefix (Tasmota: 'cmnd').")
    stat_prefix: str = Field("stat", description="Status prefix (Tasmota: 'stat').")
    payload_on: str = Field("ON", description="Payload meaning on.")
    payload_off: str = Field("OFF", description="Payload meaning off.")
    timeout_s: float = Field(5.0, gt=0, le=60, description="Wait this long for the device "
                             "to confirm a switch (s).")


class MqttRelay:
    def __init__(self, config: MqttRelayConfig, port: MqttPortLike) -> None:
        self._cfg = config
        self._port = port
        self._known: dict[int, bool] = {}
        self._changed = asyncio.Event()
        self._unsubscribe = port.subscribe_raw(f"{config.stat_prefix}/{config.topic}/+",
                                               self._on_message)

    def _power(self, channel: int) -> str:
        return "POWER" if channel == 0 else f"POWER{channel}"

    def _parse(self, text: str) -> bool | None:
        word = text.strip().upper()
        if word == self._cfg.payload_on.upper():
            return True
        if word == self._cfg.payload_off.upper():
            return False
        return None

    def _on_message(self, topic: str, payload: bytes) -> None:
        leaf = topic.rsplit("/", 1)[-1]
        text = payload.decode("utf-8", "replace")
        found: dict[str, str] = {}
        if leaf.startswith("POWER"):
            found[leaf] = text
        elif leaf == "RESULT":
            try:  # strict: a hostile device's deep JSON must not reach the recursion limit
                data = decode(payload)
            except ValueError:
                return
            found = {k: str(v) for k, v in data.items() if k.startswith("POWER")}
        for key, value in found.items():
            suffix = key[len("POWER"):]
            channel = int(suffix) if suffix.isdigit() else 0
            state = self._parse(value)
            if state is not None:
                self._known[channel] = state
                if channel == 1:
                    self._known.setdefault(0, state)
        self._changed.set()

    async def _wait_for(self, channel: int, state: bool | None) -> bool | None:
        deadline = asyncio.get_running_loop().time() + self._cfg.timeout_s
        while True:
            got = self._known.get(channel)
            if got is not None and (state is None or got is state):
                return got
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return got
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def _publish(self, channel: int, payload: str) -> None:
        topic = f"{self._cfg.cmnd_prefix}/{self._cfg.topic}/{self._power(channel)}"
        try:
            await self._port.publish_raw(topic, payload.encode(), qos=1)
        except Exception as exc:  # the link's own error types live in edge_agent
            raise RelayError(f"cannot send to MQTT relay {self._cfg.topic}: {exc}") from None

    async def set(self, channel: int, state: bool) -> None:
        self._known.pop(channel, None)
        await self._publish(channel, self._cfg.payload_on if state else self._cfg.payload_off)
        got = await self._wait_for(channel, state)
        if got is not state:
            raise RelayError(f"MQTT relay {self._cfg.topic} {self._power(channel)} did not "
                             f"confirm within {self._cfg.timeout_s:g} s (offline?)")

    async def read(self, channel: int) -> bool | None:
        self._known.pop(channel, None)
        await self._publish(channel, "")
        got = await self._wait_for(channel, None)
        if got is None:
            raise RelayError(f"MQTT relay {self._cfg.topic} {self._power(channel)} did not "
                             f"answer within {self._cfg.timeout_s:g} s (offline?)")
        return got

    async def close(self) -> None:
        self._unsubscribe()  # the MQTT link itself belongs to the agent


def create(config: MqttRelayConfig, port: MqttPortLike | None) -> MqttRelay:
    if port is None:
        raise RelayError("MQTT relays are switched through the running agent's MQTT link")
    return MqttRelay(config, port)
