"""Config section ``lighting``: circuits, their relay and their schedule rules."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from drivers.relays.registry import RelayDriverConfig, connection_key
from edge_agent.lighting.timespec import parse_date_spec, parse_time_spec, parse_weekdays
from yaml_config.base import StrictModel


def _yaml_bool_word(value: Any) -> Any:
    # YAML 1.1 reads a bare on/off as true/false; a technician means the word.
    return ("on" if value else "off") if isinstance(value, bool) else value


OnOff = Annotated[Literal["on", "off"], BeforeValidator(_yaml_bool_word)]
StopAction = Annotated[Literal["keep", "on", "off"], BeforeValidator(_yaml_bool_word)]


class RuleConfig(StrictModel):
    """A window in which the circuit has ``state`` (on by default).

    The window belongs to the local day it starts on; when ``off`` comes before ``on`` it
    ends the next day (an evening-to-morning window). ``on`` equal to ``off`` is 24 hours.
    """

    name: str | None = Field(None, description="Name shown in state and plans (default rule-N).")
    on: str = Field(description="Start: HH:MM, sunset, sunrise, sunset+15m, sunrise-10m ...")
    off: str = Field(description="End, same forms as 'on'.")
    state: OnOff = Field("on", description="State inside the window ('off' to force lights "
                         "off, e.g. after midnight on a second circuit).")
    weekdays: list[str] | None = Field(
        None, description="Only windows starting on these days: ['mon', 'fri-sun'] (default "
        "every day).")
    dates: list[str] | None = Field(
        None, description="Only windows starting on these dates: '2026-02-17', yearly "
        "'09-02', ranges '2026-02-16..2026-02-20' (festival nights).")
    except_dates: list[str] = Field(
        default_factory=list, description="No window starting on these dates (holidays); "
        "same forms as 'dates'.")

    @model_validator(mode="before")
    @classmethod
    def _yaml_bool_keys(cls, data: Any) -> Any:
        # YAML 1.1 turns the keys 'on:'/'off:' into booleans (the config loader then makes
        # them the strings "True"/"False"): map them back to the words the technician wrote.
        if isinstance(data, dict):
            words = {True: "on", False: "off", "True": "on", "False": "off"}
            return {words.get(k, k) if isinstance(k, bool | str) else k: v
                    for k, v in data.items()}
        return data

    @field_validator("on", "off")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_time_spec(value)
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("an empty weekday list never matches; leave it out instead")
            parse_weekdays(value)
        return value

    @field_validator("dates", "except_dates")
    @classmethod
    def _dates(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            parse_date_spec(item)
        return value


class CircuitConfig(StrictModel):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                    description="Circuit id, used in MQTT topics: light/{id}/state.")
    name: str | None = Field(None, description="Human name, e.g. 'Main road, east side'.")
    relay: RelayDriverConfig = Field(description="The relay that switches this circuit "
                                     "(driver: gpio, lcus, modbus, mqtt or sim).")
    rules: list[RuleConfig] = Field(default_factory=list, description="Schedule windows; when "
                                    "several match, the last one in the list wins.")
    default: OnOff = Field("off", description="State when no rule and no override applies.")
    min_switch_interval_s: float = Field(
        60, ge=0, le=3600, description="Contactor protection: at least this long between two "
        "switches of this circuit (s).")
    on_stop: StopAction = Field(
        "keep", description="What to do when the agent stops: keep the relay as it is "
        "(recommended: lights stay as scheduled), or force on/off.")
    unsynced_state: StopAction = Field(
        "keep", description="Before the clock is synced and with no known last state: keep "
        "the relay as it is, or force on/off.")

    @model_validator(mode="after")
    def _name_rules(self) -> CircuitConfig:
        seen: set[str] = set()
        for index, rule in enumerate(self.rules, 1):
            if rule.name is None:
                rule.name = f"rule-{index}"
            if rule.name in seen:
                raise ValueError(f"rule name {rule.name!r} is used twice in circuit {self.id!r}")
            seen.add(rule.name)
        return self


class LightingConfig(StrictModel):
    enabled: bool = Field(True, description="Run the lighting service.")
    circuits: list[CircuitConfig] = Field(default_factory=list, description="Light circuits.")
    stagger_s: float = Field(2.0, ge=0, le=60, description="Delay between switching two "
                             "circuits at the same moment (inrush current).")
    reconcile_interval_s: float = Field(60, ge=5, le=3600, description="Re-apply every "
                                        "circuit's state this often even without a change (s).")
    retry_s: float = Field(10, ge=1, le=600, description="Retry a failed relay this often (s).")
    publish_interval_s: float = Field(300, ge=10, le=3600, description="Re-publish state "
                                      "(with on-hours) at least this often (s).")

    @model_validator(mode="after")
    def _unique(self) -> LightingConfig:
        ids: set[str] = set()
        outputs: dict[tuple[str, int], str] = {}
        for circuit in self.circuits:
            if circuit.id in ids:
                raise ValueError(f"circuit id {circuit.id!r} is used twice")
            ids.add(circuit.id)
            key = (connection_key(circuit.relay), circuit.relay.channel)
            if key in outputs:
                raise ValueError(f"circuits {outputs[key]!r} and {circuit.id!r} use the same "
                                 f"relay channel")
            outputs[key] = circuit.id
        return self
