"""A province-sized store for the console benchmark: 1,000 gateways in 100 villages (two
light circuits, a camera and a wifi hotspot each) and a month of history, written with bulk
inserts into the store's own tables (after the service's own migrations)."""

from __future__ import annotations

import asyncio
import io
import random
import sys
import time
from pathlib import Path
from typing import Any

# run as a script, benchmarks/ comes first on the path and its control_room.py would shadow
# the package
sys.path[:1] = [str(Path(__file__).resolve().parent.parent)]

from PIL import Image, ImageDraw  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from control_room.auth import store as users  # noqa: E402
from control_room.store import schema as t  # noqa: E402
from control_room.store.db import migrate  # noqa: E402
from control_room.store.snapshots import SnapshotStore  # noqa: E402

DAY = 86400.0
SITES, PER_SITE = 100, 10
HISTORY_DAYS = 30
EVENTS_PER_CAMERA_DAY = 5
SNAPSHOT_FILES = 80


def key(i: int) -> tuple[str, str]:
    return f"thon-{i // PER_SITE:03d}", f"gw-{i:04d}"


def _health() -> dict[str, Any]:
    return {"cpu_percent": 7.5, "ram_used_mb": 180.0, "ram_total_mb": 1024.0,
            "disk_free_mb": 12000.0, "disk_used_percent": 20.0, "soc_temp_c": 52.0,
            "uptime_s": 86400.0, "process_rss_mb": 48.0, "clock_synced": True,
            "outbox": {"depth": 0, "bytes": 0, "max_bytes": 16777216, "oldest_age_s": None,
                       "dropped": {}},
            "mqtt": {"connected": True, "connects": 1, "sent": 12345, "last_error": None},
            "commands": {"handled": 3, "rejected": 0},
            "components": {n: {"state": "running", "restarts": 0, "last_error": None}
                           for n in ("lighting", "cameras", "hotspots", "web")}}


