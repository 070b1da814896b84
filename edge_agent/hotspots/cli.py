"""``edge-agent hotspot probe``: run every probe of the configured hotspots once, here and
now, and print what each one saw. For a technician on site; needs no broker."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from edge_agent.cli_support import DEFAULT_CONFIG, load_or_report


def register_cli(subparsers: Any) -> None:
    hotspot = subparsers.add_parser("hotspot", help="wifi hotspot diagnostics")
    sub = hotspot.add_subparsers(dest="hotspot_command", required=True, metavar="ACTION")
    probe = sub.add_parser("probe", help="run each hotspot's probes once and print the results")
    probe.add_argument("ids", nargs="*", help="hotspot ids (default: all)")
    probe.add_argument("-c", "--config", type=Path, default=DEFAULT_CONFIG)
    probe.add_argument("--json", action="store_true", help="print JSON instead of text")
    probe.set_defaults(func=_cmd_probe)


def _cmd_probe(args: argparse.Namespace) -> int:
    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    config = loaded.config
    known = {h.id: h for h in config.hotspots}
    unknown = [i for i in args.ids if i not in known]
    if unknown:
        print(f"edge-agent hotspot probe: unknown hotspot(s) {', '.join(unknown)} "
              f"(known: {', '.join(known) or 'none'})", file=sys.stderr)
        return 2
    chosen = [known[i] for i in args.ids] if args.ids else list(known.values())
    reports = asyncio.run(_probe_all(chosen))
    if args.json:
        print(json.dumps(reports, indent=2))
    else:
        for report in reports:
            print(f"{report['hotspot']}: {'reachable' if report['reachable'] else 'NO ANSWER'}")
            for p in report["probes"]:
                print("  " + _line(p))
    return 0 if all(r["reachable"] for r in reports) else 3


async def _probe_all(configs: list[Any]) -> list[dict[str, Any]]:
    from edge_agent.hotspots.service import HotspotMonitor
    from edge_agent.hotspots.uptime import UptimeLedger

    semaphore = asyncio.Semaphore(16)
    monitors = [HotspotMonitor(c, semaphore, UptimeLedger()) for c in configs]
    try:
        rounds = await asyncio.gather(*(m.round() for m in monitors))
    finally:
        for m in monitors:
            await m.close()
    return [{"hotspot": m.id, "reachable": any(r.received > 0 for r in results),
             "probes": [r.as_dict() for r in results]}
            for m, (results, _) in zip(monitors, rounds, strict=True)]


def _line(p: dict[str, Any]) -> str:
    status = "ok  " if p["ok"] else "FAIL"
    parts = [f"{status} {p['probe']} ({p['kind']}) {p['received']}/{p['sent']} answered"]
    if p["rtts_ms"]:
        rtts = sorted(p["rtts_ms"])
        parts.append(f"rtt min/median/max {rtts[0]:.2f}/{rtts[len(rtts) // 2]:.2f}/"
                     f"{rtts[-1]:.2f} ms")
    elif p["ok"] and p.get("latency_ms") is not None:
        parts.append(f"{p['latency_ms']:.1f} ms")
    if p.get("clients_per_radio") is not None:
        parts.append(f"clients {p['clients_per_radio']}")
    if p["error"]:
        parts.append(f"- {p['error']}")
    return ", ".join(parts)
