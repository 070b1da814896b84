"""Clock detection for real (``gateway.clock_sync: detect``), not ``assume_synced``.

The agent runs in its own mount namespace with a private tmpfs on ``/run/systemd``, so the
test decides whether timesyncd's flag ``/run/systemd/timesync/synchronized`` exists without
touching the machine's. The kernel's NTP state is the machine's own: where it reports a synced
clock, the agent runs with adjtimex/clock_adjtime denied (tests/infra/no_clock_syscalls.py),
so that "not known to be synced" is what it sees. Also: the systemd unit's system-call filter
must let the kernel check through.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge_agent.clock import kernel_reports_synced
from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker
from tests.infra.mqtt_client import ControlRoom, Received, json_on

ROOT = Path(__file__).resolve().parent.parent
VN = ZoneInfo("Asia/Ho_Chi_Minh")
FLAG = "/run/systemd/timesync/synchronized"
MAX_TICK_S = 5.0  # the lighting loop reconciles at least this often (service.MAX_TICK_S)
MARGIN_S = 2.0  # publishing and scheduling on a loaded machine

needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                reason="needs root and unshare(1) for a private /run/systemd")


def _launcher(flag: bool) -> list[str]:
    """unshare(1): a private /run/systemd (tmpfs), with or without the timesyncd flag."""
    script = ("mkdir -p /run/systemd && mount -t tmpfs edge-agent-test /run/systemd && "
              "mkdir -p /run/systemd/timesync" +
              (f" && touch {FLAG}" if flag else "") + ' && exec "$@"')
    prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    if kernel_reports_synced():  # see the module docstring
        prefix += [sys.executable, "-m", "tests.infra.no_clock_syscalls"]
    return prefix


def _start(tmp: Path, broker: Broker, gw: str, flag: bool) -> tuple[AgentProcess, Path]:
    """One circuit whose schedule says ON now; its relay is OFF (as the box left it)."""
    now = datetime.now(VN)
    relays = tmp / "relays.json"
    relays.write_text(json.dumps({"1": False}))
    lighting = {"circuits": [{
        "id": "main", "min_switch_interval_s": 0,
        "relay": {"driver": "sim", "board": gw, "channel": 1, "state_file": str(relays)},
        "rules": [{"name": "night", "on": (now - timedelta(hours=1)).strftime("%H:%M"),
                   "off": (now + timedelta(hours=2)).strftime("%H:%M")}]}]}
    cfg = base_config(tmp, broker.url, gateway=gw, lighting=lighting,
                      health={"interval_s": 1})
    cfg["gateway"]["clock_sync"] = "detect"
    agent = AgentProcess(write_config(tmp / f"{gw}.yaml", cfg), tmp / f"{gw}.log",
                         prefix=_launcher(flag), env={"PYTHONPATH": str(ROOT)})
    return agent.start(), relays


def _light(gw: str, **fields: object) -> Callable[[Received], bool]:
    return json_on(f"commune/testsite/{gw}/light/main/state", **fields)


def _ts_of(body: dict[str, object]) -> float:
    return datetime.fromisoformat(str(body["ts"]).replace("Z", "+00:00")).timestamp()


def _ts(m: Received) -> float:
    return _ts_of(m.json())


def _relay(path: Path) -> bool:
    return bool(json.loads(path.read_text())["1"])


@needs_root
def test_without_the_flag_lights_hold_then_follow_once_the_clock_syncs(
        broker: Broker, control_room: ControlRoom, tmp_path: Path) -> None:
    gw = "gw-clock-detect"
    agent, relays = _start(tmp_path, broker, gw, flag=False)
    try:
        birth = control_room.wait_for(lambda m: m.topic == f"commune/testsite/{gw}/status"
                                      and m.json().get("state") == "online", 30)[0].json()
        assert birth["clock_synced"] is False, birth
        held = control_room.wait_for(_light(gw, reason="clock_unsynced"), 30)[0].json()
        assert held["state"] == "off" and held["clock_synced"] is False, held
        # the schedule says on, the clock is not trusted: the relay keeps its state through
        # more than one reconcile tick (health every second shows the circuit meanwhile)
        health_topic = f"commune/testsite/{gw}/health"
        control_room.wait_for(lambda m: m.topic == health_topic and
                              _ts(m) > _ts_of(held) + MAX_TICK_S + 1, 30)
        circuits = [m.json()["lighting"]["circuits"]["main"] for m in control_room.messages
                    if m.topic == health_topic and _ts(m) >= _ts_of(held)]
        assert len(circuits) >= 3, circuits
        assert all(c["reason"] == "clock_unsynced" for c in circuits), circuits
        assert _relay(relays) is False
        assert not [m for m in control_room.messages if _light(gw, state="on")(m)]
        # NTP syncs: timesyncd writes its flag (in the agent's namespace)
        assert agent.proc is not None
        Path(f"/proc/{agent.proc.pid}/root{FLAG}").touch()
        synced_at = time.time()
        on = control_room.wait_for(_light(gw, state="on", reason="schedule"),
                                   MAX_TICK_S + MARGIN_S + 5)[0]
        took = _ts(on) - synced_at
        print(f"followed the schedule {took:.1f} s after the clock synced")
        assert took < MAX_TICK_S + MARGIN_S, took
        assert on.json()["clock_synced"] is True and _relay(relays) is True
        assert "clock synced; reconciling to the schedule" in agent.log()
    finally:
        assert agent.stop() == 0, agent.log()[-3000:]


@needs_root
def test_with_the_flag_lights_follow_the_schedule_at_start(
        broker: Broker, control_room: ControlRoom, tmp_path: Path) -> None:
    gw = "gw-clock-flag"
    agent, relays = _start(tmp_path, broker, gw, flag=True)
    try:
        on = control_room.wait_for(_light(gw, state="on"), 30)[0].json()
        assert on["reason"] == "schedule" and on["clock_synced"] is True, on
        assert _relay(relays) is True
        assert not [m for m in control_room.messages if _light(gw, reason="clock_unsynced")(m)]
    finally:
        assert agent.stop() == 0, agent.log()[-3000:]


# -- the unit's system-call filter lets the kernel check through ---------------------------
def _filter_allows(names: list[str]) -> set[str]:
    """The system calls a SystemCallFilter= allow-list admits (groups expanded)."""
    allowed: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if not name.startswith("@"):
            allowed.add(name)
            continue
        out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                             text=True, check=True, timeout=30).stdout
        for line in out.splitlines()[1:]:
            item = line.strip()
            if item and not item.startswith("#"):
                pending.append(item)
    return allowed


@pytest.mark.skipif(shutil.which("strace") is None or shutil.which("systemd-analyze") is None,
                    reason="needs strace and systemd-analyze (apt install strace systemd)")
def test_unit_filter_admits_the_calls_clock_detection_makes(tmp_path: Path) -> None:
    """The kernel check is a read-only adjtimex(); glibc makes it clock_adjtime(2). A unit
    that admits only 'adjtimex' would make every chrony box look unsynced forever."""
    trace = tmp_path / "trace"
    subprocess.run(["strace", "-f", "-qq", "-o", str(trace), "-e",
                    "trace=adjtimex,clock_adjtime,clock_adjtime64", sys.executable, "-c",
                    "from edge_agent.clock import kernel_reports_synced as k; k()"],
                   check=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    made = set(re.findall(r"^(?:\d+ +)?(\w+)\(", trace.read_text(), re.M))
    assert made, trace.read_text()
    unit = (ROOT / "systemd" / "edge-agent.service").read_text()
    line = re.search(r"^SystemCallFilter=(.+)$", unit, re.M)
    assert line is not None
    missing = made - _filter_allows(line.group(1).split())
    assert not missing, f"the unit's SystemCallFilter= refuses {missing}"


def test_the_seccomp_launcher_takes_the_kernels_answer_away() -> None:
    """The launcher used above where the kernel reports a synced clock: under it, the kernel
    check has no answer (None), so detection falls back to 'not known to be synced'."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.infra.no_clock_syscalls", sys.executable, "-c",
         "from edge_agent.clock import kernel_reports_synced as k; print(k())"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()
    assert out == ["None"], out
