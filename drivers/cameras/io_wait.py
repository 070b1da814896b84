"""Whether a camera thread is stuck waiting for its camera, so shutdown can leave it behind.

A thread blocked in a hung camera's open or read only notices a stop at its own timeout
(seconds). It holds nothing the agent needs (a daemon thread with a container of its own), so
stop joins a thread only while it is working or waiting no longer than a live camera makes it
wait between packets; a hung camera costs shutdown at most ``hung_after_s``, usually nothing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

HUNG_AFTER_S = 0.3  # a read waiting this long (and 3 frame intervals) is a camera not sending
JOIN_SLICE_S = 0.02


class CameraWait:
    """Set by the source thread around each blocking call into the network."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.hung_after_s = HUNG_AFTER_S

    def frame_interval(self, seconds: float) -> None:
        """A slow camera (1 fps) waits long between packets without being hung."""
        self.hung_after_s = max(HUNG_AFTER_S, 3 * seconds)

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        self.since = time.monotonic()
        try:
            yield
        finally:
            self.since = None

    def hung(self, now: float) -> bool:
        since = self.since
        return since is not None and now - since > self.hung_after_s


def join_unless_hung(thread: threading.Thread, wait: CameraWait, timeout: float) -> None:
    """Join ``thread`` for at most ``timeout``, returning early once it is stuck waiting."""
    deadline = time.monotonic() + timeout
    while thread.is_alive():
        now = time.monotonic()
        if now >= deadline or wait.hung(now):
            return
        thread.join(min(JOIN_SLICE_S, deadline - now))
