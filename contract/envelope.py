"""The envelope every JSON payload carries, and the one way to encode and decode it.

``v`` schema version, ``ts`` UTC ISO 8601 with milliseconds and ``Z``, ``id`` unique; ``seq``
on the durable stream only (see ``docs/mqtt.md``: "a hole that no ``outbox/dropped``
explains is a loss"); ``replayed`` on messages delivered late from the gateway's outbox.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
MAX_JSON_DEPTH = 32  # no contract payload nests deeper than ~5; deeper is hostile
MAX_PAYLOAD_BYTES = 256 * 1024  # JSON payloads; snapshots (JPEG bytes) are not JSON


_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class ContractError(ValueError):
    """A payload that does not follow the contract; the message says why, in one line."""


def utc_iso(instant: datetime | float) -> str:
    """UTC ISO 8601 with milliseconds and a 'Z', e.g. 2026-11-22T14:03:07.120Z.

    Takes an aware datetime or a Unix timestamp; the one format for every time field.
    """
    if not isinstance(instant, datetime):
        instant = datetime.fromtimestamp(instant, UTC)
    elif instant.tzinfo is None:
        raise ValueError("utc_iso needs an aware datetime")
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with an offset (``Z`` accepted) as an aware datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time without a UTC offset: {text!r}")
    return value


def new_id() -> str:
    return uuid.uuid4().hex


class Envelope(BaseModel):
    """Fields every JSON payload carries."""

    model_config = ConfigDict(extra="allow")
    v: int = Field(description="Payload schema version.")
    ts: str = Field(description="When the message was made, UTC ISO 8601 with ms and 'Z'.")
    id: str = Field(description="Unique message id; de-duplicate on it.")
    seq: int | None = Field(
        None, description="Dense per-gateway counter of the durable stream (every JSON "
        "message under the base topic that went through the outbox). Absent on status.")
    replayed: bool | None = Field(None, description="True when sent late from the outbox.")


def envelope_fields(now: datetime) -> dict[str, Any]:
    """``v``, ``ts`` and ``id`` for a new message (``seq`` is added when it is stored)."""
    return {"v": SCHEMA_VERSION, "ts": utc_iso(now), "id": new_id()}


def wrap(payload: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """The payload with the envelope fields first (they win over same-named payload keys)."""
    body = envelope_fields(now)
    body.update((k, v) for k, v in payload.items() if k not in body)
    return body


def encode(body: Mapping[str, Any]) -> bytes:
    """Standard JSON only: NaN and Infinity are refused (``ValueError``), never emitted."""
    return json.dumps(body, separators=(",", ":"), default=_json_default,
                      allow_nan=False).encode()


def decode(raw: bytes | str) -> dict[str, Any]:
    """Parse a JSON object strictly, or raise ``ContractError`` with a one-line reason.

    Refuses NaN/Infinity, nesting deeper than ``MAX_JSON_DEPTH`` (checked before parsing,
    so a hostile payload can never reach the parser's recursion limit), non-UTF-8 and
    anything that is not an object.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload is too large ({len(raw)} bytes, at most "
                            f"{MAX_PAYLOAD_BYTES})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(f"payload is not valid JSON: not UTF-8 at byte {exc.start}") \
            from None
    # counting brackets runs in C; only a payload with many of them needs the real scan
    brackets = raw.count(b"{") + raw.count(b"[")
    depth = _nesting_depth(text) if brackets > MAX_JSON_DEPTH else 0
    if depth > MAX_JSON_DEPTH:
        raise ContractError(f"payload is not valid JSON for this contract: nested {depth} "
                            f"levels deep (at most {MAX_JSON_DEPTH})")
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ContractError(f"payload is not valid JSON: {_one_line(exc)}") from None
    except ValueError as exc:  # ContractError, or an integer past Python's digit limit
        if isinstance(exc, ContractError):
            raise
        raise ContractError(f"payload is not valid JSON: {_one_line(exc)}") from None
    if not isinstance(data, dict):
        raise ContractError(f"payload must be a JSON object, got {type(data).__name__}")
    return data


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf: as non-standard as Infinity
        raise ContractError(f"payload is not valid JSON: {text[:40]} is out of range")
    return value


def _refuse_constant(name: str) -> Any:
    raise ContractError(f"payload is not valid JSON: {name} is not a JSON number")


def _nesting_depth(text: str) -> int:
    """Deepest bracket nesting outside strings. Regexes drop the strings and everything but
    brackets, and the running depth is summed by ``accumulate`` (all at C speed): this runs on
    the control room's ingest path for every message with more than a few lists."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _one_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).replace("\n", " ")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value) if value.tzinfo else value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and Infinity are not JSON")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
