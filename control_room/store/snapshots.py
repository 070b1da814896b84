"""Snapshots as files, named by their sha256 (the same picture is stored once), under
``{data_dir}/snapshots/ab/abcdef….jpg``, with a disk quota (oldest unreferenced first)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Collection
from pathlib import Path


class SnapshotStore:
    def __init__(self, data_dir: Path, quota_mb: float) -> None:
        self.root = data_dir / "snapshots"
        self.quota_bytes = int(quota_mb * 1024 * 1024)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256")
        return self.root / sha256[:2] / f"{sha256}.jpg"

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(self._put, data)

    def _put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        final = self.path(sha)
        if final.exists():
            return sha
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_suffix(f".{os.getpid()}.tmp")
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # on disk before the database refers to it
        os.replace(temp, final)
        return sha

    def enforce_quota(self, keep: Collection[str]) -> list[str]:
        """Delete the oldest files (not in ``keep``: the cameras' current snapshots) until
        the total is under the quota; returns the deleted hashes."""
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.root.glob("*/*.jpg")]
        total = sum(size for _, size, _ in files)
        deleted: list[str] = []
        for _, size, path in sorted(files):
            if total <= self.quota_bytes:
                break
            if path.stem in keep:
                continue
            path.unlink(missing_ok=True)
            total -= size
            deleted.append(path.stem)
        return deleted
