"""Style-A street scenes with a camera's burnt-in on-screen display (OSD): a clock and a name.

Almost every commune camera burns a date/time clock into its picture (white, a thin dark
outline, in a corner or the top band; its seconds change every second), often with the
camera's name. The scene is drawn by ``street_clips.render`` unchanged (its noise, rain and
IR included); the overlay is drawn last, on top of everything, as the camera's encoder does
(after its ISP: the text stays white in IR). The overlay is not labelled: a box around it
is no mover.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from tests.infra import street_clips
from tests.infra.street_clips import FPS, HEIGHT, WIDTH, Box, StreetScene

SOURCES = (str(street_clips.__file__), __file__)
__all__ = ["HEIGHT", "SOURCES", "TUNING_OSD", "WIDTH", "OsdScene", "clock_text", "draw_text",
           "render"]


@dataclass(frozen=True)
class OsdScene(StreetScene):
    clock_s: int = 21 * 3600 + 14 * 60 + 7  # the clock's time of day at t = 0
    clock_at: str = "top-left"  # "top-left", "top-right" or "bottom"
    clock_scale: float = 0.8  # cv2 Hershey simplex scale (0.8: ~17 px tall at 640x360)
    outline: int = 1  # px of dark outline around the white strokes
    camera_name: str = ""  # the camera's name, drawn in the other top corner (or top-left)
    name_scale: float = 0.7


def clock_text(seconds: int) -> str:
    s = seconds % 86400
    return f"2026-12-02 {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def draw_text(img: np.ndarray, text: str, org: tuple[int, int], scale: float,
              outline: int) -> None:
    """White text with a dark outline, the usual OSD look (in place, BGR uint8)."""
    font, thick = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(scale * 2))
    cv2.putText(img, text, org, font, scale, (16, 16, 16), thick + 2 * outline, cv2.LINE_AA)
    cv2.putText(img, text, org, font, scale, (235, 235, 235), thick, cv2.LINE_AA)


def _origin(text: str, where: str, scale: float) -> tuple[int, int]:
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, round(scale * 2)))
    margin = 8
    if where == "top-left":
        return margin, margin + h
    if where == "top-right":
        return WIDTH - margin - w, margin + h
    return (WIDTH - w) // 2, HEIGHT - margin  # bottom, centred


def render(scene: OsdScene) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """``street_clips.render``'s frames with the overlay on top (boxes unchanged)."""
    for i, (img, boxes) in enumerate(street_clips.render(scene)):
        t = i / FPS
        text = clock_text(scene.clock_s + int(t))
        draw_text(img, text, _origin(text, scene.clock_at, scene.clock_scale),
                  scene.clock_scale, scene.outline)
        if scene.camera_name:
            where = "top-left" if scene.clock_at != "top-left" else "top-right"
            draw_text(img, scene.camera_name, _origin(scene.camera_name, where, scene.name_scale),
                      scene.name_scale, scene.outline)
        yield img, boxes


# Round 7 (issue 11, the burnt-in overlay): the tuning set's kinds of scene with an OSD, own
# seeds. Written before the overlay finder; held-out 7 (style G, which has a clock) not looked at.
TUNING_OSD: dict[str, OsdScene] = {s.name: s for s in (
    # nobody: a night street, the clock top-left, the camera's name top-right
    OsdScene("t-osd-still-night", 12.0, "A", ambient=0.3, noise_sigma=5.0, seed=31,
             clock_scale=0.9, camera_name="CONG LANG"),
    # nobody: the IR illuminator comes on at 5 s; a big clock with a 2 px outline top-right
    OsdScene("t-osd-ir-still", 12.0, "A", ambient=0.25, noise_sigma=5.0, ir=(5.0, 99.0), seed=32,
             clock_at="top-right", clock_scale=1.0, outline=2, camera_name="CAM 01"),
    # day: a walker near the camera whose legs cross the clock's band at the bottom
    OsdScene("t-osd-day-walker", 12.0, "A",
             (street_clips.Walker(3.0, 10.0, -0.1, 1.1, 0.97, 0.45, 0.3, 33, True),),
             ambient=1.0, noise_sigma=3.0, seed=33, clock_at="bottom", clock_scale=0.7,
             camera_name="CAM 01", name_scale=0.6),
    # lens rain and a walker; a small clock top-left
    OsdScene("t-osd-rain-walker", 12.0, "A",
             (street_clips.Walker(3.0, 10.0, 1.1, -0.1, 0.84, 0.4, 0.72, 34, True),),
             ambient=0.5, noise_sigma=4.0, drops_per_s=2.5, streaks=30, seed=34,
             clock_scale=0.6, camera_name="CONG LANG", name_scale=0.5),
    # the IR switch at 6 s while a walker crosses; a big clock top-left
    OsdScene("t-osd-ir-walker", 12.0, "A",
             (street_clips.Walker(3.0, 11.0, -0.1, 1.1, 0.82, 0.4, 0.6, 35, True),),
             ambient=0.3, noise_sigma=4.0, ir=(6.0, 99.0), seed=35, clock_scale=1.1,
             outline=2),
)}
