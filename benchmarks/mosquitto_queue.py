"""Does mosquitto drop QoS 1 messages to a subscriber that falls behind? Defaults vs shipped.

N publishers send QoS 1 as fast as the broker acknowledges into one slow persistent
subscriber (MQTT 5, clean start off, QoS 1, it sleeps per message like an ingest that
commits before acknowledging). Every publish is PUBACKed, so each publisher's outbox would
have let it go: whatever the subscriber never receives is lost. Run once on mosquitto's
defaults and once with the limits of config/mosquitto/mosquitto.conf; also reads the
broker's own ``$SYS/broker/publish/messages/dropped``. Prints a table, writes JSON.

    .venv/bin/python benchmarks/mosquitto_queue.py [--publishers 8] [--messages 3000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.infra.broker import free_port, wait_port  # noqa: E402

SHIPPED = ROOT / "config" / "mosquitto" / "mosquitto.conf"
LIMITS = ("max_inflight_messages", "max_queued_messages", "max_queued_bytes")
TOPIC = "bench/queue"


def shipped_limits() -> list[str]:
    text = SHIPPED.read_text()
    return [m.group(0) for key in LIMITS
            for m in [re.search(rf"^{key} \d+$", text, re.MULTILINE)] if m]


def start_broker(work: Path, port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    conf = work / f"mosquitto-{port}.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "sys_interval 1", *extra]
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    log = open(work / f"mosquitto-{port}.log", "wb")  # noqa: SIM115 - lives with the broker
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c",
                             str(conf)], stdout=log, stderr=log)
    wait_port(port)
    return proc


def subscriber(port: int, slow_s: float, ready: Any, counts: Any, stop: Any) -> None:
    """Slow persistent subscriber (own process): counts distinct messages it received."""
    seen: set[bytes] = set()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="slow-ingest",
                         protocol=paho.MQTTv5, manual_ack=True)

    def on_message(c: paho.Client, u: Any, msg: paho.MQTTMessage) -> None:
        if msg.topic.startswith("$SYS"):
            counts["sys_dropped"] = int(msg.payload)
            c.ack(msg.mid, msg.qos)
            return
        seen.add(bytes(msg.payload))
        counts["received"] = len(seen)
        time.sleep(slow_s)  # the commit before the ack
        c.ack(msg.mid, msg.qos)

    def on_connect(c: paho.Client, *args: Any) -> None:
        c.subscribe(TOPIC, qos=1)
        c.subscribe("$SYS/broker/publish/messages/dropped", qos=1)
        ready.set()

    client.on_message = on_message
    client.on_connect = on_connect
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    stop.wait()
    client.loop_stop()


def publish_all(port: int, publishers: int, messages: int) -> float:
    """Every publisher sends ``messages`` QoS 1 (many in flight); returns msg/s once all
    were PUBACKed by the broker."""
    done = threading.Barrier(publishers + 1)

    def one(index: int) -> None:
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"pub-{index}",
                             protocol=paho.MQTTv5)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", port)
        client.loop_start()
        infos = [client.publish(TOPIC, f"{index}:{n}:{'x' * 400}", qos=1)
                 for n in range(messages)]
        for info in infos:
            info.wait_for_publish(120)
        client.loop_stop()
        client.disconnect()
        done.wait()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(publishers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    done.wait()
    return publishers * messages / (time.monotonic() - started)


def run(name: str, extra: list[str], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    port = free_port()
    broker = start_broker(work, port, extra)
    ctx = mp.get_context("spawn")
    manager = ctx.Manager()
    counts: Any = manager.dict(received=0, sys_dropped=None)
    ready, stop = manager.Event(), manager.Event()
    sub = ctx.Process(target=subscriber, args=(port, args.slow_ms / 1000, ready, counts, stop))
    sub.start()
    try:
        ready.wait(30)
        rate = publish_all(port, args.publishers, args.messages)
        total = args.publishers * args.messages
        last, idle_since = -1, time.monotonic()
        while counts["received"] < total and time.monotonic() - idle_since < 3.0:
            time.sleep(0.2)
            if counts["received"] != last:
                last, idle_since = counts["received"], time.monotonic()
        time.sleep(1.5)  # one more $SYS interval
        received = int(counts["received"])
        return {"config": name, "limits": extra or ["(mosquitto defaults)"],
                "published_acked": total, "received": received, "lost": total - received,
                "lost_pct": round(100 * (total - received) / total, 1),
                "publish_rate_msg_s": round(rate), "sys_dropped": counts["sys_dropped"]}
    finally:
        stop.set()
        sub.join(10)
        manager.shutdown()
        broker.terminate()
        broker.wait(10)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--publishers", type=int, default=8)
    p.add_argument("--messages", type=int, default=2500, help="per publisher")
    p.add_argument("--slow-ms", type=float, default=1.0, help="subscriber's time per message")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/mosquitto_queue.json")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="mosq-queue-") as tmp:
        rows = [run("default", [], args, Path(tmp)),
                run("shipped", shipped_limits(), args, Path(tmp))]
    print(f"{'config':<9} {'published':>9} {'received':>9} {'lost':>7} {'lost %':>7} "
          f"{'pub msg/s':>9} {'$SYS dropped':>12}")
    for r in rows:
        print(f"{r['config']:<9} {r['published_acked']:>9} {r['received']:>9} {r['lost']:>7} "
              f"{r['lost_pct']:>7} {r['publish_rate_msg_s']:>9} {r['sys_dropped']!s:>12}")
    result = {"benchmark": "mosquitto_queue", "mosquitto": _version(),
              "publishers": args.publishers, "messages_each": args.messages,
              "subscriber_ms_per_message": args.slow_ms, "cpus": os.cpu_count(),
              "note": "2 shared cores, several helpers running", "runs": rows,
              "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


def _version() -> str:
    out = subprocess.run([shutil.which("mosquitto") or "mosquitto", "-h"],
                         capture_output=True, text=True)
    return (out.stdout or out.stderr).splitlines()[0]


if __name__ == "__main__":
    sys.exit(main())
