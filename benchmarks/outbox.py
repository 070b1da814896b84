"""Outbox drain rate beside a raw paho QoS 1 loop, start → online latency, agent memory.

Run: ``.venv/bin/python benchmarks/outbox.py [--messages 20000] [--rounds 3] [--minutes 3]``.
Starts its own mosquitto (DESIGN §9), prints a table and writes
``benchmarks/results/outbox.json``. Targets (issue 2): drain ≥ 0.5× raw paho and ≥ 5,000
msg/s; start → retained ``online`` ≤ 2 s; agent RSS without cameras ≤ 60 MB, flat.

The drain is measured on the agent's real objects (Agent → Bus → Outbox → MqttLink) in this
process: N messages are accepted while the broker is down, the broker starts, and the clock
runs from the link's connection until the outbox is empty (every row PUBACKed and deleted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as paho  # noqa: E402
import psutil  # noqa: E402

from contract import encode, wrap  # noqa: E402
from edge_agent.agent import Agent  # noqa: E402
from edge_agent.config import load_config  # noqa: E402
from edge_agent.runtime import MessageClass  # noqa: E402
from tests.infra.agent_proc import base_config, write_config  # noqa: E402
from tests.infra.broker import Broker  # noqa: E402
from tests.infra.mqtt_client import ControlRoom  # noqa: E402

INFLIGHT = 1000  # the agent's default mqtt.max_inflight
BODY = {"circuit": "main-road", "state": "on", "reason": "schedule", "n": 0}


def sample_payload() -> bytes:
    from datetime import UTC, datetime

    return encode(wrap(BODY, seq=123456, now=datetime.now(UTC)))


# -- (a) raw paho --------------------------------------------------------------------------
def _paho_client(name: str) -> tuple[paho.Client, list[int]]:
    acked = [0]

    def on_publish(client: Any, userdata: Any, mid: int, *rest: Any) -> None:
        acked[0] += 1

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=name,
                         protocol=paho.MQTTv5)
    client.max_inflight_messages_set(0)  # unlimited: the highest window paho offers
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    return client, acked


def raw_paho_threaded(port: int, count: int) -> float:
    """msgs/s of paho with its network thread (loop_start) while this thread publishes."""
    client, acked = _paho_client("bench-raw-threaded")
    client.connect("127.0.0.1", port)
    client.loop_start()
    time.sleep(0.2)
    payload = sample_payload()
    started = time.perf_counter()
    for i in range(count):
        client.publish(f"bench/raw/t{i % 4}", payload, qos=1)
    deadline = time.monotonic() + 120
    while acked[0] < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"raw paho: only {acked[0]}/{count} PUBACKs")
        time.sleep(0.001)
    elapsed = time.perf_counter() - started
    client.loop_stop()
    client.disconnect()
    return count / elapsed


def raw_paho_single(port: int, count: int) -> float:
    """msgs/s of paho driven from one thread (publish, and run its loop every 200 messages):
    no GIL hand-offs, like the agent's single event loop."""
    client, acked = _paho_client("bench-raw-single")
    client.connect("127.0.0.1", port)
    while not client.is_connected():
        client.loop(0.05)
    payload = sample_payload()
    started = time.perf_counter()
    for i in range(count):
        client.publish(f"bench/raw/t{i % 4}", payload, qos=1)
        if i % 200 == 199:
            client.loop(0)
    deadline = time.monotonic() + 120
    while acked[0] < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"raw paho: only {acked[0]}/{count} PUBACKs")
        client.loop(0.01)
    elapsed = time.perf_counter() - started
    client.disconnect()
    return count / elapsed


