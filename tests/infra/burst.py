"""A publisher process built from the agent's own objects (Agent → Bus → Outbox → MqttLink).

Used by the outage and kill -9 tests and by the benchmark: the code paths are the real ones,
only the messages come from here instead of a capability. It reads commands on stdin, one a
line, and answers on stdout:

- ``burst N [CONCURRENCY [CLASS]]`` publishes N messages (CLASS: event, the default, state or
  telemetry) on topics ``burst/t0..t{K-1}`` (payload ``{"run", "k", "n"}``: ``k`` unique in
  this run, ``n`` increasing per topic; with ``--contract``, valid motion events on
  ``camera/burst{t}/motion`` with ``event_id`` ``{run}-{k}``, for the control room's tests) and
  prints
  ``A <k>`` for each one once ``publish`` returned (= accepted: on disk), then ``BURST-DONE``;
- ``drain`` waits until the outbox is empty, then prints ``DRAINED <seconds>``;
- ``stats`` prints ``STATS <json>``; ``quit`` stops the agent cleanly (prints ``STOPPED``).

Run: ``python -m tests.infra.burst -c CONFIG --run TAG [--topics K]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time

from contract import utc_iso
from edge_agent.agent import Agent
from edge_agent.config import load_config
from edge_agent.runtime import MessageClass


class Burst:
    def __init__(self, agent: Agent, run: str, topics: int, contract: bool = False) -> None:
        self.agent = agent
        self.message_class = MessageClass.EVENT
        self.contract = contract
        self.run = run
        self.topics = topics
        self.k = 0
        self.per_topic = [0] * topics

    async def publish_one(self, k: int, topic: int, n: int) -> None:
        body: dict[str, object] = {"run": self.run, "k": k, "n": n}
        name = f"burst/t{topic}"
        if self.contract:
            name = f"camera/burst{topic}/motion"
            body.update(camera=f"burst{topic}", event="update", event_id=f"{self.run}-{k}",
                        started_at=utc_iso(time.time()), boxes=[], zones=[], score=0.1,
                        peak_score=0.1, duration_s=0.0)
        await self.agent.bus.publish(name, body, message_class=self.message_class)
        sys.stdout.write(f"A {k}\n")

    async def burst(self, count: int, concurrency: int) -> None:
        remaining = count
        while remaining:
            batch = []
            for _ in range(min(concurrency, remaining)):
                topic = self.k % self.topics
                batch.append(self.publish_one(self.k, topic, self.per_topic[topic]))
                self.per_topic[topic] += 1
                self.k += 1
            remaining -= len(batch)
            await asyncio.gather(*batch)
            sys.stdout.flush()  # an id is reported only after it was accepted
        print("BURST-DONE", flush=True)

    async def drain(self) -> None:
        started = time.monotonic()
        while self.agent.outbox.stats().depth:  # noqa: ASYNC110 - a counter, no event
            await asyncio.sleep(0.01)
        print(f"DRAINED {time.monotonic() - started:.3f}", flush=True)


async def main(args: argparse.Namespace) -> None:
    agent = Agent(load_config(args.config))
    burst = Burst(agent, args.run, args.topics, args.contract)
    runner = asyncio.create_task(agent.run(), name="agent")
    while agent.outbox._writer is None:  # noqa: ASYNC110 - the outbox opens inside run()
        await asyncio.sleep(0.01)
    print("READY", flush=True)
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "burst":
            burst.message_class = MessageClass[words[3].upper()] if len(words) > 3 \
                else MessageClass.EVENT
            await burst.burst(int(words[1]), int(words[2]) if len(words) > 2 else 1000)
        elif words[0] == "drain":
            await burst.drain()
        elif words[0] == "stats":
            print("STATS " + json.dumps(agent.status()), flush=True)
    agent.request_stop()
    await runner
    print("STOPPED", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--run", default="r1")
    parser.add_argument("--topics", type=int, default=4)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--contract", action="store_true", help="valid motion events")
    options = parser.parse_args()
    logging.basicConfig(level=options.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(options))
