"""The console on a 390x844 phone, in Vietnamese and in English, with a REAL control room,
REAL mosquitto, a REAL agent on a simulated relay board and REAL headless Chromium: a fresh
control room says it has no data yet (not "0/0"), and a command's toast names the light,
the village and the gateway in a sentence, not the command path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.broker import Broker
from tests.infra.commune import start_village
from tests.infra.console import (
    SMALL_PHONE,
    WALL,
    browser_login,
    chromium,
    needs_chromium,
    start_console,
    text,
    wait_for,
)

pytestmark = [pytest.mark.timeout(240),
              needs_chromium]
LIGHT = "[data-light='thon-1/gw-a:main-road']"


def test_phone_says_no_data_yet_and_toasts_name_the_light(
        tmp_path: Path, private_broker: Broker, artifacts_dir: Path) -> None:
    broker = private_broker  # its own: no retained states of other tests' gateways
    room = start_console(tmp_path, broker.url, f"sqlite:///{tmp_path}/room.db")
    agent = None
    try:
        with chromium(SMALL_PHONE) as phone, chromium(SMALL_PHONE, "en") as english:
            browser_login(phone, room.url, "dieuhanh")
            browser_login(english, room.url, "admin")  # the language is the user's choice
            wait_for(lambda: english.find_elements("css selector", "#f-villages"), 20,
                     "the overview after the login")

            def to_english() -> bool:  # found again each try: the page may still change
                english.find_element("css selector",
                                     "form[action='/lang'] button[value=en]").click()
                return True

            wait_for(to_english, 20, "the language switch")
            wait_for(lambda: english.find_elements("css selector", "html[lang=en]"), 20,
                     "the page in English")
            for driver, words in ((phone, "Chưa có dữ liệu"), (english, "No data yet")):
                wait_for(lambda d=driver: text(d, "#f-villages"), 20, "the overview")
                shown = text(driver, "#f-villages")
                assert words in shown and "0/0" not in shown, shown
                assert driver.execute_script(
                    "return document.documentElement.scrollWidth") <= SMALL_PHONE[0]
            phone.save_screenshot(str(artifacts_dir / "console_390_overview_empty.png"))
            with chromium(WALL) as wall:
                browser_login(wall, room.url, "canbo", next_path="/wall")
                wait_for(lambda: "Chưa có dữ liệu" in text(wall, "#f-wall"), 20,
                         "the wall saying there is no data yet")
                assert "0/0" not in text(wall, "#f-wall")
            agent = start_village(tmp_path, broker.url, broker.port, "gw-a", "thon-1")
            wait_for(lambda: "1/1" in text(phone, "#f-villages"), 60,
                     "the overview counting the gateway once it reports")
            _toast_names_the_light(phone, room.url, "Đã thực hiện: Đèn đường «main-road» · "
                                   "Thôn Đông (gw-a) — Bật đến ")
            phone.save_screenshot(str(artifacts_dir / "console_390_toast.png"))
            _toast_names_the_light(english, room.url, "Done: Street light «main-road» · "
                                   "Thôn Đông (gw-a) — On until ")
            phone.get(room.url + "/g/thon-1/gw-a")
            recent = wait_for(lambda: [li.text for li in phone.find_elements(
                "css selector", "ul.plain li") if "dieuhanh" in li.text], 10,
                "the recent command on the gateway page")
            assert "Giữ" in recent[0] and recent[0].endswith("Thành công"), recent
            phone.get(room.url + "/audit")
            assert "Đối tượng" in phone.find_element(
                "css selector", "table.audit thead").get_attribute("textContent")
            for path in ("/", "/lights", "/cameras", "/hotspots", "/g/thon-1/gw-a",
                         "/events", "/alerts", "/audit"):  # nothing wider than the phone
                phone.get(room.url + path)
                assert phone.execute_script(
                    "return document.documentElement.scrollWidth") <= SMALL_PHONE[0], path
            phone.save_screenshot(str(artifacts_dir / "console_390_audit.png"))
    finally:
        if agent is not None:
            agent.stop()
        room.stop()
    assert "Traceback" not in room.log(), room.log()[-4000:]


def _toast_names_the_light(driver: object, url: str, sentence: str) -> None:
    """Hold the light on until the time the picker shows: the toast reads as a sentence
    with the light's name, village and gateway, and the time as HH:MM dd/mm (24 h)."""
    from selenium.webdriver.common.by import By

    driver.get(url + "/lights")  # type: ignore[attr-defined]

    def click() -> bool:  # found again each try: a live update may swap the card
        driver.find_element(By.CSS_SELECTOR, f"{LIGHT} button.on").click()  # type: ignore[attr-defined]
        return True

    wait_for(click, 30, "the light's hold button")
    toast = wait_for(lambda: text(driver, "#toast"), 30, "the command's answer")
    assert toast.startswith(sentence), toast
    assert "light/main-road" not in toast
    tail = toast[len(sentence):]
    assert len(tail) == len("21:00 02/12") and tail[2] == ":" and tail[8] == "/", toast
