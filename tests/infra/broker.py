"""A real mosquitto per test session (DESIGN §9): foreground subprocess on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


class Broker:
    """mosquitto on 127.0.0.1; ``stop()``/``start()`` on the same port simulate an outage."""

    def __init__(self, workdir: Path, *, port: int | None = None, extra_conf: str = "",
                 persistence: bool = False, anonymous: bool = True,
                 make_conf: Callable[[int], str] | None = None) -> None:
        self.workdir = workdir
        self._auto_port = port is None
        self._started_once = False
        self.port = port or free_port()
        self.extra_conf = extra_conf
        self.persistence = persistence
        self.anonymous = anonymous
        self.make_conf = make_conf  # port -> a whole config (e.g. the shipped one, adapted)
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        scheme = "mqtts" if "certfile" in self.extra_conf else "mqtt"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> Broker:
        # free_port() only picked a port that was free a moment ago: another process may bind
        # it before mosquitto does. mosquitto then exits, and a connect to the port would
        # reach that other process. So wait for mosquitto's own "running" line, and on a
        # first start (nothing depends on the port yet) pick another port if it lost the race.
        for attempt in range(5):
            if self._start_once():
                return self
            if not self._auto_port or self._started_once or attempt == 4:
                break
            self.port = free_port()
        raise RuntimeError(f"mosquitto could not start on port {self.port}:\n"
                           f"{self._log_path.read_text(errors='replace')[-2000:]}")

    def _start_once(self) -> bool:
        conf = self.workdir / "mosquitto.conf"
        anonymous = "true" if self.anonymous else "false"
        lines = [f"listener {self.port} 127.0.0.1", f"allow_anonymous {anonymous}",
                 f"persistence {'true' if self.persistence else 'false'}",
                 f"persistence_location {self.workdir}/", "max_queued_messages 100000",
                 "max_inflight_messages 0", self.extra_conf]
        if self.make_conf is not None:
            lines = [self.make_conf(self.port)]
        if os.geteuid() == 0:
            lines.append("user root")  # otherwise mosquitto drops privileges and exits 13
        conf.write_text("\n".join(lines) + "\n")
        before = self._running_lines()
        log = open(self._log_path, "ab")  # noqa: SIM115 - lives with proc
        proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while self._running_lines() == before:
            if proc.poll() is not None:
                return False  # e.g. the port was taken
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait(5)
                raise TimeoutError(f"mosquitto did not start on port {self.port}")
            time.sleep(0.02)
        self.proc = proc
        self._started_once = True
        wait_port(self.port, 30)
        return True

    @property
    def _log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def _running_lines(self) -> int:
        try:
            return self._log_path.read_text(errors="replace").count(" running")
        except FileNotFoundError:
            return 0

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=5)
            self.proc = None

    def stop_gracefully(self, timeout: float = 30.0) -> None:
        """SIGTERM, as ``systemctl restart`` does: a persistent broker saves its database."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=timeout)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
