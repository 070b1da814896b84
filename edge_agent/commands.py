"""Command routing: ``cmd/{target}[/{subject}]/{action}`` → handler → exactly one reply.

The reply goes to the MQTT 5 response topic with the request's correlation data when the
request has one, otherwise to ``cmd/.../result`` echoing the request ``id``. Everything a
handler or a sender can get wrong becomes ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from edge_agent.command_log import CommandLog, identify, run_once
from edge_agent.runtime import CommandError, CommandHandler, CommandRequest

log = logging.getLogger(__name__)

RESULT_SUFFIX = "result"
# The router's fields, not the handler's: strict (extra="forbid") payload models must not see
# them, or every command carrying a request id would be refused.
ENVELOPE_KEYS = frozenset({"v", "ts", "seq", "id", "expires_at"})


@dataclass(frozen=True, slots=True)
class IncomingCommand:
    """A message that arrived on ``{base}/cmd/...`` (``path`` is the part after ``cmd/``)."""

    path: str
    payload: bytes
    response_topic: str | None = None
    correlation_data: bytes | None = None
    expiry_s: int | None = None  # MQTT 5 message expiry interval as delivered
    received_monotonic: float = 0.0


ReplySender = Callable[[str, Mapping[str, Any], bytes | None], Awaitable[None]]


class CommandRouter:
    def __init__(self, base_topic: str, send_reply: ReplySender,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._base = base_topic
        self._send_reply = send_reply
        self._clock = clock
        self._handlers: dict[tuple[str, str, bool], CommandHandler] = {}
        self.command_log: CommandLog | None = None  # set once opened (agent.run)
        self.handled = 0
        self.rejected = 0

    # -- CommandRegistry ---------------------------------------------------------------
    def register(self, target: str, action: str, handler: CommandHandler, *,
                 has_subject: bool = True) -> None:
        self._handlers[(target, action, has_subject)] = handler

    def unregister_all(self, owner_prefix: str) -> None:
        for key in [k for k in self._handlers if k[0].startswith(owner_prefix)]:
            del self._handlers[key]

    def known(self) -> list[str]:
        return sorted(f"{t}/{{id}}/{a}" if s else "/".join(p for p in (t, a) if p)
                      for t, a, s in self._handlers)

    # -- dispatch ----------------------------------------------------------------------
    @staticmethod
    def is_reply(path: str) -> bool:
        return path == RESULT_SUFFIX or path.endswith("/" + RESULT_SUFFIX)

    async def handle(self, cmd: IncomingCommand) -> None:
        """Run one command from MQTT and send its one reply. Never raises."""
        if self.is_reply(cmd.path):
            return  # our own (or another gateway's) result messages
        if cmd.response_topic and not valid_publish_topic(cmd.response_topic):
            # not run: its reply could never be sent there; answer on cmd/.../result instead
            reply = self._error(cmd.path, f"invalid MQTT 5 response topic "
                                          f"{cmd.response_topic[:80]!r} (no '+', '#' or NUL)")
            reply["command"] = cmd.path
            with contextlib.suppress(CommandError):
                reply["request_id"] = _parse_payload(cmd.payload).get("id")
            await self._reply(IncomingCommand(cmd.path, cmd.payload), reply)
            return
        # a command the broker delivers again (we crashed before its PUBACK) is not run again
        identity = identify(cmd.path, cmd.payload, cmd.correlation_data)
        reply = await run_once(self.command_log, identity,
                               lambda: self.execute(cmd.path, cmd.payload, cmd=cmd))
        await self._reply(cmd, reply)

    async def execute(self, path: str, raw: bytes | dict[str, Any],
                      cmd: IncomingCommand | None = None) -> dict[str, Any]:
        """Run a command and return its reply (``ok`` true/false). Never raises.

        Used for MQTT commands and by the local web page, so both behave the same.
        """
        request_id: Any = None
        try:
            payload = raw if isinstance(raw, dict) else _parse_payload(raw)
            request_id = payload.get("id")
            if cmd is not None:
                self._check_expiry(cmd, payload)
            request, handler = self._resolve(
                path, {k: v for k, v in payload.items() if k not in ENVELOPE_KEYS})
            result = await handler(request)
            reply: dict[str, Any] = {"ok": True, **(dict(result) if result else {})}
            self.handled += 1
        except asyncio.CancelledError:
            raise
        except CommandError as exc:
            reply = self._error(path, str(exc))
        except ValidationError as exc:
            reply = self._error(path, _validation_text(exc))
        except Exception as exc:  # a handler bug must not take the command loop down
            log.exception("command %s failed", path)
            reply = self._error(path, f"internal error: {type(exc).__name__}: {exc}")
        reply["command"] = path
        if request_id is not None:
            reply["request_id"] = request_id
        return reply

    def _error(self, path: str, message: str) -> dict[str, Any]:
        self.rejected += 1
        log.warning("command %s refused: %s", path, message)
        return {"ok": False, "error": message}

    async def _reply(self, cmd: IncomingCommand, reply: Mapping[str, Any]) -> None:
        if cmd.response_topic:
            await self._send_reply(cmd.response_topic, reply, cmd.correlation_data)
        else:
            await self._send_reply(f"{self._base}/cmd/{cmd.path}/{RESULT_SUFFIX}", reply, None)

    def _check_expiry(self, cmd: IncomingCommand, payload: Mapping[str, Any]) -> None:
        # The broker hands over the *remaining* MQTT 5 expiry interval (and drops commands
        # whose interval ran out while queued), so only the wait on this gateway counts here;
        # comparing the sender's 'ts' with it would count the broker's wait twice and trust
        # a clock that a Pi without RTC may not have yet.
        if cmd.expiry_s is not None and cmd.received_monotonic and \
                time.monotonic() > cmd.received_monotonic + cmd.expiry_s:
            raise CommandError("command expired before it could run (MQTT message expiry)")
        deadline = _payload_time(payload, "expires_at")
        if deadline is not None:
            if deadline.tzinfo is None:
                raise CommandError("'expires_at' needs a timezone offset")
            if self._clock() > deadline:
                raise CommandError(f"command expired at {payload['expires_at']}")

    def _resolve(self, path: str, payload: dict[str, Any]) -> tuple[CommandRequest,
                                                                      CommandHandler]:
        parts = path.split("/")
        now = self._clock()
        if len(parts) == 1 and (parts[0], "", False) in self._handlers:
            request = CommandRequest(parts[0], None, "", payload, now)
            return request, self._handlers[(parts[0], "", False)]
        if len(parts) == 2 and (parts[0], parts[1], False) in self._handlers:
            request = CommandRequest(parts[0], None, parts[1], payload, now)
            return request, self._handlers[(parts[0], parts[1], False)]
        if len(parts) == 3 and (parts[0], parts[2], True) in self._handlers:
            request = CommandRequest(parts[0], parts[1], parts[2], payload, now)
            return request, self._handlers[(parts[0], parts[2], True)]
        known = ", ".join(self.known()) or "none"
        raise CommandError(f"unknown command 'cmd/{path}' (known: {known})")


def valid_publish_topic(topic: str) -> bool:
    """Whether a message can be published to ``topic`` (MQTT: no wildcards, no NUL)."""
    return bool(topic) and len(topic.encode()) <= 65535 and not any(
        c in topic for c in "+#\0")


def _payload_time(payload: Mapping[str, Any], key: str) -> datetime | None:
    """An ISO 8601 time field of the request, None when absent; refused when malformed."""
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CommandError(f"'{key}' must be an ISO 8601 time string, got {value!r}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"'{key}' is not an ISO 8601 time: {value!r}") from None


def _parse_payload(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CommandError(f"payload is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CommandError(f"payload must be a JSON object, got {type(data).__name__}")
    return data


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    return "invalid payload: " + "; ".join(parts)
