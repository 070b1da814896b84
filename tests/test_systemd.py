"""systemd: the unit file verifies and is hardened; READY=1 and the watchdog pings are real.

The notify tests run the real agent with a fake ``NOTIFY_SOCKET`` (a unix datagram socket
this test reads, exactly what systemd gives a ``Type=notify`` service) and ``WATCHDOG_USEC``.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.agent_proc import AgentProcess, base_config, write_config
from tests.infra.broker import Broker

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "edge-agent.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None,
                                   reason="systemd-analyze missing (apt install systemd)")
WATCHDOG_USEC = 1_000_000  # the agent pings every 0.5 s


def render_unit(prefix: Path) -> Path:
    """The unit as install.sh writes it for ``--prefix``, with a stub ExecStart binary."""
    (prefix / "venv" / "bin").mkdir(parents=True, exist_ok=True)
    stub = prefix / "venv" / "bin" / "edge-agent"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    unit = prefix / "edge-agent.service"
    unit.write_text(UNIT.read_text().replace("/opt/edge-agent", str(prefix)))
    return unit


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():  # keys repeat (LoadCredential, DeviceAllow)
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key}", []).append(value)
    return settings


@needs_analyze
def test_unit_verifies_clean(tmp_path: Path) -> None:
    unit = render_unit(tmp_path)
    result = subprocess.run([str(ANALYZE), "verify", "--man=no", str(unit)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@needs_analyze
def test_unit_security_exposure_is_low(tmp_path: Path) -> None:
    unit = render_unit(tmp_path)
    result = subprocess.run([str(ANALYZE), "security", "--offline=yes", str(unit)],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", result.stdout)
    assert match is not None, f"no exposure level in the output:\n{result.stdout}\n{result.stderr}"
    # The score must not be bought with ProtectClock=: it forbids adjtimex(2), and clock
    # detection (gateway.clock_sync: detect) would then see "unsynced" forever on boxes
    # without timesyncd, and never switch the lights on schedule.
    assert "Service.ProtectClock" not in unit_settings()
    clock = [line for line in result.stdout.splitlines() if " ProtectClock=" in line]
    assert clock and not clock[0].lstrip().startswith("✓"), clock  # analysed, and unset
    print(f"\nsystemd-analyze security exposure: {match.group(1)} {match.group(2)}")
    assert float(match.group(1)) <= 3.0, result.stdout  # "OK" band; regressions fail here


def test_unit_has_the_required_settings() -> None:
    s = unit_settings()
    assert s["Service.Type"] == ["notify"]
    assert s["Service.WatchdogSec"] == ["30"]
    assert s["Service.Restart"] == ["on-failure"]
    assert s["Service.User"] == ["edge-agent"]
    assert {"gpio", "dialout"} <= set(s["Service.SupplementaryGroups"][0].split())
    assert s["Service.ProtectSystem"] == ["strict"]
    assert s["Service.ReadWritePaths"] == ["/var/lib/edge-agent"]
    assert s["Service.NoNewPrivileges"] == ["yes"]
    # clock detection reads adjtimex(2): neither ProtectClock= nor a filter without it
    assert "Service.ProtectClock" not in s
    assert "adjtimex" in s["Service.SystemCallFilter"][0].split()
    assert any(v.startswith("mqtt_password:") for v in s["Service.LoadCredential"])
    # ICMP goes through unprivileged ICMP sockets: no raw-socket capability is handed out
    assert s.get("Service.AmbientCapabilities") == [""]
    assert s.get("Service.CapabilityBoundingSet") == [""]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    yield sock, path
    sock.close()


def read_messages(sock: socket.socket, seconds: float) -> list[tuple[float, str]]:
    found: list[tuple[float, str]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        found.append((time.monotonic(), data.decode()))
    return found


def wait_message(sock: socket.socket, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _, message in read_messages(sock, 0.2):
            if text in message:
                return
    raise AssertionError(f"{text!r} never arrived on NOTIFY_SOCKET")


def wait_pings(sock: socket.socket, count: int, timeout: float,
               seen: list[tuple[float, str]] | None = None) -> list[tuple[float, str]]:
    """Read until ``count`` WATCHDOG=1 have arrived (no fixed window: a loaded CI machine
    may be slow to start); returns every message read, appended to ``seen`` if given."""
    found = seen if seen is not None else []
    deadline = time.monotonic() + timeout
    pings = 0
    while pings < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{pings}/{count} watchdog pings within {timeout} s: {found}")
        new = read_messages(sock, 0.2)
        found.extend(new)
        pings += sum(m == "WATCHDOG=1" for _, m in new)
    return found


def _wait_stopped(pid: int, timeout: float = 15.0) -> None:
    """Wait until every thread of ``pid`` is in the stopped state (``T`` in /proc)."""
    deadline = time.monotonic() + timeout
    while True:
        states = []
        for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
            try:
                states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
            except (OSError, IndexError):
                continue
        if states and all(state in "Tt" for state in states):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} not stopped: {states}")
        time.sleep(0.02)


def test_ready_then_watchdog_pings_stop_while_the_agent_is_frozen(
        tmp_path: Path, broker: Broker, notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    config = write_config(tmp_path / "agent.yaml",
                          base_config(tmp_path, f"mqtt://127.0.0.1:{broker.port}"))
    agent = AgentProcess(config, tmp_path / "agent.log",
                         env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    agent.start()
    try:
        wait_message(sock, "READY=1", 30)
        wait_pings(sock, 2, 30)  # it pings repeatedly...
        agent.signal(signal.SIGSTOP)  # a hung process: sockets open, nothing runs
        assert agent.proc is not None
        _wait_stopped(agent.proc.pid)  # kill() returns before every thread has stopped
        read_messages(sock, 0.3)  # what was already in flight
        # ...and not at all while frozen: a stopped process cannot send (4 ping periods)
        assert [m for _, m in read_messages(sock, 2.0) if m == "WATCHDOG=1"] == []
        agent.signal(signal.SIGCONT)
        wait_pings(sock, 1, 30)  # and again once it runs
    finally:
        agent.signal(signal.SIGCONT)
        assert agent.stop() == 0, agent.log()[-2000:]


BLOCKER = """
import asyncio, signal, sys, time
from edge_agent.agent import Agent
from edge_agent.cli import setup_logging
from edge_agent.config import load_config

