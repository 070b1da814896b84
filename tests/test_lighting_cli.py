"""``edge-agent lights plan`` and ``edge-agent relay`` on a config file (sim relays)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge_agent.cli import main
from edge_agent.lighting.component import release_lock, take_lock
from tests.infra.agent_proc import base_config, write_config

YAML_RULES = """
lighting:
  circuits:
    - id: main-road
      relay:
        driver: sim
        board: cli
        channel: 3
        state_file: {state}
      rules:
        - name: night
          on: sunset+15m
          off: sunrise-10m
        - name: dark-for-tet
          on: "00:00"
          off: "00:00"
          state: off
          dates: ["2027-02-06"]
"""


def config(tmp_path: Path) -> Path:
    path = write_config(tmp_path / "c.yaml", base_config(tmp_path, "mqtt://127.0.0.1:1"))
    text = path.read_text() + YAML_RULES.format(state=tmp_path / "relays.json")
    path.write_text(text)  # unquoted on:/off: keys, as a technician writes them
    return path


def test_plan_prints_sun_times_and_switches(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lights", "plan", "--date", "2026-11-23", "-c", str(config(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "Plan for Monday 2026-11-23" in out
    assert "sunrise 06:11:47   sunset 17:17:26" in out
    assert "00:00:00  on   schedule (night)" in out
    assert "06:01:47  off  default" in out
    assert "17:32:26  on   schedule (night)" in out
    assert "on for 12h 29m" in out


def test_plan_shows_a_date_exception(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lights", "plan", "--date", "2027-02-06", "-c", str(config(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "00:00:00  off  schedule (dark-for-tet)" in out
    # the later rule wins over the night window (also the one started on the 5th)
    assert "on for 0h 00m" in out


def test_relay_direct_and_when_agent_runs(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path)
    assert main(["relay", "main-road", "on", "-c", str(path)]) == 0
    assert "switched on; relay reads on" in capsys.readouterr().out
    assert json.loads((tmp_path / "relays.json").read_text()) == {"3": True}
    assert main(["relay", "nope", "off", "-c", str(path)]) == 2
    assert "unknown circuit 'nope' (known: main-road)" in capsys.readouterr().err
    fd = take_lock(tmp_path / "data-gw-test")  # as the running agent holds it
    assert fd is not None
    try:
        assert main(["relay", "main-road", "off", "-c", str(path)]) == 2
        err = capsys.readouterr().err
        assert "the agent is running and owns the relays" in err
        assert "cmd/light/main-road/override" in err
    finally:
        release_lock(fd)
    assert json.loads((tmp_path / "relays.json").read_text()) == {"3": True}  # untouched


def test_bad_rule_is_a_clear_config_error(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path)
    path.write_text(path.read_text().replace("sunset+15m", "sundown+15m"))
    assert main(["lights", "plan", "-c", str(path)]) == 1
    err: Any = capsys.readouterr().err
    assert "lighting.circuits[0].rules[0].on" in err
    assert "'sundown+15m' is not a time" in err


def test_relay_goes_through_the_running_agent(tmp_path: Path, broker: Any,
                                              control_room: Any,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """With the agent running (and http.token set) ``relay`` sends an override to it,
    directly: an http_proxy in the technician's shell must not get the token."""
    from tests.infra.agent_proc import AgentProcess
    from tests.infra.broker import free_port

    data = base_config(tmp_path, broker.url, gateway="gw-light-cli",
                       http={"enabled": True, "bind": "127.0.0.1", "port": free_port(),
                             "token": "technician-token-123"})
    data["lighting"] = {"circuits": [{"id": "main-road", "min_switch_interval_s": 0,
                                      "relay": {"driver": "sim", "board": "cli-agent",
                                                "state_file": str(tmp_path / "r.json")}}]}
    path = write_config(tmp_path / "agent.yaml", data)
    agent = AgentProcess(path, tmp_path / "agent.log").start()
    try:
        control_room.wait_for(lambda m: m.topic.endswith("gw-light-cli/light/main-road/state"),
                              30)
        agent.wait_log("web: page on", 30)
        # a proxy that is not there: a request sent through it would fail
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        assert main(["relay", "main-road", "on", "--minutes", "5", "-c", str(path)]) == 0
        assert "override on until" in capsys.readouterr().out
        assert json.loads((tmp_path / "r.json").read_text()) == {"1": True}
        control_room.wait_for(lambda m: m.topic.endswith("gw-light-cli/light/main-road/state")
                              and m.json().get("reason") == "override"
                              and m.json().get("state") == "on", 30)
    finally:
        agent.stop()
