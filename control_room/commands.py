"""Commands to gateways: validated against ``contract.COMMANDS``, sent with an MQTT 5
response topic (``control-room/{instance}/replies``) and correlation data (the command id),
a message expiry equal to the timeout, and recorded in the audit log (who, what, when, the
result) before it is sent and again when the reply (or the timeout) comes."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

import contract
from control_room.config import ControlRoomConfig
from control_room.metrics import Metrics
from control_room.mqtt import MqttClient, Reply
from control_room.store import queries
from control_room.store import schema as t

log = logging.getLogger(__name__)


class CommandRefused(ValueError):
    """The command is not in the contract or its arguments are wrong (one line)."""


def validate(path: str, args: dict[str, Any]) -> None:
    found = contract.find_command(path)
    if found is None:
        known = ", ".join(c.path for c in contract.COMMANDS)
        raise CommandRefused(f"unknown command {path!r} (known: {known})")
    spec, _params = found
    try:
        spec.request.model_validate(args)
    except ValidationError as exc:
        raise CommandRefused(f"{path}: {contract.validation_text(exc)}") from None


class Commander:
    def __init__(self, config: ControlRoomConfig, db: AsyncEngine, mqtt: MqttClient | None,
                 metrics: Metrics) -> None:
        self._cfg = config
        self._db = db
        self.mqtt = mqtt
        self._metrics = metrics
        self._waiting: dict[str, asyncio.Future[Reply]] = {}

    def on_reply(self, reply: Reply) -> None:
        future = self._waiting.get(reply.correlation.decode("ascii", "replace"))
        if future is not None and not future.done():
            future.set_result(reply)

    async def send(self, gateway: str, path: str, args: dict[str, Any], actor: str,
                   timeout_s: float | None = None) -> dict[str, Any]:
        """Send and wait for the reply; returns the audit row (status ok/error/timeout).
        Raises ``CommandRefused`` for an unknown gateway or an invalid command (audited)."""
        timeout = timeout_s or self._cfg.commands.timeout_s
        command_id = uuid.uuid4().hex
        now = time.time()
        async with self._db.connect() as conn:
            key = await queries.resolve_gateway(conn, gateway)
        row = {"id": command_id, "gateway_key": key or gateway, "path": path, "args": args,
               "actor": actor, "requested_at": now, "status": "sent"}
        try:
            if key is None:
                raise CommandRefused(f"unknown gateway {gateway!r}")
            validate(path, args)
            if self.mqtt is None or not self.mqtt.connected.is_set():
                raise CommandRefused("not connected to the broker")
        except CommandRefused as exc:
            await self._audit({**row, "status": "refused", "error": str(exc)}, insert=True)
            self._metrics.commands.labels("refused").inc()
            raise
        await self._audit(row, insert=True)
        result = await self._publish_and_wait(key, command_id, path, args, timeout)
        await self._audit({"id": command_id, **result})
        self._metrics.commands.labels(result["status"]).inc()
        async with self._db.connect() as conn:
            return await queries.command(conn, command_id) or row

    async def _publish_and_wait(self, key: str, command_id: str, path: str,
                                args: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.mqtt is not None
        body = {**contract.envelope_fields(datetime.now(UTC)), **args}
        body["id"] = command_id
        topic = f"{self._cfg.mqtt.root}/{key}/cmd/{path}"
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = future
        try:
            self.mqtt.publish(topic, contract.encode(body),
                              response_topic=f"{self._cfg.reply_topic}/{key}",
                              correlation=command_id.encode(), expiry_s=max(1, int(timeout)))
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return {"status": "timeout", "replied_at": None,
                    "error": f"no reply within {timeout:g} s"}
        finally:
            self._waiting.pop(command_id, None)
        try:
            data = json.loads(reply.payload)
        except ValueError:
            return {"status": "error", "replied_at": reply.received_at,
                    "error": "the reply is not JSON"}
        if not isinstance(data, dict):
            data = {"ok": False, "error": "the reply is not a JSON object"}
        ok = bool(data.get("ok"))
        return {"status": "ok" if ok else "error", "replied_at": reply.received_at,
                "result": data, "error": None if ok else str(data.get("error"))[:2000]}

    async def _audit(self, row: dict[str, Any], insert: bool = False) -> None:
        async with self._db.begin() as conn:
            if insert:
                await conn.execute(t.commands.insert().values(**row))
            else:
                command_id = row.pop("id")
                await conn.execute(update(t.commands).where(t.commands.c.id == command_id)
                                   .values(**row))