async def main() -> None:
    agent = Agent(load_config(sys.argv[1]))
    def hang() -> None:  # a component doing blocking work on the loop by mistake
        print("BLOCKING", flush=True)
        time.sleep(float(sys.argv[2]))
        print("UNBLOCKED", flush=True)
    # on the test's signal (once it has seen pings), not at a fixed time after start
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, hang)
    await agent.run()

setup_logging("info")
asyncio.run(main())
"""


def test_a_blocked_event_loop_stops_the_watchdog_pings(
        tmp_path: Path, broker: Broker, notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    config = write_config(tmp_path / "agent.yaml",
                          base_config(tmp_path, f"mqtt://127.0.0.1:{broker.port}"))
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    block_s = 3.0
    proc = subprocess.Popen([sys.executable, "-c", BLOCKER, str(config), str(block_s)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            cwd=ROOT)
    messages: list[tuple[float, str]] = []
    try:
        wait_message(sock, "READY=1", 30)
        wait_pings(sock, 2, 30, messages)  # pings before the stall
        proc.send_signal(signal.SIGUSR1)  # the loop blocks for block_s
        wait_pings(sock, 2, block_s + 15, messages)  # and after it
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=15)[0].decode(errors="replace")
    assert "BLOCKING" in output and "UNBLOCKED" in output, output
    times = [t for t, m in messages if m == "WATCHDOG=1"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # none while the loop was blocked: one gap spans the whole stall (pings are 0.5 s apart)
    assert max(gaps) >= block_s - WATCHDOG_USEC / 2e6, gaps
    assert proc.returncode == 0, output


def test_ready_comes_even_when_the_broker_is_unreachable(
        tmp_path: Path, notify_socket: tuple[socket.socket, str]) -> None:
    """A village without uplink must still start (and switch its lights): systemd would
    kill a Type=notify service that never says READY=1 (TimeoutStartSec=60)."""
    sock, path = notify_socket
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    config = write_config(tmp_path / "agent.yaml",
                          base_config(tmp_path, f"mqtt://127.0.0.1:{dead_port}"))
    agent = AgentProcess(config, tmp_path / "agent.log",
                         env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    agent.start()
    try:
        wait_message(sock, "READY=1", 30)
        assert "spooling messages to the outbox" in agent.log()
        wait_pings(sock, 1, 15)  # and it keeps pinging (not a fixed 1.5 s window)
    finally:
        assert agent.stop() == 0, agent.log()[-2000:]