def _latest(now: float, count: int, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {"gateways": [], "circuits": [], "cameras": [],
                                             "hotspots": []}
    health = _health()
    for i in range(count):
        site, gw = key(i)
        k = f"{site}/{gw}"
        online = rng.random() > 0.02
        rows["gateways"].append({
            "gateway_key": k, "site": site, "gateway": gw,
            "state": "online" if online else "offline", "state_since": now - DAY,
            "last_seen": now - rng.uniform(0, 30), "boot": 3, "status_last_seq": 100,
            "status_at": now - DAY, "version": "0.1.0", "config_hash": "e2b71a454323",
            "clock_synced": True, "health_interval_s": 60.0, "boot_time": "2026-11-30T00Z",
            "outbox_depth": 0, "outbox_oldest_age_s": None, "disk_free_mb": 12000.0,
            "max_seq": 50000, "seq_checked": 50000, "health_at": now - 30, "health": health})
        for c in ("duong-chinh", "ngo-xom"):
            on = rng.random() > 0.5
            rows["circuits"].append({
                "gateway_key": k, "circuit": c, "state": "on" if on else "off",
                "desired": "on" if on or rng.random() < 0.01 else "off", "reason": "schedule",
                "rule": "night", "next_change": now + 3600, "next_state": "off" if on else "on",
                "override_until": None, "driver_ok": True, "driver_error": None,
                "on_hours_today": 5.0, "ts": now - 600,
                "payload": {"circuit": c, "name": None, "driver": "sim ch 1",
                            "switch_count": 400, "clock_synced": True}})
        rows["cameras"].append({
            "gateway_key": k, "camera": "cong", "state": "online" if rng.random() > 0.03
            else "offline", "armed": True, "since": now - DAY, "last_error": None,
            "ts": now - 5, "payload": {"fps_in": 10.0}, "last_event_id": None,
            "last_event_at": now - 600, "snapshot_sha": None, "snapshot_at": None})
        rows["hotspots"].append({
            "gateway_key": k, "hotspot": "nha-van-hoa", "state": "up", "since": now - DAY,
            "rtt_median_ms": 24.0, "loss_pct": 0.5, "uptime_24h_pct": 99.8, "clients": 12,
            "ts": now - 30, "payload": {"reasons": [], "clients_per_ssid": {"xa": 12}}})
    return rows


def _history(now: float, count: int, rng: random.Random
             ) -> dict[str, list[dict[str, Any]]]:
    light, events, telemetry = [], [], []
    for i in range(count):
        site, gw = key(i)
        k = f"{site}/{gw}"
        for day in range(HISTORY_DAYS):
            base = now - (HISTORY_DAYS - day) * DAY
            for c in ("duong-chinh", "ngo-xom"):
                light.append({"gateway_key": k, "circuit": c, "ts": base + 11 * 3600,
                              "state": "on", "reason": "schedule", "rule": "night",
                              "on_hours_today": 0.0})
                light.append({"gateway_key": k, "circuit": c, "ts": base + 23 * 3600,
                              "state": "off", "reason": "schedule", "rule": "night",
                              "on_hours_today": 11.0})
            for n in range(EVENTS_PER_CAMERA_DAY):
                start = base + rng.uniform(0, DAY)
                event_id = f"{i}-{day}-{n}"
                for kind, at in (("start", start), ("end", start + 8)):
                    events.append({"gateway_key": k, "kind": "motion", "subject": "cong",
                                   "ts": at, "data": {
                                       "camera": "cong", "event": kind, "event_id": event_id,
                                       "started_at": _iso(start), "boxes": [[0.1, 0.2, 0.1,
                                                                             0.3]],
                                       "zones": ["duong"], "score": 0.05, "peak_score": 0.08,
                                       "duration_s": at - start}})
            events.append({"gateway_key": k, "kind": "hotspot_state", "subject": "nha-van-hoa",
                           "ts": base + 3 * 3600, "data": {"from": "up", "to": "down"}})
            events.append({"gateway_key": k, "kind": "hotspot_state", "subject": "nha-van-hoa",
                           "ts": base + 3 * 3600 + 600, "data": {"from": "down", "to": "up"}})
        for step in range(0, 86400, 300):
            telemetry.append({"gateway_key": k, "kind": "hotspot", "subject": "nha-van-hoa",
                              "ts": now - 86400 + step,
                              "data": {"rtt_median_ms": 20 + rng.random() * 10,
                                       "rtt_p95_ms": 40.0, "loss_pct": rng.random(),
                                       "jitter_ms": 2.0, "clients": 12}})
    return {"light_history": light, "events": events, "telemetry": telemetry}


def _iso(ts: float) -> str:
    from contract import utc_iso

    return utc_iso(ts)


def _jpeg(rng: random.Random) -> bytes:
    image = Image.new("RGB", (640, 480), (rng.randrange(256), 90, 60))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.randrange(600), rng.randrange(440)
        draw.rectangle((x, y, x + rng.randrange(10, 80), y + rng.randrange(10, 60)),
                       fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def build(db: AsyncEngine, data_dir: Path, count: int, now: float,
                password: str) -> dict[str, Any]:
    """Fill an empty store; returns what was written (row counts)."""
    rng = random.Random(13)
    started = time.monotonic()
    await migrate(db)
    latest, history = _latest(now, count, rng), _history(now, count, rng)
    snapshots = SnapshotStore(data_dir, 4096)
    newest = sorted((e for e in history["events"] if e["kind"] == "motion" and
                     e["data"]["event"] == "start"), key=lambda e: -e["ts"])[:SNAPSHOT_FILES]
    shots = []
    for event in newest:
        sha = await snapshots.put(_jpeg(rng))
        shots.append({"sha256": sha, "size": 1, "stored_at": event["ts"] + 0.5,
                      "gateway_key": event["gateway_key"], "camera": "cong"})
    by_key = {s["gateway_key"]: s for s in shots}
    for cam in latest["cameras"]:
        if cam["gateway_key"] in by_key:
            cam["snapshot_sha"] = by_key[cam["gateway_key"]]["sha256"]
            cam["snapshot_at"] = by_key[cam["gateway_key"]]["stored_at"]
    alerts = [{"key": f"camera_offline:{c['gateway_key']}:cong", "rule": "camera_offline",
               "site": c["gateway_key"].split("/")[0], "gateway": c["gateway_key"].split("/")[1],
               "subject": "cong", "severity": "warning", "status": "firing",
               "message": "camera cong offline", "since": now - 3600, "fired_at": now - 3500,
               "updated_at": now - 3500} for c in latest["cameras"] if c["state"] == "offline"]
    counts = {}
    async with db.begin() as conn:
        for name, rows in (*latest.items(), *history.items(), ("snapshots", shots),
                           ("alerts", alerts)):
            table = getattr(t, name)
            for i in range(0, len(rows), 5000):
                await conn.execute(table.insert(), rows[i:i + 5000])
            counts[name] = len(rows)
    await users.add_user(db, "bench", "operator", password, now)
    counts["seconds"] = round(time.monotonic() - started, 1)
    return counts


if __name__ == "__main__":  # a quick look: python benchmarks/console_fleet.py /tmp/x.db
    from control_room.config import DatabaseSection
    from control_room.store.db import create_engine

    engine = create_engine(DatabaseSection(url=f"sqlite:///{sys.argv[1]}"))
    print(asyncio.run(build(engine, Path(sys.argv[1]).parent, 1000, time.time(), "x" * 10)))
