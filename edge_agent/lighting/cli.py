"""``edge-agent lights plan`` and ``edge-agent relay CIRCUIT on|off|status``.

``relay`` talks to the relay driver directly when the agent is not running. When the agent
runs it owns the relays (a lock in the data dir says so); then the switch is sent to the
agent as an override through its local web API (needs ``http.token``), or the technician is
told how to do it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge_agent.cli_support import DEFAULT_CONFIG, load_or_report


def register_cli(subparsers: Any) -> None:
    lights = subparsers.add_parser("lights", help="street-light schedules")
    sub = lights.add_subparsers(dest="lights_command", required=True, metavar="ACTION")
    plan = sub.add_parser("plan", help="print each circuit's on/off times for a day")
    plan.add_argument("--date", default="today", help="YYYY-MM-DD, today or tomorrow")
    plan.add_argument("-c", "--config", type=Path, default=DEFAULT_CONFIG)
    plan.set_defaults(func=_cmd_plan)

    relay = subparsers.add_parser("relay", help="switch a light circuit's relay (technician)")
    relay.add_argument("circuit", help="circuit id")
    relay.add_argument("action", choices=["on", "off", "status"])
    relay.add_argument("--minutes", type=float, default=30,
                       help="when the agent runs: how long the override lasts (default 30)")
    relay.add_argument("-c", "--config", type=Path, default=DEFAULT_CONFIG)
    relay.set_defaults(func=_cmd_relay)


def _load(path: Path) -> Any:
    loaded = load_or_report(path)
    return loaded.config if loaded else None


def _parse_day(text: str, tz: ZoneInfo) -> date:
    today = datetime.now(tz).date()
    if text == "today":
        return today
    if text == "tomorrow":
        return today + timedelta(days=1)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"edge-agent lights plan: --date {text!r}: use YYYY-MM-DD, today "
                         "or tomorrow") from None


def _hm(value: Any) -> str:
    return value.strftime("%H:%M:%S") if isinstance(value, datetime) else \
        {"up": "none (sun up all day)", "down": "none (sun down all day)"}.get(value, "?")


def _cmd_plan(args: argparse.Namespace) -> int:
    from edge_agent.lighting.component import STORE_NAME
    from edge_agent.lighting.schedule import Location, Rule, plan, sun_times
    from edge_agent.lighting.store import LightingStore

    config = _load(args.config)
    if config is None:
        return 1
    gw = config.gateway
    tz, loc = ZoneInfo(gw.timezone), Location(gw.latitude, gw.longitude)
    day = _parse_day(args.date, tz)
    rise, sset = sun_times(day, loc, tz)
    print(f"Plan for {day:%A %Y-%m-%d} at {gw.site}/{gw.id} ({gw.latitude:.4f}, "
          f"{gw.longitude:.4f}, {gw.timezone})")
    print(f"  sunrise {_hm(rise)}   sunset {_hm(sset)}")
    if not config.lighting.circuits:
        print("  no light circuits configured (lighting.circuits)")
        return 0
    store = LightingStore(config.storage.data_dir / STORE_NAME)
    store.load()
    for c in config.lighting.circuits:
        override = store.overrides.get(c.id)
        rules = [Rule.from_config(r) for r in c.rules]
        steps = plan(rules, override, c.default == "on", day, loc, tz)
        print(f"{c.id}{f' ({c.name})' if c.name else ''}:")
        for step in steps:
            why = step.reason + (f" ({step.rule})" if step.rule else "")
            print(f"  {step.at.astimezone(tz):%H:%M:%S}  {'on ' if step.state else 'off'}  {why}")
        on_s = _on_seconds(steps, day, tz)
        print(f"  on for {int(on_s // 3600)}h {int(on_s % 3600 // 60):02d}m this day")
        if override is not None:
            until = override.until.astimezone(tz).isoformat() if override.until else "cleared"
            print(f"  (includes a saved override: {'on' if override.state else 'off'} until "
                  f"{until})")
    return 0


def _on_seconds(steps: list[Any], day: date, tz: ZoneInfo) -> float:
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    total = 0.0
    for i, step in enumerate(steps):
        stop = steps[i + 1].at if i + 1 < len(steps) else end
        if step.state:
            total += (stop - step.at).total_seconds()
    return total


def _cmd_relay(args: argparse.Namespace) -> int:
    from edge_agent.lighting.component import release_lock, take_lock

    config = _load(args.config)
    if config is None:
        return 1
    circuits = {c.id: c for c in config.lighting.circuits}
    if args.circuit not in circuits:
        print(f"edge-agent relay: unknown circuit {args.circuit!r} (known: "
              f"{', '.join(circuits) or 'none'})", file=sys.stderr)
        return 2
    fd = take_lock(config.storage.data_dir)
    if fd is None:
        return _through_agent(config, args)
    try:
        return asyncio.run(_direct(config, circuits[args.circuit], args.action))
    finally:
        release_lock(fd)


async def _direct(config: Any, circuit: Any, action: str) -> int:
    from drivers.relays.base import RelayError
    from drivers.relays.registry import create_relay, describe

    label = f"{circuit.id} ({describe(circuit.relay)})"
    try:
        relay = create_relay(circuit.relay)
    except RelayError as exc:
        print(f"{label}: {exc}", file=sys.stderr)
        return 3
    try:
        if action != "status":
            await asyncio.wait_for(relay.set(circuit.relay.channel, action == "on"), 15)
        got = await asyncio.wait_for(relay.read(circuit.relay.channel), 15)
    except (RelayError, TimeoutError) as exc:
        print(f"{label}: FAILED: {exc or 'no answer within 15 s'}", file=sys.stderr)
        return 3
    finally:
        await relay.close()
    readback = "cannot be read back" if got is None else f"reads {'on' if got else 'off'}"
    done = "status" if action == "status" else f"switched {action}"
    print(f"{label}: {done}; relay {readback}")
    if action != "status":
        print("note: the agent is not running; when it starts it sets the scheduled state")
    return 0 if got is None or action == "status" or got == (action == "on") else 3


def _through_agent(config: Any, args: argparse.Namespace) -> int:
    path = f"light/{args.circuit}/override"
    if args.action == "status":
        print("the agent is running: see 'edge-agent watch' or the local web page for the "
              f"state of {args.circuit}")
        return 0
    until = (datetime.now(UTC) + timedelta(minutes=args.minutes)).astimezone(
        ZoneInfo(config.gateway.timezone)).isoformat(timespec="seconds")
    body = {"state": args.action, "until": until}
    http = config.http
    if not http.enabled or http.token is None:
        print(f"the agent is running and owns the relays. Send an override instead:\n"
              f"  mosquitto_pub -t '{config.base_topic}/cmd/{path}' -m '{json.dumps(body)}'\n"
              "or stop the agent first (systemctl stop edge-agent).", file=sys.stderr)
        return 2
    host = "127.0.0.1" if http.bind in ("0.0.0.0", "::", "") else http.bind
    request = urllib.request.Request(
        f"http://{host}:{http.port}/api/command/{path}", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {http.token.get_secret_value()}",
                 "Content-Type": "application/json"}, method="POST")
    try:
        # No proxy, whatever http_proxy says: the Bearer token must only go to the agent.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=20) as response:
            reply = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        reply = json.loads(exc.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"the agent is running but its web API did not answer: {exc}", file=sys.stderr)
        return 3
    if not reply.get("ok"):
        print(f"the agent refused: {reply.get('error')}", file=sys.stderr)
        return 3
    print(f"{args.circuit}: override {args.action} until {until} (through the running agent); "
          f"state {reply.get('state')}, reason {reply.get('reason')}")
    return 0
