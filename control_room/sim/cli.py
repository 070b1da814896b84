"""``python -m control_room.sim --gateways N``: run a fleet of simulated gateways.

With ``--processes P`` the fleet is split over P child processes (gateway n goes to child
n % P), because one event loop carries a limited number of gateways (see docs/scaling.md);
the parent forwards SIGTERM/SIGINT/SIGUSR1 and merges the children's stats files.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from control_room.sim.behaviour import Rates
from control_room.sim.fleet import FleetConfig, run_fleet
from control_room.sim.link import LinkSettings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m control_room.sim", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gateways", type=int, required=True, help="fleet size")
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883",
                   help="mqtt://host:port or mqtts://host:port")
    p.add_argument("--ca-file", help="CA for mqtts:// (default: the system CAs)")
    p.add_argument("--username", help="username template, e.g. '{site}/{gateway}'")
    p.add_argument("--password", help="password (or template) for every gateway")
    p.add_argument("--credentials", type=Path,
                   help="file of 'username password' lines (config/mosquitto/make-credentials)")
    p.add_argument("--processes", type=int, default=1, help="split the fleet over processes")
    p.add_argument("--shard", help=argparse.SUPPRESS)  # i/P, set by the parent
    p.add_argument("--site-prefix", default="sim-c")
    p.add_argument("--per-site", type=int, default=5, help="gateways per commune")
    p.add_argument("--circuits", type=int, default=5)
    p.add_argument("--cameras", type=int, default=3)
    p.add_argument("--hotspots", type=int, default=5)
    p.add_argument("--health-s", type=float, default=30.0, help="health interval")
    p.add_argument("--hotspot-s", type=float, default=60.0, help="hotspot state interval")
    p.add_argument("--camera-status-s", type=float, default=60.0)
    p.add_argument("--motion-per-hour", type=float, default=2.0,
                   help="motion events per camera per hour")
    p.add_argument("--spread-s", type=float, default=10.0, help="spread the first connects")
    p.add_argument("--reconnect-min-s", type=float, default=1.0)
    p.add_argument("--reconnect-max-s", type=float, default=60.0)
    p.add_argument("--max-inflight", type=int, default=100)
    p.add_argument("--outbox-max", type=int, default=20000,
                   help="messages each gateway keeps while disconnected")
    p.add_argument("--dusk-burst", type=float, metavar="SECONDS",
                   help="every gateway switches all its circuits within 1 s, SECONDS after "
                   "start (also: kill -USR1 <pid>)")
    p.add_argument("--duration", type=float, help="stop after SECONDS")
    p.add_argument("--stats", type=Path, help="JSON stats file, rewritten every 2 s")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--log-level", default="warning")
    return p


def link_settings(args: argparse.Namespace) -> LinkSettings:
    url = urlsplit(args.broker)
    if url.scheme not in ("mqtt", "mqtts") or not url.hostname:
        raise SystemExit(f"--broker: expected mqtt://host:port or mqtts://host:port, got "
                         f"{args.broker!r}")
    tls = ssl.create_default_context(cafile=args.ca_file) if url.scheme == "mqtts" else None
    return LinkSettings(url.hostname, url.port or (8883 if tls else 1883), tls,
                        reconnect_min_s=args.reconnect_min_s,
                        reconnect_max_s=args.reconnect_max_s, max_inflight=args.max_inflight)


def read_credentials(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    pairs = (line.split(None, 1) for line in path.read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {user: password.strip() for user, password in pairs}


def fleet_config(args: argparse.Namespace) -> FleetConfig:
    first, step = 0, 1
    if args.shard:
        first, step = (int(x) for x in args.shard.split("/"))
    rates = Rates(args.health_s, args.hotspot_s, args.camera_status_s,
                  motion_per_hour=args.motion_per_hour)
    return FleetConfig(
        link=link_settings(args), gateways=args.gateways, first=first, step=step,
        site_prefix=args.site_prefix, per_site=args.per_site, circuits=args.circuits,
        cameras=args.cameras, hotspots=args.hotspots, rates=rates, spread_s=args.spread_s,
        outbox_max=args.outbox_max, seed=args.seed, username=args.username,
        password=args.password, credentials=read_credentials(args.credentials),
        stats_file=args.stats, dusk_burst_at=args.dusk_burst, duration_s=args.duration)


def run_processes(argv: list[str], args: argparse.Namespace) -> int:
    children: list[subprocess.Popen[bytes]] = []
    files: list[Path] = []
    for i in range(args.processes):
        extra = ["--shard", f"{i}/{args.processes}"]
        if args.stats:
            files.append(args.stats.with_name(f"{args.stats.name}.{i}"))
            extra += ["--stats", str(files[-1])]
        child_argv = _without(argv, "--processes", "--stats")
        children.append(subprocess.Popen([sys.executable, "-m", "control_room.sim",
                                          *child_argv, *extra]))

    def forward(sig: int, _frame: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(sig)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(sig, forward)
    while any(c.poll() is None for c in children):
        time.sleep(1.0)
        if args.stats:
            merge_stats(files, args.stats)
    if args.stats:
        merge_stats(files, args.stats)
    return max(c.returncode or 0 for c in children)


def merge_stats(files: list[Path], out: Path) -> None:
    merged: dict[str, Any] = {"processes": [], "gateways": {}, "bursts": []}
    for path in files:
        try:
            part = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # not written yet
        merged["gateways"].update(part.pop("gateways"))
        merged["bursts"] = sorted(set(merged["bursts"]) | set(part.get("bursts", [])))
        merged["processes"].append(part)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(merged))
    tmp.replace(out)


def _without(argv: list[str], *options: str) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        name = item.split("=", 1)[0]
        if name in options:
            skip = "=" not in item
            continue
        out.append(item)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(message)s")
    if args.processes > 1 and not args.shard:
        return run_processes(argv, args)
    cfg = fleet_config(args)
    with contextlib.suppress(KeyboardInterrupt):
        run_fleet(cfg)
    return 0
