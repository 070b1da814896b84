"""The publisher components use: envelope, durable outbox, retained-state cache."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from contract import encode, wrap
from edge_agent.outbox import Outbox
from edge_agent.outbox_messages import OutgoingMessage
from edge_agent.runtime import MessageClass, RetainedState

log = logging.getLogger(__name__)


class DirectSender(Protocol):
    """The link's fire-and-forget path for QoS 0 (not stored; dropped when offline)."""

    def send_nowait(self, topic: str, payload: bytes, *, retain: bool,
                    props: Mapping[str, Any] | None = None) -> bool: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class Bus:
    def __init__(self, base_topic: str, outbox: Outbox, state: RetainedState,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.base_topic = base_topic
        self._outbox = outbox
        self._state = state
        self._clock = clock
        self.direct: DirectSender | None = None
        self._last_store_warning = -1e9

    def envelope(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``v``, ``ts``, ``id`` around a payload; the outbox adds ``seq`` when it stores it."""
        return wrap(payload, now=self._clock())

    def sequenced(self, topic: str) -> bool:
        """Only the gateway's own topics are in the dense ``seq`` stream: a reply to a
        control room's response topic elsewhere is not seen by a receiver of the base."""
        return topic.startswith(self.base_topic + "/")

    async def publish(
        self,
        topic: str,
        payload: Mapping[str, Any] | bytes,
        *,
        retain: bool = False,
        qos: int = 1,
        message_class: MessageClass = MessageClass.STATE,
    ) -> None:
        if isinstance(payload, bytes | bytearray):
            data, is_json = bytes(payload), False
            if retain:
                self._state.update(topic, data)
        else:
            body = self.envelope(payload)
            data, is_json = encode(body), True
            if retain:
                self._state.update(topic, body)
        full_topic = f"{self.base_topic}/{topic}"
        if qos == 0:
            if self.direct is None or not self.direct.send_nowait(full_topic, data,
                                                                  retain=retain):
                self._outbox.dropped_not_connected += 1
            return
        await self._put(OutgoingMessage(full_topic, data, qos=qos, retain=retain,
                                        message_class=message_class, is_json=is_json,
                                        sequenced=is_json))

    async def _put(self, message: OutgoingMessage) -> None:
        """Store durably; when the database refuses (disk full, I/O error), still send it live
        (QoS 0, no guarantee) so a full disk never silences the gateway, and count it."""
        try:
            await self._outbox.put(message)
        except (sqlite3.Error, OSError, RuntimeError) as exc:
            now = time.monotonic()
            if now - self._last_store_warning > 60:
                self._last_store_warning = now
                log.warning("outbox cannot store messages (%s): sending them live without "
                            "the delivery guarantee", exc)
            # the MQTT 5 properties go along: a reply without its correlation data could
            # never be matched to its request
            if self.direct is None or not self.direct.send_nowait(
                    message.topic, message.payload, retain=message.retain,
                    props=message.props):
                self._outbox.dropped_not_connected += 1

    async def publish_reply(self, topic: str, body: Mapping[str, Any],
                            correlation_data: bytes | None) -> None:
        """A command reply to an absolute topic, durable, with MQTT 5 correlation data."""
        props = {"correlation_data": correlation_data.hex()} if correlation_data else None
        await self._put(OutgoingMessage(topic, encode(self.envelope(body)), qos=1,
                                        message_class=MessageClass.EVENT, props=props,
                                        sequenced=self.sequenced(topic)))
