"""``edge-agent watch``: a human view of a gateway's MQTT traffic."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from contract import decode
from edge_agent.mqtt import MqttErrors, watch_messages

_SKIP = {"v", "ts", "seq", "id"}


def summarise(topic: str, payload: bytes, retained: bool) -> str:
    """One line per message: time, short topic, the interesting fields."""
    parts = topic.split("/")
    short = "/".join(parts[2:]) if len(parts) > 3 and parts[0] == "commune" else topic
    gateway = parts[2] if len(parts) > 3 and parts[0] == "commune" else ""
    flag = " (retained)" if retained else ""
    try:
        body = decode(payload)
    except ValueError as exc:  # ContractError: not JSON, too deep, not an object, ...
        if payload[:1] in (b"{", b"["):
            return f"{_now()} {short}{flag}  <{len(payload)} bytes: {exc}>"
        return f"{_now()} {short}{flag}  <{len(payload)} bytes binary>"
    if short.startswith(gateway + "/health"):
        return f"{_now()} {short}  {_health_line(body)}"
    fields = " ".join(f"{k}={_fmt(v)}" for k, v in body.items() if k not in _SKIP)
    return f"{_now()} {short}{flag}  {fields}"


def _health_line(body: dict[str, Any]) -> str:
    outbox = body.get("outbox") or {}
    mqtt = body.get("mqtt") or {}
    return (f"cpu={body.get('cpu_percent')}% ram={body.get('ram_used_mb')}/"
            f"{body.get('ram_total_mb')}MB disk_free={body.get('disk_free_mb')}MB "
            f"temp={body.get('soc_temp_c')} outbox={outbox.get('depth')} "
            f"mqtt={'up' if mqtt.get('connected') else 'down'} "
            f"clock_synced={body.get('clock_synced')} uptime={body.get('uptime_s')}s")


def _fmt(value: Any) -> str:
    if isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"))
        return text if len(text) <= 80 else text[:77] + "..."
    return str(value)


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S")


async def watch(broker: str, gateway: str | None, topic: str, *, raw: bool = False,
                count: int | None = None, duration: float | None = None) -> int:
    url = urlsplit(broker)
    if url.scheme not in ("mqtt", "mqtts") or not url.hostname:
        print(f"edge-agent watch: bad broker URL {broker!r} (mqtt://host:port)", file=sys.stderr)
        return 2
    tls = None
    if url.scheme == "mqtts":
        import ssl

        tls = ssl.create_default_context()
    port = url.port or (8883 if tls else 1883)
    topic_filter = f"commune/+/{gateway}/#" if gateway else topic
    seen = 0
    try:
        async with asyncio.timeout(duration):
            async for msg_topic, payload, retained in watch_messages(
                    url.hostname, port, topic_filter, tls=tls, username=url.username,
                    password=url.password):
                if raw:
                    print(msg_topic, payload.decode(errors="replace"), flush=True)
                else:
                    print(summarise(msg_topic, payload, retained), flush=True)
                seen += 1
                if count is not None and seen >= count:
                    return 0
    except TimeoutError:
        return 0
    except MqttErrors as exc:
        print(f"edge-agent watch: cannot reach {url.hostname}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0
