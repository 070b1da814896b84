"""The shipped broker config (config/mosquitto/) started for a test, and the simulator as a
subprocess.

Only what cannot be the same on a test machine is changed: ports, file paths (certificates,
password file, persistence), logging to stderr (tests/infra/broker waits for mosquitto's
"running" line). Every limit and the ACL file itself are used as shipped; a substitution
that no longer finds its line fails loudly, so the test follows the shipped file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.infra.broker import Broker, free_port
from tests.infra.tls import TlsFiles, make_tls

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "mosquitto"


@dataclass(frozen=True)
class FleetCredentials:
    directory: Path
    gateways: dict[str, str]  # username -> password
    room_password: str

    @property
    def file(self) -> Path:
        return self.directory / "gateways.txt"


def make_credentials(directory: Path, gateways: int) -> FleetCredentials:
    """The shipped generator, for the simulator's first ``gateways`` gateways."""
    subprocess.run([sys.executable, str(SHIPPED / "make-credentials"), "--sim",
                    str(gateways), "--out", str(directory)], check=True, capture_output=True)
    pairs = dict(line.split(" ", 1) for line in
                 (directory / "gateways.txt").read_text().splitlines())
    room = (directory / "control-room.txt").read_text().split()[1]
    return FleetCredentials(directory, pairs, room)


def shipped_conf(port: int, tls_port: int, workdir: Path, tls: TlsFiles,
                 passwd: Path) -> str:
    text = (SHIPPED / "mosquitto.conf").read_text()
    replacements = {
        r"^listener 1883 127\.0\.0\.1$": f"listener {port} 127.0.0.1",
        r"^listener 8883$": f"listener {tls_port} 127.0.0.1",
        r"^cafile .*$": f"cafile {tls.ca}",
        r"^certfile .*$": f"certfile {tls.cert}",
        r"^keyfile .*$": f"keyfile {tls.key}",
        r"^password_file .*$": f"password_file {passwd}",
        r"^acl_file .*$": f"acl_file {SHIPPED / 'acl'}",
        r"^persistence_location .*$": f"persistence_location {workdir}/",
        r"^log_dest syslog$": "log_dest stderr",
    }
    for pattern, line in replacements.items():
        text, count = re.subn(pattern, line, text, flags=re.MULTILINE)
        if count != 1:
            raise AssertionError(f"shipped mosquitto.conf: {pattern!r} matched {count} lines")
    return text


class ShippedBroker(Broker):
    """mosquitto on the shipped config; ``port`` is plain MQTT, ``tls_port`` TLS."""

    def __init__(self, workdir: Path, credentials: FleetCredentials) -> None:
        self.tls = make_tls(workdir / "tls")
        self.tls_port = free_port()
        self.credentials = credentials
        super().__init__(workdir, make_conf=lambda port: shipped_conf(
            port, self.tls_port, workdir, self.tls, credentials.directory / "passwd"))


class SimProcess:
    """``python -m control_room.sim`` as a subprocess with a stats file."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.stats = workdir / "sim-stats.json"
        self.log_path = workdir / "sim.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen([sys.executable, "-m", "control_room.sim", *args,
                                      "--stats", str(self.stats), "--log-level", "info"],
                                     stdout=log, stderr=log, cwd=ROOT)

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_stats(self, predicate: Callable[[dict[str, Any]], bool],
                   timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the stats file satisfies ``predicate``; return it."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                last = json.loads(self.stats.read_text())
            except (OSError, ValueError):
                last = {}
            if last and predicate(last):
                return last
            if self.proc.poll() is not None and not last:
                break
            time.sleep(0.2)
        raise TimeoutError(f"simulator stats never matched; last: {str(last)[:500]}\n"
                           f"{self.log()[-2000:]}")


# a small fleet that sends often, so a few seconds of traffic cover every topic
FAST_SIM_ARGS = ("--spread-s", "2", "--health-s", "1", "--hotspot-s", "3",
                 "--camera-status-s", "5", "--motion-per-hour", "600", "--reconnect-min-s",
                 "0.2", "--reconnect-max-s", "2")


def connected(stats: dict[str, Any], after: float = 0.0) -> int:
    """How many of the simulator's gateways are connected, since after ``after``."""
    return sum(1 for g in stats["gateways"].values()
               if g["connected"] and (g["last_connect"] or 0) > after)


def fast_fleet(workdir: Path, broker: Broker, credentials: FleetCredentials,
               gateways: int) -> SimProcess:
    """``gateways`` simulated gateways (``FAST_SIM_ARGS``), all connected."""
    sim = SimProcess(workdir, "--gateways", str(gateways), "--broker", broker.url,
                     "--username", "{site}/{gateway}", "--credentials",
                     str(credentials.file), *FAST_SIM_ARGS)
    sim.wait_stats(lambda s: connected(s) == gateways, 60)
    return sim


def restart_under_traffic(broker: Broker, sim: SimProcess, gateways: int) -> float:
    """Steady traffic, ``systemctl restart``-like broker restart (SIGTERM: it saves its
    sessions), 2 s down while the gateways buffer; returns when every gateway is back.
    The restart time is returned."""
    time.sleep(3)
    broker.stop_gracefully()
    restarted = time.time()
    time.sleep(2)
    broker.start()
    sim.wait_stats(lambda s: connected(s, after=restarted) == gateways, 60)
    return restarted
