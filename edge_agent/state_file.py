"""Small JSON state files that must survive a power cut: written to a temp file, fsynced, then
renamed over the old one, so a reader finds either the old or the new content, never half.

Blocking: call from a worker thread (an SD card fsync can take hundreds of milliseconds).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON; raises ``OSError`` (e.g. a full disk)."""
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
