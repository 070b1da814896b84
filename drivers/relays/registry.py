"""The union of every relay driver's config, and the factory that builds drivers.

Add a driver: write ``drivers/relays/<name>.py`` with a config model whose
``driver: Literal["<name>"]`` is the discriminator, then add its row to ``DRIVERS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, Field

from drivers.relays import gpio, lcus, modbus, mqtt_relay, sim
from drivers.relays.base import BrokenRelay, MqttPortLike, Relay, RelayError


@dataclass(frozen=True, slots=True)
class RelayDriver:
    """One row of the driver table: its config model and how to build it."""

    config: type[BaseModel]
    create: Callable[[Any, MqttPortLike | None], Relay]


# The one table of relay drivers: key -> config model -> factory. Adding a driver is one
# module (with ``driver: Literal["<key>"]`` on its config model) and one row here.
DRIVERS: dict[str, RelayDriver] = {
    "gpio": RelayDriver(gpio.GpioRelayConfig, lambda c, _: gpio.create(c)),
    "lcus": RelayDriver(lcus.LcusRelayConfig, lambda c, _: lcus.create(c)),
    "modbus": RelayDriver(modbus.ModbusRelayConfig, lambda c, _: modbus.create(c)),
    "mqtt": RelayDriver(mqtt_relay.MqttRelayConfig, mqtt_relay.create),
    "sim": RelayDriver(sim.SimRelayConfig, lambda c, _: sim.create(c)),
}
DRIVER_KEYS = tuple(DRIVERS)

if TYPE_CHECKING:  # mypy needs the union spelled out; at run time it comes from the table
    RelayDriverConfig = (gpio.GpioRelayConfig | lcus.LcusRelayConfig |
                         modbus.ModbusRelayConfig | mqtt_relay.MqttRelayConfig |
                         sim.SimRelayConfig)
else:
    RelayDriverConfig = Annotated[Union[tuple(d.config for d in DRIVERS.values())],  # noqa: UP007
                                  Field(discriminator="driver")]


def connection_key(config: Any) -> str:
    """Circuits whose relay configs differ only in ``channel`` share one driver instance."""
    return json.dumps(config.model_dump(mode="json", exclude={"channel"}), sort_keys=True)


def create_relay(config: Any, *, mqtt_port: MqttPortLike | None = None) -> Relay:
    driver = DRIVERS.get(getattr(config, "driver", ""))
    if driver is None or not isinstance(config, driver.config):
        raise RelayError(f"unknown relay driver {getattr(config, 'driver', config)!r}")
    return driver.create(config, mqtt_port)


def create_or_broken(config: Any, *, mqtt_port: MqttPortLike | None = None) -> Relay:
    """The driver, or a ``BrokenRelay`` that says why it could not be built."""
    try:
        return create_relay(config, mqtt_port=mqtt_port)
    except RelayError as exc:
        return BrokenRelay(str(exc))


def describe(config: Any) -> str:
    """A short human label: 'lcus /dev/ttyUSB0 ch 2'."""
    where = getattr(config, "port", None) or getattr(config, "chip", None) or \
        getattr(config, "topic", None) or getattr(config, "board", "")
    return f"{config.driver} {where} ch {config.channel}".strip()
