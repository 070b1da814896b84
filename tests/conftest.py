"""Shared fixtures: a real mosquitto per session, a control-room client, agent processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.broker import Broker
from tests.infra.mqtt_client import ControlRoom
from tests.infra.skip_policy import (  # noqa: F401  (hooks: a skip in CI must be allowed)
    pytest_make_collect_report,
    pytest_runtest_makereport,
)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One mosquitto for the session. Tests that kill it use ``private_broker`` instead."""
    b = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield b
    b.stop()


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker this test may stop and restart (outage tests)."""
    b = Broker(tmp_path / "mosquitto").start()
    yield b
    b.stop()


@pytest.fixture
def control_room(broker: Broker) -> Iterator[ControlRoom]:
    room = ControlRoom(broker.port, "commune/#")
    yield room
    room.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
