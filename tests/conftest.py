"""Shared fixtures: a real mosquitto per session, a control-room client, agent processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.broker import Broker
from tests.infra.mqtt_client import ControlRoom
from tests.infra.postgres import Postgres
from tests.infra.postgres import available as postgres_available
from tests.infra.schedule import (  # noqa: F401  (hooks: xdist work units, longest first)
    pytest_collection_modifyitems,
    pytest_xdist_make_scheduler,
)
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


@pytest.fixture(scope="session")
def clip_dir(artifacts_dir: Path) -> Path:
    """The labelled camera clips' cache (clips are keyed by their definition)."""
    return artifacts_dir / "camera-clips"


# -- the control room's databases: the same tests run on SQLite and on PostgreSQL ----------
@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Postgres]:
    """One throwaway PostgreSQL cluster per session (each test gets its own database)."""
    if not postgres_available():
        pytest.fail("PostgreSQL 15 is not installed (scripts/test installs it as root)")
    cluster = Postgres.in_tmp().init().start()
    yield cluster
    cluster.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/room.db"
    cluster: Postgres = request.getfixturevalue("pg_cluster")
    name = "t_" + uuid.uuid4().hex[:12]
    return cluster.create_database(name)
