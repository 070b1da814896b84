"""Benchmarks take their children with them when they are stopped.

A benchmark killed by a timeout (SIGTERM) or Ctrl-C (SIGINT) used to leave its agent,
mosquitto or RTSP server running: SIGTERM's default action skips every ``finally``. Call
``stop_children_on_exit()`` first thing in ``main()``: both signals then raise ``SystemExit``
so the ``finally`` blocks stop what they started, and at exit whatever descendant is still
alive (a process started between two ``try`` blocks) is terminated, then killed.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import sys
from types import FrameType

import psutil

STOP_WAIT_S = 5.0


def stop_children_on_exit() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_on_signal)
    atexit.register(stop_children)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    # a second signal must not interrupt the clean-up the first one started
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    print(f"benchmark: {signal.Signals(signum).name}, stopping its processes",
          file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def stop_children() -> None:
    """Terminate every process this one started (and theirs), by pid; kill the stubborn."""
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=STOP_WAIT_S)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(alive, timeout=STOP_WAIT_S)
