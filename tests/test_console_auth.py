"""Console logins and roles against a REAL control room process (users made with the real
CLI) in a REAL headless Chromium at a phone's size, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.broker import Broker
from tests.infra.console import (
    PASSWORD,
    Session,
    browser_login,
    chromium,
    needs_chromium,
    start_console,
    text,
    wait_for,
)
from tests.infra.control_room_proc import TOKEN, RoomProcess

pytestmark = [pytest.mark.timeout(240),
              needs_chromium]


@pytest.fixture
def room(tmp_path: Path, private_broker: Broker, db_url: str) -> Iterator[RoomProcess]:
    room = start_console(tmp_path, private_broker.url, db_url)  # no retained strangers
    yield room
    room.stop()
    assert "Traceback" not in room.log(), room.log()[-4000:]


def test_wrong_password_and_rate_limit(room: RoomProcess) -> None:
    with chromium() as driver:
        browser_login(driver, room.url, "dieuhanh", "not-the-password")
        wait_for(lambda: text(driver, "#login-error"), 10, "the refusal")
        assert "Sai tên đăng nhập hoặc mật khẩu" in text(driver, "#login-error")
        assert driver.get_cookie("cr_session") is None
        assert "/login" in driver.current_url
        # the right password works in the browser
        browser_login(driver, room.url, "dieuhanh", PASSWORD)
        wait_for(lambda: text(driver, "#f-villages"), 10, "the overview")
        cookie = driver.get_cookie("cr_session")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    # five failures lock the name: even the right password is refused for a while
    client = Session(room.url)
    for _ in range(5):
        code, _page = client.login("canbo", "guess-guess")
        assert code == 401
    code, page = client.login("canbo", PASSWORD)
    assert code == 429 and "Nhập sai quá nhiều lần" in page
    assert client.cookie("cr_session") is None
    # another user is not locked by it
    assert Session(room.url).login("congan")[0] == 200
    admin = Session(room.url)
    assert admin.login("admin")[0] == 200
    code, audit = admin.request("/audit")
    assert code == 200 and audit.count("Đăng nhập bị từ chối") >= 6


def test_viewer_sees_no_buttons_and_their_post_is_refused(room: RoomProcess) -> None:
    with chromium() as driver:
        browser_login(driver, room.url, "canbo", next_path="/lights")
        wait_for(lambda: "Đèn đường" in text(driver, "nav"), 10, "the lights page")
        assert driver.find_elements("css selector", "form.act") == []
        assert "Người dùng" not in text(driver, "nav")  # no users page for a viewer
    viewer = Session(room.url)
    assert viewer.login("canbo")[0] == 200
    csrf = viewer.csrf("/lights")
    form = {"csrf": csrf, "gw": "thon-1/gw-a", "circuit": "main-road", "op": "pulse"}
    code, _ = viewer.request("/act/light", form)
    assert code == 403
    assert viewer.request("/act/ack", {"csrf": csrf, "key": "x", "note": "n"})[0] == 403
    assert viewer.request("/users")[0] == 403
    # an operator's POST without the CSRF token is refused too
    operator = Session(room.url)
    assert operator.login("dieuhanh")[0] == 200
    assert operator.request("/act/light", {**form, "csrf": "forged"})[0] == 403
    # and with it, it reaches the commander (no such gateway here: refused, audited)
    code, body = operator.request("/act/light", {**form, "csrf": operator.csrf()},
                                  {"X-Requested-With": "fetch"})
    assert code == 502 and "Chưa gửi được" in json.loads(body)["message"]


def test_police_sees_cameras_but_not_lights(room: RoomProcess) -> None:
    with chromium() as driver:
        browser_login(driver, room.url, "congan")
        wait_for(lambda: "/cameras" in driver.current_url, 10, "police land on cameras")
        nav = text(driver, "nav")
        assert "Camera" in nav and "Đèn đường" not in nav and "Tổng quan" not in nav
        driver.get(room.url + "/lights")
        assert "not for your role" in driver.page_source
    police = Session(room.url)
    assert police.login("congan")[0] == 200
    assert police.request("/lights")[0] == 403
    assert police.request("/hotspots")[0] == 403
    assert police.request("/live?v=overview")[0] == 403
    code, page = police.request("/cameras")
    assert code == 200 and "Chụp ảnh ngay" not in page  # no camera yet, but Vietnamese
    assert "<html lang=\"vi\">" in page
    # English for this user, kept in the store: a new login gets it too
    assert police.request("/lang", {"csrf": police.csrf("/cameras"), "lang": "en",
                                    "back": "/cameras"})[0] == 200
    assert "<html lang=\"en\">" in police.request("/cameras")[1]
    again = Session(room.url)
    assert again.login("congan")[0] == 200
    assert "No camera has reported yet." in again.request("/cameras")[1]
    # logging out ends the session on the server, not just in the browser
    cookie = police.cookie("cr_session").value
    assert police.request("/logout", {"csrf": police.csrf("/cameras")})[0] == 200
    stale = Session(room.url)
    stale.opener.addheaders = [("Cookie", f"cr_session={cookie}")]
    code, page = stale.request("/cameras")
    assert code == 200 and 'name="login_token"' in page  # back at the login page


def _api(room: RoomProcess, path: str, token: str, body: dict[str, object] | None = None
         ) -> int:
    req = urllib.request.Request(room.url + path, method="POST" if body else "GET",
                                 data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_per_user_api_tokens(room: RoomProcess) -> None:
    admin = Session(room.url)
    assert admin.login("admin")[0] == 200
    code, page = admin.request("/users", {"csrf": admin.csrf("/users"), "op": "token",
                                          "name": "canbo"})
    assert code == 200
    token = page.split('<code class="big">')[1].split("</code>")[0]
    assert _api(room, "/api/gateways", token) == 200
    assert _api(room, "/api/commands", token, {"gateway": "x", "command": "ping"}) == 403
    assert _api(room, "/api/gateways", "wrong-token-000") == 401
    assert _api(room, "/api/gateways", TOKEN) == 200  # the service token keeps working
    code, audit = admin.request("/audit")
    assert "Cấp mã API" in audit and "canbo" in audit
