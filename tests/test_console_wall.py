"""The wall screen recovers by itself when the service restarts: a REAL control room process
stopped and started again on the same port, a REAL headless Chromium at 1920x1080."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.infra.broker import Broker, free_port
from tests.infra.console import (
    WALL,
    add_users,
    browser_login,
    chromium,
    console_config,
    needs_chromium,
    text,
    wait_for,
)
from tests.infra.control_room_proc import RoomProcess

pytestmark = [pytest.mark.timeout(240),
              needs_chromium]


def _gateway_reports(db: Path, gateway: str) -> None:
    """What ingest writes for a new gateway's birth message (state, last_seen)."""
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute("INSERT INTO gateways (gateway_key, site, gateway, state, last_seen, "
                     "health_interval_s) VALUES (?, ?, ?, 'online', ?, 60)",
                     (f"thon-1/{gateway}", "thon-1", gateway, time.time()))


def test_wall_reconnects_by_itself_after_a_restart(tmp_path: Path, private_broker: Broker,
                                                   artifacts_dir: Path) -> None:
    db = tmp_path / "room.db"
    # a broker of its own: no retained states of other tests' gateways
    config = console_config(tmp_path, private_broker.url, f"sqlite:///{db}")
    config["http"]["port"] = free_port()  # the TV's URL does not change across restarts
    room = RoomProcess(tmp_path, config)
    add_users(room)
    room.start()
    try:
        with chromium(WALL) as wall:
            browser_login(wall, room.url, "canbo", next_path="/wall")
            wait_for(lambda: "Chưa có dữ liệu" in text(wall, "#f-wall"), 30, "the empty wall")
            wall.execute_script("window.__sameDocument = 1")
            _gateway_reports(db, "gw-a")
            wait_for(lambda: "1/1 bộ điều khiển" in text(wall, "#f-wall"), 5, "live update")
            assert room.stop() == 0
            wait_for(lambda: text(wall, "#conn") == "Đang kết nối lại…", 15,
                     "the wall saying it is reconnecting")
            _gateway_reports(db, "gw-b")  # happens while the service is down
            room.start()
            wait_for(lambda: text(wall, "#conn") == "Trực tuyến", 30, "reconnected")
            wait_for(lambda: "2/2 bộ điều khiển" in text(wall, "#f-wall"), 10,
                     "what changed meanwhile")
            _gateway_reports(db, "gw-c")
            wait_for(lambda: "3/3 bộ điều khiển" in text(wall, "#f-wall"), 5,
                     "live again after the restart")
            assert wall.execute_script("return window.__sameDocument") == 1  # no reload
            assert "/wall" in wall.current_url
            wall.save_screenshot(str(artifacts_dir / "console_wall_after_restart.png"))
    finally:
        room.stop()
    assert "Traceback" not in room.log(), room.log()[-4000:]
