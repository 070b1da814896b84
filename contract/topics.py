"""The topic table: every message a gateway publishes and every command it obeys.

This table is the contract. The agent publishes through it, the control room parses with
it, ``edge-agent schema --payloads`` and ``docs/mqtt.md`` are generated from it.
Topics are relative to the gateway's base topic, ``{root}/{site}/{gateway}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from contract import cameras, core, hotspots, lighting
from contract.envelope import SCHEMA_VERSION, ContractError, Envelope, decode

DEFAULT_ROOT = "commune"
MessageClassName = Literal["telemetry", "state", "event"]


def _compile(pattern: str) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(\{\w+\})", pattern):
        if piece.startswith("{"):
            name = piece[1:-1]
            # {path} of a command result spans levels; every other parameter is one level
            parts.append(f"(?P<{name}>.+)" if name == "path" else f"(?P<{name}>[^/]+)")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


@dataclass(frozen=True, slots=True)
class TopicSpec:
    pattern: str  # relative to the base topic; {name} is one topic level
    model: type[BaseModel] | None  # None: raw bytes (no envelope)
    retained: bool
    message_class: MessageClassName
    durable: bool = True  # QoS 1 through the outbox, with seq (JSON only)
    summary: str = ""
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", _compile(self.pattern))

    def match(self, relative: str) -> dict[str, str] | None:
        found = self._regex.fullmatch(relative)
        return found.groupdict() if found else None

    def topic(self, **params: str) -> str:
        return self.pattern.format(**params)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    path: str  # after cmd/, e.g. "light/{circuit}/override"
    request: type[BaseModel]
    summary: str
    reply_fields: type[BaseModel] | None = None  # extra fields of an ok reply


class _Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


STATUS = TopicSpec("status", core.StatusPayload, True, "state", durable=False,
                   summary="birth (online), Last Will (offline), clean stop (stopped)")
HEALTH = TopicSpec("health", core.HealthPayload, False, "telemetry",
                   summary="every health.interval_s: CPU, RAM, disk, outbox, components")
OUTBOX_DROPPED = TopicSpec("outbox/dropped", core.OutboxDropped, False, "event",
                           summary="seq ranges the bounded outbox dropped by its policy")
COMMAND_RESULT = TopicSpec("cmd/{path}/result", core.CommandReply, False, "event",
                           summary="command replies when the request had no response topic")
LIGHT_STATE = TopicSpec("light/{circuit}/state", lighting.LightState, True, "state",
                        summary="relay state, reason, active rule, next change")
CAMERA_STATUS = TopicSpec("camera/{camera}/status", cameras.CameraStatus, True, "state",
                          summary="online/offline/disarmed, rates, reconnects, last error")
CAMERA_MOTION = TopicSpec("camera/{camera}/motion", cameras.MotionEvent, False, "event",
                          summary="motion event start/update/end with boxes and zones")
CAMERA_SNAPSHOT = TopicSpec("camera/{camera}/snapshot", None, True, "state",
                            summary="latest event snapshot, JPEG bytes (no envelope)")
HOTSPOT_STATE = TopicSpec("hotspot/{hotspot}/state", hotspots.HotspotStatePayload, True,
                          "state", summary="up/degraded/down, RTT, loss, clients, uptime")

TOPICS: tuple[TopicSpec, ...] = (STATUS, HEALTH, OUTBOX_DROPPED, COMMAND_RESULT, LIGHT_STATE,
                                 CAMERA_STATUS, CAMERA_MOTION, CAMERA_SNAPSHOT, HOTSPOT_STATE)

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("ping", _Empty, "is the agent alive (reply: pong, version, uptime_s)"),
    CommandSpec("config/get", _Empty, "the running config, secrets redacted"),
    CommandSpec("config/reload", _Empty, "reload the config file (refused if invalid)"),
    CommandSpec("outbox/stats", _Empty, "outbox depth, bytes and drops"),
    CommandSpec("light/{circuit}/override", lighting.OverrideRequest,
                "hold a circuit on/off until a time"),
    CommandSpec("light/{circuit}/clear", lighting.ClearRequest, "back to the schedule"),
    CommandSpec("light/{circuit}/pulse", lighting.PulseRequest,
                "switch for a few seconds and back (technician test)"),
    CommandSpec("camera/{camera}/arm", cameras.ArmRequest, "report motion (until a time)"),
    CommandSpec("camera/{camera}/disarm", cameras.ArmRequest,
                "stop reporting motion (until a time)"),
    CommandSpec("camera/{camera}/snapshot", cameras.SnapshotRequest, "take a snapshot now"),
    CommandSpec("hotspot/{hotspot}/probe", hotspots.ProbeRequest,
                "probe now and reply with the round", hotspots.ProbeCommandReply),
)


def base_topic(site: str, gateway: str, root: str = DEFAULT_ROOT) -> str:
    return f"{root}/{site}/{gateway}"


def find_topic(relative: str) -> tuple[TopicSpec, dict[str, str]] | None:
    """The spec of a published topic (relative to the base) and its parameters."""
    for spec in TOPICS:
        params = spec.match(relative)
        if params is not None:
            return spec, params
    return None


def find_command(path: str) -> tuple[CommandSpec, dict[str, str]] | None:
    for spec in COMMANDS:
        params = _compile(spec.path).fullmatch(path)
        if params is not None:
            return spec, params.groupdict()
    return None


@cache
def message_model(spec: TopicSpec) -> type[BaseModel]:
    """Envelope + payload as one model: what a receiver validates, what the schema shows."""
    if spec.model is None:
        raise ValueError(f"{spec.pattern} carries raw bytes, not JSON")
    name = spec.model.__name__.removesuffix("Payload") + "Message"
    model: type[BaseModel] = create_model(name, __base__=(Envelope, spec.model))
    return model


@dataclass(frozen=True, slots=True)
class Message:
    spec: TopicSpec
    params: dict[str, str]
    body: dict[str, Any]  # the JSON object as sent (empty for raw payloads)
    model: BaseModel | None
    raw: bytes


def parse(relative: str, payload: bytes) -> Message:
    """Validate one message against the contract, or raise ``ContractError`` (one line)."""
    found = find_topic(relative)
    if found is None:
        raise ContractError(f"unknown topic {relative[:120]!r}")
    spec, params = found
    if spec.model is None:
        return Message(spec, params, {}, None, payload)
    body = decode(payload)
    version = body.get("v")
    if version != SCHEMA_VERSION:
        raise ContractError(f"unsupported schema version v={version!r} "
                            f"(this side speaks v={SCHEMA_VERSION})")
    try:
        model = message_model(spec).model_validate(body)
    except ValidationError as exc:
        raise ContractError(f"{spec.pattern}: {validation_text(exc)}") from None
    return Message(spec, params, body, model, payload)


def validation_text(exc: ValidationError) -> str:
    """A pydantic error as one readable line: ``field.path: message; ...``."""
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    return "invalid payload: " + "; ".join(parts)


def payload_schemas() -> dict[str, Any]:
    """JSON Schema of every JSON topic and command, from the same models the code uses."""
    schemas: dict[str, Any] = {}
    for spec in TOPICS:
        if spec.model is not None:
            schemas[spec.pattern] = message_model(spec).model_json_schema()
    for command in COMMANDS:
        schemas[f"cmd/{command.path}"] = command.request.model_json_schema()
    return schemas
