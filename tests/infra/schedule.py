"""How ``scripts/test`` spreads the suite over pytest-xdist workers (``-n N --dist loadscope``).

Most slow tests wait on real time (keepalives, alert hold times, outages of 30-60 s), not on
the CPU, so several run at once. xdist sends whole *work units* to a worker; ``SuiteScheduling``
decides what a unit is:

- one test, by default (its fixtures are function- or session-scoped: each worker has its own
  session broker and PostgreSQL cluster);
- a whole module in ``WHOLE_MODULES``: its tests share an expensive module-scoped fixture (an
  agent process, a built wheel, the motion scores of every clip), set up once as in a serial
  run instead of once per worker;
- ``HOST_PING_GROUP_RANGE``: the tests that change or read ``net.ipv4.ping_group_range``, one
  value for the whole host, run one after the other on one worker.

Units start longest first (``ESTIMATES_S``, measured serially on the 2-core VM), so the
2-minute default-settings stall test does not start last and set the wall time. A stale
table costs time only, never correctness: other units keep their collection order.

(``--dist loadgroup`` with ``xdist_group`` marks would say the same, but pytest-xdist 3.8 tags
the test id through an attribute pytest 9.2 no longer reads, so the marks are ignored.)
Without xdist (``-p no:xdist``, ``-n 0``) nothing here runs.
"""

from __future__ import annotations

from typing import Any

import pytest

HOST_PING_GROUP_RANGE = "host-ping-group-range"
HOST_STATE_MODULES = {
    # widens the range for the module (the product pings unprivileged)
    "tests/test_hotspot_netns.py": HOST_PING_GROUP_RANGE,
    # one test widens it when the host does not allow unprivileged ICMP
    "tests/test_hotspot_http.py": HOST_PING_GROUP_RANGE,
    # reads it to decide what the installer must write; creates and removes a real user
    "tests/test_install.py": HOST_PING_GROUP_RANGE,
}
WHOLE_MODULES = {
    "tests/test_camera_motion.py",  # scores: every clip through the detector (~2 min CPU)
    "tests/test_camera_motion_adaptive.py",  # rows: 31 street clips through the source, 3 ways
    "tests/test_camera_motion_held_out_5.py",  # rows: held-out 5 offline and adaptive
    "tests/test_camera_motion_held_out_6.py",  # rows: held-out 6 offline and adaptive
    "tests/test_camera_motion_held_out_7.py",  # rows: held-out 7 offline and adaptive
    "tests/test_commands.py",  # v5_agent: one agent process for the module
    "tests/test_commands_hostile.py",  # hostile_agent
    "tests/test_mosquitto_acl.py",  # shipped: the shipped broker config with credentials
    "tests/test_mqtt_link.py",  # tls_broker: a PKI and a TLS broker
    "tests/test_camera_streams.py",  # two_streams: the same scene encoded twice
    "tests/test_camera_h264_slices.py",  # streams: clips encoded with known QP
    "tests/test_camera_adaptive_rtsp.py",  # walker_clip: the CBR walker clip
}

