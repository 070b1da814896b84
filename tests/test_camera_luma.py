"""The detector's picture: the agent hands it the same full-range grey the labelled clips are
scored on (``tests/infra/motion_scoring.run_clip``: swscale's gray conversion), not the raw
limited-range Y plane of an H.264 camera."""

from __future__ import annotations

import av
import numpy as np

from edge_agent.cameras.frames import luma


def _frame(fmt: str, values: np.ndarray) -> av.VideoFrame:
    frame = av.VideoFrame(values.shape[1], values.shape[0], fmt)
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(values.shape[0], plane.line_size)
    rows[:, :values.shape[1]] = values  # a writable view of the frame's own buffer
    return frame


def test_limited_range_luma_is_stretched_exactly_like_swscale_gray() -> None:
    y = np.tile(np.arange(256, dtype=np.uint8), (4, 1))[:, :256]  # every code, 16..235 inside
    frame = _frame("yuv420p", y)
    out = luma(frame)
    assert out.shape == (4, 256)
    assert np.array_equal(out, frame.to_ndarray(format="gray"))
    assert out[0, 16] == 0 and out[0, 235] == 255 and out[0, 126] == 128


def test_full_range_frames_keep_their_plane() -> None:
    y = np.tile(np.arange(256, dtype=np.uint8), (4, 1))
    assert np.array_equal(luma(_frame("yuvj420p", y)), y)
