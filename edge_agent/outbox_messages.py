"""What goes into and comes out of the outbox: a message to store, a stored row to send,
and the outbox's counters (health and ``outbox stats``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from edge_agent.runtime import MessageClass


@dataclass(slots=True)
class OutgoingMessage:
    topic: str  # absolute MQTT topic
    payload: bytes
    qos: int = 1
    retain: bool = False
    message_class: MessageClass = MessageClass.STATE
    is_json: bool = True  # a JSON object: replays get "replayed": true spliced in
    props: dict[str, Any] | None = None  # MQTT 5 properties (response to a command)
    sequenced: bool = False  # gets the next seq when stored (JSON under the base topic)
    accepted_at: float = field(default_factory=time.time)


@dataclass(slots=True, frozen=True)
class StoredMessage:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    is_json: bool
    props: dict[str, Any] | None
    accepted_at: float

    def payload_for_send(self, replayed: bool) -> bytes:
        if replayed and self.is_json and self.payload.startswith(b"{"):
            rest = self.payload[1:].lstrip()
            return b'{"replayed":true' + (b"," if rest != b"}" else b"") + rest
        return self.payload


@dataclass(slots=True, frozen=True)
class OutboxStats:
    depth: int
    bytes: int
    max_bytes: int
    oldest_age_s: float | None
    dropped: dict[str, int]
    write_failures: int = 0
    last_seq: int = 0
    storage_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"depth": self.depth, "bytes": self.bytes, "max_bytes": self.max_bytes,
                "oldest_age_s": self.oldest_age_s, "dropped": dict(self.dropped),
                "write_failures": self.write_failures, "last_seq": self.last_seq}