# Serial durations (seconds) of the longest units, from ``pytest --durations`` on the VM;
# a prefix matches every test id that starts with it.
ESTIMATES_S: dict[str, float] = {
    "tests/test_uplink_stall.py::test_silent_stall_with_default_settings": 139,
    "tests/test_camera_motion.py": 130,
    # a fresh machine encodes the adaptive clip sets (8 clips of ~10 s each per set; cached
    # after): not listed, they started in collection order and ran last (372 s and 255 s of
    # a 18 min run at load 11, waiting for each other's encodes on one directory lock)
    "tests/test_camera_activity.py::test_clip_sets_onsets_caught_and_false_triggers[TUNING":
        80,
    "tests/test_camera_activity.py::test_clip_sets_onsets_caught_and_false_triggers[HELD_OUT":
        80,
    "tests/test_camera_adaptive_rtsp.py": 60,  # the walker clip, then two file runs
    # with held-out 5 (+~40 s), 6 (+~65 s) and 7 (+~35 s): 176 s warm at load ~4 with set 7
    "tests/test_camera_motion_adaptive.py": 200,
    # rows (~35 s warm) and four clips streamed in real time (~140 s); cold: the encodes
    "tests/test_camera_motion_held_out_5.py": 175,
    # the same shape: rows (~65 s warm), four clips streamed in real time (~125 s)
    "tests/test_camera_motion_held_out_6.py": 190,
    # rows (~35 s warm), two clips streamed in real time (~55 s); cold: +~110 s the encodes
    "tests/test_camera_motion_held_out_7.py": 90,
    "tests/test_camera_overlay_rtsp.py": 20,  # the real agent, one pass of a 12 s clip
    "tests/test_demo_script.py": 85,
    "tests/test_control_room_alerts_e2e.py::test_camera_stream_killed": 86,
    "tests/test_control_room_outage.py::test_gateway_link_cut_60s": 74,
    "tests/test_control_room_workers.py": 57,
    "tests/test_uplink_stall.py::test_silent_stall_with_fast_settings": 47,
    "tests/test_control_room_alerts_e2e.py::test_agent_killed": 43,
    "tests/test_control_room_outage.py::test_postgres_down_30s": 43,
    "tests/test_install.py": 40,  # with the rest of the host-state unit
    "tests/test_control_room_alerts_e2e.py::test_relay_that_fails": 35,
    "tests/test_control_room_outage.py::test_kill9_of_the_control_room": 34,
    "tests/test_config_limits.py::test_configs_check_config_accepts_run": 32,
    "tests/test_camera_reconnect.py::test_camera_back_within_5_s": 27,
    "tests/test_camera_reconnect.py::test_hung_camera_back": 26,
    "tests/test_alerts_properties.py::test_every_fired_alert": 24,
    "tests/test_sim_shapes.py": 20,
    "tests/test_outbox.py::test_outage_5000": 17,
    "tests/test_lighting_agent.py::test_agent_lights_end_to_end": 17,
    "tests/test_demo_contract.py": 16,
    "tests/test_commands.py": 15,
    "tests/test_console_live.py::test_killed_camera_alert": 15,
    "tests/test_hotspot_agent.py::test_agent_publishes_states": 14,
    "tests/test_fleet_restart.py": 14,
    "tests/test_full_disk.py::test_acknowledged_rows": 13,
}


def unit_of(nodeid: str) -> str:
    """The work unit a test id belongs to (see the module's docstring)."""
    module = nodeid.split("::", 1)[0]
    if module in HOST_STATE_MODULES:
        return HOST_STATE_MODULES[module]
    if module in WHOLE_MODULES:
        return module
    return nodeid


def estimate(nodeid: str) -> float:
    return max((s for prefix, s in ESTIMATES_S.items() if nodeid.startswith(prefix)),
               default=0.0)


def longest_first(nodeids: list[str]) -> list[int]:
    """Positions of ``nodeids`` reordered: units by their longest test, descending (ties keep
    collection order); a unit's tests stay together and in their order."""
    units: dict[str, list[int]] = {}
    for position, nodeid in enumerate(nodeids):
        units.setdefault(unit_of(nodeid), []).append(position)
    weight = {u: max(estimate(nodeids[p]) for p in ps) for u, ps in units.items()}
    return [p for u in sorted(units, key=lambda u: -weight[u]) for p in units[u]]


def _scheduler_class() -> type[Any]:
    from xdist.scheduler import LoadScopeScheduling

    class SuiteScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    return SuiteScheduling


@pytest.hookimpl(optionalhook=True)  # the hook exists only while xdist is loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` with this suite's units (the other modes stay xdist's own)."""
    if config.getvalue("dist") != "loadscope":
        return None
    config.option.loadscopereorder = False  # keep the longest-first order of the workers
    return _scheduler_class()(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: collect longest unit first. The scheduler hands units out in the
    order the workers collected them; every worker computes the same order, as xdist
    requires."""
    if not hasattr(config, "workerinput"):
        return
    order = longest_first([item.nodeid for item in items])
    items[:] = [items[p] for p in order]
