"""Drive ``tests/infra/burst.py`` as a subprocess (it can be kill -9'd like a real agent)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class BurstProcess:
    def __init__(self, config_path: Path, log_path: Path, run: str, topics: int = 4,
                 prefix: list[str] | None = None, contract: bool = False) -> None:
        self.log_path = log_path
        self.accepted: list[int] = []
        self.lines: list[str] = []
        self._cond = threading.Condition()
        log = open(log_path, "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "tests.infra.burst", "-c", str(config_path),
             "--run", run, "--topics", str(topics), *(["--contract"] if contract else [])],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
            bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_line("READY", 15)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self._cond:
                if line.startswith("A "):
                    self.accepted.append(int(line[2:]))
                else:
                    self.lines.append(line)
                self._cond.notify_all()

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def wait_line(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        self.lines.remove(line)
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise TimeoutError(f"no {prefix!r} from the publisher; log:\n"
                                       f"{self.log()[-3000:]}")
                self._cond.wait(min(remaining, 0.2))

    def wait_accepted(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.accepted) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"only {len(self.accepted)}/{count} accepted")
                self._cond.wait(remaining)

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        self._reader.join(5)  # everything it printed before dying is counted

    def quit(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.send("quit")
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)
        return int(self.proc.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
