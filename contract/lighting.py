"""Lighting: the ``light/{circuit}/state`` payload and the ``cmd/light/...`` requests."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Reason = Literal["schedule", "override", "default", "manual", "failsafe", "clock_unsynced"]


class LightState(BaseModel):
    """Retained ``light/{circuit}/state``."""

    circuit: str = Field(description="Circuit id.")
    name: str | None = Field(None, description="Human name of the circuit.")
    state: Literal["on", "off", "unknown"] = Field(
        description="What the relay is set to (unknown: not switched yet and not readable).")
    desired: Literal["on", "off"] | None = Field(
        None, description="What the schedule/override wants now (null: nothing to act on).")
    reason: Reason = Field(description="Why the circuit is in this state.")
    rule: str | None = Field(None, description="Active schedule rule, if any.")
    override_state: Literal["on", "off"] | None = Field(None, description="Active override.")
    override_until: str | None = Field(None, description="Override expiry (ISO 8601).")
    next_change: str | None = Field(None, description="When the desired state next changes.")
    next_state: Literal["on", "off"] | None = Field(None, description="State after it.")
    pending_until: str | None = Field(
        None, description="A switch waits for the contactor's minimum interval until then.")
    driver: str = Field(description="Relay driver and channel, e.g. 'lcus /dev/ttyUSB0 ch 1'.")
    driver_ok: bool = Field(description="False while the relay cannot be switched/read.")
    driver_error: str | None = Field(None, description="The last relay error, for a human.")
    last_switch: str | None = Field(None, description="When the relay last changed state.")
    switches_today: int = Field(0, description="Relay changes today (local day).")
    switch_count: int = Field(0, description="Relay changes in total, kept across restarts "
                              "(contactor wear).")
    on_hours_today: float = Field(description="Hours on since local midnight (energy).")
    on_hours_yesterday: float | None = Field(None, description="Hours on yesterday.")
    clock_synced: bool = Field(description="False until the system clock is known good.")


class _Command(BaseModel):
    # forbid: a typo such as "untill" must be refused, not silently ignored. The router
    # strips the envelope fields (id, ts, expires_at) before validating.
    model_config = ConfigDict(extra="forbid")


class OverrideRequest(_Command):
    """``cmd/light/{circuit}/override``."""

    state: Literal["on", "off"] = Field(description="Wanted state.")
    until: datetime = Field(description="Expiry with a UTC offset, e.g. "
                            "2026-11-23T05:00:00+07:00 (at most 31 days ahead).")
    start: datetime | None = Field(None, description="Optional later start (with offset).")

    @field_validator("until", "start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2026-11-23T05:00:00+07:00")
        return value


class PulseRequest(_Command):
    """``cmd/light/{circuit}/pulse``: technician test, switch for a moment and back."""

    seconds: float = Field(2.0, gt=0, le=60, description="How long to hold (s).")
    state: Literal["on", "off"] | None = Field(None, description="State to pulse to (default: "
                                               "the opposite of the current one).")


class ClearRequest(_Command):
    """``cmd/light/{circuit}/clear``: drop the override, back to the schedule."""
