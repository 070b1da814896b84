"""``control-room``: run the service, check its config, and talk to a running one.

``status``, ``alerts`` and ``send`` use the running service's HTTP API (the URL and token
come from the config file, or ``--api``/``--token``), so they see exactly what the service
sees and every command goes through its audit log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from control_room import __version__
from control_room.auth.cli import add_commands
from control_room.config import DEFAULT_CONFIG, ControlRoomConfig, load
from control_room.tables import alerts_table, events_table, fleet_table
from yaml_config import ConfigError


def _load(path: Path) -> ControlRoomConfig | None:
    try:
        return load(path).config
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def _cmd_run(args: argparse.Namespace) -> int:
    from control_room.console.app import default_extensions
    from control_room.service import Service

    config = _load(args.config)
    if config is None:
        return 1
    level = args.log_level or config.log_level
    logging.basicConfig(level=level.upper(), datefmt="%H:%M:%S",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiohttp.access", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger(__name__).info("control-room %s starting with %s", __version__,
                                     args.config)
    from sqlalchemy.exc import DBAPIError

    try:
        asyncio.run(Service(config, extensions=default_extensions()).run())
    except PermissionError as exc:
        print(f"control-room: {exc.strerror}: {exc.filename} (check storage.data_dir and "
              "the database path)", file=sys.stderr)
        return 1
    except DBAPIError as exc:  # e.g. the database does not exist, wrong password
        reason = str(exc.orig or exc).splitlines()[0]
        print(f"control-room: the database refused: {reason} (check database.url)",
              file=sys.stderr)
        return 1
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    path = args.file or args.config
    config = _load(path)
    if config is None:
        return 1
    print(f"{path}: OK (instance {config.instance}, database "
          f"{'SQLite' if config.database.is_sqlite else 'PostgreSQL'}, broker {config.mqtt.url})")
    return 0


class Api:
    def __init__(self, args: argparse.Namespace) -> None:
        token = args.token or os.environ.get("CONTROL_ROOM_TOKEN")
        url = args.api
        if url is None or token is None:
            config = _load(args.config)
            if config is None:
                raise SystemExit(1)
            host = config.http.host if config.http.host not in ("0.0.0.0", "::") \
                else "127.0.0.1"
            url = url or f"http://{host}:{config.http.port}"
            if token is None and config.http.token is not None:
                token = config.http.token.get_secret_value()
        self.url = url.rstrip("/")
        self.token = token or ""

    def call(self, path: str, body: dict[str, Any] | None = None,
             timeout: float = 60) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method="POST" if data
                                         else "GET", headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SystemExit(f"control-room: cannot reach the service at {self.url}: "
                             f"{reason} (is `control-room run` running?)") from None


def _failed(code: int, data: dict[str, Any]) -> int:
    print(f"control-room: {data.get('error', code)}", file=sys.stderr)
    return 1


def _cmd_status(args: argparse.Namespace) -> int:
    api = Api(args)
    while True:
        code, data = api.call("/api/gateways")
        if code != 200:
            return _failed(code, data)
        if args.json:
            print(json.dumps(data, indent=2))
        else:
            if args.watch:
                if sys.stdout.isatty():
                    print("\033[2J\033[H", end="")
                print(time.strftime("%H:%M:%S"), api.url)
            print(fleet_table(data["gateways"]))
            if args.events:
                code, recent = api.call(f"/api/events?limit={args.events}")
                print("\nlatest events:\n" + (events_table(recent.get("events", []))
                                               if code == 200 else str(recent)))
        if not args.watch:
            return 0
        sys.stdout.flush()
        time.sleep(args.watch)


def _cmd_alerts(args: argparse.Namespace) -> int:
    api = Api(args)
    code, data = api.call("/api/alerts" + ("" if args.all else "?status=active"))
    if code != 200:
        return _failed(code, data)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        if not data.get("engine"):
            print("(no alert engine running on the service)")
        print(alerts_table(data["alerts"]))
    return 0


def _cmd_send(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.args) if args.args else {}
    except ValueError as exc:
        print(f"control-room: the arguments are not JSON: {exc}", file=sys.stderr)
        return 2
    api = Api(args)
    body = {"gateway": args.gateway, "command": args.command, "args": payload,
            "actor": args.actor or os.environ.get("USER", "cli")}
    if args.timeout:
        body["timeout_s"] = args.timeout
    code, data = api.call("/api/commands", body, timeout=(args.timeout or 3600) + 10)
    print(json.dumps(data, indent=2))
    return 0 if code == 200 else 1


def _cmd_schema(args: argparse.Namespace) -> int:
    from control_room.reference import render, splice

    if not args.markdown:
        print(json.dumps(ControlRoomConfig.model_json_schema(), indent=2))
        return 0
    if args.output:
        path = Path(args.output)
        path.write_text(splice(path.read_text() if path.exists() else ""))
        print(f"updated {path}")
    else:
        print(render())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="control-room", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("-c", "--config", type=Path, default=DEFAULT_CONFIG,
                        help=f"config file (default {DEFAULT_CONFIG})")
    sub = parser.add_subparsers(dest="command_name", required=True)
    run = sub.add_parser("run", help="run the service")
    run.add_argument("-c", "--config", type=Path, default=argparse.SUPPRESS)
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    run.set_defaults(func=_cmd_run)
    check = sub.add_parser("check-config", help="validate a config file, exit 0/1")
    check.add_argument("-c", "--config", type=Path, default=argparse.SUPPRESS)
    check.add_argument("file", type=Path, nargs="?")
    check.set_defaults(func=_cmd_check)
    schema = sub.add_parser("schema", help="JSON Schema of the config (--markdown: the "
                            "reference table of docs/control-room.md)")
    schema.add_argument("--markdown", action="store_true")
    schema.add_argument("-o", "--output", help="splice the reference into this document")
    schema.set_defaults(func=_cmd_schema)
    for name, func, text in (("status", _cmd_status, "the fleet: every gateway's state"),
                             ("alerts", _cmd_alerts, "active alerts"),
                             ("send", _cmd_send, "send a command to a gateway")):
        p = sub.add_parser(name, help=text)
        p.add_argument("-c", "--config", type=Path, default=argparse.SUPPRESS)
        p.add_argument("--api", help="service URL (default from the config's http section)")
        p.add_argument("--token", help="API token (default from the config, or "
                       "$CONTROL_ROOM_TOKEN)")
        p.set_defaults(func=func)
        if name != "send":
            p.add_argument("--json", action="store_true", help="print the raw JSON")
    sub.choices["status"].add_argument("--watch", type=float, nargs="?", const=2.0,
                                       help="refresh every N seconds (default 2)")
    sub.choices["status"].add_argument("--events", type=int, default=0, metavar="N",
                                       help="also show the latest N events")
    sub.choices["alerts"].add_argument("--all", action="store_true",
                                       help="resolved ones too")
    add_commands(sub, _load)
    send = sub.choices["send"]
    send.add_argument("gateway", help="site/id, or id if unique")
    send.add_argument("command", help="e.g. light/main-road/override, camera/gate/snapshot")
    send.add_argument("args", nargs="?", help='JSON arguments, e.g. \'{"state":"on",'
                      '"until":"2026-11-23T05:00:00+07:00"}\'')
    send.add_argument("--timeout", type=float, help="seconds to wait for the reply")
    send.add_argument("--actor", help="who sends it (audit log; default $USER)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `control-room schema | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
