"""Fleet benchmark: simulated gateways (+ real agents) -> the shipped mosquitto -> a consumer.

Phases: steady, dusk burst (every gateway switches all its circuits within 1 s), broker
restart (time until every gateway is online again), ingest killed for 60 s. For each phase:
publish -> receive/commit latency p50/p99 (live and replayed), loss by seq (must be 0) and
duplicates, CPU and RSS of each process. Prints a table and writes JSON. SIGTERM/SIGINT
stop every child it started.

    .venv/bin/python benchmarks/fleet.py               # fast: 200 gateways, ~3 minutes
    .venv/bin/python benchmarks/fleet.py --full        # 1,000 gateways + 3 real agents, 10 min
    .venv/bin/python benchmarks/fleet.py --full --soak # 30 minutes steady
    .venv/bin/python benchmarks/fleet.py --consumer control-room [--db postgresql] [--workers 2]

``--consumer mqtt`` (default) is a plain persistent subscriber that checks seq
(control_room.sim.consumer); ``control-room`` runs the real control room
(benchmarks/fleet_room.py: SQLite, or a throwaway PostgreSQL cluster; N workers on a shared
subscription) and reads its messages back from its database. With it, each phase also
trips an alert probe (a gateway killed with -9: Last Will) and reports the seconds until
the room's gateway_offline alert fired (hold time 0, evaluation every 5 s as by default),
and the room's own publish -> commit histogram (bucket bounds).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fleet_room import AlertProbe, ControlRoomConsumer, lag_percentiles  # noqa: E402
from benchmarks.fleet_run import (  # noqa: E402
    Consumer,
    CpuSampler,
    Fleet,
    MqttConsumer,
    Window,
    analyse,
    machine,
    write_json,
)
from benchmarks.fleet_samples import Samples, summary  # noqa: E402


@dataclass(frozen=True)
class Plan:
    gateways: int = 200
    processes: int = 1
    real_agents: int = 0
    steady_s: float = 45.0
    burst_s: float = 15.0
    broker_down_s: float = 2.0
    after_restart_s: float = 10.0
    ingest_down_s: float = 60.0
    spread_s: float = 10.0
    broker_kill: bool = False  # restart by kill -9 (a crash) instead of SIGTERM
    tls: bool = False  # gateways connect to the TLS listener


FAST = Plan()
FULL = Plan(gateways=1000, processes=2, real_agents=3, steady_s=600.0, spread_s=30.0)


class Bench:
    def __init__(self, fleet: Fleet, plan: Plan) -> None:
        self.fleet = fleet
        self.plan = plan
        self.cpu = CpuSampler()
        self.before: dict[str, int] = {}
        self.phases: list[dict[str, Any]] = []
        self.loop_lag_ms = 0.0  # worst simulator event-loop lag seen in this phase
        self.probe: AlertProbe | None = None
        self.profile: Path | None = None
        self._alert: threading.Thread | None = None
        self._alert_s: float | None = None
        self._lag_before: dict[float, float] = {}

    @property
    def room(self) -> ControlRoomConsumer | None:
        consumer = self.fleet.consumer
        return consumer if isinstance(consumer, ControlRoomConsumer) else None

    def trip_alert(self, delay_s: float, after_connects: int = 0) -> None:
        """In the background: after ``delay_s`` kill the probe and time the alert."""
        room, probe = self.room, self.probe
        if room is None or probe is None:
            return

        def run() -> None:
            time.sleep(delay_s)
            self._alert_s = probe.trip(room, after_connects=after_connects)

        self._alert_s = None
        self._alert = threading.Thread(target=run, daemon=True)
        self._alert.start()

    def profile_room(self, seconds: float) -> subprocess.Popen[bytes] | None:
        """py-spy on the first control-room worker (``--profile FILE``, collapsed stacks)."""
        pids = self.fleet.consumer.pids() if self.fleet.consumer is not None else []
        if self.profile is None or self.room is None or not pids:
            return None
        return subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record",
                                 "--pid", str(pids[0]), "--duration", str(int(seconds)),
                                 "--rate", "50", "--format", "raw", "--output",
                                 str(self.profile)], stdout=subprocess.DEVNULL)

    def _alert_result(self) -> dict[str, Any]:
        if self._alert is None:
            return {}
        self._alert.join(240)
        self._alert = None
        return {"alert_s": self._alert_s}

    def _commit_lag(self) -> dict[str, Any]:
        if self.room is None:
            return {}
        now = self.room.lag_histogram()
        before, self._lag_before = self._lag_before, now
        return {"commit_lag_ms": lag_percentiles(before, now)}

    def _watch_lag(self) -> None:
        """The simulator rewrites its stats every 2 s with the worst loop lag since the last
        write; sampling every second keeps the worst of the phase."""
        assert self.fleet.sim is not None
        stats = self.fleet.sim.stats
        while True:
            time.sleep(1.0)
            try:
                data = json.loads(stats.read_text())
            except (OSError, ValueError):
                continue
            shards = data.get("processes", [data])
            lags = [p.get("loop_lag_max_ms", 0.0) for p in shards]
            self.loop_lag_ms = max([self.loop_lag_ms, *lags])

    def expected(self) -> dict[str, int]:
        """Last seq per gateway: the simulator's stats; real agents: the highest seen."""
        out = {base: g["last_seq"] for base, g in self.fleet.stats()["gateways"].items()}
        assert self.fleet.consumer is not None
        for rec in self.fleet.consumer.records():
            if rec.base.startswith("commune/real/") and rec.kind == "seq":
                out[rec.base] = max(out.get(rec.base, 0), rec.seq)
        return out

    def finish(self, window: Window, **extra: Any) -> None:
        window.end = time.time()
        usage = self.cpu.end(self.fleet.pids())
        extra = {**extra, **self._alert_result(), **self._commit_lag()}
        expected = self.expected()
        drained_at, records = self._drain(expected, timeout=120)
        result = analyse(records, window, expected, self.before)
        # the real agents are in the seq check too: show that they were heard at all
        result["real_agent_messages"] = sum(
            1 for r in records if r.base.startswith("commune/real/") and
            window.start <= r.ts < window.end)
        self.before = expected
        seconds = max(1e-3, window.end - window.start)
        self.phases.append({"phase": window.name, "seconds": round(seconds),
                            "msg_per_s": round(result["messages_made"] / seconds), **result,
                            "drain_s": round(drained_at - window.end, 1),
                            "sim_loop_lag_max_ms": self.loop_lag_ms, "processes": usage,
                            **extra})
        self.loop_lag_ms = 0.0
        self.cpu.begin(self.fleet.pids())

    def _drain(self, expected: dict[str, int], timeout: float) -> tuple[float, list[Any]]:
        from control_room.sim.consumer import Ledger

        assert self.fleet.consumer is not None
        deadline = time.monotonic() + timeout
        while True:
            checked = time.monotonic()
            records = self.fleet.consumer.records()
            missing = Ledger().extend(records).missing(expected)
            new = [s for base, holes in missing.items() for s in holes
                   if s > self.before.get(base, 0)]  # earlier phases' holes were counted
            if not new or time.monotonic() > deadline:
                return time.time(), records
            # the check reads every record of the run: at a few hundred msg/s it took a
            # core from the room it waits for; at most a fifth of one now
            time.sleep(max(1.0, 4 * (time.monotonic() - checked)))


