"""Snapshot thumbnails for slow links: made once per picture and width with Pillow (in a
thread), kept beside the snapshots under ``{data_dir}/thumbs``. A few tens of kB at most."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time
from pathlib import Path

from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from control_room.store import schema as t
from control_room.store.snapshots import SnapshotStore

log = logging.getLogger(__name__)

WIDTHS = (160, 320, 480)
QUALITY = 70


class Thumbnails:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "thumbs"

    def path(self, sha256: str, width: int) -> Path:
        return self.root / sha256[:2] / f"{sha256}-{width}.jpg"

    async def get(self, source: Path, sha256: str, width: int) -> Path:
        target = self.path(sha256, width)
        if not target.exists():
            await asyncio.to_thread(self._make, source, target, width)
        return target

    @staticmethod
    def _make(source: Path, target: Path, width: int) -> None:
        with Image.open(source) as image:
            image.draft("RGB", (width, width))  # JPEG: decode at a reduced scale, faster
            picture = image.convert("RGB")
            picture.thumbnail((width, width * 3 // 4 if width else 1))
            buffer = io.BytesIO()
            picture.save(buffer, "JPEG", quality=QUALITY, optimize=True, progressive=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_suffix(f".{os.getpid()}.tmp")
        temp.write_bytes(buffer.getvalue())
        os.replace(temp, target)


async def warm(thumbs: Thumbnails, snapshots: SnapshotStore, db: AsyncEngine,
               every_s: float = 2.0, widths: tuple[int, ...] = (160, 320)) -> None:
    """Make the thumbnails of every new snapshot as it arrives, so the first phone that
    opens the events page over 3G gets them at once (old pictures are made on demand)."""
    since = time.time() - 3600
    while True:
        await asyncio.sleep(every_s)
        try:
            async with db.connect() as conn:
                rows = (await conn.execute(
                    select(t.snapshots.c.sha256, t.snapshots.c.stored_at)
                    .where(t.snapshots.c.stored_at > since)
                    .order_by(t.snapshots.c.stored_at).limit(200))).all()
            for sha, stored_at in rows:
                source = snapshots.path(sha)
                if source.is_file():
                    for width in widths:
                        await thumbs.get(source, sha, width)
                since = max(since, stored_at)
        except Exception as exc:  # a broken picture or the database down: next round
            log.warning("thumbnails: %s", str(exc).splitlines()[0][:200])
