"""``edge-agent``: run the agent, check a config, export the schema, watch a gateway.

Capabilities add their own sub-commands (``lights plan``, ``relay``, ``camera probe``) through
``register_cli(subparsers)`` in their ``cli`` module (see ``edge_agent.capabilities``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from edge_agent import __version__
from edge_agent.capabilities import CAPABILITIES
from edge_agent.cli_support import DEFAULT_CONFIG, load_or_report
from edge_agent.config import AgentConfig


def setup_logging(level: str) -> None:
    under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
    fmt = "%(levelname)s %(name)s: %(message)s" if under_systemd else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), format=fmt,
                        datefmt="%H:%M:%S")
    for noisy in ("aiomqtt", "pymodbus", "asyncio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _cmd_run(args: argparse.Namespace) -> int:
    from edge_agent.agent import Agent

    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    logging.getLogger(__name__).info("edge-agent %s starting with %s (%s)", __version__,
                                     loaded.path, loaded.digest)
    try:
        asyncio.run(Agent(loaded).run())
    except PermissionError as exc:
        print(f"edge-agent: {exc.strerror}: {exc.filename} (check storage.data_dir "
              "and the service user's permissions)", file=sys.stderr)
        return 1
    return 0


def _cmd_check_config(args: argparse.Namespace) -> int:
    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    cfg = loaded.config
    print(f"{loaded.path}: OK (hash {loaded.digest}); gateway {cfg.gateway.id} at "
          f"{cfg.gateway.site}, base topic {cfg.base_topic}, {len(cfg.cameras)} camera(s), "
          f"{len(cfg.hotspots)} hotspot(s)")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    if args.markdown and args.payloads:
        from contract.reference import render_payload_reference, splice_payload_reference

        if args.output:  # the generated half of docs/mqtt.md, the written half kept
            out = Path(args.output)
            old = out.read_text(encoding="utf-8") if out.exists() else ""
            out.write_text(splice_payload_reference(old), encoding="utf-8")
        else:
            print(render_payload_reference())
        return 0
    if args.markdown:
        from edge_agent.config.reference import render_reference

        text = render_reference()
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            print(text, end="")
        return 0
    if args.payloads:
        from contract import payload_schemas

        schema = payload_schemas()
    else:
        schema = AgentConfig.model_json_schema()
    text = json.dumps(schema, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


def _cmd_watch(args: argparse.Namespace) -> int:
    from edge_agent.watch import watch

    try:
        return asyncio.run(watch(args.broker, args.gateway, args.topic, raw=args.raw,
                                 count=args.count, duration=args.duration))
    except KeyboardInterrupt:
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-agent",
                                     description="Commune edge agent for village gateways.")
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    parser.add_argument("--log-level", default=os.environ.get("EDGE_AGENT_LOG_LEVEL", "info"),
                        help="debug, info, warning or error (default info)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the agent")
    run.add_argument("-c", "--config", type=Path, default=DEFAULT_CONFIG)
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("check-config", help="validate a config file offline (exit 0/1)")
    check.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG)
    check.set_defaults(func=_cmd_check_config)

    schema = sub.add_parser("schema", help="print the config's JSON Schema")
    schema.add_argument("-o", "--output", help="write to this file instead of stdout")
    schema.add_argument("--payloads", action="store_true",
                        help="the MQTT payloads' JSON Schemas instead of the config's")
    schema.add_argument("--markdown", action="store_true",
                        help="the reference for people: docs/config.md, or with --payloads "
                        "the payload half of docs/mqtt.md")
    schema.set_defaults(func=_cmd_schema)

    watch = sub.add_parser("watch", help="subscribe and pretty-print a gateway's messages")
    watch.add_argument("--broker", default="mqtt://127.0.0.1:1883",
                       help="broker URL, mqtt://[user:pass@]host[:port] or mqtts://...")
    watch.add_argument("--gateway", help="only this gateway id (default: every gateway)")
    watch.add_argument("--topic", default="commune/#",
                       help="topic filter to watch (default commune/#)")
    watch.add_argument("--raw", action="store_true", help="print payloads as they are")
    watch.add_argument("--count", type=int, help="exit after this many messages")
    watch.add_argument("--duration", type=float, help="exit after this many seconds")
    watch.set_defaults(func=_cmd_watch)

    for capability in CAPABILITIES:
        if capability.cli is not None:
            importlib.import_module(capability.cli).register_cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
