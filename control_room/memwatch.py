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
# frames kept per allocation: each costs time at every allocation; 8 slowed a loaded room
# so much that its ingest fell minutes behind (the backlog then was all one saw)
FRAMES = int(os.environ.get("CONTROL_ROOM_MEMWATCH_FRAMES") or 3)


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
        """Top sites by line, each with its biggest traceback. Cheap on purpose: grouping
        every trace by traceback, or ``filter_traces`` (fnmatch per frame), took minutes
        on a busy room; this is one pass over the raw traces."""
        assert self._first is not None
        lines = list(head)
        top = snap.compare_to(self._first, "lineno")[:TOP]
        sites = {(s.traceback[0].filename, s.traceback[0].lineno) for s in top}
        stacks: Counter[tuple[tuple[str, int], ...]] = Counter()
        for _domain, size, frames, *_ in snap.traces._traces:  # type: ignore[attr-defined]
            if frames and frames[0] in sites:
                stacks[frames] += size
        biggest: dict[tuple[str, int], tuple[tuple[str, int], ...]] = {}
        for frames, _size in stacks.most_common():
            biggest.setdefault(frames[0], frames)
        for stat in top:
            frame = stat.traceback[0]
            lines.append(f"{stat.size_diff / 2**10:+10.1f} KiB {stat.count_diff:+8d} blocks "
                         f"(now {stat.size / 2**10:.1f} KiB) {frame.filename}:{frame.lineno}")
            lines += [f"        {name}:{line}" for name, line in
                      biggest.get((frame.filename, frame.lineno), ())[1:FRAMES]]
        before = rss_mb()
        collected = gc.collect()
        after_gc = rss_mb()
        trimmed = malloc_trim()
        lines.append(f"rss {before:.1f} -> gc.collect ({collected} freed) {after_gc:.1f} -> "
                     f"malloc_trim {rss_mb():.1f}{'' if trimmed else ' (no glibc)'} MB\n")
        return "\n".join(lines) + "\n"
