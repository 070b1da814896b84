"""Small JSON state files that must survive a power cut: written to a temp file, fsynced, then
renamed over the old one, so a reader finds either the old or the new content, never half.

Blocking: call from a worker thread (an SD card fsync can take hundreds of milliseconds).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON; raises ``OSError`` (e.g. a full disk).

    The temp file has a unique name, so two writes at once cannot move each other's half-written
    file into place; the directory is fsynced after the rename, so the rename itself survives a
    power cut. Callers still serialise their writes to decide which content wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
