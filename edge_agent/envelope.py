"""The envelope every JSON payload carries: ``v``, ``ts``, ``seq``, ``id``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1


def utc_iso(instant: datetime) -> str:
    """UTC ISO 8601 with milliseconds and a 'Z', e.g. 2026-11-22T14:03:07.120Z."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wrap(payload: Mapping[str, Any], *, seq: int, now: datetime) -> dict[str, Any]:
    """The payload with the envelope fields first (they win over same-named payload keys)."""
    body: dict[str, Any] = {"v": SCHEMA_VERSION, "ts": utc_iso(now), "seq": seq,
                            "id": uuid.uuid4().hex}
    body.update((k, v) for k, v in payload.items() if k not in body)
    return body


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), default=_json_default).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value) if value.tzinfo else value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