PHASES = ("steady", "burst", "restart", "ingest-kill")


def run_phases(bench: Bench, phases: tuple[str, ...] = PHASES) -> None:
    """Startup, then the chosen ``phases`` in their fixed order (``--phases``: reproduce
    one phase without waiting through the others)."""
    fleet = bench.fleet
    assert fleet.sim is not None and fleet.consumer is not None
    threading.Thread(target=bench._watch_lag, daemon=True).start()
    window = Window("startup", fleet.started_at)
    bench.cpu.begin(fleet.pids())  # (waits for the simulator's first stats)
    fleet.all_connected_after(0, 120 + bench.plan.spread_s)
    bench.finish(window, **_online(fleet, fleet.started_at))
    if bench.room is not None:
        bench.probe = AlertProbe(fleet.work, fleet.broker.port,
                                 fleet.real_passwords[AlertProbe.USER])
        bench.probe.start()
        time.sleep(6)  # the room has it online (one alert evaluation) before the first trip
    runs = {"steady": _steady, "burst": _burst, "restart": _restart,
            "ingest-kill": _ingest_kill}
    for name in PHASES:
        if name in phases:
            runs[name](bench)


def _steady(bench: Bench) -> None:
    fleet, plan = bench.fleet, bench.plan
    window = Window("steady", time.time())
    bench.trip_alert(plan.steady_s / 2)
    profiler = bench.profile_room(plan.steady_s - 2)
    samples = Samples(fleet, bench.room, max(10.0, plan.steady_s / 60)).start()
    time.sleep(plan.steady_s)
    if profiler is not None:
        profiler.wait(60)
    bench.finish(window, samples=samples.stop())


