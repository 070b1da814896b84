"""Adaptive decode's look-back driven through the real ``PyAVSource`` on a file, for tests:
the owner asks for one on the first idle key frame at or after a time, and every frame
handed out is compared with the same frame decoded in ``all`` mode."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from drivers.cameras import pyav_source
from drivers.cameras.pyav_source import PyAVSource, PyAVSourceConfig
from tests.infra.adaptive_scoring import StreamClock


@dataclass
class LookBack:
    shown: list[float]  # every frame's time in `all` mode (ms rounded, as all below)
    replayed: list[float]  # frames the look-back handed out as replayed, in order
    after: list[float]  # frames handed out after it (not replayed), in order
    differ: list[float]  # frames not bit-identical to `all` mode's


def _md5(frame: Any) -> str:
    return hashlib.md5(frame.to_ndarray(format="gray").tobytes()).hexdigest()


def look_back_at(clip: Path, at_s: float, **source: Any) -> LookBack:
    """Adaptive mode, activity trigger off, read as fast as possible with the source's
    clock on stream time; ``source``: more ``PyAVSourceConfig`` settings."""
    reference: dict[float, str] = {}
    PyAVSource(PyAVSourceConfig(url=str(clip), decode="all", loop=False, realtime=False),
               lambda frame, pts: reference.__setitem__(round(pts, 3), _md5(frame)),
               lambda _s, _e: None)._session()
    out = LookBack(sorted(reference), [], [], [])
    clock = StreamClock()

    def on_frame(frame: Any, pts: float) -> None:
        if src.replaying:
            out.replayed.append(round(pts, 3))
        elif src.stats.look_backs:
            out.after.append(round(pts, 3))
        if reference.get(round(pts, 3)) != _md5(frame):
            out.differ.append(round(pts, 3))
        if src.idle_key and pts >= at_s and not src.stats.look_backs:
            assert src.look_back()

    src = PyAVSource(PyAVSourceConfig(url=str(clip), decode="adaptive", loop=False,
                                      realtime=False, activity_trigger="off", **source),
                     on_frame, lambda _s, _e: None)
    src.on_packet = lambda _p, pts: setattr(clock, "now", pts)
    with mock.patch.object(pyav_source, "time", clock):
        src._session()
    assert src.stats.look_backs == 1
    return out