# -- (b) outbox drain after an outage ------------------------------------------------------
async def _outbox_drain(broker: Broker, config: Path, count: int) -> dict[str, float]:
    agent = Agent(load_config(config))
    runner = asyncio.create_task(agent.run())
    while agent.outbox._writer is None:  # noqa: ASYNC110 - opened inside run()
        await asyncio.sleep(0.01)
    started = time.perf_counter()
    for start in range(0, count, 2000):
        await asyncio.gather(*(agent.bus.publish(f"bench/outbox/t{i % 4}", {**BODY, "n": i},
                                                 message_class=MessageClass.EVENT)
                               for i in range(start, min(count, start + 2000))))
    accept_rate = count / (time.perf_counter() - started)
    assert agent.outbox.stats().depth >= count  # plus the first health message
    broker.start()
    await asyncio.wait_for(agent.link.connected.wait(), 10)
    connected = time.perf_counter()
    while agent.outbox.stats().depth:  # noqa: ASYNC110 - a counter, no event
        await asyncio.sleep(0.002)
    drain = time.perf_counter() - connected
    sent = agent.link.sent
    agent.request_stop()
    await asyncio.wait_for(runner, 30)
    return {"accept_msgs_per_s": accept_rate, "drain_msgs_per_s": count / drain,
            "drain_s": drain, "sent": sent}


def outbox_drain(broker: Broker, tmp: Path, count: int, round_no: int) -> dict[str, float]:
    broker.stop()  # the outage: messages are accepted with no broker
    config = write_config(tmp / f"drain{round_no}.yaml", base_config(
        tmp, broker.url, gateway=f"bench{round_no}", lighting={"enabled": False},
        mqtt={"reconnect_min_s": 0.05, "reconnect_max_s": 0.1}))
    return asyncio.run(_outbox_drain(broker, config, count))


# -- start → retained online -----------------------------------------------------------
def _agent_cmd(config: Path) -> list[str]:
    return [sys.executable, "-m", "edge_agent", "run", "-c", str(config)]


