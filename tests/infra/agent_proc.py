"""Run the real agent as a subprocess (``python -m edge_agent run``) on a config file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def base_config(tmp: Path, broker_url: str, gateway: str = "gw-test",
                site: str = "testsite", *, fast_reconnect: bool = True,
                **sections: Any) -> dict[str, Any]:
    """The smallest config for a test agent; extra sections are merged in. Reconnects are
    fast (0.2-1 s) unless ``fast_reconnect=False`` (the defaults: 1 s up to 60 s)."""
    mqtt: dict[str, Any] = {"url": broker_url}
    if fast_reconnect:
        mqtt.update(reconnect_min_s=0.2, reconnect_max_s=1.0)
    config: dict[str, Any] = {
        "gateway": {"id": gateway, "site": site, "clock_sync": "assume_synced"},
        "mqtt": mqtt,
        "storage": {"data_dir": str(tmp / f"data-{gateway}")},
        "health": {"interval_s": 60},
        "http": {"enabled": False},
    }
    return merge_sections(config, sections)


def merge_sections(config: dict[str, Any], sections: dict[str, Any]) -> dict[str, Any]:
    """``config`` with ``sections`` merged in: a mapping updates a mapping, anything else
    replaces the key."""
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    return config


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float) -> int:
    """SIGTERM, then SIGKILL after ``timeout``; the exit code (0 for no process)."""
    if proc is None:
        return 0
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return int(proc.returncode)


class AgentProcess:
    def __init__(self, config_path: Path, log_path: Path,
                 env: dict[str, str] | None = None, prefix: list[str] | None = None) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.prefix = prefix or []  # e.g. a launcher that execs the agent in a namespace
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "edge_agent", "--log-level", "debug", "run",
             "-c", str(self.config_path)], stdout=log, stderr=log, env=self.env)
        return self

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(5)

    def stop(self, timeout: float = 15.0) -> int:
        code = terminate(self.proc, timeout)
        self.proc = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            time.sleep(0.05)
        raise TimeoutError(f"{text!r} not in agent log:\n{self.log()[-3000:]}")
