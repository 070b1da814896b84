"""Benchmarks take their children with them: a benchmark stopped by SIGTERM (a timeout) or
SIGINT (Ctrl-C) leaves no agent, mosquitto or helper process behind (benchmarks/cleanup.py).

The outbox benchmark is used because it starts children within seconds (mosquitto, then
real agent subprocesses); the camera benchmark first spends a minute and more making its
clip, and shares the same helper.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _descendants_until_agent(proc: subprocess.Popen[bytes], timeout: float
                             ) -> list[psutil.Process]:
    """The benchmark's processes once one of them is a real agent."""
    bench = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.communicate()[0].decode(errors="replace")
            raise AssertionError(f"the benchmark ended before it started an agent:\n"
                                 f"{output[-2000:]}")
        found = bench.children(recursive=True)
        try:
            if any("edge_agent" in " ".join(p.cmdline()) for p in found):
                return found
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    raise TimeoutError("the benchmark started no agent")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_benchmark_leaves_no_process_behind(tmp_path: Path, sig: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "outbox.py"), "--messages", "300",
         "--rounds", "1", "--latency-runs", "1", "--minutes", "2",
         "--output", str(tmp_path / "outbox.json")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    bench = psutil.Process(proc.pid)
    children: list[psutil.Process] = []
    try:
        children = _descendants_until_agent(proc, 120)
        names = sorted({p.name() for p in children})
        assert any("mosquitto" in n for n in names), names  # the broker is a child too
        proc.send_signal(sig)
        output = proc.communicate(timeout=60)[0].decode(errors="replace")
        assert proc.returncode == 128 + sig, output[-2000:]
        assert "stopping its processes" in output
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [], f"left running: {[(p.pid, p.name()) for p in alive]}"
        assert not (tmp_path / "outbox.json").exists(), "a stopped run writes no results"
    finally:
        for leftover in [bench, *children]:  # only what this test started, by pid
            if leftover.is_running():
                leftover.kill()