def _burst(bench: Bench) -> None:
    assert bench.fleet.sim is not None
    window = Window("dusk burst", time.time())
    bench.fleet.sim.proc.send_signal(signal.SIGUSR1)  # the parent forwards it to every shard
    bench.trip_alert(0.5)
    time.sleep(bench.plan.burst_s)
    bench.finish(window)


def _restart(bench: Bench) -> None:
    fleet, plan = bench.fleet, bench.plan
    window = Window("broker crash" if plan.broker_kill else "broker restart", time.time())
    connects = bench.probe.connects() if bench.probe is not None else 0
    if plan.broker_kill:
        fleet.broker.stop()  # kill -9: what mosquitto acknowledged since its last save goes
    else:
        fleet.broker.stop_gracefully()
    time.sleep(plan.broker_down_s)
    fleet.broker.start()
    fleet.all_connected_after(window.start, 300)
    bench.trip_alert(0.0, connects)  # while the outboxes replay (once it is back itself)
    time.sleep(plan.after_restart_s)
    bench.finish(window, **_online(fleet, window.start))


def _ingest_kill(bench: Bench) -> None:
    fleet, plan = bench.fleet, bench.plan
    assert fleet.consumer is not None
    window = Window(f"ingest killed {plan.ingest_down_s:.0f} s", time.time())
    fleet.consumer.kill()
    time.sleep(plan.ingest_down_s)
    backlog = bench.expected()  # what the broker has queued for the ingest by now
    restarted = time.time()
    fleet.consumer.start()
    bench.trip_alert(0.0)  # while the backlog drains
    caught_up, _ = bench._drain(backlog, timeout=300)
    bench.finish(window, catch_up_s=round(caught_up - restarted, 1))


def _online(fleet: Fleet, since: float, timeout: float = 60.0) -> dict[str, Any]:
    """Back online after ``since`` by the consumer (the control room: its gateways table),
    waiting for the last births to be committed."""
    assert fleet.consumer is not None
    deadline = time.monotonic() + timeout
    while True:
        online = fleet.consumer.online_after(since, _bases(fleet))
        if online["back_online"] == online["of"] or time.monotonic() > deadline:
            return online
        time.sleep(1.0)


def _bases(fleet: Fleet) -> set[str]:
    return set(fleet.stats()["gateways"])


def print_table(phases: list[dict[str, Any]]) -> None:
    head = (f"{'phase':<18} {'s':>4} {'made':>6} {'msg/s':>6} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'replay p99':>10} {'lost':>5} {'dups':>5} {'online s':>8} {'catch-up s':>10} "
            f"{'sim cpu%':>8} {'lag ms':>6} {'mosq cpu%':>9} {'cons cpu%':>9} {'db cpu%':>7} "
            f"{'sim MB':>7} "
            f"{'mosq MB':>7} {'cons MB':>7} {'commit p99':>10} {'alert s':>7}")
    print(head)
    for p in phases:
        procs = p["processes"]
        print(f"{p['phase']:<18} {p['seconds']:>4} {p['messages_made']:>6} "
              f"{p['msg_per_s']:>6} "
              f"{_ms(p['latency_live_ms']['p50']):>7} {_ms(p['latency_live_ms']['p99']):>7} "
              f"{_ms(p['latency_replayed_ms']['p99']):>10} {p['lost']:>5} "
              f"{p['duplicates']:>5} {_ms(p.get('all_online_s')):>8} "
              f"{_ms(p.get('catch_up_s')):>10} "
              f"{procs['sim']['cpu_percent']:>8} {p['sim_loop_lag_max_ms']:>6} "
              f"{procs['mosquitto']['cpu_percent']:>9} "
              f"{procs.get('consumer', {}).get('cpu_percent', '-')!s:>9} "
              f"{procs.get('database', {}).get('cpu_percent', '-')!s:>7} "
              f"{procs['sim']['rss_mb']:>7} {procs['mosquitto']['rss_mb']:>7} "
              f"{procs.get('consumer', {}).get('rss_mb', '-')!s:>7} "
              f"{_ms(p.get('commit_lag_ms', {}).get('p99_le')):>10} {_ms(p.get('alert_s')):>7}")


