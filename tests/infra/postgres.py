"""A throwaway PostgreSQL cluster (DESIGN §9): initdb + pg_ctl in a temporary directory, as
the unprivileged ``postgres`` user when run as root (initdb refuses root). ``stop()`` and
``start()`` on the same port simulate an outage."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tests.infra.broker import free_port, wait_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def available() -> bool:
    return (PG_BIN / "initdb").is_file()


class Postgres:
    """``workdir`` must be reachable by the ``postgres`` user: not under pytest's
    ``/tmp/pytest-of-root`` (pytest resets that to 0700 whenever any session starts), so
    ``Postgres.in_tmp()`` makes one directly under the system's temp dir."""

    @classmethod
    def in_tmp(cls) -> Postgres:
        return cls(Path(tempfile.mkdtemp(prefix="control-room-pg-")))

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.port = free_port()
        self.user = "test"
        self._as_postgres = os.geteuid() == 0
        workdir.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(workdir, entry.pw_uid, entry.pw_gid)

    def _run(self, args: Sequence[str], timeout: float = 60) -> None:
        command = list(args)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, timeout=timeout, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args[:1])} failed ({done.returncode}): "
                               f"{done.stderr.strip()[-1000:]}\n{self.log()[-2000:]}")

    def init(self) -> Postgres:
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U",
                   self.user, "-E", "UTF8", "--no-sync"], timeout=120)
        return self

    def start(self) -> Postgres:
        options = (f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=200")
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                   str(self.workdir / "pg.log"), "-w", "-t", "60", "start"], timeout=90)
        wait_port(self.port, 30)
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                       "stop"], timeout=60)

    def create_database(self, name: str) -> str:
        """A fresh database; returns its ``postgresql://`` URL."""
        self._run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                   self.user, name])
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def cleanup(self) -> None:
        try:
            self.stop()
        except RuntimeError:
            pid_file = self.data / "postmaster.pid"  # the postmaster this object started
            if pid_file.exists():
                os.kill(int(pid_file.read_text().split()[0]), 9)
            raise
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log(self) -> str:
        path = self.workdir / "pg.log"
        return path.read_text(errors="replace") if path.exists() else ""


def wait_down(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                time.sleep(0.05)
        except OSError:
            return
    raise TimeoutError(f"127.0.0.1:{port} still answers")
