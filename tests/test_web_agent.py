"""The web server of a REAL running agent (subprocess, real mosquitto, simulated relay
board, a real TCP-probed hotspot): status API, token-guarded relay pulse, /metrics that
parse and move, /healthz through a broker outage."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.infra.agent_proc import AgentProcess
from tests.infra.broker import Broker
from tests.infra.web import (
    CIRCUIT,
    TOKEN,
    free_port,
    get,
    get_json,
    post,
    relay_states,
    start_web_agent,
    wait_until,
    web_config,
)


@pytest.fixture
def web_agent(tmp_path: Path, broker: Broker) -> Iterator[tuple[str, AgentProcess]]:
    port = free_port()
    agent = start_web_agent(tmp_path, web_config(tmp_path, broker.port, port))
    yield f"http://127.0.0.1:{port}", agent
    assert agent.stop() == 0, agent.log()[-3000:]


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def wait_metrics(url: str, predicate: Callable[[Samples], bool], what: str,
                 timeout: float = 30) -> Samples:
    return wait_until(lambda: m if predicate(m := metrics(url)) else None, timeout, what)


def metrics(url: str) -> Samples:
    status, body = get(f"{url}/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples}


def test_status_api_shows_the_live_agent(web_agent: tuple[str, AgentProcess]) -> None:
    url, _ = web_agent
    body = wait_until(lambda: (b := get_json(f"{url}/api/status"))["lights"].get(CIRCUIT, {})
                      .get("state") and b["hotspots"].get("school", {}).get("state") == "up"
                      and b, what="light and hotspot state")
    light = body["lights"][CIRCUIT]
    assert light["state"] in ("on", "off") and light["reason"] and light["next_change"]
    assert body["gateway"]["mqtt"]["connected"] is True
    assert "depth" in body["gateway"]["outbox"]
    assert body["health"]["healthy"] is True and body["writes_enabled"] is True
    status, health = get(f"{url}/healthz")
    assert status == 200 and b'"healthy": true' in health


def test_relay_pulse_needs_the_token_and_switches_the_relay(
        web_agent: tuple[str, AgentProcess], tmp_path: Path) -> None:
    url, _ = web_agent
    wait_until(lambda: get_json(f"{url}/api/status")["lights"].get(CIRCUIT), what="light")
    before = relay_states(tmp_path).get("1", False)
    pulse = f"{url}/api/command/light/{CIRCUIT}/pulse"
    assert post(pulse, {"seconds": 0.5})[0] == 401
    status, reply = post(pulse, {"seconds": 0.5}, token="not-the-right-token")
    assert status == 403 and reply == {"ok": False, "error": "wrong token"}
    assert relay_states(tmp_path).get("1", False) == before  # nothing moved
    status, reply = post(pulse, {"seconds": 0.5}, token=TOKEN)
    assert status == 200 and reply["ok"] is True
    assert reply["pulsed"] == ("off" if before else "on")
    after = get_json(f"{url}/api/status")["lights"][CIRCUIT]
    assert after["switches_today"] >= 2  # there and back, counted by the relay service
    status, reply = post(f"{url}/api/command/light/{CIRCUIT}/override",
                         {"state": "on", "until": "2001-01-01T00:00:00+00:00"}, token=TOKEN)
    assert status == 400 and "already past" in reply["error"]


def test_metrics_parse_and_move_when_the_agent_works(
        web_agent: tuple[str, AgentProcess]) -> None:
    url, _ = web_agent
    first = wait_metrics(url, lambda m: m.get(
        ("edge_agent_hotspot_state", (("hotspot", "school"), ("state", "up")))) == 1,
        "hotspot metric")
    assert first[("edge_agent_mqtt_connected", ())] == 1
    assert ("edge_agent_light_on", (("circuit", CIRCUIT),)) in first
    assert first[("process_resident_memory_bytes", ())] > 10e6
    # work: a relay pulse publishes the light state twice (there and back)
    assert post(f"{url}/api/command/light/{CIRCUIT}/pulse", {"seconds": 0.2},
                token=TOKEN)[0] == 200
    later = wait_metrics(url, lambda m: m[("edge_agent_mqtt_sent_total", ())] >
                         first[("edge_agent_mqtt_sent_total", ())], "sent moves")
    assert later[("edge_agent_commands_handled_total", ())] >= \
        first[("edge_agent_commands_handled_total", ())] + 1
    assert later[("edge_agent_uptime_seconds", ())] > first[("edge_agent_uptime_seconds", ())]
    # the pulse and the publishing cost CPU time: the counter moved (ticks are 10 ms)
    assert later[("process_cpu_seconds_total", ())] > first[("process_cpu_seconds_total", ())]


def test_healthz_stays_up_while_spooling_through_a_broker_outage(
        tmp_path: Path, private_broker: Broker) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # the default reconnect settings (1 s growing up to 60 s), as on a gateway
    config: dict[str, Any] = web_config(tmp_path, private_broker.port, port,
                                        fast_reconnect=False, health={"interval_s": 1})
    agent = start_web_agent(tmp_path, config)
    try:
        wait_until(lambda: metrics(url)[("edge_agent_mqtt_connected", ())] == 1, what="link")
        private_broker.stop()
        down = wait_metrics(url, lambda m: m[("edge_agent_mqtt_connected", ())] == 0
                            and m[("edge_agent_outbox_depth", ())] >= 2,
                            "outbox filling while offline")
        assert down[("edge_agent_outbox_oldest_age_seconds", ())] > 0
        status, body = get(f"{url}/healthz")
        assert status == 200 and b"spooling" in body  # within bounds: still healthy
        private_broker.start()
        back = time.monotonic()
        # lights, hotspot and health spooled meanwhile: all replayed, within the largest
        # reconnect delay (reconnect_max_s, 60 s) plus 10 s for connecting and draining
        wait_metrics(url, lambda m: m[("edge_agent_mqtt_connected", ())] == 1
                     and m[("edge_agent_outbox_depth", ())] == 0, "replay", timeout=70)
        print(f"\nreplayed {time.monotonic() - back:.1f} s after the broker came back")
    finally:
        assert agent.stop() == 0, agent.log()[-3000:]


@pytest.mark.parametrize("bind", ["::1", "::"])
def test_the_page_listens_on_ipv6(tmp_path: Path, broker: Broker, bind: str) -> None:
    """check-config validates http.bind as an IP address or host name; the IPv6 ones it
    accepts really serve (and the logged URL has the brackets a browser needs)."""
    port = free_port()
    config = web_config(tmp_path, broker.port, port, hotspots=[])
    config["http"]["bind"] = bind
    agent = start_web_agent(tmp_path, config)
    try:
        status, body = get(f"http://[::1]:{port}/healthz")
        assert status == 200 and b'"healthy": true' in body.replace(b'":true', b'": true')
        assert f"web: page on http://[{bind}]:{port}/" in agent.log()
    finally:
        assert agent.stop() == 0, agent.log()[-3000:]
