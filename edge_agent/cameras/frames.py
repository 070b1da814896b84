"""Frame helpers: the grey plane for analysis and JPEG encoding for snapshots."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def luma(frame: Any) -> np.ndarray:
    """The frame's grey (Y) plane as a numpy view, without a colour conversion."""
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "nv12"):
        plane = frame.planes[0]
        return np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[
            :, :frame.width]
    grey: np.ndarray = frame.to_ndarray(format="gray")
    return grey


def encode_jpeg(frame: Any, width: int | None, quality: int) -> bytes:
    if width and width < frame.width:
        frame = frame.reformat(width=width, height=round(frame.height * width / frame.width))
    img = frame.to_ndarray(format="bgr24")
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf)
