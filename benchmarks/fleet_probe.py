"""An alert probe for benchmarks/fleet.py: one gateway that only says it is online (a birth
``status``, retained, with its Last Will ``offline``), and is killed with ``kill -9`` by the
harness. The broker then publishes the Will at once (the socket closed without DISCONNECT);
the time from the kill to the control room's ``gateway_offline`` alert is the alert latency.
Its birth announces a long health interval, so it never turns stale meanwhile.

    python benchmarks/fleet_probe.py --port P --username probe/gw-probe --password X
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contract import encode, wrap  # noqa: E402
from control_room.sim import payloads  # noqa: E402

HEALTH_INTERVAL_S = 86_400.0  # staleness would fire the same alert: keep it out


def body(state: str, site: str, gateway: str, boot: int) -> bytes:
    now = datetime.now(UTC)
    payload = payloads.status(state, boot=boot, last_seq=0, site=site,  # type: ignore[arg-type]
                              gateway=gateway, boot_time=now,
                              health_interval_s=HEALTH_INTERVAL_S)
    return encode(wrap(payload, now=now))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--username", required=True, help="{site}/{gateway}")
    p.add_argument("--password", required=True)
    args = p.parse_args()
    site, gateway = args.username.split("/", 1)
    topic = f"commune/{site}/{gateway}/status"
    boot = int(time.time())  # a new life each start: the room applies a newer boot
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"probe-{gateway}",
                         protocol=paho.MQTTv5)
    client.username_pw_set(args.username, args.password)

    def fresh_will(c: paho.Client, *_: object) -> None:
        # a new envelope id for every connection, as the agent makes one: paho sends the
        # same Will on each reconnect, so after a broker restart (where mosquitto publishes
        # the Will of every connected client) the kill's Will had the id of that one and
        # the control room dropped it as a duplicate: no alert in the restart phase
        c.will_set(topic, body("offline", site, gateway, boot), qos=1, retain=True)

    fresh_will(client)
    client.on_disconnect = fresh_will  # runs before paho's loop reconnects
    online = threading.Event()

    def connected(c: paho.Client, *_: object) -> None:
        c.publish(topic, body("online", site, gateway, boot), qos=1, retain=True)
        print("probe: online", flush=True)  # every (re)connect: the harness counts them
        online.set()

    client.on_connect = connected
    client.reconnect_delay_set(0.2, 2)  # back soon after a broker restart
    client.connect("127.0.0.1", args.port, keepalive=30)
    client.loop_start()
    if not online.wait(30):
        print("probe: not connected", file=sys.stderr)
        return 1
    threading.Event().wait()  # until killed
    return 0


if __name__ == "__main__":
    sys.exit(main())
