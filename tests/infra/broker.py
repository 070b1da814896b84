"""A real mosquitto per test session (DESIGN §9): foreground subprocess on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 5.0) -> None:
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
                 persistence: bool = False, anonymous: bool = True) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.extra_conf = extra_conf
        self.persistence = persistence
        self.anonymous = anonymous
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        scheme = "mqtts" if "certfile" in self.extra_conf else "mqtt"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> Broker:
        conf = self.workdir / "mosquitto.conf"
        anonymous = "true" if self.anonymous else "false"
        lines = [f"listener {self.port} 127.0.0.1", f"allow_anonymous {anonymous}",
                 f"persistence {'true' if self.persistence else 'false'}",
                 f"persistence_location {self.workdir}/", "max_queued_messages 100000",
                 "max_inflight_messages 0", self.extra_conf]
        if os.geteuid() == 0:
            lines.append("user root")  # otherwise mosquitto drops privileges and exits 13
        conf.write_text("\n".join(lines) + "\n")
        log = open(self.workdir / "mosquitto.log", "ab")  # noqa: SIM115 - lives with proc
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=5)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
