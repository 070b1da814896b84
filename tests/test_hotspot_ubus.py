"""ubus probe against a real local HTTP server that answers ubus JSON-RPC the way OpenWrt's
uhttpd-mod-ubus + rpcd do: session login, iwinfo devices/info/assoclist, expired sessions
(JSON-RPC error -32002 "Access denied", or ubus status 6), and broken replies."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from drivers.probes.ubus import UbusProbe, UbusProbeConfig
from edge_agent.hotspots.stats import RollingStats, RoundSample


@dataclass
class FakeOpenWrt:
    """The device's side: real HTTP, JSON-RPC semantics of rpcd (the seam we cannot run)."""

    password: str = "s3cret"
    radios: dict[str, tuple[str, list[int]]] = field(default_factory=lambda: {
        "wlan0": ("Xuan-Truong-Free", [-50, -60, -70]),
        "wlan1": ("Xuan-Truong-Free", [-40]),
        "wlan2": ("School-Staff", [-65, -75]),
    })
    sessions: set[str] = field(default_factory=set)
    logins: int = 0
    expire_with: str = "jsonrpc"  # how an unknown session is refused: jsonrpc | status6
    malformed: str | None = None  # make the next assoclist reply broken in this way
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        sid, obj, method, args = body["params"]
        self.calls.append((obj, method))
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": body["id"]}
        if (obj, method) == ("session", "login"):
            if args.get("username") == "root" and args.get("password") == self.password:
                token = uuid.uuid4().hex
                self.sessions.add(token)
                self.logins += 1
                reply["result"] = [0, {"ubus_rpc_session": token, "timeout": 300}]
            else:
                reply["result"] = [6]
            return web.json_response(reply)
        if sid not in self.sessions:
            if self.expire_with == "jsonrpc":
                reply["error"] = {"code": -32002, "message": "Access denied"}
            else:
                reply["result"] = [6]
            return web.json_response(reply)
        if method == "assoclist" and self.malformed:
            kind, self.malformed = self.malformed, None
            if kind == "html":
                return web.Response(text="<html>Bad Gateway</html>", content_type="text/html")
            if kind == "no-result":
                return web.json_response({"jsonrpc": "2.0", "id": body["id"]})
            if kind == "results-not-list":
                reply["result"] = [0, {"results": "wlan0"}]
                return web.json_response(reply)
            if kind == "status":
                reply["result"] = [4]
                return web.json_response(reply)
            if kind == "deep":  # nesting past the JSON parser's recursion limit
                return web.Response(body=b"[" * 100_000, content_type="application/json")
        if (obj, method) == ("iwinfo", "devices"):
            reply["result"] = [0, {"devices": list(self.radios)}]
        elif (obj, method) == ("iwinfo", "info"):
            reply["result"] = [0, {"ssid": self.radios[args["device"]][0], "channel": 6}]
        elif (obj, method) == ("iwinfo", "assoclist"):
            signals = self.radios[args["device"]][1]
            reply["result"] = [0, {"results": [
                {"mac": f"AA:BB:CC:00:00:{i:02X}", "signal": s, "noise": -95}
                for i, s in enumerate(signals)]}]
        else:
            reply["result"] = [3]
        return web.Response(text=json.dumps(reply), content_type="application/json")


@pytest.fixture
async def openwrt() -> AsyncIterator[tuple[FakeOpenWrt, str]]:
    device = FakeOpenWrt()
    app = web.Application()
    app.add_routes([web.post("/ubus", device.handle)])
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield device, f"http://127.0.0.1:{runner.addresses[0][1]}/ubus"
    await runner.cleanup()


def make_probe(url: str, password: str = "s3cret", **extra: Any) -> UbusProbe:
    return UbusProbe(UbusProbeConfig.model_validate(
        {"probe": "ubus", "url": url, "password": password, "timeout_s": 3, **extra}))


async def test_client_counts_per_radio_and_ssid(openwrt: tuple[FakeOpenWrt, str]) -> None:
    device, url = openwrt
    probe = make_probe(url)
    try:
        result = await probe.run()
    finally:
        await probe.close()
    assert result.ok, result.error
    assert result.clients_per_radio == {"wlan0": 3, "wlan1": 1, "wlan2": 2}
    assert result.clients_per_ssid == {"Xuan-Truong-Free": 4, "School-Staff": 2}
    assert result.signal_dbm == {"wlan0": -60.0, "wlan1": -40.0, "wlan2": -70.0}
    stats = RollingStats(5, 100)
    stats.add(RoundSample.from_results([result], at=0))
    snap = stats.snapshot(1)
    assert snap.clients == 6 and snap.clients_per_ssid["School-Staff"] == 2
    assert device.logins == 1


async def test_configured_radios_skip_discovery(openwrt: tuple[FakeOpenWrt, str]) -> None:
    device, url = openwrt
    probe = make_probe(url, radios=["wlan1"])
    try:
        result = await probe.run()
    finally:
        await probe.close()
    assert result.clients_per_radio == {"wlan1": 1}
    assert ("iwinfo", "devices") not in device.calls


@pytest.mark.parametrize("expire_with", ["jsonrpc", "status6"])
async def test_expired_session_logs_in_again_once(openwrt: tuple[FakeOpenWrt, str],
                                                  expire_with: str) -> None:
    device, url = openwrt
    device.expire_with = expire_with
    probe = make_probe(url)
    try:
        assert (await probe.run()).ok
        device.sessions.clear()  # rpcd forgot the session (timeout, reboot)
        result = await probe.run()
    finally:
        await probe.close()
    assert result.ok, result.error
    assert result.clients_per_radio == {"wlan0": 3, "wlan1": 1, "wlan2": 2}
    assert device.logins == 2 and probe.logins == 2


async def test_wrong_password_is_a_clear_error(openwrt: tuple[FakeOpenWrt, str]) -> None:
    _, url = openwrt
    probe = make_probe(url, password="nope")
    try:
        result = await probe.run()
    finally:
        await probe.close()
    assert not result.ok
    assert result.error == "ubus: login refused for user 'root' (wrong password?)"
    assert "nope" not in (result.error or "")


@pytest.mark.parametrize(("kind", "message"), [
    ("html", "ubus: iwinfo assoclist: reply is not JSON"),
    ("no-result", "ubus: iwinfo assoclist: malformed reply (no [status, data] result)"),
    ("results-not-list", "ubus: malformed reply: 'results' missing or not a list"),
    ("status", "ubus: iwinfo assoclist: ubus status 4 (not found)"),
    ("deep", "ubus: iwinfo assoclist: reply is not JSON"),
])
async def test_malformed_replies_are_clear_errors_and_the_next_round_works(
        openwrt: tuple[FakeOpenWrt, str], kind: str, message: str) -> None:
    device, url = openwrt
    probe = make_probe(url)
    try:
        device.malformed = kind
        bad = await probe.run()
        good = await probe.run()
    finally:
        await probe.close()
    assert not bad.ok and bad.error == message
    assert good.ok and good.clients_per_radio == {"wlan0": 3, "wlan1": 1, "wlan2": 2}
