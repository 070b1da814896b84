"""The console's pure parts: time in a state per day, sunrise/sunset, the login limiter,
roles, the override's "until HH:MM", charts, and live parts (no I/O, clock as a parameter)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from control_room.auth import roles
from control_room.auth.ratelimit import LoginLimiter
from control_room.console import charts, stats

VN = ZoneInfo("Asia/Ho_Chi_Minh")
H = 3600.0


def _local(day: int, hour: float) -> float:
    return datetime(2026, 12, day, tzinfo=VN).timestamp() + hour * H


def test_time_in_state_per_local_day() -> None:
    now = _local(3, 12)
    bounds = stats.day_starts(now, 3, VN)
    assert bounds == [_local(1, 0), _local(2, 0), _local(3, 0), _local(4, 0)]
    # on 18:00 -> 06:00 two nights; known from the first change only
    changes = [(_local(1, 18), "on"), (_local(2, 6), "off"), (_local(2, 18), "on"),
               (_local(3, 6), "off")]
    per_day = stats.time_in_state(changes, frozenset({"on"}), bounds, now)
    assert per_day == [6 * H, 12 * H, 6 * H]
    # unknown before the first change: no data, not zero; the state before counts if given
    late = [(_local(2, 18), "on")]
    assert stats.time_in_state(late, frozenset({"on"}), bounds, now) == [None, 6 * H, 12 * H]
    assert stats.time_in_state(late, frozenset({"on"}), bounds, now, before="off") == \
        [0.0, 6 * H, 12 * H]
    # the future is not counted: today so far
    assert stats.time_in_state([(_local(3, 10), "on")], frozenset({"on"}), bounds, now,
                               "off")[-1] == 2 * H


def test_sun_times_in_nam_dinh() -> None:
    rise, sset = stats.sun_times(20.25, 106.2, datetime(2026, 12, 1).date(), VN)
    assert rise is not None and sset is not None
    assert datetime.fromtimestamp(rise, VN).strftime("%H") == "06"
    assert datetime.fromtimestamp(sset, VN).strftime("%H:%M") < "17:30"
    assert stats.sun_times(89.9, 0, datetime(2026, 12, 1).date(), VN) == (None, None)


def test_login_limiter_per_name_and_address() -> None:
    limiter = LoginLimiter(max_failures=3, window_s=60, address_factor=2)
    keys = limiter.keys("canbo", "10.0.0.1")
    for i in range(3):
        assert limiter.wait_s(keys, 100 + i) == 0
        limiter.failed(keys, 100 + i)
    assert limiter.wait_s(keys, 103) == pytest.approx(57)
    # another name from the same address: the address allows six
    other = limiter.keys("dieuhanh", "10.0.0.1")
    assert limiter.wait_s(other, 103) == 0
    limiter.failed(other, 103)
    limiter.failed(other, 103)
    limiter.failed(other, 104)  # the address's sixth failure
    assert limiter.wait_s(limiter.keys("congan", "10.0.0.1"), 105) > 0
    assert limiter.wait_s(limiter.keys("congan", "10.0.0.2"), 105) == 0
    # the window passes
    assert limiter.wait_s(keys, 161) == 0
    limiter.succeeded(keys[0])


def test_roles() -> None:
    assert roles.can("operator", "command") and not roles.can("viewer", "command")
    assert roles.can("police", "snapshot") and not roles.can("police", "command")
    assert roles.can_view("police", "cameras") and not roles.can_view("police", "lights")
    assert roles.can_view("admin", "users") and not roles.can_view("operator", "users")
    assert roles.command_action("camera/gate/snapshot") == "snapshot"
    assert roles.command_action("camera/gate/arm") == "command"
    assert roles.api_allows("viewer", "GET", "/api/gateways")
    assert not roles.api_allows("viewer", "POST", "/api/commands", "ping")
    assert roles.api_allows("operator", "POST", "/api/commands", "light/a/override")
    assert roles.api_allows("police", "POST", "/api/commands", "camera/a/snapshot")
    assert not roles.api_allows("police", "GET", "/api/gateways")
    assert roles.home("police") == "/cameras" and roles.home("viewer") == "/"


def test_override_until_the_next_such_time() -> None:
    from control_room.console.actions import until_local

    now = _local(1, 20.5)  # 20:30
    assert until_local(now, "22:00", VN) == datetime(2026, 12, 1, 22, 0, tzinfo=VN)
    assert until_local(now, "05:30", VN) == datetime(2026, 12, 2, 5, 30, tzinfo=VN)
    assert until_local(now, "20:30", VN) == datetime(2026, 12, 2, 20, 30, tzinfo=VN)
    assert until_local(now, "22:00", VN).isoformat().endswith("+07:00")


def test_charts_escape_and_scale() -> None:
    svg = charts.bars([("<b>", 2.0), ("x", None)], "giờ", label="a&b")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "a&amp;b" in svg
    assert svg.count("<rect") == 1  # None is a gap
    line = charts.line([(0, 1.0), (10, None), (20, 2.0), (30, 3.0)], 0, 30, "ms")
    assert line.count("<polyline") == 1 and line.count("<circle") == 1


def test_parts_of_a_fragment() -> None:
    from control_room.console.app import PART, digest

    html = "<h>x</h><!--part:v-a-->A<!--/part--><!--part:v-b-->B<!--/part-->"
    assert [m.group(1) for m in PART.finditer(html)] == ["v-a", "v-b"]
    assert digest("A") != digest("B") and len(digest("A")) == 12
