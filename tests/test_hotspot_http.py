"""HTTP probe against a real local aiohttp server: 200, 500, too slow, wrong page, refused."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiohttp import web

from drivers.probes import build_probe
from drivers.probes.http import HttpProbeConfig
from drivers.probes.tcp import TcpProbeConfig
from tests.infra.netns import PING_GROUP_RANGE, PingGroupRange

PORTAL = "<html><title>Xuan Truong free wifi</title><body>Welcome</body></html>"


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text=PORTAL, content_type="text/html")

    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=500, text="internal error")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text=PORTAL)

    async def other(_: web.Request) -> web.Response:
        return web.Response(text="<html>router login</html>", content_type="text/html")

    app = web.Application()
    app.add_routes([web.get("/portal", ok), web.get("/broken", broken),
                    web.get("/slow", slow), web.get("/other", other)])
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def probe(url: str, **extra: object) -> dict[str, object]:
    p = build_probe(HttpProbeConfig.model_validate({"probe": "http", "url": url, **extra}))
    try:
        return (await p.run()).as_dict()
    finally:
        await p.close()


async def test_200_with_expected_text(server: str) -> None:
    result = await probe(f"{server}/portal", expect_text="free wifi")
    assert result["ok"] is True and result["error"] is None
    assert result["detail"] == {"status": 200}
    assert isinstance(result["latency_ms"], float) and result["latency_ms"] > 0
    assert (result["sent"], result["received"]) == (1, 1)


async def test_500_is_a_failure_but_the_server_answered(server: str) -> None:
    result = await probe(f"{server}/broken")
    assert result["ok"] is False
    assert result["error"] == "HTTP 500 (expected 200)"
    assert result["received"] == 1  # an answer, not a lost packet
    result = await probe(f"{server}/broken", expect_status=[200, 500])
    assert result["ok"] is True


async def test_slow_response_past_timeout(server: str) -> None:
    started = time.monotonic()
    result = await probe(f"{server}/slow", timeout_s=0.5)
    assert time.monotonic() - started < 3  # gave up at its timeout, not after the 5 s reply
    assert result["ok"] is False and result["received"] == 0
    assert result["error"] == "no complete answer within 0.5 s"


async def test_wrong_content(server: str) -> None:
    result = await probe(f"{server}/other", expect_text="free wifi")
    assert result["ok"] is False
    assert result["error"] == "expected text 'free wifi' not found in the page"
    assert result["detail"] == {"status": 200}


async def test_connection_refused_is_a_clear_error(server: str) -> None:
    closed = await _closed_port()
    result = await probe(f"http://127.0.0.1:{closed}/")
    assert result["ok"] is False and result["received"] == 0
    assert result["error"] == f"cannot connect to 127.0.0.1:{closed}: connection refused"


async def test_tcp_probe_connects_and_reports_refused(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    good = await build_probe(TcpProbeConfig(host="127.0.0.1", port=port, count=3)).run()
    assert good.ok and good.received == 3 and len(good.rtts_ms) == 3
    closed = await _closed_port()
    bad = await build_probe(TcpProbeConfig(host="127.0.0.1", port=closed, count=2)).run()
    assert not bad.ok and bad.received == 0
    assert bad.error == f"127.0.0.1:{closed}: connection refused"


async def _closed_port() -> int:
    """A loopback port that nothing listens on (bound then released)."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()
    return port


async def test_dns_probe_resolves_localhost() -> None:
    """Resolved from /etc/hosts: no DNS traffic leaves the machine."""
    from drivers.probes.dns import DnsProbeConfig

    result = await build_probe(DnsProbeConfig(query="localhost")).run()
    assert result.ok and result.received == 1
    assert "127.0.0.1" in result.detail["addresses"] or "::1" in result.detail["addresses"]


@contextlib.contextmanager
def starved_default_executor(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """The loop's default executor with its only thread busy: anything queued there waits."""
    starved = ThreadPoolExecutor(max_workers=1)
    release = threading.Event()
    starved.submit(release.wait)
    loop.set_default_executor(starved)
    try:
        yield
    finally:
        release.set()


async def test_probes_resolve_names_without_the_default_executor(server: str) -> None:
    """A dead DNS server leaves getaddrinfo threads hanging after their probe timed out.
    Probes resolve on their own pool, so a starved default executor (the one the agent uses
    for disk and SQLite) does not stop them, and they do not add to it."""
    from drivers.probes.dns import DnsProbeConfig

    port = int(server.rsplit(":", 1)[1].split("/")[0])
    with starved_default_executor(asyncio.get_running_loop()):
        async with asyncio.timeout(10):
            dns = await build_probe(DnsProbeConfig(query="localhost")).run()
            tcp = await build_probe(TcpProbeConfig(host="localhost", port=port,
                                                   count=1)).run()
            http_probe = build_probe(HttpProbeConfig(
                url=server.replace("127.0.0.1", "localhost") + "/portal"))
            try:
                http = await http_probe.run()
            finally:
                await http_probe.close()
    assert dns.ok, dns.error
    assert tcp.ok, tcp.error
    assert http.ok, http.error


def _unprivileged_icmp_allowed() -> bool:
    low, high = (int(v) for v in PING_GROUP_RANGE.read_text().split())
    return low <= os.getgid() <= high


async def test_icmp_probe_resolves_without_the_default_executor() -> None:
    """icmplib would resolve the name in the default executor; the probe must not. Needs
    unprivileged ICMP: as root the test allows it for its duration (as the netns tests do)."""
    from drivers.probes.icmp import IcmpProbeConfig

    allow: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if not _unprivileged_icmp_allowed():
        if os.geteuid() != 0:
            pytest.skip("unprivileged ICMP is not allowed here and only root may allow it")
        allow = PingGroupRange("0 2147483647")
    with allow, starved_default_executor(asyncio.get_running_loop()):
        async with asyncio.timeout(10):
            result = await build_probe(IcmpProbeConfig(host="localhost", count=1,
                                                       timeout_s=2)).run()
    assert result.ok and result.error is None, result
