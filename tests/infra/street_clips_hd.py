"""Style A street clips (``street_clips``, ``street_clips_wind``) drawn at 1280x720.

The tuning set's clips are 640x360, but commune cameras (and the issue's unseen clips) are
720p: the detector shrinks a 720p frame 8x to its 160 px analysis width and a 360p one 4x,
so per-pixel noise and fine texture reach the analysis picture differently. These scenes are
the tuning set's kinds (far walker, night motorbike, IR switch with a mover, wind-shaken
leaf shadows, rain with a walker) drawn by the same code at 720p.

The drawing code is not copied or edited (that would change every cached clip): each
generator module is loaded a second time, as a private module object whose ``WIDTH`` and
``HEIGHT`` are 1280 and 720; its functions read those globals when called, so they draw at
720p. Everything the drawing sets as a share of the picture (sizes, positions, drop radii,
beam lengths) is the same scene; what is set in pixels (the grain's cells, a streak's 8 px,
the noise per pixel) is finer, as it is on a real 720p sensor.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from tests.infra import street_clips, street_clips_wind
from tests.infra.street_clips import Box, StreetScene
from tests.infra.street_clips_wind import WindScene

WIDTH, HEIGHT = 1280, 720
SOURCES = (str(street_clips.__file__), str(street_clips_wind.__file__), __file__)


def _at_720(module: ModuleType, name: str, base: ModuleType | None = None) -> ModuleType:
    """A second copy of ``module`` drawing at 1280x720; names it took from ``street_clips``
    are re-bound to ``base`` (the 720p copy of ``street_clips``)."""
    spec = importlib.util.spec_from_file_location(name, module.__file__)
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    sys.modules[name] = copy  # its dataclasses look their module up there
    spec.loader.exec_module(copy)
    vars(copy).update(WIDTH=WIDTH, HEIGHT=HEIGHT)  # (its globals: unknown to mypy)
    if base is not None:
        for attr, value in vars(copy).items():
            if attr != "street_clips" and getattr(base, attr, None) is not None \
                    and value is getattr(street_clips, attr, None) and callable(value):
                setattr(copy, attr, getattr(base, attr))
        vars(copy)["street_clips"] = base
    return copy


_A = _at_720(street_clips, "tests.infra._street_clips_720")
_WIND = _at_720(street_clips_wind, "tests.infra._street_clips_wind_720", _A)


@dataclass(frozen=True)
class SceneHD(StreetScene):
    """A style A street scene drawn at 720p."""

    bitrate_k: int = 1500


@dataclass(frozen=True)
class WindSceneHD(WindScene):
    """A ``street_clips_wind`` scene drawn at 720p."""

    bitrate_k: int = 1500


def render(scene: SceneHD | WindSceneHD) -> Iterator[tuple[np.ndarray, list[Box]]]:
    """Yield (BGR uint8 frame at 1280x720, ground-truth boxes), one frame at a time."""
    module = _WIND if isinstance(scene, WindScene) else _A
    frames: Iterator[tuple[np.ndarray, list[Box]]] = module.render(scene)
    return frames