def _ms(value: Any) -> str:
    return "-" if value is None else str(value)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="1,000 gateways + 3 real agents")
    p.add_argument("--soak", action="store_true", help="30 minutes of steady state")
    p.add_argument("--gateways", type=int)
    p.add_argument("--processes", type=int)
    p.add_argument("--real-agents", type=int)
    p.add_argument("--steady-s", type=float)
    p.add_argument("--ingest-down-s", type=float)
    p.add_argument("--tls", action="store_true",
                   help="gateways on the broker's TLS listener (the consumer stays on loopback)")
    p.add_argument("--broker-kill", action="store_true",
                   help="restart the broker with kill -9 (a crash) instead of SIGTERM")
    p.add_argument("--consumer", choices=["mqtt", "control-room"], default="mqtt")
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite",
                   help="the control room's database (--consumer control-room)")
    p.add_argument("--workers", type=int, default=1,
                   help="control-room ingest workers (more than 1: a shared subscription)")
    p.add_argument("--rate-scale", type=float, default=1.0,
                   help="every periodic message this many times as often (load test)")
    p.add_argument("--profile", type=Path, help="py-spy the first control-room worker "
                   "during the steady phase into FILE (collapsed stacks; needs py-spy)")
    p.add_argument("--phases", default=",".join(PHASES),
                   help="comma-separated, run in this fixed order after startup: "
                   f"{','.join(PHASES)} (default: all)")
    p.add_argument("--out", type=Path)
    p.add_argument("--work", type=Path, help="keep the logs and databases here (default: a "
                   "temporary directory, removed)")
    return p.parse_args()


def plan_from(args: argparse.Namespace) -> Plan:
    plan = FULL if args.full else FAST
    if args.soak:
        plan = replace(plan, steady_s=1800.0)
    if args.broker_kill:
        plan = replace(plan, broker_kill=True)
    if args.tls:
        plan = replace(plan, tls=True)
    for name in ("gateways", "processes", "real_agents", "steady_s", "ingest_down_s"):
        if getattr(args, name) is not None:
            plan = replace(plan, **{name: getattr(args, name)})
    return plan


def _rates(scale: float) -> list[str]:
    """The simulator's periodic rates (its defaults: health 30 s, hotspots and camera
    status 60 s, 2 motion events per camera-hour) ``scale`` times as often."""
    if scale == 1.0:
        return []
    return ["--health-s", str(30 / scale), "--hotspot-s", str(60 / scale),
            "--camera-status-s", str(60 / scale), "--motion-per-hour", str(2 * scale)]


def _interrupted(*_: Any) -> None:
    raise KeyboardInterrupt  # the finally below stops every child by its pid


def main() -> int:
    args = parse_args()
    plan = plan_from(args)
    phases = tuple(name.strip() for name in args.phases.split(",") if name.strip())
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise SystemExit(f"--phases: unknown {', '.join(unknown)} (known: {', '.join(PHASES)})")
    mode = "soak" if args.soak else "full" if args.full else "fast"
    room = args.consumer == "control-room"
    suffix = f"_room_{args.db}_{args.workers}w" if room else ""
    out = args.out or ROOT / f"benchmarks/results/fleet_{mode}{suffix}.json"
    signal.signal(signal.SIGTERM, _interrupted)
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as scratch:
        tmp = str(args.work or scratch)
        if args.work is not None and args.work.exists() and any(args.work.iterdir()):
            raise SystemExit(f"--work {args.work}: not empty (another run's files)")
        Path(tmp).mkdir(parents=True, exist_ok=True)
        fleet = Fleet(Path(tmp), plan.gateways, plan.processes, plan.real_agents,
                      ["--spread-s", str(plan.spread_s), *_rates(args.rate_scale)],
                      tls=plan.tls, probe=room)
        password = fleet.creds.room_password
        consumer: Consumer = (
            ControlRoomConsumer(Path(tmp), fleet.broker, password, args.db, args.workers,
                                alert_for_s=0.0)
            if room else MqttConsumer(Path(tmp), fleet.broker, password))
        bench = Bench(fleet, plan)
        bench.profile = args.profile
        try:
            fleet.start(consumer)
            run_phases(bench, phases)
        except KeyboardInterrupt:
            print("interrupted: stopping every child", file=sys.stderr)
        finally:
            if bench.probe is not None:
                bench.probe.stop()
            fleet.close()
    print_table(bench.phases)
    print(summary(next((p["samples"] for p in bench.phases if "samples" in p), [])))
    write_json(out, {"benchmark": "fleet", "mode": mode, "plan": plan.__dict__,
                     "rate_scale": args.rate_scale,
                     "consumer": consumer.name, "machine": machine(),
                     "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "phases": bench.phases})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
