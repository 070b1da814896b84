"""``no_picture_s`` across sessions: a camera that worked, then reconnects to a stream that
gives no picture (joined mid-GOP on a camera whose key frames are further apart than the
wait, an encoder that stopped sending key frames), on real files read by the real
``PyAVSource`` thread (a file path is reopened at every reconnect, so the test swaps what
the next session reads)."""

from __future__ import annotations

import os
import random
import shutil
import threading
from pathlib import Path
from unittest import mock

import pytest

from drivers.cameras import pyav_source
from drivers.cameras.pyav_source import PyAVSource
from drivers.cameras.source_state import PyAVSourceConfig
from tests.infra.clip_lock import COLD_CLIPS_TIMEOUT_S
from tests.infra.clips import make_clip
from tests.infra.recorded import without_key_frames

pytestmark = pytest.mark.timeout(COLD_CLIPS_TIMEOUT_S)  # may build the clip


@pytest.mark.parametrize("decode", ["all", "adaptive"])
def test_a_session_without_a_picture_never_says_online_after_one_that_had_pictures(
        artifacts_dir: Path, tmp_path: Path, decode: str) -> None:
    """The first session decodes, ends ("stream ended"); the next one reads only packets
    without a key frame. It used to say "online" at its first packet (the source's decoded
    count, from the session before, was not 0), then "offline: no picture" at the end: the
    camera flapped online/offline every ``no_picture_s`` and its offline alert (which must
    hold 45 s) never fired. Online is said once a session has a picture of its own."""
    good = make_clip("moving", artifacts_dir / "camera-clips")
    cut = without_key_frames(good)
    live = tmp_path / "live.mp4"
    shutil.copyfile(good, live)
    states: list[tuple[str, str | None]] = []
    done = threading.Event()

    def on_state(state: str, error: str | None) -> None:
        states.append((state, error))
        if error == "stream ended":  # the next session reads the stream without key frames
            os.replace(shutil.copyfile(cut, tmp_path / "next.mp4"), live)
        elif error is not None and "no picture" in error:
            done.set()

    frames: list[float] = []
    src = PyAVSource(PyAVSourceConfig(url=str(live), decode=decode, loop=False,
                                      realtime=False, reconnect_min_s=0.05,
                                      reconnect_max_s=0.1),
                     lambda _frame, pts: frames.append(pts), on_state)
    src.start()
    try:
        assert done.wait(60), states
    finally:
        src.stop()
    assert frames, "the first session decoded nothing"
    first_end = states.index(("offline", "stream ended"))
    assert states[:first_end] == [("online", None)], states
    second = states[first_end + 1:]
    assert [s for s, _e in second] == ["offline"], states
    assert (second[0][1] or "").startswith("no picture decoded: the file has no key frame ("), \
        states


def test_sessions_without_a_picture_back_off_and_one_with_pictures_starts_again(
        artifacts_dir: Path, tmp_path: Path) -> None:
    """Packets are no progress: a stream that never gives a picture used to reset the
    reconnect backoff at every session (it had packets), so it reconnected at the shortest
    delay for ever (an RTSP session and a warning every ``no_picture_s``). Its delays now
    grow to ``reconnect_max_s``; once a session has pictures, the next delay starts from
    the bottom again. The delays are recorded on their way to the real wait."""
    good = make_clip("moving", artifacts_dir / "camera-clips")
    live = tmp_path / "live.mp4"
    shutil.copyfile(without_key_frames(good), live)
    delays: list[float] = []
    failures = 0
    done = threading.Event()

    def on_state(state: str, error: str | None) -> None:
        nonlocal failures
        if state != "offline":
            return
        failures += 1
        if failures == 6:  # the next session reads a stream with pictures
            os.replace(shutil.copyfile(good, tmp_path / "next.mp4"), live)
        elif failures == 8:
            done.set()

    real_wait = pyav_source.wait_before_retry

    def wait(url: str, delay: float, interval: float, stop: threading.Event) -> None:
        delays.append(delay)
        real_wait(url, delay, interval, stop)

    src = PyAVSource(PyAVSourceConfig(url=str(live), decode="all", loop=False,
                                      realtime=False, reconnect_min_s=0.02,
                                      reconnect_max_s=0.64),
                     lambda _frame, _pts: None, on_state, rng=random.Random(3))
    with mock.patch.object(pyav_source, "wait_before_retry", wait):
        src.start()
        try:
            assert done.wait(60), delays
        finally:
            src.stop()
    ceilings = [min(0.64, 0.02 * 2 ** n) for n in range(6)]
    assert all(d <= c for d, c in zip(delays, ceilings, strict=False)), delays
    assert max(delays[2:6]) > 0.02, delays  # it grew: no more every time at the shortest
    assert delays[6] <= 0.02, delays  # the session with pictures reset it
