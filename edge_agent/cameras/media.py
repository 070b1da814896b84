"""Snapshot and clip files of one camera, with retention by age and by disk quota.

Layout: ``{data_dir}/media/{camera}/{YYYY-MM-DD}/{event_id}.jpg|.mp4``. References in events
are relative to ``{data_dir}/media``. Every method is blocking (call it in a thread); no
method raises on a full or read-only disk: it returns None / logs and the agent goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class MediaStats:
    bytes_used: int = 0
    files: int = 0
    deleted: int = 0
    last_error: str | None = None


class MediaStore:
    def __init__(self, root: Path, camera: str, *, max_age_days: float, quota_mb: float,
                 min_free_mb: float) -> None:
        self.root = root
        self.dir = root / camera
        self.camera = camera
        self.max_age_s = max_age_days * 86400
        self.quota = int(quota_mb * 1024 * 1024)
        self.min_free = int(min_free_mb * 1024 * 1024)
        self.stats = MediaStats()

    def path_for(self, event_id: str, suffix: str, when: datetime) -> Path:
        return self.dir / when.strftime("%Y-%m-%d") / f"{event_id}{suffix}"

    def ref(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def room_for(self, size: int) -> bool:
        """Is there space (quota after clean-up, and free disk) for ``size`` more bytes?"""
        if size > self.quota:
            return False
        self.enforce(extra=size)
        try:
            free = shutil.disk_usage(self.root if self.root.exists() else
                                     self.root.parent).free
        except OSError:
            return False
        return free - size >= self.min_free

    def save(self, path: Path, data: bytes) -> bool:
        """Write a file atomically within the quota; False (and last_error) if not possible."""
        if not self.room_for(len(data)):
            self.stats.last_error = "media not saved: disk quota or free-space limit reached"
            return False
        tmp = path.with_suffix(path.suffix + ".part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            self.stats.last_error = f"media not saved: {exc.strerror or exc}"
            log.warning("camera %s: %s", self.camera, self.stats.last_error)
            tmp.unlink(missing_ok=True)
            return False
        self.stats.bytes_used += len(data)
        self.stats.files += 1
        return True

    def _files(self) -> list[tuple[float, int, Path]]:
        out: list[tuple[float, int, Path]] = []
        if not self.dir.exists():
            return out
        for path in self.dir.rglob("*"):
            try:
                st = path.stat()
            except OSError:
                continue
            if path.is_file():
                out.append((st.st_mtime, st.st_size, path))
        out.sort()
        return out

    def enforce(self, now: float | None = None, extra: int = 0) -> int:
        """Delete files older than the max age, then the oldest until under the quota."""
        now = time.time() if now is None else now
        files = self._files()
        total = sum(size for _, size, _ in files)
        deleted = 0
        for mtime, size, path in files:
            too_old = now - mtime > self.max_age_s
            if not too_old and total + extra <= self.quota:
                break
            try:
                path.unlink()
                deleted += 1
                total -= size
            except OSError as exc:
                self.stats.last_error = f"cannot delete {path.name}: {exc.strerror or exc}"
        self._remove_empty_dirs()
        self.stats.bytes_used = total
        self.stats.files = len(files) - deleted
        self.stats.deleted += deleted
        return deleted

    def _remove_empty_dirs(self) -> None:
        if not self.dir.exists():
            return
        for day in self.dir.iterdir():
            if day.is_dir():
                with contextlib.suppress(OSError):
                    day.rmdir()  # only succeeds when empty
