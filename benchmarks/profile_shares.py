"""Shares of a py-spy profile (``--format raw``: collapsed stacks, ``frames count`` a line),
by the part of the control room a stack is in: the first matching rule wins, in order.

    .venv/bin/python benchmarks/profile_shares.py benchmarks/results/prof.txt [--seconds S]

``--seconds`` (the recording's length) adds the busy share of one core: py-spy at 50 Hz
records only samples where a thread was not idle.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

# (part, substring of a frame): the judge and the alerts run inside the leader loop; the
# ingest's database writes are under Ingest, its MQTT acks too
RULES = (("seq judge", "completeness.py"), ("seq judge", "_judge (control_room/service.py"),
         ("alerts", "control_room/alerting"), ("alerts", "control_room/alerts"),
         ("retention", "retention.py"),
         ("ingest: database write", "store/writer.py"), ("ingest: database write", "effects.py"),
         ("ingest: classify/decode", "ingest/classify.py"), ("ingest: other", "ingest/"),
         ("mqtt client", "paho/"), ("mqtt client", "aiomqtt/"),
         ("mqtt client", "control_room/mqtt.py"),
         ("api", "control_room/api"), ("database driver", "asyncpg"),
         ("database driver", "sqlalchemy"), ("database driver", "aiosqlite"))
# SQLAlchemy's asyncio layer runs a statement in a greenlet whose stack does not show the
# coroutine that awaits it: much of every caller's database work lands in "database driver"

# leaf frames that are a thread waiting, which py-spy counts as active (a select or a queue
# wait in C): not work, left out of the shares
WAITS = ("EpollSelector.select (", "Client._loop (paho/", "_worker (concurrent/futures/thread.py")
# the event loop itself and the database driver's protocol callbacks: a coroutine's awaited
# I/O is processed here, outside the coroutine's own stack (unattributed)
OTHER = "other (event loop, callbacks)"


def shares(text: str) -> tuple[int, Counter[str]]:
    """Busy samples and their split by part; waiting samples are counted as ``waits``."""
    parts: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        if stack.rsplit(";", 1)[-1].startswith(WAITS):
            parts["waits"] += n
            continue
        total += n
        parts[next((part for part, frame in RULES if frame in stack), OTHER)] += n
    return total, parts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("profile", type=Path)
    p.add_argument("--seconds", type=float, help="the recording's length")
    p.add_argument("--rate", type=float, default=50.0, help="py-spy's sampling rate (Hz)")
    args = p.parse_args()
    total, parts = shares(args.profile.read_text())
    if not total:
        print("no samples", file=sys.stderr)
        return 1
    busy = f", {100 * total / (args.seconds * args.rate):.1f} % of a core" if args.seconds else ""
    waits = parts.pop("waits", 0)
    print(f"{total} busy samples{busy} ({waits} waiting in select/queue left out)")
    for part, n in parts.most_common():
        print(f"  {part:<26} {n:>7} {100 * n / total:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
