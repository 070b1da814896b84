"""Run the real control room as a subprocess (``python -m control_room run``), so a test can
``kill -9`` it like a crash, and talk to it over its HTTP API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.infra.agent_proc import merge_sections, terminate

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-token"


def room_config(tmp: Path, broker_url: str, db_url: str, **sections: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        # the client id (control-room-{instance}) names a persistent session: one of its own
        # per room, or a room would start with the queue a room of an earlier test on the
        # same session broker left behind (every message since, of every other test)
        "instance": f"test-{uuid.uuid4().hex[:8]}",
        "mqtt": {"url": broker_url},
        "database": {"url": db_url, "retry_max_s": 1.0},
        "storage": {"data_dir": str(tmp / "room-data")},
        "http": {"port": 0, "token": TOKEN},
        "ingest": {"loss_grace_s": 3.0},
        "alert_interval_s": 1.0,
    }
    return merge_sections(config, sections)


class RoomProcess:
    def __init__(self, tmp: Path, config: dict[str, Any], name: str = "room") -> None:
        self.config_path = tmp / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log_path = tmp / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._log_offset = 0

    def start(self, timeout: float = 60.0) -> RoomProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "control_room", "run", "-c", str(self.config_path),
             "--log-level", "info"], cwd=ROOT, stdout=log, stderr=log, env=dict(os.environ))
        found = self.wait_log(r"api listening on (http://[0-9.]+:\d+)/", timeout)
        self.url = found.group(1)
        self.wait_log(r"mqtt: connected", timeout)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log()[self._log_offset:])
            if found:
                return found
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise TimeoutError(f"{pattern!r} not in the control room's log:\n{self.log()[-4000:]}")

    def api(self, path: str, body: dict[str, Any] | None = None,
            timeout: float = 60.0) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method="POST" if data is not None else "GET",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def get(self, path: str) -> dict[str, Any]:
        code, data = self.api(path)
        assert code == 200, (code, data)
        return data

    def wait_for(self, path: str, predicate: Callable[[dict[str, Any]], Any],
                 timeout: float = 30.0, what: str = "") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        data: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                data = self.get(path)
            except (OSError, AssertionError):
                data = {}
            if data and predicate(data):
                return data
            time.sleep(0.2)
        raise TimeoutError(f"{what or path}: condition not met in {timeout} s; last: "
                           f"{json.dumps(data)[:2000]}")

    def gateway(self, key: str) -> dict[str, Any] | None:
        for g in self.get("/api/gateways")["gateways"]:
            if g["gateway_key"] == key:
                return dict(g)
        return None

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def stop(self, timeout: float = 20.0) -> int:
        code = terminate(self.proc, timeout)
        self.proc = None
        return code
