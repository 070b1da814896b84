"""Snapshot thumbnails for slow links: made once per picture and width with Pillow (in a
thread), kept beside the snapshots under ``{data_dir}/thumbs``. A few tens of kB at most."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

from PIL import Image

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
