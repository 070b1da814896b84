"""Command routing: ``cmd/{target}[/{subject}]/{action}`` → handler → exactly one reply.

The reply goes to the MQTT 5 response topic with the request's correlation data when the
request has one, otherwise to ``cmd/.../result`` echoing the request ``id``. Everything a
handler or a sender can get wrong becomes ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from contract import ContractError, decode, encode
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
        self.unanswerable = 0  # commands whose reply could not be sent at all

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
        """Run one command from MQTT and send its one reply. Never raises.

        A reply that cannot be sent at all (its topic is not publishable, or sending
        failed) is counted in ``unanswerable`` with the reason logged in one line.
        """
        if self.is_reply(cmd.path):
            return  # our own (or another gateway's) result messages
        try:
            response_topic = cmd.response_topic or ""
            bad_response_topic = bool(response_topic) and not valid_publish_topic(
                response_topic)
            if bad_response_topic or not response_topic:
                result_topic = self._result_topic(cmd.path)
                if not valid_publish_topic(result_topic):  # a topic at MQTT's length limit
                    self._unanswerable(cmd.path, f"not run: its result topic is too long for "
                                                 f"MQTT ({len(result_topic.encode())} bytes)")
                    return
            if bad_response_topic:
                # not run: its reply could never be sent there; answer on cmd/.../result
                reply = self._error(cmd.path, f"invalid MQTT 5 response topic "
                                              f"{response_topic[:80]!r} (no '+', '#' or NUL)")
                reply["command"] = cmd.path
                request_id = _request_id_or_none(cmd.payload)
                if request_id is not None:
                    reply["request_id"] = request_id
                cmd = IncomingCommand(cmd.path, cmd.payload)
            else:
                # a command the broker delivers again (we crashed before its PUBACK) is not
                # run again: the command log answers it with the stored reply
                identity = identify(cmd.path, cmd.payload, cmd.correlation_data)
                reply = await run_once(self.command_log, identity,
                                       lambda: self.execute(cmd.path, cmd.payload, cmd=cmd))
            await self._reply(cmd, reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # whatever happens, the command loop carries on
            self._unanswerable(cmd.path, f"sending the reply failed: {_one_line(exc)}")

    async def execute(self, path: str, raw: bytes | dict[str, Any],
                      cmd: IncomingCommand | None = None) -> dict[str, Any]:
        """Run a command and return its reply (``ok`` true/false), always encodable as
        standard JSON. Never raises.

        Used for MQTT commands and by the local web page, so both behave the same.
        """
        request_id: str | int | None = None
        try:
            payload = raw if isinstance(raw, dict) else _parse_payload(raw)
            request_id = _request_id(payload)
            if cmd is not None:
                self._check_expiry(cmd, payload)
            request, handler = self._resolve(
                path, {k: v for k, v in payload.items() if k not in ENVELOPE_KEYS})
            result = await handler(request)
            reply: dict[str, Any] = {"ok": True, **(dict(result) if result else {})}
            unencodable = _encoding_problem(reply)
            if unencodable:
                log.error("command %s: its reply %s", path, unencodable)
                reply = self._error(path, f"internal error: the reply {unencodable}")
            else:
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

    def _unanswerable(self, path: str, reason: str) -> None:
        self.unanswerable += 1
        log.warning("command %s: no reply can be sent: %s", path[:200], reason)

    def _error(self, path: str, message: str) -> dict[str, Any]:
        self.rejected += 1
        log.warning("command %s refused: %s", path, message)
        return {"ok": False, "error": message}

    async def _reply(self, cmd: IncomingCommand, reply: Mapping[str, Any]) -> None:
        if cmd.response_topic:
            await self._send_reply(cmd.response_topic, reply, cmd.correlation_data)
            return
        await self._send_reply(self._result_topic(cmd.path), reply, None)

    def _result_topic(self, path: str) -> str:
        return f"{self._base}/cmd/{path}/{RESULT_SUFFIX}"

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
    """The request as a JSON object ({} when empty). Whatever the bytes (any depth, size,
    encoding, NaN), the only failure is a one-line ``CommandError``."""
    if not raw.strip():
        return {}
    try:
        return decode(raw)
    except ContractError as exc:
        raise CommandError(str(exc)) from None


def _request_id(payload: Mapping[str, Any]) -> str | int | None:
    """The request's ``id`` to echo: a string or an integer (not a bool), else refused."""
    value = payload.get("id")
    if value is None or (isinstance(value, str | int) and not isinstance(value, bool)):
        return value
    raise CommandError(f"'id' must be a string or an integer, got {type(value).__name__}")


def _request_id_or_none(raw: bytes) -> str | int | None:
    try:
        return _request_id(_parse_payload(raw))
    except CommandError:
        return None


def _encoding_problem(reply: Mapping[str, Any]) -> str | None:
    """Why ``reply`` cannot be sent as standard JSON, or None."""
    try:
        encode(reply)
    except (ValueError, TypeError, RecursionError) as exc:
        return f"cannot be encoded as JSON: {_one_line(exc)}"
    return None


def _one_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).replace("\n", " ")[:300]


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    return "invalid payload: " + "; ".join(parts)
