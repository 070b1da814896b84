"""Uptime % over 24 h and 30 d, kept in SQLite so it survives restarts.

Time is accounted in 5-minute buckets per hotspot: seconds spent ``up``, ``degraded`` and
``down``. Uptime is (up + degraded) / (up + degraded + down) over the buckets of the span;
time the agent was not running (or the state was still unknown) counts neither way.

``UptimeLedger`` is the pure part (splits intervals into buckets, clock passed in);
``UptimeStore`` writes and reads SQLite and is called from a worker thread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

BUCKET_S = 300
DAY_S = 86400
KEEP_S = 31 * DAY_S
COUNTED = ("up", "degraded", "down")


class UptimeLedger:
    """Seconds per (hotspot, bucket, state) not yet written to the store.

    Not thread-safe: record, take and reads of ``pending`` all happen on the event loop;
    only what ``take`` returns is handed to a worker thread."""

    def __init__(self) -> None:
        self.pending = self._empty()

    @staticmethod
    def _empty() -> dict[tuple[str, int], dict[str, float]]:
        return defaultdict(lambda: dict.fromkeys(COUNTED, 0.0))

    def record(self, hotspot: str, state: str, start: float, end: float) -> None:
        """Account [start, end) spent in ``state``, split across bucket boundaries."""
        if state not in COUNTED or end <= start:
            return
        t = start
        while t < end:
            bucket = int(t // BUCKET_S) * BUCKET_S
            stop = min(end, bucket + BUCKET_S)
            self.pending[(hotspot, bucket)][state] += stop - t
            t = stop

    def take(self) -> dict[tuple[str, int], dict[str, float]]:
        """Everything pending, emptying the ledger (the caller writes it)."""
        taken, self.pending = self.pending, self._empty()
        return dict(taken)


@dataclass(frozen=True, slots=True)
class Uptime:
    pct_24h: float | None
    pct_30d: float | None


def uptime_pct(up: float, degraded: float, down: float) -> float | None:
    total = up + degraded + down
    return None if total <= 0 else round(100.0 * (up + degraded) / total, 3)


class UptimeStore:
    """SQLite table ``uptime(hotspot, bucket, up, degraded, down)`` in the data dir."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        conn = sqlite3.connect(str(path), check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        with self._lock:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db["uptime"].create(  # type: ignore[union-attr]
                {"hotspot": str, "bucket": int, "up": float, "degraded": float, "down": float},
                pk=("hotspot", "bucket"), if_not_exists=True)
            self.db["transitions"].create(  # type: ignore[union-attr]
                {"hotspot": str, "at": float, "old": str, "new": str},
                if_not_exists=True)
            self.db.execute("CREATE INDEX IF NOT EXISTS transitions_by_hotspot "
                            "ON transitions (hotspot, at)")

    def write(self, entries: dict[tuple[str, int], dict[str, float]], now: float) -> None:
        """Add the ledger's seconds to the stored buckets and forget very old ones."""
        with self._lock, self.db.conn:
            self.db.conn.executemany(
                "INSERT INTO uptime (hotspot, bucket, up, degraded, down) VALUES (?,?,?,?,?) "
                "ON CONFLICT(hotspot, bucket) DO UPDATE SET up = up + excluded.up, "
                "degraded = degraded + excluded.degraded, down = down + excluded.down",
                [(h, b, v["up"], v["degraded"], v["down"]) for (h, b), v in entries.items()])
            self.db.conn.execute("DELETE FROM uptime WHERE bucket < ?", (now - KEEP_S,))

    def add_transition(self, hotspot: str, at: float, old: str, new: str) -> None:
        with self._lock, self.db.conn:
            self.db.conn.execute("INSERT INTO transitions (hotspot, at, old, new) "
                                 "VALUES (?, ?, ?, ?)", (hotspot, at, old, new))
            self.db.conn.execute("DELETE FROM transitions WHERE at < ?", (at - KEEP_S,))

    def history(self, hotspot: str, since: float) -> tuple[str | None, float | None,
                                                           list[float]]:
        """The last state and when it began, and the times of state changes since
        ``since`` (changes out of 'unknown' are not flaps)."""
        with self._lock:
            last = self.db.conn.execute(
                "SELECT new, at FROM transitions WHERE hotspot = ? ORDER BY at DESC LIMIT 1",
                (hotspot,)).fetchone()
            rows = self.db.conn.execute(
                "SELECT at FROM transitions WHERE hotspot = ? AND at >= ? AND old != 'unknown'",
                (hotspot, since)).fetchall()
        flaps = [float(r[0]) for r in rows]
        return (str(last[0]), float(last[1]), flaps) if last else (None, None, flaps)

    def totals(self, hotspot: str, since: float) -> tuple[float, float, float]:
        with self._lock:
            row = self.db.conn.execute(
                "SELECT COALESCE(SUM(up),0), COALESCE(SUM(degraded),0), COALESCE(SUM(down),0) "
                "FROM uptime WHERE hotspot = ? AND bucket >= ?",
                (hotspot, int(since // BUCKET_S) * BUCKET_S)).fetchone()
        return float(row[0]), float(row[1]), float(row[2])

    def uptime(self, hotspot: str, now: float) -> Uptime:
        return Uptime(uptime_pct(*self.totals(hotspot, now - DAY_S)),
                      uptime_pct(*self.totals(hotspot, now - 30 * DAY_S)))

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()
