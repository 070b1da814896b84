"""The union of every relay driver's config, and the factory that builds drivers.

Add a driver: write ``drivers/relays/<name>.py`` with a config model whose
``driver: Literal["<name>"]`` is the discriminator, then list it here.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from drivers.relays import gpio, lcus, modbus, mqtt_relay, sim
from drivers.relays.base import MqttPortLike, Relay, RelayError
from drivers.relays.gpio import GpioRelayConfig
from drivers.relays.lcus import LcusRelayConfig
from drivers.relays.modbus import ModbusRelayConfig
from drivers.relays.mqtt_relay import MqttRelayConfig
from drivers.relays.sim import SimRelayConfig

RelayDriverConfig = Annotated[
    GpioRelayConfig | LcusRelayConfig | ModbusRelayConfig | MqttRelayConfig | SimRelayConfig,
    Field(discriminator="driver"),
]

DRIVER_KEYS = ("gpio", "lcus", "modbus", "mqtt", "sim")


def connection_key(config: Any) -> str:
    """Circuits whose relay configs differ only in ``channel`` share one driver instance."""
    return json.dumps(config.model_dump(mode="json", exclude={"channel"}), sort_keys=True)


def create_relay(config: Any, *, mqtt_port: MqttPortLike | None = None) -> Relay:
    if isinstance(config, GpioRelayConfig):
        return gpio.create(config)
    if isinstance(config, LcusRelayConfig):
        return lcus.create(config)
    if isinstance(config, ModbusRelayConfig):
        return modbus.create(config)
    if isinstance(config, MqttRelayConfig):
        return mqtt_relay.create(config, mqtt_port)
    if isinstance(config, SimRelayConfig):
        return sim.create(config)
    raise RelayError(f"unknown relay driver {getattr(config, 'driver', config)!r}")


def describe(config: Any) -> str:
    """A short human label: 'lcus /dev/ttyUSB0 ch 2'."""
    where = getattr(config, "port", None) or getattr(config, "chip", None) or \
        getattr(config, "topic", None) or getattr(config, "board", "")
    return f"{config.driver} {where} ch {config.channel}".strip()
