"""glibc heap settings for a process that decodes video in several threads.

Every thread that allocates gets its own glibc malloc arena by default (up to 8 per core), and
each keeps the peak of what its thread once needed: decoder frames, JPEG buffers, numpy
temporaries. With one decode thread per camera plus executor threads that is ~10 MB of resident
memory per arena that is free but never returned. Two arenas are plenty for a few threads that
mostly wait on I/O, and ``malloc_trim`` gives freed pages back from time to time.
Anything but glibc (musl, macOS): both calls do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # from glibc's malloc.h
_libc: ctypes.CDLL | None = None


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            lib.mallopt  # noqa: B018 - only glibc has it
            lib.malloc_trim  # noqa: B018
        except (OSError, AttributeError):
            return None
        _libc = lib
    return _libc


def limit_arenas(count: int = 2) -> bool:
    """Cap glibc malloc arenas; call before the camera threads start. True if applied."""
    lib = _glibc()
    if lib is None:
        return False
    ok = bool(lib.mallopt(_M_ARENA_MAX, count))
    log.debug("malloc arenas limited to %d: %s", count, ok)
    return ok


def trim_heap() -> None:
    """Give free heap pages back to the system (cheap; run off the event loop)."""
    lib = _glibc()
    if lib is not None:
        lib.malloc_trim(0)
