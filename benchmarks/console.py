"""Console server times on a province-sized store, and the live fan-out.

Run: ``.venv/bin/python benchmarks/console.py [--gateways 1000] [--clients 200]
[--rounds 20] [--requests 60]``. Builds a store of 1,000 gateways with a month of history
(``console_fleet.py``), starts mosquitto and the real ``control-room run`` on it, and measures
from a client on the same machine:

* the overview page (every gateway, counts, alerts): time to the last byte, p50/p95, and its
  weight (HTML as sent with gzip, plus the CSS and the script); target p95 ≤ 150 ms, ≤ 200 kB;
* the motion events page with 50 thumbnails: the HTML, then the 50 thumbnails fetched six at a
  time like a browser, first when none is cached (made by the server) and again when cached;
  target ≤ 300 ms;
* 200 browsers (aiohttp clients) on the overview's SSE stream: a gateway's state is changed in
  the store (as ingest would) and the time until each client has the new fragment is
  recorded; target p95 ≤ 1 s.

Prints a table and writes ``benchmarks/results/console.json``. SIGINT/SIGTERM stop the
children (service, broker) before exiting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:1] = [str(ROOT)]  # benchmarks/control_room.py must not shadow the package

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from benchmarks.console_fleet import build, key  # noqa: E402
from control_room.config import DatabaseSection  # noqa: E402
from control_room.store.db import create_engine  # noqa: E402
from tests.infra.broker import Broker  # noqa: E402
from tests.infra.control_room_proc import RoomProcess, room_config  # noqa: E402

PASSWORD = "benchmark-password"
TARGETS = {"overview_p95_ms": 150, "overview_weight_kb": 200, "events_page_ms": 300,
           "sse_lag_p95_s": 1.0}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def login(session: aiohttp.ClientSession, url: str) -> None:
    async with session.get(url + "/login") as response:
        page = await response.text()
    token = re.search(r'name="login_token" value="([^"]+)"', page)
    assert token, page[:300]
    async with session.post(url + "/login", data={"name": "bench", "password": PASSWORD,
                                                  "login_token": token.group(1),
                                                  "next": ""}) as response:
        assert response.status == 200 and "/login" not in str(response.url), response.url


SERVER_TIMING = re.compile(r"(\w+);dur=([0-9.]+)")


async def timed_get(session: aiohttp.ClientSession, url: str,
                    timing: dict[str, list[float]] | None = None) -> tuple[float, bytes]:
    started = time.perf_counter()
    async with session.get(url) as response:
        body = await response.read()
        assert response.status == 200, (url, response.status, body[:300])
        if timing is not None:
            for name, value in SERVER_TIMING.findall(response.headers.get("Server-Timing", "")):
                timing.setdefault(name, []).append(float(value))
    return time.perf_counter() - started, body


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(values), 1),
            "p95_ms": round(pct(values, 0.95), 1), "max_ms": round(max(values), 1)}


async def page_times(session: aiohttp.ClientSession, url: str, n: int) -> dict[str, Any]:
    """Time to the last byte at the client; the server's own wall and CPU time per page
    (Server-Timing): on a machine shared with other work the CPU time is the steadier."""
    for _ in range(3):  # warm: template compile, SQLite page cache
        await timed_get(session, url)
    timing: dict[str, list[float]] = {}
    times = [(await timed_get(session, url, timing))[0] * 1000 for _ in range(n)]
    return {**_summary(times), "n": n,
            "server": {k: _summary(v) for k, v in timing.items()}}


async def weight(url: str, cookies: Any) -> dict[str, Any]:
    async with aiohttp.ClientSession(cookie_jar=cookies, auto_decompress=False) as raw:
        async with raw.get(url + "/", headers={"Accept-Encoding": "gzip"}) as response:
            sent = await response.read()
            encoding = response.headers.get("Content-Encoding")
            page = await (await raw.get(url + "/", headers={"Accept-Encoding": "identity"})
                          ).read()
        text = page.decode()
        static = 0
        for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', text):
            async with raw.get(url + asset) as response:
                static += len(await response.read())
    return {"html_kb": round(len(page) / 1024, 1), "html_sent_kb": round(len(sent) / 1024, 1),
            "encoding": encoding, "static_kb": round(static / 1024, 1),
            "total_sent_kb": round((len(sent) + static) / 1024, 1)}


async def events_page(session: aiohttp.ClientSession, url: str, n: int) -> dict[str, Any]:
    times = await page_times(session, url + "/events?limit=50", n)
    _, body = await timed_get(session, url + "/events?limit=50")
    thumbs = re.findall(r'src="(/thumb/[0-9a-f]{64}\?w=\d+)"', body.decode())
    out: dict[str, Any] = {"html": times, "thumbnails": len(set(thumbs))}
    for label in ("cold", "warm"):
        started = time.perf_counter()
        await timed_get(session, url + "/events?limit=50")
        sizes = await _fetch_all(session, url, sorted(set(thumbs)))
        out[f"page_and_thumbs_{label}_ms"] = round((time.perf_counter() - started) * 1000, 1)
        out["thumb_kb_max"] = round(max(sizes, default=0) / 1024, 1)
        out["thumb_kb_mean"] = round(statistics.mean(sizes) / 1024, 1) if sizes else 0
    return out


async def _fetch_all(session: aiohttp.ClientSession, url: str, paths: list[str]
                     ) -> list[int]:
    gate = asyncio.Semaphore(6)  # a browser's connections per host

    async def one(path: str) -> int:
        async with gate:
            return len((await timed_get(session, url + path))[1])
    return list(await asyncio.gather(*(one(p) for p in paths)))


class Round:
    """How many browsers have had an update since the round's write."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.waiting: set[int] = set()
        self.done = asyncio.Event()

    def start(self) -> None:
        self.waiting = set(range(self.clients))
        self.done.clear()

    def arrived(self, n: int) -> None:
        self.waiting.discard(n)
        if not self.waiting:
            self.done.set()


