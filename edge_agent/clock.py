"""Is the system clock right? A Pi has no RTC: after a cold boot it starts in the past."""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path
from typing import Literal

TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")
_TIME_ERROR = 5  # adjtimex(2): clock not synchronised
_STA_UNSYNC = 0x0040
_TIMEX_SIZE = 256  # struct timex is 208 bytes on 64-bit Linux; over-allocate


def _load_libc() -> ctypes.CDLL | None:
    # once, at import: find_library runs `ldconfig -p` in a subprocess (ms on a Pi), far too
    # slow for a check made on every reconcile and every status request
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()


def kernel_reports_synced() -> bool | None:
    """The kernel's NTP state via adjtimex(2) (read-only call), or None if unavailable."""
    if _LIBC is None:
        return None
    try:
        buf = ctypes.create_string_buffer(_TIMEX_SIZE)  # modes = 0: only read
        state = _LIBC.adjtimex(buf)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    # status is the 2nd int field of struct timex (after 'modes' and padding: offset 4 is
    # 'offset' long on 64-bit). Reading the return value is enough: TIME_ERROR = unsynced.
    return state != _TIME_ERROR


def clock_is_synced(mode: Literal["detect", "assume_synced"]) -> bool:
    if mode == "assume_synced":
        return True
    if TIMESYNCD_FLAG.exists():
        return True
    return bool(kernel_reports_synced())
