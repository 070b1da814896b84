"""Config of the alert rules and of the notification channels (sections of control-room.yaml).

Every threshold and hold time has a finite, bounded default, so an empty section is a working
one. Hold times: a condition must hold ``for_s`` before its alert fires and be clear for
``resolve_after_s`` before it resolves (against flapping).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, SecretStr, field_validator

from control_room.alerts.model import Severity
from yaml_config.base import StrictModel

DAY_S = 86_400.0
NotifiedKind = Literal["fired", "resolved"]


def _for(default: float, what: str) -> Any:
    return Field(default, ge=0, le=DAY_S,
                 description=f"Seconds {what} must hold before the alert fires.")


def _resolve(default: float) -> Any:
    return Field(default, ge=0, le=DAY_S,
                 description="Seconds the condition must be clear before the alert resolves.")


def _severity(default: Severity) -> Any:
    return Field(default, description="critical, warning or info (info is not notified by "
                 "default: see notifications.min_severity).")


def _enabled() -> Any:
    return Field(True, description="Raise this alert at all.")


class GatewayOfflineRule(StrictModel):
    enabled: bool = _enabled()
    for_s: float = _for(30.0, "a Last Will (offline) or staleness")
    resolve_after_s: float = _resolve(60.0)
    severity: Severity = _severity("critical")


class GatewayStoppedRule(StrictModel):
    """A clean stop (``stopped``) is someone's decision (upgrade, maintenance): an info alert,
    raised only if it lasts longer than a restart would."""

    enabled: bool = _enabled()
    for_s: float = _for(900.0, "a clean stop")
    resolve_after_s: float = _resolve(0.0)
    severity: Severity = _severity("info")


class CameraOfflineRule(StrictModel):
    enabled: bool = _enabled()
    # 45 s: the gateway needs a few seconds (read timeout) to call a dead stream offline, and
    # the control room promises an alert within a minute of the stream dying
    for_s: float = _for(45.0, "a camera being offline")
    resolve_after_s: float = _resolve(30.0)
    severity: Severity = _severity("warning")


class LightNotDueRule(StrictModel):
    enabled: bool = _enabled()
    grace_s: float = Field(120.0, ge=0, le=DAY_S, description="Seconds after the announced "
                           "next_change before a light still in the old state is an alert "
                           "(covers the contactor's minimum interval and staggering).")
    for_s: float = _for(0.0, "the missed change (after the grace)")
    resolve_after_s: float = _resolve(0.0)
    severity: Severity = _severity("warning")


class LightDriverRule(StrictModel):
    enabled: bool = _enabled()
    for_s: float = _for(60.0, "a relay driver error")
    resolve_after_s: float = _resolve(60.0)
    severity: Severity = _severity("warning")


class HotspotDownRule(StrictModel):
    enabled: bool = _enabled()
    for_s: float = _for(300.0, "a hotspot being down")
    resolve_after_s: float = _resolve(120.0)
    severity: Severity = _severity("warning")


class HotspotDegradedRule(StrictModel):
    """Degraded or worse: a hotspot flapping between degraded and down is caught here too."""

    enabled: bool = _enabled()
    for_s: float = _for(900.0, "a hotspot being degraded (or down)")
    resolve_after_s: float = _resolve(300.0)
    severity: Severity = _severity("warning")


class ClockRule(StrictModel):
    enabled: bool = _enabled()
    for_s: float = _for(600.0, "an unsynced clock (NTP takes a while after boot)")
    resolve_after_s: float = _resolve(0.0)
    severity: Severity = _severity("warning")


class OutboxBacklogRule(StrictModel):
    enabled: bool = _enabled()
    max_age_s: float = Field(900.0, gt=0, le=30 * DAY_S, description="The oldest message "
                             "waiting in the gateway's outbox may be this old (s).")
    for_s: float = _for(120.0, "the backlog (a replay after an outage drains within it)")
    resolve_after_s: float = _resolve(60.0)
    severity: Severity = _severity("warning")


class DiskLowRule(StrictModel):
    enabled: bool = _enabled()
    min_free_mb: float = Field(500.0, gt=0, le=10_000_000, description="Free disk on the "
                               "gateway below this (MB) is an alert.")
    for_s: float = _for(300.0, "low disk")
    resolve_after_s: float = _resolve(300.0)
    severity: Severity = _severity("warning")


class SeqLossRule(StrictModel):
    enabled: bool = _enabled()
    min_lost: int = Field(1, ge=1, le=1_000_000, description="Unexplained seq holes (lost "
                          "messages) from this many on are an alert.")
    for_s: float = _for(0.0, "the loss")
    resolve_after_s: float = _resolve(0.0)
    severity: Severity = _severity("warning")


class AlertRulesConfig(StrictModel):
    """``alerts:``: one sub-section per rule."""

    gateway_offline: GatewayOfflineRule = Field(default_factory=GatewayOfflineRule, description=(
        "Gateway offline (Last Will) or stale (silent for 3 health intervals)."))
    gateway_stopped: GatewayStoppedRule = Field(default_factory=GatewayStoppedRule,
                                                description="Gateway stopped cleanly.")
    camera_offline: CameraOfflineRule = Field(default_factory=CameraOfflineRule,
                                              description="A camera delivers no frames.")
    light_not_due: LightNotDueRule = Field(default_factory=LightNotDueRule, description=(
        "A light did not follow its announced next change."))
    light_driver_error: LightDriverRule = Field(default_factory=LightDriverRule,
                                                description="A relay cannot be switched/read.")
    hotspot_down: HotspotDownRule = Field(default_factory=HotspotDownRule,
                                          description="A wifi hotspot is down.")
    hotspot_degraded: HotspotDegradedRule = Field(default_factory=HotspotDegradedRule,
                                                  description="A wifi hotspot is degraded.")
    clock_unsynced: ClockRule = Field(default_factory=ClockRule,
                                      description="The gateway's clock is not synced.")
    outbox_backlog: OutboxBacklogRule = Field(default_factory=OutboxBacklogRule,
                                              description="Messages wait too long to be sent.")
    disk_low: DiskLowRule = Field(default_factory=DiskLowRule,
                                  description="The gateway's disk is nearly full.")
    seq_loss: SeqLossRule = Field(default_factory=SeqLossRule,
                                  description="Messages were lost (seq holes not explained "
                                  "by outbox/dropped).")


class WebhookConfig(StrictModel):
    model_config = ConfigDict(**StrictModel.model_config, hide_input_in_errors=True)

    url: str = Field(description="http(s) URL that receives a JSON POST per notification.")
    headers: dict[str, str] = Field(default_factory=dict, description=(
        "Extra HTTP headers, e.g. Authorization (use ${ENV_VAR} for secrets)."))
    timeout_s: float = Field(10.0, gt=0, le=300, description="Whole request timeout (s).")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL with a host")
        return value


class NotificationsConfig(StrictModel):
    """``notifications:``: where fired and resolved alerts are sent."""

    # URLs and headers hold tokens: never echo them in a validation error
    model_config = ConfigDict(**StrictModel.model_config, hide_input_in_errors=True)

    webhooks: list[WebhookConfig] = Field(default_factory=list, max_length=50,
                                          description="Webhooks (JSON POST).")
    apprise: list[SecretStr] = Field(default_factory=list, max_length=50, description=(
        "Apprise URLs (tgram://, mailtos://, ntfy://, json://...); they hold tokens, so they "
        "are kept secret in logs."))
    apprise_timeout_s: float = Field(30.0, gt=0, le=300, description=(
        "Longest wait for one apprise send (it runs in a thread)."))
    min_severity: Severity = Field("warning", description=(
        "Least severity that is notified (info alerts stay in the console)."))
    kinds: list[NotifiedKind] = Field(
        default_factory=lambda: list[NotifiedKind](["fired", "resolved"]),
        description="Which transitions are notified.")
    retry_base_s: float = Field(2.0, gt=0, le=3600, description=(
        "First retry delay ceiling (s); doubles per attempt, full jitter."))
    retry_cap_s: float = Field(300.0, gt=0, le=DAY_S, description="Largest retry delay (s).")
    max_attempts: int = Field(8, ge=1, le=100, description=(
        "Attempts per notification and channel before it is counted failed."))
    queue_size: int = Field(1000, ge=1, le=1_000_000, description=(
        "Notifications waiting per channel; when full the oldest waiting one is dropped."))

    @field_validator("apprise")
    @classmethod
    def _schema(cls, value: list[SecretStr]) -> list[SecretStr]:
        for i, url in enumerate(value):
            text = url.get_secret_value()
            if "://" not in text:
                raise ValueError("an apprise URL looks like schema://..., e.g. tgram://TOKEN/CHAT")
            import apprise  # only here: loading every plugin costs a moment

            if apprise.Apprise.instantiate(text) is None:  # the URL itself stays secret
                raise ValueError(f"apprise[{i}]: apprise cannot send to this "
                                 f"{text.split('://', 1)[0]}:// URL (see apprise's docs)")
        return value