class Watcher:
    """One browser on the overview's stream: records when each swap event has arrived."""

    def __init__(self, n: int, progress: Round) -> None:
        self.n = n
        self.progress = progress
        self.arrivals: list[float] = []
        self.connected = asyncio.Event()

    async def run(self, session: aiohttp.ClientSession, url: str) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with session.get(url + "/live?v=overview", timeout=timeout) as response:
            assert response.status == 200, response.status
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    if event.startswith(b"event: swap"):
                        self.arrivals.append(time.time())
                        self.connected.set()
                        self.progress.arrived(self.n)


async def fan_out(url: str, cookies: Any, db_path: Path, clients: int, rounds: int,
                  room_pid: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(cookie_jar=cookies, connector=connector) as session:
        progress = Round(clients)
        watchers = [Watcher(n, progress) for n in range(clients)]
        tasks = [asyncio.create_task(w.run(session, url)) for w in watchers]
        await asyncio.wait_for(asyncio.gather(*(w.connected.wait() for w in watchers)), 120)
        await asyncio.sleep(2)
        proc = psutil.Process(room_pid)
        proc.cpu_percent()
        lags: list[float] = []
        missed = 0
        db = sqlite3.connect(db_path, timeout=30)
        for n in range(rounds):
            site, gw = key(n // 2 * 37 % 1000)  # each gateway stopped, then back online
            before = [len(w.arrivals) for w in watchers]
            progress.start()
            state = "stopped" if n % 2 == 0 else "online"
            with db:  # what ingest does for a status message: state and last_seen
                db.execute("UPDATE gateways SET state = ?, last_seen = ? WHERE gateway_key = ?",
                           (state, time.time(), f"{site}/{gw}"))
            written = time.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progress.done.wait(), 5)
            for w, b in zip(watchers, before, strict=True):
                if len(w.arrivals) > b:
                    lags.append(w.arrivals[b] - written)
                else:
                    missed += 1
            await asyncio.sleep(0.8)
        cpu = proc.cpu_percent()
        db.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"clients": clients, "rounds": rounds, "updates": len(lags), "missed": missed,
            "lag_p50_s": round(statistics.median(lags), 3) if lags else None,
            "lag_p95_s": round(pct(lags, 0.95), 3) if lags else None,
            "lag_max_s": round(max(lags), 3) if lags else None,
            "service_cpu_percent": round(cpu, 1)}


