"""One received MQTT message → an accepted contract message, a quarantined one (with the
reason) or nothing (commands this room publishes). Pure: no I/O, the clock is a parameter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import contract
from contract import ContractError

JPEG_MAGIC = b"\xff\xd8\xff"
# payload fields that repeat a topic parameter: they must agree with the topic
_PARAM_FIELDS = {"circuit": "circuit", "camera": "camera", "hotspot": "hotspot"}


@dataclass(frozen=True, slots=True)
class Accepted:
    site: str
    gateway: str
    relative: str  # topic under the gateway's base
    message: contract.Message
    received_at: float
    # sent by the broker because we subscribed (a retained copy), not live: an old message,
    # so it does not mark where this room's view of the gateway's stream begins
    retained: bool = False
    # derived once here (the writer reads them several times per message)
    key: str = ""
    msg_id: str | None = None
    seq: int | None = None
    kind: str = ""
    made_at: float | None = None  # the envelope's ts as Unix seconds (None: raw payload)

    @property
    def body(self) -> dict[str, Any]:
        return self.message.body


def accepted(site: str, gateway: str, relative: str, message: contract.Message,
             received_at: float, retained: bool = False) -> Accepted:
    body = message.body
    msg_id = body.get("id")
    seq = body.get("seq")
    if retained or not isinstance(seq, int) or isinstance(seq, bool):
        # a retained copy sent at subscription says nothing about completeness: it was
        # received live already, or is from before this room's view (even from an earlier
        # numbering of the gateway), or - several workers - its live copy is on its way to
        # another worker (which then gives the stored row its seq: store/writer._late_seqs)
        seq = None
    return Accepted(site, gateway, relative, message, received_at, retained,
                    f"{site}/{gateway}", str(msg_id)[:64] if msg_id is not None else None,
                    seq, message.spec.pattern, epoch(body.get("ts")))


def epoch(text: Any) -> float | None:
    """An ISO 8601 time of a payload as Unix seconds (None when absent or not a time)."""
    if not isinstance(text, str):
        return None
    try:
        return contract.parse_time(text).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Rejected:
    topic: str
    reason: str
    gateway_key: str | None
    payload: bytes
    received_at: float
    # a valid envelope around a payload we cannot use (e.g. a topic newer than this room):
    # it arrived, so its seq is not a loss, and a redelivery is not quarantined twice
    msg_id: str | None = None
    seq: int | None = None
    relative: str = ""


def classify(root: str, topic: str, payload: bytes, received_at: float,
             snapshot_max_bytes: int, retained: bool = False) -> Accepted | Rejected | None:
    """``None`` for messages that are not telemetry (commands going to the gateways)."""
    prefix = root.rstrip("/") + "/"
    if not topic.startswith(prefix):
        return Rejected(topic, f"topic outside the root {root!r}", None, payload, received_at)
    parts = topic[len(prefix):].split("/", 2)
    if len(parts) < 3 or not parts[0] or not parts[1]:
        return Rejected(topic, "topic has no {site}/{gateway}/... under the root", None,
                        payload, received_at)
    site, gateway, relative = parts
    key = f"{site}/{gateway}"
    if relative.startswith("cmd/") and not relative.endswith("/result"):
        return None  # a request to the gateway (ours or another operator's), not telemetry
    try:
        message = contract.parse(relative, payload)
    except ContractError as exc:
        msg_id, seq = _envelope(payload)
        return Rejected(topic, str(exc), key, payload, received_at, msg_id, seq, relative)
    try:
        _check_identity(message, site, gateway)
        if message.spec.model is None:
            _check_snapshot(payload, snapshot_max_bytes)
    except ContractError as exc:  # another gateway's identity: its seq is not this one's
        return Rejected(topic, str(exc), key, payload, received_at)
    return accepted(site, gateway, relative, message, received_at, retained)


def _envelope(payload: bytes) -> tuple[str | None, int | None]:
    """``id`` and ``seq`` of a refused payload, when its envelope is valid."""
    try:
        body = contract.decode(payload)
    except ContractError:
        return None, None
    msg_id, seq = body.get("id"), body.get("seq")
    if body.get("v") != contract.SCHEMA_VERSION or not isinstance(msg_id, str) or not msg_id:
        return None, None
    if not isinstance(seq, int) or isinstance(seq, bool):
        seq = None
    return msg_id[:64], seq


def _check_identity(message: contract.Message, site: str, gateway: str) -> None:
    body = message.body
    for field, expected in (("gateway", gateway), ("site", site)):
        value = body.get(field)
        if value is not None and value != expected:
            raise ContractError(f"payload says {field} {str(value)[:80]!r} but the topic "
                                f"says {expected!r}")
    for param, field in _PARAM_FIELDS.items():
        if param in message.params and field in body and body[field] != message.params[param]:
            raise ContractError(f"payload says {field} {str(body[field])[:80]!r} but the "
                                f"topic says {message.params[param]!r}")


def _check_snapshot(payload: bytes, limit: int) -> None:
    if len(payload) > limit:
        raise ContractError(f"snapshot is too large ({len(payload)} bytes, at most {limit})")
    if payload and not payload.startswith(JPEG_MAGIC):
        raise ContractError("snapshot is not a JPEG (no FF D8 FF header)")
