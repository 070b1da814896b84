"""The processes of a fleet benchmark (benchmarks/fleet.py) and what is measured on them.

Broker: a real mosquitto on the shipped config (config/mosquitto/: limits, persistence, ACL,
per-gateway passwords), ports and paths adapted. Simulator: ``python -m control_room.sim``.
Real agents: ``python -m edge_agent run`` on simulated hardware. Consumer: pluggable,
``MqttConsumer`` (a plain subscriber) or benchmarks/fleet_room.ControlRoomConsumer (the real
control room).
Only processes started here are ever signalled, each by its own pid.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil

from control_room.sim.consumer import Ledger, Record, percentiles, read_records
from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.clips import make_clip
from tests.infra.fleet import ShippedBroker, SimProcess, make_credentials

ROOT = Path(__file__).resolve().parent.parent


class Consumer(Protocol):
    """What the harness needs from the thing under test that receives the fleet."""

    name: str

    def start(self) -> None: ...
    def kill(self) -> None: ...  # as a crash would (SIGKILL)
    def stop(self) -> None: ...
    def pids(self) -> list[int]: ...
    def db_pids(self) -> list[int]: ...  # its database's server processes (none: [])
    def records(self) -> list[Record]: ...  # received/committed messages, any order
    def online_after(self, since: float, bases: set[str]) -> dict[str, Any]: ...


class MqttConsumer:
    """control_room.sim.consumer: a persistent MQTT 5 subscriber that writes each message
    before acknowledging it; ``recv`` in its records is the commit time."""

    name = "mqtt-subscriber"

    def __init__(self, work: Path, broker: ShippedBroker, password: str) -> None:
        self.file = work / "records.tsv"
        self.log = work / "consumer.log"
        self._args = [sys.executable, "-m", "control_room.sim.consumer", "--broker",
                      f"mqtt://127.0.0.1:{broker.port}", "--client-id", "fleet-ingest",
                      # --opt=value: a generated password may start with '-'
                      "--username=control-room", f"--password={password}",
                      "--records", str(self.file)]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log, "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(self._args, stdout=log, stderr=log, cwd=ROOT)
        time.sleep(1.0)
        if self.proc.poll() is not None:
            raise RuntimeError(f"the consumer exited at once:\n{self.log.read_text()[-1500:]}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None and self.proc.poll() is None else []

    def db_pids(self) -> list[int]:
        return []  # it writes a file

    def records(self) -> list[Record]:
        return read_records(self.file) if self.file.exists() else []

    def online_after(self, since: float, bases: set[str]) -> dict[str, Any]:
        return births_after(self.records(), since, bases)


@dataclass
class Window:
    name: str
    start: float
    end: float = 0.0


class Fleet:
    """Broker + simulator + real agents + consumer, started in a work directory."""

    def __init__(self, work: Path, gateways: int, processes: int, real_agents: int,
                 sim_args: list[str], tls: bool = False, probe: bool = False) -> None:
        self.work = work
        self.gateways = gateways
        self.creds = make_credentials(work / "creds", gateways)
        self.broker = ShippedBroker(work / "broker", self.creds)
        self.real_passwords = {f"real/real-{i + 1}": secrets.token_urlsafe(18)
                               for i in range(real_agents)}
        if probe:  # benchmarks/fleet_probe.py: a gateway of its own for alert latency
            self.real_passwords["probe/gw-probe"] = secrets.token_urlsafe(18)
        for user, password in self.real_passwords.items():  # before the broker reads it
            subprocess.run(["mosquitto_passwd", "-b", str(self.creds.directory / "passwd"),
                            user, password], check=True)
        self.processes = processes
        self.real_agents = real_agents
        self.sim_args = sim_args
        self.tls = tls  # gateways on the TLS listener (certificate verified), as deployed
        self.sim: SimProcess | None = None
        self.agents: list[AgentProcess] = []
        self.consumer: Consumer | None = None
        self.started_at = 0.0

    def start(self, consumer: Consumer) -> None:
        self.started_at = time.time()
        self.broker.start()
        self.consumer = consumer
        consumer.start()
        url = f"mqtts://127.0.0.1:{self.broker.tls_port}" if self.tls else self.broker.url
        tls_args = ["--ca-file", str(self.broker.tls.ca)] if self.tls else []
        self.sim = SimProcess(self.work, "--gateways", str(self.gateways), "--broker",
                              url, *tls_args, "--processes", str(self.processes),
                              "--username", "{site}/{gateway}", "--credentials",
                              str(self.creds.file), *self.sim_args)
        for i in range(self.real_agents):
            self.agents.append(self._real_agent(f"real-{i + 1}"))

    def _real_agent(self, gateway: str) -> AgentProcess:
        """A real agent on simulated hardware (sim relays, a clip camera, a loopback
        hotspot), logged in as ``real/{gateway}``: base topic commune/real/{gateway}."""
        user = f"real/{gateway}"
        sim: dict[str, Any] = {"driver": "sim", "board": gateway,
               "state_file": str(self.work / f"{gateway}.json")}
        night = [{"name": "night", "on": "sunset+15m", "off": "sunrise-10m"}]
        circuits: list[dict[str, Any]] = [
            {"id": f"c{i}", "relay": {**sim, "channel": i}, "rules": night} for i in (1, 2)]
        lighting = {"circuits": circuits}
        clip = make_clip("moving", self.work / "clips")
        probe = {"probe": "tcp", "host": "127.0.0.1", "port": self.broker.port, "count": 1}
        url = f"mqtts://127.0.0.1:{self.broker.tls_port}" if self.tls else self.broker.url
        cfg = base_config(self.work, url, gateway=gateway, site="real",
                          lighting=lighting, health={"interval_s": 30},
                          cameras=[{"id": "cam1", "url": str(clip)}],
                          hotspots=[{"id": "hs1", "interval_s": 10, "probes": [probe]}])
        cfg["mqtt"].update(username=user, password=self.real_passwords[user],
                           client_id=f"edge-real.{gateway}")
        if self.tls:
            cfg["mqtt"]["tls"] = {"ca_file": str(self.broker.tls.ca)}
        path = write_config(self.work / f"{gateway}.yaml", cfg)
        return AgentProcess(path, self.work / f"{gateway}.log").start()

    def stats(self) -> dict[str, Any]:
        assert self.sim is not None
        return self.sim.wait_stats(lambda s: bool(s.get("gateways")), 60)

    def all_connected_after(self, since: float, timeout: float) -> dict[str, Any]:
        assert self.sim is not None
        return self.sim.wait_stats(lambda s: len(s["gateways"]) == self.gateways and all(
            g["connected"] and (g["last_connect"] or 0) > since
            for g in s["gateways"].values()), timeout)

    def pids(self) -> dict[str, list[int]]:
        stats = self.stats()
        # one shard: its own stats; several: the parent's merge lists each shard
        sim = [p["pid"] for p in stats["processes"]] if "processes" in stats else \
            [stats["pid"]]
        out = {"mosquitto": [self.broker.proc.pid] if self.broker.proc else [], "sim": sim}
        if self.consumer is not None:
            out["consumer"] = self.consumer.pids()
            out["database"] = self.consumer.db_pids()
        out["real_agents"] = [a.proc.pid for a in self.agents if a.proc is not None]
        return out

    def close(self) -> None:
        for agent in self.agents:
            agent.stop()
        if self.sim is not None:
            self.sim.stop(90)
        if self.consumer is not None:
            self.consumer.stop()
        self.broker.stop()


class CpuSampler:
    """CPU % and RSS of each process over a window (psutil, by pid)."""

    def __init__(self) -> None:
        self._start: dict[int, tuple[float, float]] = {}

    def begin(self, pids: dict[str, list[int]]) -> None:
        self._start = {pid: (time.monotonic(), _cpu(pid)) for group in pids.values()
                       for pid in group}

    def end(self, pids: dict[str, list[int]]) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for group, members in pids.items():
            cpu = rss = 0.0
            for pid in members:
                # a process started during the window (the restarted broker): since its start
                t0, c0 = self._start.get(pid) or (_started_monotonic(pid), 0.0)
                cpu += 100 * (_cpu(pid) - c0) / max(1e-6, time.monotonic() - t0)
                rss += _rss_mb(pid)
            out[group] = {"cpu_percent": round(cpu, 1), "rss_mb": round(rss, 1),
                          "processes": len(members)}
        return out


def _started_monotonic(pid: int) -> float:
    try:
        return time.monotonic() - (time.time() - psutil.Process(pid).create_time())
    except psutil.Error:
        return time.monotonic()


def _cpu(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    except psutil.Error:
        return 0.0


def _rss_mb(pid: int) -> float:
    try:
        return float(psutil.Process(pid).memory_info().rss / 2**20)
    except psutil.Error:
        return 0.0


def analyse(records: list[Record], window: Window, expected: dict[str, int],
            before: dict[str, int]) -> dict[str, Any]:
    """Latency of messages made in the window; loss in (before, expected] seq ranges;
    duplicates received in the window."""
    ledger = Ledger().extend(sorted(records, key=lambda r: r.recv),
                             (window.start, window.end))
    lost = {base: [s for s in holes if s > before.get(base, 0)]
            for base, holes in ledger.missing(expected).items()}
    dups, seen = 0, set()
    for rec in sorted(records, key=lambda r: r.recv):
        if rec.kind.startswith(("seq", "dropped")):
            key = (rec.base, rec.seq)
            if key in seen and window.start <= rec.recv < window.end:
                dups += 1
            seen.add(key)
    made = [r for r in records if window.start <= r.ts < window.end]
    return {"messages_made": len(made), "latency_live_ms": percentiles(ledger.latency_live),
            "latency_replayed_ms": percentiles(ledger.latency_replayed),
            "lost": sum(len(v) for v in lost.values()),
            "lost_examples": {k: v[:5] for k, v in list(lost.items())[:3] if v},
            "duplicates": dups, "invalid": len(ledger.invalid),
            "explained_drops": sum(len(g.explained) for g in ledger.gateways.values())}


def births_after(records: list[Record], since: float, bases: set[str]) -> dict[str, Any]:
    """How long after ``since`` every gateway had said ``online`` again (by birth ts)."""
    first: dict[str, float] = {}
    for rec in records:
        if rec.kind == "status:online" and rec.ts > since and rec.base in bases:
            first[rec.base] = min(first.get(rec.base, rec.ts), rec.ts)
    delays = sorted(t - since for t in first.values())
    return {"back_online": len(first), "of": len(bases),
            "all_online_s": round(delays[-1], 1) if len(first) == len(bases) else None,
            "median_online_s": round(delays[len(delays) // 2], 1) if delays else None}


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()],
            "note": "2 cores shared with several other helpers' tests and benchmarks"}
