"""One builder per clip: the cache lock of the clip builders that name their files after the
clip (``adaptive_sets.make``, ``street_sets.make_street_clip``).

Parallel test workers (xdist) asking for the same clip at once would encode into one file
together, or read a clip or ground truth still being written: so the lookup and the build
hold a lock, the first worker builds, the others wait, then find it cached. The lock is the
clip's *name*'s, not the cache directory's (``clips.one_builder_at_a_time``): workers building
different clips (the two adaptive clip sets and the RTSP walker, 17 encodes of ~10 s each on
a fresh machine; the motion sets) no longer wait for each other.

(Its own module: ``clips.py`` is part of every clip's cache key, so editing it re-encodes
every cached clip.)
"""

from __future__ import annotations

import fcntl
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any


def lock_name(what: object) -> str:
    """``.build-<name>.lock`` for a clip name, a clip or a scene with a ``name``."""
    name = what if isinstance(what, str) else getattr(what, "name", None)
    if not isinstance(name, str) or not name:
        return ".build.lock"
    return ".build-" + re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80] + ".lock"


def one_builder_per_clip(build: Callable[..., Path]) -> Callable[..., Path]:
    """``build(what, directory, ...)``: look up / build under the lock of ``what``'s name."""
    @functools.wraps(build)
    def locked(what: object, directory: Path, *args: Any, **kwargs: Any) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / lock_name(what), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            return build(what, directory, *args, **kwargs)
    return locked


# pytest-timeout for a module whose first test pays for a module fixture that encodes and
# scores every labelled clip of its sets. On a fresh machine that is ~6 min on 2 quiet
# cores, and more than 15 min with other encodes beside it (a fresh-clone CI run beside
# three helpers timed out 228 motion tests at 900 s). The default 300 s is meant for a hung
# test; a cold clip cache is not one.
COLD_CLIPS_TIMEOUT_S = 1800