async def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    db_path = work / "room.db"
    config = room_config(work, "", f"sqlite:///{db_path}")
    engine = create_engine(DatabaseSection(url=f"sqlite:///{db_path}"))
    counts = await build(engine, Path(config["storage"]["data_dir"]), args.gateways,
                         time.time(), PASSWORD)
    await engine.dispose()
    broker = Broker(work / "mosquitto").start()
    config["mqtt"]["url"] = broker.url
    room = RoomProcess(work, config)
    children.extend([room, broker])
    room.start(timeout=120)
    room.wait_log(r"retention: ", 120)  # the first roll-up pass must not overlap the figures
    assert room.proc is not None
    cookies = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=cookies) as session:
        await login(session, room.url)
        overview = await page_times(session, room.url + "/", args.requests)
        events = await events_page(session, room.url, args.requests)
        lights = await page_times(session, room.url + "/lights?site=thon-000", 20)
    sizes = await weight(room.url, cookies)
    sse = await fan_out(room.url, cookies, db_path, args.clients, args.rounds, room.proc.pid)
    return {"data": counts, "overview": overview, "overview_weight": sizes, "events": events,
            "lights_one_village": lights, "sse": sse}


children: list[Any] = []


def _table(r: dict[str, Any]) -> str:
    o, w, e, s = r["overview"], r["overview_weight"], r["events"], r["sse"]
    cpu = o["server"].get("cpu", {})
    rows = [
        ("overview p50 / p95 (client)", f"{o['p50_ms']} / {o['p95_ms']} ms", "p95 ≤ 150 ms"),
        ("overview server CPU p50 / p95", f"{cpu.get('p50_ms')} / {cpu.get('p95_ms')} ms",
         ""),
        ("overview weight (gzip HTML + CSS + JS)", f"{w['total_sent_kb']} kB "
         f"(HTML {w['html_kb']} kB raw)", "≤ 200 kB"),
        ("events page HTML p50 / p95", f"{e['html']['p50_ms']} / {e['html']['p95_ms']} ms", ""),
        ("events page + 50 thumbnails, cold", f"{e['page_and_thumbs_cold_ms']} ms",
         "≤ 300 ms"),
        ("events page + 50 thumbnails, cached", f"{e['page_and_thumbs_warm_ms']} ms",
         "≤ 300 ms"),
        ("thumbnail size mean / max", f"{e['thumb_kb_mean']} / {e['thumb_kb_max']} kB",
         "tens of kB"),
        ("lights page, one village p95", f"{r['lights_one_village']['p95_ms']} ms", ""),
        (f"SSE lag, {s['clients']} clients p50 / p95 / max",
         f"{s['lag_p50_s']} / {s['lag_p95_s']} / {s['lag_max_s']} s "
         f"({s['missed']} missed)", "p95 ≤ 1 s"),
        ("service CPU during fan-out", f"{s['service_cpu_percent']} %", ""),
    ]
    width = max(len(a) for a, _, _ in rows)
    return "\n".join(f"{a:<{width}}  {b:<34} {c}" for a, b, c in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, stop)
    work = Path(tempfile.mkdtemp(prefix="console-bench-"))
    try:
        result = asyncio.run(measure(args, work))
    except KeyboardInterrupt:
        print("interrupted: stopping the service and the broker", file=sys.stderr)
        return 130
    finally:
        for child in reversed(children):
            child.stop()
    result["machine"] = {"cpus": os.cpu_count(), "load_1m": os.getloadavg()[0],
                         "python": platform.python_version(),
                         "note": "shared by several helpers; figures are from one run"}
    result["targets"] = TARGETS
    print(_table(result))
    out = ROOT / "benchmarks" / "results" / "console.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