def online_latency(broker: Broker, tmp: Path, runs: int) -> list[float]:
    config = write_config(tmp / "latency.yaml", base_config(
        tmp, broker.url, gateway="bench-latency", lighting={"enabled": False}))
    base = "commune/testsite/bench-latency/status"
    room = ControlRoom(broker.port, base)
    results = []
    try:
        for run in range(runs):
            started = time.perf_counter()
            proc = subprocess.Popen(_agent_cmd(config), cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            room.wait_for(_is_online, 15, count=run + 1)
            results.append(time.perf_counter() - started)
            proc.terminate()
            proc.wait(15)
    finally:
        room.close()
    return results


def _is_online(message: Any) -> bool:
    return bool(message.json().get("state") == "online")


# -- memory over a run -----------------------------------------------------------------
def memory_run(broker: Broker, tmp: Path, minutes: float) -> dict[str, Any]:
    """RSS of a real agent (no cameras; web page on) under steady traffic: health every 1 s,
    a ping command every 0.2 s; sampled every 2 s; least-squares slope after the first 20 s."""
    config = write_config(tmp / "memory.yaml", base_config(
        tmp, broker.url, gateway="bench-mem", health={"interval_s": 1},
        http={"enabled": True, "port": 0}))
    base = "commune/testsite/bench-mem"
    proc = subprocess.Popen(_agent_cmd(config), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    room = ControlRoom(broker.port, f"{base}/status")
    samples: list[tuple[float, float]] = []
    try:
        room.wait_for(lambda m: m.json().get("state") == "online", 15)
        ps = psutil.Process(proc.pid)
        modules = _loaded_heavy_modules(proc.pid)
        started = time.monotonic()
        next_sample = started
        while (now := time.monotonic()) - started < minutes * 60:
            room.publish(f"{base}/cmd/ping", {"id": f"p{int(now * 1000)}"})
            if now >= next_sample:
                samples.append((now - started, ps.memory_info().rss / 2**20))
                next_sample += 2.0
            time.sleep(0.2)
    finally:
        room.close()
        proc.terminate()
        proc.wait(15)
    steady = [(t, r) for t, r in samples if t >= 20] or samples
    slope = _slope(steady) * 3600 if len(steady) > 2 else 0.0
    return {"minutes": minutes, "samples": len(samples), "rss_mb_start": samples[0][1],
            "rss_mb_max": max(r for _, r in samples), "rss_mb_end": samples[-1][1],
            "slope_mb_per_hour": slope, "heavy_modules_loaded": modules,
            "samples_s_mb": [(round(t, 1), round(r, 2)) for t, r in samples]}


def _loaded_heavy_modules(pid: int) -> list[str]:
    """Shared objects of camera libraries mapped into the agent (should be none)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return []
    return sorted({name for name in ("cv2", "libavcodec", "numpy") if name in maps})


def _slope(points: list[tuple[float, float]]) -> float:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


# -- main ------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=3.0, help="memory run length")
    parser.add_argument("--latency-runs", type=int, default=5)
    parser.add_argument("--output", type=Path,
                        default=ROOT / "benchmarks" / "results" / "outbox.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the outage's reconnect warnings are expected

    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp_name:
        tmp = Path(tmp_name)
        broker = Broker(tmp / "mosquitto").start()
        try:
            threaded: list[float] = []
            single: list[float] = []
            drains: list[dict[str, float]] = []
            for round_no in range(args.rounds):  # interleaved: the machine is shared
                threaded.append(raw_paho_threaded(broker.port, args.messages))
                single.append(raw_paho_single(broker.port, args.messages))
                drains.append(outbox_drain(broker, tmp, args.messages, round_no))
                print(f"round {round_no + 1}: raw paho threaded {threaded[-1]:,.0f} msg/s, "
                      f"single-thread {single[-1]:,.0f} msg/s, outbox drain "
                      f"{drains[-1]['drain_msgs_per_s']:,.0f} msg/s", flush=True)
            latency = online_latency(broker, tmp, args.latency_runs)
            memory = memory_run(broker, tmp, args.minutes) if args.minutes > 0 else None
        finally:
            broker.stop()

    # the ratio is taken against the faster paho style: the stricter comparison
    raw_med = max(statistics.median(threaded), statistics.median(single))
    drain_med = statistics.median(d["drain_msgs_per_s"] for d in drains)
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": psutil.cpu_count(),
                    "platform": platform.platform(), "load_avg": os.getloadavg()},
        "messages": args.messages, "agent_max_inflight": INFLIGHT,
        "payload_bytes": len(sample_payload()),
        "raw_paho_threaded_msgs_per_s": threaded, "raw_paho_single_thread_msgs_per_s": single,
        "outbox_drain": drains,
        "raw_paho_median": raw_med, "drain_median": drain_med, "ratio": drain_med / raw_med,
        "accept_median_msgs_per_s": statistics.median(d["accept_msgs_per_s"] for d in drains),
        "online_latency_s": latency, "memory": memory,
        "targets": {"ratio": 0.5, "drain_msgs_per_s": 5000, "online_s": 2.0, "rss_mb": 60},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    _print_table(result)
    return 0


def _print_table(r: dict[str, Any]) -> None:
    def row(name: str, value: str, target: str, ok: bool | None) -> None:
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        print(f"{name:<42} {value:>16} {target:>12} {verdict:>5}")

    print()
    row("metric", "measured", "target", None)
    print("-" * 78)
    row("raw paho QoS 1, threaded (median)",
        f"{statistics.median(r['raw_paho_threaded_msgs_per_s']):,.0f}/s", "", None)
    row("raw paho QoS 1, single thread (median)",
        f"{statistics.median(r['raw_paho_single_thread_msgs_per_s']):,.0f}/s", "", None)
    row("outbox drain after outage (median)", f"{r['drain_median']:,.0f}/s", ">= 5,000/s",
        r["drain_median"] >= 5000)
    row("drain / faster raw paho", f"{r['ratio']:.2f}x", ">= 0.5x", r["ratio"] >= 0.5)
    row("outbox accept rate, broker down (median)", f"{r['accept_median_msgs_per_s']:,.0f}/s",
        "", None)
    lat = r["online_latency_s"]
    row("start -> retained online (max of runs)", f"{max(lat):.2f} s", "<= 2 s",
        max(lat) <= 2.0)
    row("  median", f"{statistics.median(lat):.2f} s", "", None)
    mem = r["memory"]
    if mem:
        row("agent RSS, no cameras (max)", f"{mem['rss_mb_max']:.1f} MB", "<= 60 MB",
            mem["rss_mb_max"] <= 60)
        row(f"RSS slope over {mem['minutes']:g} min", f"{mem['slope_mb_per_hour']:+.2f} MB/h",
            "flat", None)
        row("camera libraries mapped", ", ".join(mem["heavy_modules_loaded"]) or "none",
            "none", not mem["heavy_modules_loaded"])


if __name__ == "__main__":
    raise SystemExit(main())
