"""Vietnamese first: the catalog covers every string of the console, and a page rendered in
Vietnamese shows no English. Pages with real data are checked in the live tests too."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

from control_room.console.i18n import LOCALE_DIR
from tests.infra.console import english_left

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _catalog(path: Path, locale: str | None = None) -> Any:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def test_template_is_current_and_vietnamese_is_complete(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    "control_room/console/babel.cfg", "-k", "N_", "--no-location",
                    "--sort-output", "-o", str(fresh), "."], cwd=ROOT, check=True,
                   capture_output=True, timeout=120)
    extracted = {m.id for m in _catalog(fresh) if m.id}
    committed = {m.id for m in _catalog(LOCALE_DIR / "messages.pot") if m.id}
    assert extracted == committed, (
        "the committed messages.pot is stale: run pybabel extract (docs/control-room.md)",
        sorted(extracted ^ committed))
    vi = {m.id: m for m in _catalog(LOCALE_DIR / "vi" / "LC_MESSAGES" / "messages.po", "vi")
          if m.id}
    missing = sorted(str(i) for i in extracted if not (vi.get(i) and vi[i].string))
    assert not missing, f"untranslated in vi: {missing}"
    fuzzy = sorted(str(i) for i in extracted if vi[i].fuzzy)
    assert not fuzzy, f"fuzzy (needs a look) in vi: {fuzzy}"
    for msgid, message in vi.items():
        assert sorted(PLACEHOLDER.findall(str(msgid))) == \
            sorted(PLACEHOLDER.findall(str(message.string))), (msgid, message.string)


def _sample() -> dict[str, Any]:
    """One of everything the templates show, so every branch renders."""
    now = time.time()
    circuit = {"circuit": "duong-chinh", "state": "on", "desired": "off", "reason": "override",
               "override_until": now + 3600, "next_change": now + 3600, "next_state": "off",
               "on_hours_today": 2.5, "driver_ok": False, "payload": {"name": "Đường chính"},
               "energy": []}
    camera = {"camera": "cong", "state": "offline", "armed": True, "snapshot_sha": "a" * 64,
              "snapshot_at": now, "last_event_at": now,
              "payload": {"activity_trigger": "bitstream", "activity_fired": 14,
                          "activity_confirmed": 11}}
    hotspot = {"hotspot": "nha-van-hoa", "state": "degraded", "since": now - 60, "ts": now,
               "rtt_median_ms": 40.0, "loss_pct": 2.5, "clients": 7, "uptime_24h_pct": 99.5,
               "payload": {}, "series": [(now - 60, {"rtt_median_ms": 30, "loss_pct": 1})],
               "uptime": [(now - 86400, 98.0)], "name": "Nhà văn hoá", "per_ssid": {"xa": 7}}
    gateway = {"gateway_key": "thon-1/gw-a", "site": "thon-1", "gateway": "gw-a",
               "state": "stale", "last_seen": now - 300, "version": "0.1.0",
               "config_hash": "abc", "clock_synced": False, "outbox_depth": 3,
               "outbox_oldest_age_s": 30.0, "disk_free_mb": 900.0, "boot_time": None,
               "unexplained_loss": 0, "health": {"cpu_percent": 5, "ram_used_mb": 100,
                                                 "ram_total_mb": 512, "soc_temp_c": 50},
               "circuits": [circuit], "cameras": [camera], "hotspots": [hotspot]}
    counts = {"gateways": 1, "gateways_online": 0, "lights": 1, "lights_on": 1,
              "lights_off": 0, "lights_due_on": 0, "lights_wrong": 1, "cameras": 1,
              "cameras_online": 0, "hotspots": 1, "hotspots_up": 0}
    alert = {"key": "camera_offline:thon-1/gw-a:cong", "rule": "camera_offline",
             "site": "thon-1", "gateway": "gw-a", "subject": "cong", "severity": "warning",
             "status": "pending", "message": "camera cong offline", "since": now - 60,
             "fired_at": None, "acked_by": "an", "ack_note": "đang đến"}
    village = {"site": "thon-1", "name": "Thôn Đông", "gateways": [gateway], "counts": counts,
               "sun": (now, now + 40000), "energy": [(now - 86400, 10.0), (now, None)],
               "problems": [gateway], "fine": [gateway]}
    event = {"event_id": "e1", "gateway_key": "thon-1/gw-a", "camera": "cong", "ts": now,
             "started_at": now - 5, "zones": ["duong"], "duration_s": 4, "event": "update",
             "snapshot_sha": None}
    return {"alerts": [alert] * 9, "active": [alert], "villages": [village] * 25,
            "totals": counts, "g": gateway, "events": [event],
            "commands": [{"requested_at": now, "actor": "an", "path": "ping", "status": "ok"},
                         {"requested_at": now, "actor": "an", "path": "light/duong-chinh/pulse",
                          "args": {"seconds": 2.5}, "status": "ok"}],
            "grid": [{**camera, "gateway_key": "thon-1/gw-a", "site": "thon-1",
                      "gateway": "gw-a", "gateway_state": "online", "name": "Cổng"}],
            "history": [{"at": now, "kind": k, "key": alert["key"]}
                        for k in ("pending", "fired", "acknowledged", "resolved")],
            "zones": ["duong"], "filters": {}, "day_start": now - 86400, "site": None,
            "sites": [("thon-1", "Thôn Đông")],
            "cameras": [{"value": "thon-1/gw-a:cong", "camera": "cong",
                         "name": "Cổng", "gateway_key": "thon-1/gw-a"}],
            "gateway": None}


def test_every_page_in_vietnamese_shows_no_english() -> None:
    from markupsafe import Markup

    from control_room.auth.store import User
    from control_room.console.render import Renderer
    from control_room.console.views import VIEWS

    renderer = Renderer("Asia/Ho_Chi_Minh", lambda site: "Thôn Đông")
    data = _sample()
    admin = User("an", "admin")
    rows = [{"id": 1, "at": time.time(), "actor": "an", "action": a, "target": "x", "ok": ok,
             "detail": {"path": "light/duong-chinh/override", "note": "ghi chú",
                        "args": {"state": "on", "until": "2026-12-01T23:15:00+07:00"}}}
            for a, ok in (("command", True), ("login_failed", False), ("alert_ack", True))]
    pages: dict[str, dict[str, Any]] = {
             "login.html": {"login_token": "t", "next": "", "message": ("wait", 5)},
             "audit.html": {"rows": rows, "more": 1},
             "users.html": {"rows": [{"name": "an", "role": "admin", "has_token": True},
                                     {"name": "binh", "role": "police", "has_token": False}],
                            "roles": ("admin", "operator", "viewer", "police"),
                            "token": ("an", "tok"), "message": "lỗi"}}
    for view in VIEWS.values():
        parts = {k: Markup(renderer.render(t, "vi", admin, **data))
                 for k, t in view.fragments.items()}
        pages[view.template] = {**data, "frags": parts, "hashes": dict.fromkeys(parts, "")}
    checked = 0
    for template, context in pages.items():
        html = renderer.render(template, "vi", admin, csrf="c", path="/", view="x",
                               **context)
        assert not english_left(html), (template, english_left(html))
        assert "Phòng điều hành" in html
        english = renderer.render(template, "en", admin, csrf="c", path="/", view="x",
                                  **context)
        assert "ontrol room" in english and "Phòng điều hành" not in english
        assert english_left(english), template  # the check does see English
        checked += 1
    assert checked == 11


def test_times_and_numbers_in_vietnamese() -> None:
    from control_room.console.i18n import Formats

    f = Formats("vi", "Asia/Ho_Chi_Minh")
    ts = 1764590400.0  # 2025-12-01 12:00 UTC = 19:00 in Hà Nội
    assert f.time(ts) == "19:00"
    assert f.full(ts) == "19:00:00 01/12/2025"
    assert f.when(ts, ts + 3600) == "19:00" and f.when(ts, ts + 86400) == "19:00 01/12"
    assert f.num(1234.5) == "1.234,5" and f.num(2.0, 0) == "2"
    assert f.ago(ts - 300, ts) == "5 phút trước"
    assert Formats("en", "Asia/Ho_Chi_Minh").num(1234.5) == "1,234.5"


def test_camera_page_shows_the_activity_trigger_in_vietnamese_and_english() -> None:
    """The adaptive decoder's trigger and counts from ``camera/{id}/status`` (stored with
    the payload) on the camera page; a camera without them (older agent, other decode
    modes) shows no such line."""
    from control_room.auth.store import User
    from control_room.console.render import Renderer

    renderer = Renderer("Asia/Ho_Chi_Minh", lambda site: "Thôn Đông")
    data = _sample()
    user = User("an", "operator")
    vi = renderer.render("frag/camera_grid.html", "vi", user, **data)
    assert "Kích hoạt giải mã: theo luồng video · 14 lần, 11 lần thấy chuyển động" \
        in vi, vi
    en = renderer.render("frag/camera_grid.html", "en", user, **data)
    assert "Activity trigger: from the video stream · fired 14 times, 11 with motion" in en
    data["grid"][0]["payload"] = {}
    assert 'class="mute trigger"' not in renderer.render("frag/camera_grid.html", "vi", user,
                                                         **data)


def test_a_command_reads_in_words_and_odd_arguments_are_shown_as_sent() -> None:
    """The audit log and a gateway's recent commands: words, not the JSON sent over MQTT."""
    from control_room.console.command_words import MAX_VALUE, command_words
    from control_room.console.i18n import Formats, translations

    vi, en = (Formats(lang, "Asia/Ho_Chi_Minh") for lang in ("vi", "en"))
    now = datetime(2026, 12, 1, 20, 0, tzinfo=UTC).timestamp()  # 03:00 on the 2nd in Hanoi
    hold = {"state": "on", "until": "2026-12-01T23:15:00+00:00"}  # 06:15 on the 2nd there
    words = partial(command_words, translations("vi").gettext)
    assert words(vi, "light/duong-chinh/override", hold, now) == \
        "Giữ duong-chinh: Bật, đến 06:15"
    assert command_words(translations("en").gettext, en, "light/duong-chinh/override",
                         hold, now) == "Hold duong-chinh: On, until 06:15"
    assert words(vi, "light/duong-chinh/pulse", {"seconds": 2.5}, now) == \
        "Thử bật tắt duong-chinh: trong 2,5 giây"
    assert words(vi, "camera/cong/disarm", {"until": "2026-12-03T01:00:00+07:00"}, now) == \
        "Ngừng giám sát cong: đến 01:00 03/12"
    assert words(vi, "camera/cong/snapshot", {}, now) == "Chụp ảnh ngay cong"
    assert words(vi, "config/reload", None, now) == "config/reload"
    # an API caller may send anything: shown short and as sent, never a crash
    odd = words(vi, "light/x/override", {"until": "next tuesday", "colour": "x" * 500}, now)
    assert odd.startswith("Giữ x: until: next tuesday, colour: xxx") and odd.endswith("…")
    assert len(odd) < 2 * MAX_VALUE + 40
    assert words(vi, "light/x/pulse", [1, 2], now) == "Thử bật tắt x: [1, 2]"
    assert words(vi, "light/x/pulse", {"seconds": True}, now) == "Thử bật tắt x: seconds: True"
