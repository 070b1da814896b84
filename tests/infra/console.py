"""The console for tests: a real control room process with users made by the real CLI,
a real headless Chromium (phone 412x915 or wall 1920x1080), and an HTTP session helper."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.infra.control_room_proc import ROOT, RoomProcess, room_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
PHONE = (412, 915)
SMALL_PHONE = (390, 844)  # the size most officials' phones have
WALL = (1920, 1080)
PASSWORD = "mat-khau-thu-nghiem"  # every test user's password
USERS = {"admin": "admin", "dieuhanh": "operator", "canbo": "viewer", "congan": "police"}
# a real place for sunset/sunrise: a commune in Nam Định
SITES = {"thon-1": {"name": "Thôn Đông", "latitude": 20.25, "longitude": 106.2},
         "thon-2": {"name": "Thôn Đoài", "latitude": 20.26, "longitude": 106.21}}


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


# the browser tests' mark: without the browser they are skipped with the package to install
needs_chromium = pytest.mark.skipif(not chromium_available(), reason="chromium missing "
                                    "(apt install chromium chromium-driver)")


def console_config(tmp: Path, broker_url: str, db_url: str, **sections: Any) -> dict[str, Any]:
    console = {"sites": SITES, "login_max_failures": 5, "login_window_s": 60,
               "live_poll_s": 0.3, **sections.pop("console", {})}
    return room_config(tmp, broker_url, db_url, console=console, **sections)


def add_users(room: RoomProcess, users: dict[str, str] = USERS) -> None:
    """With the real CLI (``control-room user add NAME --role R --password-stdin``), all in
    one interpreter (one start-up instead of one per user)."""
    calls = [["-c", str(room.config_path), "user", "add", name, "--role", role,
              "--password-stdin"] for name, role in users.items()]
    script = ("import io, sys\nfrom control_room.cli import main\n"
              f"for argv in {calls!r}:\n"
              f"    sys.stdin = io.StringIO({PASSWORD + chr(10)!r})\n"
              "    assert main(argv) == 0, argv\n")
    done = subprocess.run([sys.executable, "-c", script], text=True, capture_output=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr


def start_console(tmp: Path, broker_url: str, db_url: str, **sections: Any) -> RoomProcess:
    room = RoomProcess(tmp, console_config(tmp, broker_url, db_url, **sections))
    add_users(room)
    return room.start()


class Session:
    """A logged-in browser-less client (cookies kept), for what needs no page."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(self, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def login(self, name: str, password: str = PASSWORD) -> tuple[int, str]:
        _, page = self.request("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', page)
        assert token, page[:500]
        return self.request("/login", {"name": name, "password": password,
                                       "login_token": token.group(1), "next": ""})

    def csrf(self, path: str = "/") -> str:
        _, page = self.request(path)
        found = re.search(r'<meta name="csrf" content="([^"]*)"', page)
        assert found and found.group(1), page[:500]
        return found.group(1)

    def cookie(self, name: str) -> Any:
        return next((c for c in self.jar if c.name == name), None)


@contextmanager
def chromium(size: tuple[int, int] = PHONE, lang: str = "vi") -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-console-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", f"--user-data-dir={profile}",
                 f"--window-size={size[0]},{size[1]}", f"--lang={lang}",
                 "--hide-scrollbars"):
        options.add_argument(flag)
    # a Vietnamese phone: 24 h time pickers, Vietnamese first
    options.add_experimental_option("prefs", {"intl.accept_languages": f"{lang},en"})
    if size[0] < 800:  # a phone (a desktop window is never narrower than 500 px)
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": size[0], "height": size[1], "pixelRatio": 1.0}})
    # Chromium on Linux takes its UI locale (date and time pickers) from LANGUAGE
    env = {**os.environ, "LANGUAGE": lang, "LANG": "vi_VN.UTF-8" if lang == "vi" else "C.UTF-8"}
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER, env=env), options=options)
    driver.set_page_load_timeout(30)
    if size == WALL:  # the TV's viewport exactly, not the window's outer size
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def browser_login(driver: Any, url: str, name: str, password: str = PASSWORD,
                  next_path: str = "/") -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/login?next={urllib.parse.quote(next_path)}")
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def wait_for(probe: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:  # a stale element while a fragment is swapped
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(step)
    raise TimeoutError(f"{what}: not within {timeout} s (last: {last!r})")


def text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return "\n".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, css))


class _Visible(HTMLParser):
    """The text a person sees (and reads aloud: placeholders, titles, alt texts), without
    machine text shown as such (``<code>``: command arguments, config hashes)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code"):
            self._skip += 1
        self.parts += [v for k, v in attrs if k in ("placeholder", "title", "alt",
                                                    "aria-label") and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def english_left(html: str) -> list[str]:
    """The English msgids (their fixed parts of four letters or more) seen on a page that
    should be in Vietnamese. A msgid that also appears in the Vietnamese text of some
    translation (``Camera``, ``Wifi``, ``CPU``) is a word Vietnamese uses too: not counted."""
    from babel.messages.pofile import read_po

    from control_room.console.i18n import LOCALE_DIR

    with (LOCALE_DIR / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="vi")
    all_vi = " ".join(str(m.string) for m in catalog if m.id)
    parser = _Visible()
    parser.feed(html)
    seen = " ".join(" ".join(parser.parts).split())
    found = []
    for message in catalog:
        if not message.id or message.string == message.id:
            continue
        for chunk in re.split(r"%\(\w+\)[sd]", str(message.id)):
            chunk = chunk.strip(" .:·,()")
            if len(chunk) < 4 or chunk in all_vi:
                continue
            if re.search(rf"(?<!\w){re.escape(chunk)}(?!\w)", seen):
                found.append(chunk)
    return found
