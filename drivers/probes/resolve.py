"""Host name resolution for the probes, on the probes' own small thread pool.

``getaddrinfo`` blocks and cannot be cancelled: a lookup that timed out for its probe keeps
its thread until the system resolver gives up (tens of seconds with a dead DNS server).
Through ``loop.getaddrinfo`` those threads would come from the event loop's default
executor, which the rest of the agent uses for disk writes and SQLite, and a few dead
hotspots could starve it. Here hung lookups only occupy these few threads; further lookups
queue behind them and time out in their probe, and nothing else waits.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

POOL_THREADS = 4
_pool = ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="probe-dns")

AddrInfo = tuple[Any, ...]


def is_address(host: str) -> bool:
    """True for an IPv4/IPv6 literal (no lookup needed)."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])  # fe80::1%eth0
    except ValueError:
        return False
    return True


async def getaddrinfo(host: str, port: int | str | None = None, *, family: int = 0,
                      socktype: int = 0) -> list[AddrInfo]:
    """``socket.getaddrinfo`` on the probes' pool; raises ``OSError`` (``socket.gaierror``)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, socket.getaddrinfo, host, port, family, socktype)


async def resolve(host: str, *, socktype: int = socket.SOCK_STREAM) -> list[str]:
    """The host's addresses, IPv4 first (as icmplib and most clients prefer); a literal
    address is returned as is, without a lookup."""
    if is_address(host):
        return [host]
    infos = await getaddrinfo(host, None, socktype=socktype)
    addresses = list(dict.fromkeys(str(i[4][0]) for i in infos))
    return sorted(addresses, key=lambda a: ":" in a)  # stable: IPv4 before IPv6


def aiohttp_connector(**kwargs: Any) -> Any:
    """An ``aiohttp.TCPConnector`` that resolves on the probes' pool (aiohttp's default
    resolver uses the loop's default executor). aiohttp is imported here, lazily: it costs
    ~19 MB and is only needed once an HTTP or ubus probe runs."""
    import aiohttp
    from aiohttp.abc import AbstractResolver, ResolveResult

    class _ProbeResolver(AbstractResolver):
        async def resolve(self, host: str, port: int = 0,
                          family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
            infos = await getaddrinfo(host, port, family=family, socktype=socket.SOCK_STREAM)
            return [ResolveResult(hostname=host, host=str(addr[0]), port=int(addr[1]),
                                  family=fam, proto=proto,
                                  flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)
                    for fam, _, proto, _, addr in infos]

        async def close(self) -> None:
            return None

    return aiohttp.TCPConnector(resolver=_ProbeResolver(), **kwargs)
