"""A diagnosis tool for a room whose memory grows: ``CONTROL_ROOM_MEMWATCH=SECONDS`` (and
optionally ``CONTROL_ROOM_MEMWATCH_FILE=PATH``, default ``memwatch.txt`` in the data
directory) makes the worker trace its Python allocations (``tracemalloc``) and, every
SECONDS, append to the file:

- RSS, the bytes tracemalloc sees, the number of live objects and asyncio tasks;
- the top allocation sites that grew since the first snapshot, by traceback;
- the object types whose counts grew most;
- RSS again after ``gc.collect()`` and after glibc's ``malloc_trim(0)``: what a collection
  frees is garbage in cycles, what only a trim gives back is allocator fragmentation (free
  memory glibc keeps), what neither does is live Python objects (the tracemalloc lines).

Tracing costs CPU and memory of its own (roughly doubles the Python heap): diagnosis only,
off unless the variable is set. glibc only for the trim (elsewhere it is skipped).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import time
import tracemalloc
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)
TOP = 20
FRAMES = 8


def from_env(data_dir: Path) -> MemWatch | None:
    raw = os.environ.get("CONTROL_ROOM_MEMWATCH")
    if not raw:
        return None
    try:
        every = float(raw)
    except ValueError:
        log.warning("CONTROL_ROOM_MEMWATCH=%r: not a number of seconds; memwatch off", raw)
        return None
    path = Path(os.environ.get("CONTROL_ROOM_MEMWATCH_FILE") or data_dir / "memwatch.txt")
    return MemWatch(max(5.0, every), path)


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def malloc_trim() -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


def type_counts() -> Counter[str]:
    return Counter(type(o).__name__ for o in gc.get_objects())


class MemWatch:
    def __init__(self, every_s: float, path: Path) -> None:
        self.every_s = every_s
        self.path = path
        self._first: tracemalloc.Snapshot | None = None
        self._types: Counter[str] = Counter()
        self._started = time.monotonic()

    async def run(self) -> None:
        tracemalloc.start(FRAMES)
        log.info("memwatch: tracing allocations, a report every %.0f s in %s", self.every_s,
                 self.path)
        self._first = tracemalloc.take_snapshot()
        self._types = type_counts()
        while True:
            await asyncio.sleep(self.every_s)
            # the snapshot and the counts on the loop (a consistent picture, a few hundred
            # ms), the comparison in a thread (seconds: it must not stall ingest)
            snap = tracemalloc.take_snapshot()
            head = self._head(type_counts())
            text = await asyncio.to_thread(self.report, snap, head)
            await asyncio.to_thread(self._append, text)

    def _append(self, text: str) -> None:
        with open(self.path, "a") as fh:
            fh.write(text)

    def _head(self, types: Counter[str]) -> list[str]:
        traced, peak = tracemalloc.get_traced_memory()
        grown = sorted(((n - self._types.get(k, 0), k, n) for k, n in types.items()),
                       reverse=True)[:15]
        return [f"=== t={time.monotonic() - self._started:.0f}s rss={rss_mb():.1f}MB "
                f"traced={traced / 2**20:.1f}MB (peak {peak / 2**20:.1f}) "
                f"objects={sum(types.values())} tasks={len(asyncio.all_tasks())}",
                "types grown: " + ", ".join(f"{k} {d:+d} (={n})" for d, k, n in grown)]

    def report(self, snap: tracemalloc.Snapshot, head: list[str]) -> str:
        """Top sites by line (cheap to group), each with the traceback of its biggest
        block group (grouping every trace by traceback took minutes on a busy room)."""
        assert self._first is not None
        skip = [tracemalloc.Filter(False, tracemalloc.__file__)]
        snap = snap.filter_traces(skip)
        lines = list(head)
        for stat in snap.compare_to(self._first.filter_traces(skip), "lineno")[:TOP]:
            frame = stat.traceback[0]
            lines.append(f"{stat.size_diff / 2**10:+10.1f} KiB {stat.count_diff:+8d} blocks "
                         f"(now {stat.size / 2**10:.1f} KiB) {frame.filename}:{frame.lineno}")
            site = snap.filter_traces([tracemalloc.Filter(True, frame.filename, frame.lineno)])
            biggest = site.statistics("traceback")[:1]
            for tb in biggest:
                lines += [f"        {f.filename}:{f.lineno}" for f in tb.traceback[-FRAMES:]]
        before = rss_mb()
        collected = gc.collect()
        after_gc = rss_mb()
        trimmed = malloc_trim()
        lines.append(f"rss {before:.1f} -> gc.collect ({collected} freed) {after_gc:.1f} -> "
                     f"malloc_trim {rss_mb():.1f}{'' if trimmed else ' (no glibc)'} MB\n")
        return "\n".join(lines) + "\n"
