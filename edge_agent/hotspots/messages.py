"""Pydantic models of this capability's MQTT payloads (filled in by the capability).

``PAYLOADS`` maps a topic pattern under the base topic to its model; the JSON Schemas in
docs come from here.
"""

from __future__ import annotations

from pydantic import BaseModel

PAYLOADS: dict[str, type[BaseModel]] = {}
