"""A plain persistent MQTT subscriber that checks ``seq``: the stand-in for the control room's
ingest in fleet tests and benchmarks.

Every message is validated with ``contract.parse`` and written as one line to a records file
*before* it is acknowledged (paho manual ack), so killing this process loses nothing the
broker thinks was delivered: the same "commit, then ack" rule the real ingest follows.
``Ledger`` (pure) reads the records and says what was lost (holes in a gateway's ``seq``
that no ``outbox/dropped`` explains), what arrived twice, and the publish → receive latency.

    python -m control_room.sim.consumer --broker mqtt://127.0.0.1:1883 --records FILE
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from contract import ContractError, parse, parse_time

TOPIC_FILTER = "commune/+/+/#"


@dataclass(frozen=True, slots=True)
class Record:
    recv: float  # Unix time received
    ts: float  # the message's own ts (0 for raw payloads)
    base: str  # commune/{site}/{gateway}
    kind: str  # seq | status:<state> | dropped:<a-b,...> | raw | invalid:<why>
    seq: int = 0
    replayed: bool = False

    def line(self) -> str:
        return (f"{self.recv:.4f}\t{self.ts:.3f}\t{self.base}\t{self.kind}\t{self.seq}\t"
                f"{int(self.replayed)}\n")

    @classmethod
    def from_line(cls, line: str) -> Record:
        recv, ts, base, kind, seq, replayed = line.rstrip("\n").split("\t")
        return cls(float(recv), float(ts), base, kind, int(seq), replayed == "1")


def record_for(topic: str, payload: bytes, recv: float) -> Record:
    """One received message as a record (never raises: a bad one is ``invalid:...``)."""
    parts = topic.split("/", 3)
    if len(parts) < 4:
        return Record(recv, 0.0, topic, "invalid:topic outside a gateway base")
    base, relative = "/".join(parts[:3]), parts[3]
    try:
        msg = parse(relative, payload)
    except ContractError as exc:
        return Record(recv, 0.0, base, "invalid:" + str(exc).replace("\t", " ")[:200])
    if msg.model is None:
        return Record(recv, 0.0, base, "raw")
    body = msg.body
    ts = parse_time(body["ts"]).timestamp()
    if msg.spec.pattern == "status":
        return Record(recv, ts, base, f"status:{body['state']}", int(body["last_seq"]))
    kind = "seq"
    if msg.spec.pattern == "outbox/dropped":
        kind = "dropped:" + ",".join(f"{r['first']}-{r['last']}" for r in body["ranges"])
    if body.get("seq") is None:
        return Record(recv, ts, base, "invalid:no seq on a durable topic")
    return Record(recv, ts, base, kind, int(body["seq"]), bool(body.get("replayed")))


@dataclass
class GatewayLedger:
    seqs: set[int] = field(default_factory=set)
    explained: set[int] = field(default_factory=set)
    duplicates: int = 0
    births: list[float] = field(default_factory=list)  # ts of each online status


class Ledger:
    """Aggregates records: loss by seq, duplicates, latency, births (pure)."""

    def __init__(self) -> None:
        self.gateways: dict[str, GatewayLedger] = {}
        self.latency_live: list[float] = []
        self.latency_replayed: list[float] = []
        self.invalid: list[str] = []
        self.raw = 0
        self.messages = 0

    def add(self, rec: Record, window: tuple[float, float] | None = None) -> None:
        """Count ``rec``; latency only for messages made inside ``window`` (ts range)."""
        self.messages += 1
        if rec.kind.startswith("invalid:"):
            self.invalid.append(f"{rec.base}: {rec.kind[8:]}")
            return
        if rec.kind == "raw":
            self.raw += 1
            return
        gw = self.gateways.setdefault(rec.base, GatewayLedger())
        if rec.kind == "status:online":
            gw.births.append(rec.ts)
        if rec.kind.startswith("status:"):
            return
        if rec.seq in gw.seqs:
            gw.duplicates += 1
        gw.seqs.add(rec.seq)
        if rec.kind.startswith("dropped:"):
            for part in rec.kind[8:].split(","):
                first, last = (int(x) for x in part.split("-"))
                gw.explained.update(range(first, last + 1))
        if window is None or window[0] <= rec.ts < window[1]:
            (self.latency_replayed if rec.replayed else self.latency_live).append(
                max(0.0, rec.recv - rec.ts))

    def extend(self, records: Iterable[Record],
               window: tuple[float, float] | None = None) -> Ledger:
        for rec in records:
            self.add(rec, window)
        return self

    def missing(self, expected_last_seq: dict[str, int]) -> dict[str, list[int]]:
        """Per gateway, the seqs up to the expected last one that never arrived and that no
        ``outbox/dropped`` explains."""
        out: dict[str, list[int]] = {}
        for base, last in expected_last_seq.items():
            gw = self.gateways.get(base, GatewayLedger())
            holes = [s for s in range(1, last + 1) if s not in gw.seqs and s not in
                     gw.explained]
            if holes:
                out[base] = holes
        return out

    def summary(self, expected_last_seq: dict[str, int]) -> dict[str, Any]:
        missing = self.missing(expected_last_seq)
        return {"messages": self.messages, "gateways_seen": len(self.gateways),
                "lost": sum(len(v) for v in missing.values()),
                "lost_gateways": len(missing),
                "lost_examples": {k: v[:10] for k, v in list(missing.items())[:5]},
                "duplicates": sum(g.duplicates for g in self.gateways.values()),
                "explained_drops": sum(len(g.explained) for g in self.gateways.values()),
                "invalid": len(self.invalid), "invalid_examples": self.invalid[:5],
                "latency_live_ms": percentiles(self.latency_live),
                "latency_replayed_ms": percentiles(self.latency_replayed)}


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"n": len(ordered), "p50": round(statistics.median(ordered) * 1000, 1),
            "p99": round(p99 * 1000, 1), "max": round(ordered[-1] * 1000, 1)}


def read_records(path: Path) -> list[Record]:
    with path.open() as fh:
        return [Record.from_line(line) for line in fh if line.count("\t") == 5]


class Subscriber:
    """paho MQTT 5, persistent session, QoS 1, manual ack after the record is written."""

    def __init__(self, host: str, port: int, records: IO[str], *, client_id: str,
                 username: str | None = None, password: str | None = None,
                 slow_s: float = 0.0) -> None:
        self.records = records
        self.slow_s = slow_s
        self.connected = threading.Event()
        self.received = 0
        self._lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=paho.MQTTv5, manual_ack=True)
        if username:
            self.client.username_pw_set(username, password)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 24 * 3600
        self.client.connect_async(host, port, keepalive=30, clean_start=False,
                                  properties=props)

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        # retain handling 1: retained messages only for a new subscription, not again on
        # every reconnect (they would count as duplicates)
        client.subscribe(TOPIC_FILTER, options=SubscribeOptions(qos=1, retainHandling=1))
        self.connected.set()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        if msg.retain:
            client.ack(msg.mid, msg.qos)  # old state from before this subscription
            return
        rec = record_for(msg.topic, bytes(msg.payload), time.time())
        with self._lock:
            self.records.write(rec.line())
            self.records.flush()  # written before the ack: a kill loses nothing acked
            self.received += 1
        if self.slow_s:
            time.sleep(self.slow_s)
        client.ack(msg.mid, msg.qos)

    def start(self) -> Subscriber:
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m control_room.sim.consumer",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    p.add_argument("--client-id", default=f"fleet-consumer-{uuid.uuid4().hex[:6]}")
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument("--records", type=Path, required=True, help="appended to")
    p.add_argument("--slow-ms", type=float, default=0.0, help="sleep per message")
    args = p.parse_args(argv)
    url = urlsplit(args.broker)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with args.records.open("a") as records:
        sub = Subscriber(url.hostname or "127.0.0.1", url.port or 1883, records,
                         client_id=args.client_id, username=args.username,
                         password=args.password, slow_s=args.slow_ms / 1000).start()
        stop.wait()
        sub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
