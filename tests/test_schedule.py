"""The suite's xdist scheduler (tests/infra/schedule.py): what runs together, in what order."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra import schedule
from tests.infra.schedule import HOST_PING_GROUP_RANGE, longest_first, unit_of

ROOT = Path(__file__).resolve().parent.parent


def test_units() -> None:
    assert unit_of("tests/test_install.py::test_a") == HOST_PING_GROUP_RANGE
    assert unit_of("tests/test_hotspot_netns.py::test_b[x]") == HOST_PING_GROUP_RANGE
    assert unit_of("tests/test_commands.py::test_c") == "tests/test_commands.py"
    assert unit_of("tests/test_outbox.py::test_d") == "tests/test_outbox.py::test_d"


def test_every_named_module_exists() -> None:
    """A renamed module would silently lose its unit (and its host-state protection)."""
    named = {*schedule.HOST_STATE_MODULES, *schedule.WHOLE_MODULES,
             *(prefix.split("::")[0] for prefix in schedule.ESTIMATES_S)}
    assert [m for m in sorted(named) if not (ROOT / m).is_file()] == []


def test_longest_unit_first_and_units_stay_together() -> None:
    ids = ["tests/test_outbox.py::test_fast",
           "tests/test_commands.py::test_1",
           "tests/test_uplink_stall.py::test_silent_stall_with_default_settings",
           "tests/test_install.py::test_x",
           "tests/test_commands.py::test_2",
           "tests/test_hotspot_netns.py::test_y"]
    order = [ids[p] for p in longest_first(ids)]
    assert order[0].endswith("test_silent_stall_with_default_settings")
    assert order[1:3] == ["tests/test_install.py::test_x", "tests/test_hotspot_netns.py::test_y"]
    assert order[3:5] == ["tests/test_commands.py::test_1", "tests/test_commands.py::test_2"]
    assert order[5] == "tests/test_outbox.py::test_fast"
    assert sorted(order) == sorted(ids)


def test_loadscope_uses_the_suites_units() -> None:
    """xdist asks the hook for a scheduler; ours is xdist's loadscope with the units above."""
    xdist_scheduler = pytest.importorskip("xdist.scheduler")
    cls = schedule._scheduler_class()
    assert issubclass(cls, xdist_scheduler.LoadScopeScheduling)
    scheduler = object.__new__(cls)  # _split_scope needs no state
    assert scheduler._split_scope("tests/test_install.py::t") == HOST_PING_GROUP_RANGE
    assert scheduler._split_scope("tests/test_outbox.py::t") == "tests/test_outbox.py::t"


def test_the_hooks_are_loaded() -> None:
    """Without them in conftest, xdist would fall back to plain loadscope (whole modules,
    no host-state unit) and nothing would say so."""
    from tests import conftest

    assert conftest.pytest_xdist_make_scheduler is schedule.pytest_xdist_make_scheduler
    assert conftest.pytest_collection_modifyitems is schedule.pytest_collection_modifyitems


def test_clip_builds_lock_per_clip_not_per_cache_directory(tmp_path: Path) -> None:
    """Two workers building *different* clips into one cache directory run at once; two
    asking for the *same* clip still take turns (the second then finds it cached). flock
    locks conflict between two opens of a file in one process too, so threads stand in for
    the workers."""
    import threading
    import time

    from tests.infra.clip_lock import one_builder_per_clip

    spans: dict[str, list[tuple[float, float]]] = {}

    @one_builder_per_clip
    def build(name: str, directory: Path) -> Path:
        started = time.monotonic()
        time.sleep(0.4)
        spans.setdefault(name, []).append((started, time.monotonic()))
        return directory / name

    def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] < b[1] and b[0] < a[1]

    threads = [threading.Thread(target=build, args=(n, tmp_path)) for n in ("a", "b", "a")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlap(spans["a"][0], spans["b"][0]), spans  # different clips: at once
    assert not overlap(spans["a"][0], spans["a"][1]), spans  # the same clip: in turn
