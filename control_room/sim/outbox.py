"""A simulated gateway's outbox: in memory, bounded, with the real gateway's rules.

``seq`` is assigned when a message is accepted (dense, 1, 2, 3, ... for the run); a message
leaves only on PUBACK; when the bound is hit it drops telemetry first, then state, events
last, and accepts one ``outbox/dropped`` notice naming the dropped seq ranges, so the
receiver's rule ("a hole no ``outbox/dropped`` explains is a loss") holds for the simulator
too. No I/O and no clock reads: callers pass ``now``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from contract import encode, wrap
from contract.core import OutboxDropped, seq_ranges

MessageClass = Literal["telemetry", "state", "event"]
DROP_ORDER: tuple[MessageClass, ...] = ("telemetry", "state", "event")


@dataclass(slots=True)
class Pending:
    key: int  # acceptance order (seq-less messages too)
    topic: str  # absolute
    body: dict[str, Any] | None  # JSON (envelope and seq included); None for raw bytes
    raw: bytes | None
    retain: bool
    cls: MessageClass
    seq: int | None
    accepted_at: float  # Unix time
    correlation: bytes | None = None

    def payload(self, replayed: bool) -> bytes:
        if self.body is None:
            return self.raw or b""
        if replayed:
            return encode({"replayed": True, **self.body})
        return encode(self.body)


class SimOutbox:
    def __init__(self, base_topic: str, max_messages: int) -> None:
        self.base = base_topic
        self.max_messages = max_messages
        self.last_seq = 0
        self._next_key = 0
        self._rows: OrderedDict[int, Pending] = OrderedDict()
        self.dropped: dict[str, int] = {c: 0 for c in DROP_ORDER}
        self.accepted = 0

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: int) -> bool:
        return key in self._rows

    def add_json(self, topic: str, payload: dict[str, Any], *, now: datetime, retain: bool,
                 cls: MessageClass, correlation: bytes | None = None) -> Pending:
        """Accept a JSON message: envelope, and the next ``seq`` if it is under the base."""
        body = wrap(payload, now=now)
        seq = None
        if topic.startswith(self.base + "/"):
            self.last_seq = seq = self.last_seq + 1
            body = {"seq": seq, **body}
        return self._add(Pending(self._key(), topic, body, None, retain, cls, seq,
                                 now.timestamp(), correlation), now)

    def add_raw(self, topic: str, data: bytes, *, now: datetime, retain: bool) -> Pending:
        return self._add(Pending(self._key(), topic, None, data, retain, "state", None,
                                 now.timestamp()), now)

    def ack(self, key: int) -> None:
        self._rows.pop(key, None)

    def after(self, key: int) -> Iterator[Pending]:
        """Unacknowledged messages accepted after ``key``, oldest first."""
        return (p for k, p in list(self._rows.items()) if k > key)

    def oldest_age_s(self, now: datetime) -> float | None:
        first = next(iter(self._rows.values()), None)
        return None if first is None else round(max(0.0, now.timestamp() - first.accepted_at),
                                                1)

    def bytes(self) -> int:
        return sum(len(p.raw or b"") + 400 for p in self._rows.values())  # JSON ~400 B

    def _key(self) -> int:
        self._next_key += 1
        return self._next_key

    def _add(self, pending: Pending, now: datetime) -> Pending:
        self._rows[pending.key] = pending
        self.accepted += 1
        if len(self._rows) > self.max_messages:
            self._enforce_bound(now)
        return pending

    def _enforce_bound(self, now: datetime) -> None:
        excess = len(self._rows) - self.max_messages + 1  # + 1: room for the notice
        victims: list[Pending] = []
        for cls in DROP_ORDER:
            for p in self._rows.values():
                if len(victims) >= excess:
                    break
                if p.cls == cls:
                    victims.append(p)
        seqs = sorted(p.seq for p in victims if p.seq is not None)
        classes: dict[str, int] = {}
        for p in victims:
            del self._rows[p.key]
            self.dropped[p.cls] += 1
            classes[p.cls] = classes.get(p.cls, 0) + 1
        if seqs:
            notice = OutboxDropped(ranges=seq_ranges(seqs), count=len(seqs), classes=classes,
                                   reason=f"outbox full ({self.max_messages} messages)")
            self.add_json(f"{self.base}/outbox/dropped", notice.model_dump(mode="json"),
                          now=now, retain=False, cls="event")
