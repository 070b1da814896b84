"""Labelled street-at-night clip sets (``street_clips``): a tuning set and a held-out set.

Written before the detector was changed for them (issue 11 point 1: lens rain, a slow dark
walker in noise, headlight beams ahead of a car, an IR switch with a mover). The tuning set
(style A: plaster walls, round drops, deformable blob movers) is what the detector was tuned
on. The held-out set (style B: brick walls, lane marks, smeared drops, articulated walkers,
hard-edged beams; other seeds, positions, speeds, sizes and noise levels) was scored before
the change and once after it, never tuned on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from tests.infra import (
    clips,
    street_clips,
    street_clips_c,
    street_clips_d,
    street_clips_e,
    street_clips_f,
    street_clips_g,
    street_clips_hd,
    street_clips_osd,
    street_clips_wind,
)
from tests.infra.clip_lock import one_builder_per_clip
from tests.infra.clips import encode, scene_key
from tests.infra.street_clips import (
    FOLIAGE_MASK,
    FPS,
    GOP,
    Car,
    Lamp,
    StreetScene,
    Walker,
)
from tests.infra.street_clips_c import TREE_MASK, FlickerLamp, Person, SceneC, Vehicle
from tests.infra.street_clips_d import Pedestrian, PoleLamp, SceneD, TopCar
from tests.infra.street_clips_e import SceneE, StreetLamp
from tests.infra.street_clips_e_movers import Mover
from tests.infra.street_clips_f import PoleLampF, SceneF
from tests.infra.street_clips_f_movers import Mover as MoverF
from tests.infra.street_clips_g import SceneG
from tests.infra.street_clips_g_movers import MoverG
from tests.infra.street_clips_hd import SceneHD, WindSceneHD
from tests.infra.street_clips_osd import OsdScene
from tests.infra.street_clips_wind import WindScene

# Round 7: style-A scenes with a burnt-in clock and camera name (``street_clips_osd``).
TUNING_OSD: dict[str, OsdScene] = street_clips_osd.TUNING_OSD
TUNING: dict[str, StreetScene] = {s.name: s for s in (
    StreetScene("t-rain", 14.0, "A", (Walker(5.0, 11.0, -0.1, 1.1, 0.8, 0.42, 0.75, 1, True),),
                ambient=0.55, noise_sigma=4.0, drops_per_s=3.0, streaks=30, seed=1),
    StreetScene("t-rain-empty", 12.0, "A", ambient=0.45, noise_sigma=5.0, drops_per_s=3.5,
                drop_radius=(0.05, 0.09), streaks=20, seed=2),
    StreetScene("t-dark-slow", 16.0, "A",
                (Walker(1.5, 15.5, 1.1, -0.1, 0.85, 0.38, 0.2, 3, True),),
                lamps=(Lamp(0.55, 0.6, 0.12, 0.9),), ambient=0.25, noise_sigma=9.0, seed=3),
    StreetScene("t-rain-heavy", 12.0, "A", (Walker(6.0, 11.5, 0.2, 0.9, 0.75, 0.3, 0.3, 7),),
                ambient=0.35, noise_sigma=6.0, drops_per_s=6.0, drop_radius=(0.03, 0.07),
                drop_life=(2, 5), streaks=40, seed=7),
    StreetScene("t-dark-slower", 16.0, "A",
                (Walker(1.0, 16.0, -0.05, 0.75, 0.8, 0.33, 0.18, 8),),
                lamps=(Lamp(0.6, 0.55, 0.09, 0.8),), ambient=0.22, noise_sigma=11.0, seed=8),
    StreetScene("t-headlights", 10.0, "A", cars=(Car(1.0, 9.0, 1, 0.88, 0.25),),
                ambient=0.25, noise_sigma=5.0, seed=4),
    StreetScene("t-ir-mover", 12.0, "A", (Walker(3.0, 11.0, -0.1, 1.1, 0.82, 0.4, 0.6, 5, True),),
                ambient=0.3, noise_sigma=4.0, ir=(6.0, 99.0), seed=5),
    # Added after the held-out set's foliage + lamp clip failed (0.33): a thin walker a little
    # brighter than the road, crossing a lamp pool at dusk (drawn in style A, own seed).
    StreetScene("t-lamp-walker", 12.0, "A",
                (Walker(2.0, 11.0, 1.1, -0.1, 0.8, 0.32, 0.45, 9),),
                lamps=(Lamp(0.5, 0.5, 0.14, 1.2),), ambient=0.45, noise_sigma=5.0,
                foliage=True, masks=(FOLIAGE_MASK,), seed=9),
    # Added after held-out set 2 (two walkers while the IR switches: 0.75): the same kind of
    # scene drawn in style A with its own seeds.
    StreetScene("t-ir-two", 12.0, "A", (Walker(2.0, 9.0, 1.1, -0.1, 0.85, 0.38, 0.45, 10, True),
                                        Walker(4.5, 11.0, -0.1, 1.1, 0.78, 0.3, 0.7, 11, True)),
                ambient=0.35, noise_sigma=5.0, ir=(5.5, 99.0), seed=10),
    # Added after held-out set 3 was scored (its frames not looked at): the failing kinds
    # again in style A with their own seeds: articulated walkers in view when the IR
    # switches, longer-lived lens drops on an empty street, a dark car with a strong beam.
    StreetScene("t-ir-cross", 12.0, "A", (Walker(2.5, 10.0, -0.1, 1.1, 0.84, 0.42, 0.3, 12),
                                          Walker(3.5, 11.5, 1.1, 0.0, 0.76, 0.3, 0.6, 13)),
                ambient=0.3, noise_sigma=5.0, ir=(6.0, 99.0), seed=11),
    StreetScene("t-rain-long-empty", 12.0, "A", ambient=0.4, noise_sigma=6.0, drops_per_s=5.0,
                drop_radius=(0.03, 0.07), drop_life=(3, 9), streaks=40, seed=12),
    StreetScene("t-car-beam", 10.0, "A", cars=(Car(1.0, 9.0, -1, 0.9, 0.28, beam_len=0.5,
                                                   beam_gain=3.5, shade=0.2),),
                lamps=(Lamp(0.3, 0.5, 0.1, 0.8),), ambient=0.22, noise_sigma=6.0, seed=13),
    StreetScene("t-foliage", 12.0, "A", (Walker(3.0, 9.0, 1.1, -0.1, 0.9, 0.45, 0.7, 6, True),),
                ambient=1.0, noise_sigma=3.0, foliage=True, masks=(FOLIAGE_MASK,), seed=6),
    # Added in the fourth round (after held-out 4 was written and scored, its frames not
    # looked at), for the failures the notes list from set 3, in style A with their own
    # seeds: lens drops that slide with a flat top and a fairly sharp edge (which pass the
    # blur test) on an empty street and over a walker, a failing lamp, a car whose
    # headlamps glow.
    StreetScene("t-rain-slide-empty", 12.0, "A", lamps=(Lamp(0.4, 0.5, 0.12, 0.9),),
                ambient=0.4, noise_sigma=5.0, drops_per_s=3.0, drop_radius=(0.03, 0.06),
                drop_life=(10, 25), sliding=True, streaks=30, seed=14),
    StreetScene("t-rain-slide-walker", 12.0, "A",
                (Walker(3.0, 10.0, 1.1, -0.1, 0.86, 0.4, 0.7, 15),), ambient=0.45,
                noise_sigma=5.0, drops_per_s=2.5, drop_radius=(0.03, 0.06), drop_life=(10, 25),
                sliding=True, streaks=30, seed=15),
    StreetScene("t-lamp-failing", 12.0, "A", lamps=(Lamp(0.5, 0.5, 0.2, 2.0, failing=True),),
                ambient=0.25, noise_sigma=5.0, seed=16),
    StreetScene("t-car-glow", 10.0, "A", cars=(Car(1.0, 9.0, 1, 0.86, 0.25, beam_len=0.45,
                                                   beam_gain=3.0, shade=0.22, glow=140.0),),
                ambient=0.22, noise_sigma=5.0, seed=17),
    # Added in the fifth round (held-out 4's dark walker is never found, the issue's is found
    # only under the lamp; held-out 5 is being written elsewhere and was not looked at), in
    # style A with their own seeds: a slow walker barely darker than a dark, noisy road, far
    # from the only lamp (a blob and an articulated figure), and a slow dark walker in view
    # while the IR illuminator comes on.
    StreetScene("t-dark-far", 24.0, "A", (Walker(2.0, 23.0, 0.12, 0.42, 0.8, 0.32, 0.2, 18, True),),
                lamps=(Lamp(0.92, 0.5, 0.07, 0.7),), ambient=0.16, noise_sigma=8.0, seed=18),
    StreetScene("t-dark-far-figure", 24.0, "A",
                (Walker(2.0, 23.0, 0.62, 0.3, 0.72, 0.3, 0.18, 19),),
                lamps=(Lamp(0.08, 0.45, 0.07, 0.6),), ambient=0.15, noise_sigma=9.0, seed=19),
    StreetScene("t-ir-slow", 14.0, "A", (Walker(1.0, 13.0, 0.2, 0.6, 0.8, 0.36, 0.22, 20, True),),
                ambient=0.2, noise_sigma=6.0, ir=(6.0, 99.0), seed=20),
    # Also in the fifth round, for held-out 4's false events with no mover (``street_clips_wind``,
    # style A): tree shadows the wind shakes on a sunlit road, empty and with a walker through
    # them; a sodium lamp that cycles (fades, stays dark, restarts) beside a steady one.
    WindScene("t-wind-shadows", 20.0, "A", ambient=0.95, noise_sigma=3.0, shadows=0.55,
              wind=1.2, seed=21),
    WindScene("t-wind-walker", 14.0, "A", (Walker(3.0, 12.0, -0.1, 1.1, 0.86, 0.4, 0.3, 22),),
              ambient=0.9, noise_sigma=3.0, shadows=0.5, seed=22),
    WindScene("t-lamp-cycling", 24.0, "A", lamps=(Lamp(0.2, 0.45, 0.1, 0.7),),
              cycling=(Lamp(0.62, 0.55, 0.16, 1.5),), ambient=0.15, noise_sigma=5.0,
              cycle_phase=3.0, seed=23),
    # Added in the sixth round (held-out 5's small far movers, night motorbike and IR
    # motorbike lose most of their recall; held-out 6 is being written elsewhere and was not
    # looked at), in style A with their own seeds: people, a low blob (a dog's size) and a
    # small vehicle far down the street, 0.1-0.3 % of the picture (under ``min_area``'s
    # 0.4 %); a small dark motorbike at night seen by its headlamp and beam; a small vehicle
    # crossing in ~3 s while the IR comes on.
    StreetScene("t-far-walker", 16.0, "A", (Walker(1.5, 15.0, -0.05, 1.05, 0.5, 0.1, 0.2, 24),),
                lamps=(Lamp(0.7, 0.45, 0.1, 0.6),), ambient=0.5, noise_sigma=5.0, seed=24),
    StreetScene("t-far-two", 18.0, "A", (Walker(2.0, 16.0, 0.3, 0.75, 0.52, 0.11, 0.25, 25, True),
                                         Walker(3.0, 17.0, 1.05, 0.55, 0.48, 0.09, 0.7, 26)),
                ambient=0.45, noise_sigma=6.0, seed=25),
    StreetScene("t-far-dog", 14.0, "A",
                (Walker(2.0, 10.0, 1.05, -0.05, 0.62, 0.07, 0.15, 27, True),),
                ambient=0.6, noise_sigma=4.0, seed=26),
    StreetScene("t-far-moto", 12.0, "A", cars=(Car(2.0, 9.0, 1, 0.5, 0.06, beam_len=0.2,
                                                   beam_gain=2.0, shade=0.2),),
                lamps=(Lamp(0.35, 0.45, 0.1, 0.7),), ambient=0.25, noise_sigma=5.0, seed=27),
    StreetScene("t-moto-beam", 12.0, "A", cars=(Car(2.0, 8.0, -1, 0.78, 0.08, beam_len=0.5,
                                                    beam_gain=3.5, shade=0.12, glow=90.0),),
                ambient=0.15, noise_sigma=6.0, seed=28),
    StreetScene("t-ir-moto", 12.0, "A", cars=(Car(5.0, 8.5, 1, 0.7, 0.09, beam_len=0.15,
                                                  beam_gain=1.5, shade=0.2),),
                ambient=0.25, noise_sigma=5.0, ir=(6.5, 99.0), seed=29),
    # Added in the seventh round (a larger analysis picture helped far movers but cost near
    # movers and lights on these 640x360 clips; commune cameras are 720p): the kinds that
    # matter drawn in style A at 1280x720 (``street_clips_hd``), their own seeds, the noise
    # per pixel about twice the 360p clips' (a 720p frame is shrunk twice as far), CBR
    # 1.5 Mbit/s: a far walker, a far motorbike with its lamp at night, a walker across the
    # IR switch, wind-shaken leaf shadows with nobody, rain with a walker.
    SceneHD("t-hd-far-walker", 20.0, "A", (Walker(2.0, 18.0, 1.05, -0.05, 0.52, 0.1, 0.2, 31),),
            lamps=(Lamp(0.3, 0.45, 0.1, 0.6),), ambient=0.45, noise_sigma=9.0, seed=31),
    SceneHD("t-hd-moto-night", 18.0, "A", cars=(Car(3.0, 13.0, -1, 0.6, 0.07, beam_len=0.3,
                                                    beam_gain=2.5, shade=0.15, glow=80.0),),
            lamps=(Lamp(0.65, 0.45, 0.1, 0.7),), ambient=0.2, noise_sigma=10.0, seed=32),
    SceneHD("t-hd-ir-mover", 18.0, "A", (Walker(3.0, 15.0, 1.1, -0.1, 0.8, 0.36, 0.55, 33),),
            ambient=0.3, noise_sigma=8.0, ir=(8.0, 99.0), seed=33),
    WindSceneHD("t-hd-wind", 16.0, "A", ambient=0.9, noise_sigma=6.0, shadows=0.45, wind=0.8,
                seed=34),
    SceneHD("t-hd-rain-walker", 16.0, "A",
            (Walker(3.0, 13.0, -0.1, 1.1, 0.84, 0.4, 0.7, 35, True),), ambient=0.5,
            noise_sigma=8.0, drops_per_s=3.0, streaks=60, seed=35),
)}
# the tuning set's 720p clips alone (``scripts/dev/score_width.py --set TUNING_HD``)
TUNING_HD = {n: s for n, s in TUNING.items() if isinstance(s, (SceneHD, WindSceneHD))}

HELD_OUT: dict[str, StreetScene] = {s.name: s for s in (
    StreetScene("h-rain", 14.0, "B", (Walker(4.0, 10.5, 1.1, -0.1, 0.75, 0.36, 0.8, 11),),
                ambient=0.65, noise_sigma=5.0, drops_per_s=4.0, drop_radius=(0.05, 0.1),
                drop_life=(1, 3), streaks=50, seed=101),
    StreetScene("h-rain-night-empty", 12.0, "B", lamps=(Lamp(0.3, 0.55, 0.1, 1.0),),
                ambient=0.3, noise_sigma=7.0, drops_per_s=2.5, drop_radius=(0.035, 0.07),
                streaks=25, seed=102),
    StreetScene("h-dark-walk", 16.0, "B", (Walker(1.0, 15.0, -0.1, 1.1, 0.7, 0.3, 0.15, 13),),
                lamps=(Lamp(0.3, 0.5, 0.1, 1.1),), ambient=0.2, noise_sigma=11.0, seed=103),
    StreetScene("h-headlights", 9.0, "B", (),
                (Car(1.0, 8.5, -1, 0.93, 0.3, beam_len=0.5, beam_gain=3.5, shade=0.3),),
                lamps=(Lamp(0.75, 0.45, 0.08, 0.6),), ambient=0.2, noise_sigma=6.0, seed=104),
    StreetScene("h-ir-walker", 11.0, "B", (Walker(2.0, 9.5, 1.1, -0.1, 0.88, 0.48, 0.5, 15),),
                ambient=0.35, noise_sigma=6.0, ir=(4.5, 99.0), seed=105),
    StreetScene("h-foliage-lamp", 12.0, "B",
                (Walker(2.5, 10.0, -0.1, 1.1, 0.78, 0.34, 0.45, 16),),
                lamps=(Lamp(0.45, 0.5, 0.14, 1.2),), ambient=0.45, noise_sigma=5.0,
                foliage=True, masks=(FOLIAGE_MASK,), seed=106),
)}

# A second held-out set, written after the first was scored and one of its failures
# (foliage + lamp) had led to a change made on a new tuning clip (t-lamp-walker): other
# seeds, places, speeds, sizes, clothes and noise, style B; scored once, never tuned on.
HELD_OUT_2: dict[str, StreetScene] = {s.name: s for s in (
    StreetScene("h2-rain-walker", 13.0, "B", (Walker(3.0, 10.0, -0.1, 1.1, 0.82, 0.42, 0.25, 21),),
                ambient=0.5, noise_sigma=6.0, drops_per_s=3.5, drop_radius=(0.04, 0.09),
                drop_life=(1, 4), streaks=35, seed=201),
    StreetScene("h2-night-lamp-walk", 15.0, "B",
                (Walker(1.5, 13.5, 1.1, -0.1, 0.72, 0.3, 0.55, 22),),
                lamps=(Lamp(0.7, 0.5, 0.11, 1.0),), ambient=0.3, noise_sigma=8.0, seed=202),
    StreetScene("h2-car-beam", 10.0, "B", (),
                (Car(1.5, 9.0, 1, 0.86, 0.22, beam_len=0.4, beam_gain=2.5, shade=0.2),),
                lamps=(Lamp(0.25, 0.45, 0.08, 0.7),), ambient=0.25, noise_sigma=5.0, seed=203),
    StreetScene("h2-ir-two", 13.0, "B", (Walker(3.0, 10.0, -0.1, 1.1, 0.8, 0.4, 0.4, 24),
                                         Walker(6.0, 11.5, 1.1, -0.1, 0.9, 0.46, 0.65, 25)),
                ambient=0.3, noise_sigma=5.0, ir=(5.0, 99.0), seed=204),
    StreetScene("h2-empty-rain-lamp", 12.0, "B", lamps=(Lamp(0.6, 0.55, 0.12, 1.0),),
                ambient=0.35, noise_sigma=6.0, drops_per_s=5.0, drop_radius=(0.03, 0.08),
                streaks=30, seed=205),
    StreetScene("h2-foliage-dark", 15.0, "B",
                (Walker(1.0, 14.0, 1.1, -0.1, 0.75, 0.36, 0.2, 26),),
                lamps=(Lamp(0.35, 0.5, 0.1, 0.9),), ambient=0.3, noise_sigma=9.0,
                foliage=True, masks=(FOLIAGE_MASK,), seed=206),
)}


# Held-out set 3 (issue 11), written before the detector was changed for it, in a third
# drawing style (``street_clips_c``: other surfaces, shot-like correlated noise, refracting
# lens drops, two-tone walkers with umbrellas, cars with a beam pool and wet-road
# reflections, an IR switch with exposure overshoot, a failing lamp) at 1280x720 15 fps CBR
# like the clips; new seeds, places, speeds, sizes and bit rates. Scored once before
# the change and once after it; its frames were not looked at while tuning.
# Scored before any detector change (frame F1, precision, box IoU, false events in still
# stretches): umbrella-rain 0.843 0.728 0.783 1 (one event from 0.4 s, before the walker) |
# dark-shuffle 0.975 1.0 0.490 0 | car-wet 0.535 0.450 0.254 1 (the beam, 2.0 s) |
# ir-crossing 0.579 0.795 0.195 0 | rain-empty: 60 frames with motion, 1 event all clip long
# | flicker-tree: 3 frames, 1 event | ir-empty: nothing. No zero-duration event. Generated
# cold in ~130 s for the 7 clips (2-core machine shared with other jobs).
HELD_OUT_3: dict[str, SceneC] = {s.name: s for s in (
    SceneC("h3-umbrella-rain", 13.0,
           (Person(2.5, 11.5, -0.08, 1.08, 0.83, 0.4, 0.22, 0.15, umbrella=True, seed=31),),
           lamps=(FlickerLamp(0.6, 0.45, 0.12, 0.8),), ambient=0.45, noise_sigma=6.0,
           drops_per_s=3.0, streaks=60, seed=301, bitrate_k=1500),
    SceneC("h3-dark-shuffle", 15.0, (Person(1.0, 14.5, 0.95, 0.35, 0.78, 0.28, 0.16, 0.12,
                                            seed=32),),
           lamps=(FlickerLamp(0.25, 0.5, 0.1, 1.0),), ambient=0.18, noise_sigma=10.0,
           seed=302, bitrate_k=1200),
    SceneC("h3-car-wet", 10.0, cars=(Vehicle(1.0, 9.5, -1, 0.9, 0.26, shade=0.18,
                                             beam_len=0.35, beam_gain=2.8, wet=True),),
           lamps=(FlickerLamp(0.8, 0.45, 0.09, 0.6),), ambient=0.22, noise_sigma=6.0,
           seed=303, bitrate_k=2000),
    SceneC("h3-ir-crossing", 12.0,
           (Person(2.0, 10.0, 1.08, -0.08, 0.86, 0.45, 0.5, 0.3, ir_gain=1.6, seed=34),
            Person(4.0, 11.5, 0.1, 0.7, 0.7, 0.3, 0.35, 0.35, ir_gain=0.8, seed=35)),
           ambient=0.3, noise_sigma=5.0, ir=(5.5, 99.0), seed=304, bitrate_k=1500),
    SceneC("h3-rain-empty", 12.0, lamps=(FlickerLamp(0.4, 0.5, 0.12, 1.0),), ambient=0.35,
           noise_sigma=7.0, drops_per_s=4.5, drop_radius=(0.025, 0.06), drop_life=(2, 8),
           streaks=80, seed=305, bitrate_k=1500),
    SceneC("h3-flicker-tree", 12.0, lamps=(FlickerLamp(0.65, 0.5, 0.13, 1.1, flicker=True),),
           ambient=0.3, noise_sigma=6.0, tree=True, masks=(TREE_MASK,), seed=306,
           bitrate_k=1200),
    SceneC("h3-ir-empty", 10.0, lamps=(FlickerLamp(0.5, 0.45, 0.1, 0.7),), ambient=0.3,
           noise_sigma=5.0, ir=(4.0, 99.0), seed=307, bitrate_k=1500),
)}


# Held-out set 4 (issue 11, fourth round), written and committed before the detector was
# changed for it, in a fourth drawing style (``street_clips_d``: a high camera looking down
# the street in perspective, cobbles, a plank fence, lens vignetting, Poisson-Gaussian noise
# with row banding and colour noise, lens drops that slide with fairly sharp edges, a car
# seen from above with glowing headlamps, a cycling sodium lamp, wind-shaken sun shadows)
# at 1280x720 15 fps CBR 1-2 Mbit/s, 20-35 s a clip; new seeds, paths, speeds and sizes.
# Its frames were not looked at while tuning; it is scored once before the change and once
# after it.
HELD_OUT_4: dict[str, SceneD] = {s.name: s for s in (
    SceneD("h4-rain-walker", 30.0,
           (Pedestrian(6.0, 24.0, (1.05, 0.45), (0.2, 0.95), 0.5, seed=41),),
           lamps=(PoleLamp(0.45, 0.6, 0.22, 1.6),), ambient=0.18, noise_sigma=5.0,
           drops_per_s=1.5, rain=50, seed=401, bitrate_k=1500),
    SceneD("h4-rain-empty", 25.0, lamps=(PoleLamp(0.6, 0.55, 0.2, 1.5),), ambient=0.2,
           noise_sigma=5.0, drops_per_s=2.0, drop_width=(0.02, 0.05), rain=70, seed=402,
           bitrate_k=1200),
    SceneD("h4-dark-walker", 35.0,
           (Pedestrian(3.0, 33.0, (0.08, 0.5), (0.5, 0.8), 0.09, seed=42),),
           lamps=(PoleLamp(0.88, 0.5, 0.12, 1.2),), ambient=0.12, noise_sigma=7.0, seed=403,
           bitrate_k=1000),
    SceneD("h4-car-lamps", 20.0, cars=(TopCar(4.0, 16.0, 1, 0.72, shade=0.3, beam=2.2),),
           lamps=(PoleLamp(0.3, 0.45, 0.15, 0.8),), ambient=0.12, noise_sigma=5.0, seed=404,
           bitrate_k=2000),
    SceneD("h4-ir-cyclist", 25.0,
           (Pedestrian(6.0, 15.0, (-0.05, 0.62), (1.05, 0.78), 0.45, cyclist=True,
                       ir_shade=0.7, seed=43),),
           ambient=1.0, noise_sigma=3.0, ir_at=9.0, seed=405, bitrate_k=1500),
    SceneD("h4-lamp-cycling", 30.0, lamps=(PoleLamp(0.55, 0.6, 0.2, 1.6, cycling=True),
                                           PoleLamp(0.15, 0.45, 0.12, 0.7)),
           ambient=0.12, noise_sigma=5.0, seed=406, bitrate_k=1200),
    SceneD("h4-wind-shadows", 30.0, ambient=0.95, noise_sigma=3.0, shadows=True, seed=407,
           bitrate_k=1800),
)}


# Held-out set 5 (issue 11, fifth round), written and committed alone before the fifth
# detector round, in a fifth drawing style (``street_clips_e*``: a low camera beside a dirt
# road in perspective, puddles mirroring the lights, an auto-exposure that lags and
# overshoots, gain-scaled correlated noise, barrel distortion; stick-figure movers: a
# motorbike with its headlamp, walkers, an umbrella, a dog, a person pushing a bicycle) at
# 1280x720 15 fps CBR 1 Mbit/s, 25-45 s a clip, 260 s in all. One scene per failure kind,
# none like an earlier one. Its "before" scores (main's detector) are taken once, before the
# round; nobody tunes on it. (h5-meet-talk: the two stand still from 16/18 s to 30 s and are
# not labelled then: motion reported on them is a false positive, an event starting then a
# false event.)
HELD_OUT_5: dict[str, SceneE] = {s.name: s for s in (
    SceneE("h5-moto-beam", 30.0,
           (Mover("moto", ((6.0, 70.0, 1.2), (15.0, 24.0, 1.0), (17.5, 11.0, -0.2),
                           (19.5, 5.0, -2.2), (21.0, 2.5, -4.5)), (0.15, 0.15, 0.5), seed=51),),
           lamps=(StreetLamp(30.0, 3.3, 1.0),), ambient=(0.05, 0.05), noise_sigma=1.0,
           wet=True, seed=501),
    SceneE("h5-dark-walker", 40.0,
           (Mover("walker", ((4.0, 21.0, -1.9), (34.0, 9.5, -2.2)), (0.16, 0.14, 0.14),
                  seed=52),),
           lamps=(StreetLamp(42.0, 3.3, 1.2),), ambient=(0.045, 0.045), noise_sigma=1.3,
           seed=502),
    SceneE("h5-umbrella-rain", 30.0,
           (Mover("umbrella", ((8.0, 15.0, 4.6), (22.0, 9.0, -3.3)), (0.45, 0.25, 0.2),
                  seed=53),),
           ambient=(0.45, 0.42), noise_sigma=1.0, wet=True, rain=120, drops_per_s=2.5,
           seed=503),
    SceneE("h5-ir-moto", 25.0,
           (Mover("moto", ((9.5, 34.0, 0.8), (12.5, 4.0, -0.6)), (0.5, 0.45, 0.4), seed=54),),
           ambient=(0.3, 0.2), noise_sigma=1.1, ir_at=11.0, seed=504),
    SceneE("h5-meet-talk", 45.0,
           (Mover("walker", ((3.0, 36.0, 1.1), (18.0, 15.2, 0.4), (30.0, 15.2, 0.4),
                             (38.0, 5.0, -1.6)), (0.55, 0.3, 0.25), seed=55),
            Mover("walker", ((8.0, 5.5, -1.4), (16.0, 14.4, -0.3), (30.0, 14.4, -0.3),
                             (44.0, 36.0, 0.6)), (0.2, 0.5, 0.6), stature=0.92, seed=56)),
           ambient=(0.85, 0.8), noise_sigma=0.8, seed=505),
    SceneE("h5-dog-fence", 35.0,
           (Mover("dog", ((3.0, 28.0, 3.3), (14.0, 7.0, 3.2)), (0.35, 0.45, 0.55), seed=57),
            Mover("pusher", ((19.0, 6.0, -0.6), (33.0, 26.0, 0.4)), (0.3, 0.35, 0.3),
                  seed=58)),
           ambient=(0.4, 0.16), noise_sigma=1.1, lit_windows=True, seed=506),
    SceneE("h5-shadow-wall", 30.0, ambient=(1.0, 1.0), noise_sigma=0.8, tree_shadow=True,
           clouds=True, seed=507),
    SceneE("h5-rain-flicker", 25.0, lamps=(StreetLamp(12.0, 3.3, 1.3, flicker=True),),
           ambient=(0.05, 0.05), noise_sigma=1.1, wet=True, rain=350, drops_per_s=1.0,
           seed=508),
)}



# Held-out set 6 (issue 11, sixth round), written and committed alone before the sixth
# detector round, in a sixth drawing style (``street_clips_f*``: a camera on a 4.5 m pole at
# a commune junction looking down 27 degrees through a wide lens with strong barrel
# distortion, concrete tiles, asphalt, a drain, shop fronts with roller shutters and signs,
# the committee's wall, power lines, parked motorbikes, banana plants; Bayer colour noise,
# temporal denoise smearing movers in the dark, sharpening halos; day, dusk, night and a grey
# IR mode with a hot spot) at 1280x720 15 fps CBR 0.8-1.5 Mbit/s, 25-45 s a clip, 265 s in
# all, one scene with a GOP of 4 s. One scene per failure kind, none like an earlier one.
# Its "before" scores (main's detector, c60c4cc) are taken once, before the round; nobody
# tunes on it. (h6-market-morning: two people stop to talk from 13 s to 23 s and are not
# labelled then: motion reported on them is a false positive, an event starting then false.)
_NIGHT = (0.03, 0.03)
HELD_OUT_6: dict[str, SceneF] = {s.name: s for s in (
    # motorbikes turning through the junction at night; each beam sweeps the road before the
    # bike is in view (the first comes in from off the left edge, the second from far away)
    SceneF("h6-moto-junction", 30.0,
           (MoverF("moto", ((4.0, -26.0, 12.8), (7.5, -5.0, 12.8), (8.7, -1.6, 10.5),
                            (10.5, -1.8, 1.0)), (0.2, 0.2, 0.55)),
            MoverF("moto", ((15.0, 1.8, 75.0), (22.0, 1.8, 14.5), (23.5, 4.5, 11.8),
                            (26.5, 26.0, 11.8)), (0.5, 0.5, 0.5), pillion=True)),
           lamps=(PoleLampF(-6.5, 4.5, 0.8), PoleLampF(5.5, 20.0, 0.9)), ambient=_NIGHT,
           noise_sigma=1.2, seed=601, bitrate_k=1000),
    # a slow walker in dark clothes on the dark right side of the square, never under a lamp
    SceneF("h6-dark-far-walker", 40.0,
           (MoverF("walker", ((3.0, 15.0, 13.0), (22.0, 4.8, 15.5), (38.0, 3.0, 22.5)),
                   (0.1, 0.1, 0.11), (0.2, 0.24, 0.3)),),
           lamps=(PoleLampF(-7.0, 5.0, 0.9), PoleLampF(-11.0, 19.0, 0.7)),
           ambient=(0.025, 0.025), noise_sigma=1.6, seed=602, bitrate_k=800),
    # rain at night: drops on the lens (blurred bright blobs, some sliding, a few staying
    # for many seconds), falling streaks; a person in a raincoat crosses
    SceneF("h6-rain-raincoat", 30.0,
           (MoverF("walker", ((7.0, -12.0, 7.5), (27.0, 12.0, 10.0)), raincoat=True),),
           lamps=(PoleLampF(-6.0, 8.0, 1.0), PoleLampF(6.0, 16.0, 0.8)), ambient=(0.04, 0.04),
           noise_sigma=1.2, rain=160, drops_per_s=2.5, long_drops=0.15, seed=603,
           bitrate_k=1200),
    # dusk: the camera switches to IR at 11 s while a motorbike crosses in ~3 s
    SceneF("h6-ir-moto", 25.0,
           (MoverF("moto", ((9.2, -16.0, 10.8), (13.2, 16.0, 11.6)), (0.3, 0.25, 0.6)),),
           lamps=(PoleLampF(-7.0, 5.0, 0.6),), ambient=(0.3, 0.18), noise_sigma=1.0,
           ir_at=11.0, seed=604, bitrate_k=1000),
    # a market morning: a woman with a conical hat and a shoulder pole near the camera, two
    # people who meet and stand talking ~10 s, a bicycle, a far walker, one walking away
    SceneF("h6-market-morning", 45.0,
           (MoverF("walker", ((2.0, -9.0, 5.0), (16.0, 9.0, 6.5)), (0.35, 0.3, 0.25),
                   hat=True, load=True),
            MoverF("walker", ((4.0, 14.0, 18.5), (13.0, 7.6, 17.2), (23.0, 7.6, 17.2),
                              (34.0, 14.0, 10.0)), (0.6, 0.35, 0.3), hat=True),
            MoverF("walker", ((6.0, -1.0, 22.0), (13.5, 7.0, 17.6), (23.5, 7.0, 17.6),
                              (33.0, -3.0, 21.0)), (0.25, 0.3, 0.55), stature=1.06),
            MoverF("bicycle", ((26.0, -16.0, 12.0), (34.0, 16.0, 11.4)), (0.5, 0.5, 0.45)),
            MoverF("walker", ((1.0, -14.0, 21.5), (25.0, 2.5, 23.0)), (0.3, 0.55, 0.35),
                   stature=0.95),
            MoverF("walker", ((35.0, 5.5, 3.0), (44.5, 2.0, 14.0)), (0.45, 0.45, 0.5),
                   load=True)),
           ambient=(0.85, 0.85), sun=0.5, noise_sigma=0.8, seed=605, bitrate_k=1500),
    # dusk, small movers only: a dog trotting along the drain, chickens pecking about, a far
    # pedestrian along the shop fronts; a GOP of 4 s
    SceneF("h6-dusk-animals", 35.0,
           (MoverF("dog", ((3.0, 4.6, 22.0), (14.0, 4.4, 4.5), (20.0, -2.0, 2.0)),
                   (0.3, 0.4, 0.5)),
            MoverF("chicken", ((6.0, -11.0, 7.0), (10.0, -7.0, 6.8), (12.0, -7.0, 6.8),
                               (17.0, -6.2, 7.6), (20.0, -6.2, 7.6), (28.0, -7.4, 8.4),
                               (35.0, -8.6, 7.0)), (0.3, 0.45, 0.6)),
            MoverF("chicken", ((8.0, -11.5, 7.6), (13.0, -8.0, 7.9), (16.0, -8.0, 7.9),
                               (24.0, -6.8, 6.4), (35.0, -5.5, 6.6)), (0.75, 0.75, 0.75)),
            MoverF("walker", ((16.0, 14.0, 22.5), (34.0, -4.0, 22.0)), (0.35, 0.3, 0.3))),
           lamps=(PoleLampF(-6.5, 4.5, 0.6),), ambient=(0.4, 0.22), noise_sigma=1.0,
           seed=606, bitrate_k=800, gop=60),
    # nobody: banana leaves and their shadows swaying on a sunlit wall and ground (not
    # masked), cloud shade passing
    SceneF("h6-banana-wind", 30.0, ambient=(0.7, 0.7), sun=0.9, wind=1.0, clouds=True,
           noise_sigma=0.8, seed=607, bitrate_k=1200),
    # nobody: a night in IR, a sodium lamp flickering, moths circling the IR lamp by the
    # lens, light drizzle
    SceneF("h6-moths-drizzle", 30.0,
           lamps=(PoleLampF(5.5, 14.0, 1.0, flicker=True), PoleLampF(-7.0, 5.0, 0.7)),
           ambient=_NIGHT, noise_sigma=1.3, ir_at=0.0, moths=8, rain=40, drops_per_s=0.6,
           seed=608, bitrate_k=1000),
)}

def _still(truth: list[list[clips.Box]], fps: int) -> list[list[float]]:
    """Stretches with nothing labelled (an event starting there is false), 0.2 s trimmed
    next to a labelled frame so a mover's first or last visible pixels are not counted."""
    out: list[list[float]] = []
    start: int | None = None
    for i, boxes in enumerate([*truth, [(0.0, 0.0, 0.0, 0.0)]]):
        if not boxes and start is None:
            start = i
        elif boxes and start is not None:
            a = start / fps + (0.2 if start else 0.0)
            b = i / fps - (0.2 if i < len(truth) else 0.0)
            if b > a:
                out.append([round(a, 3), round(b, 3)])
            start = None
    return out


# each drawing style's generator, by its scene type (WindScene before StreetScene: a subclass)
STYLES: tuple[tuple[type, Any], ...] = (
    (SceneG, street_clips_g), (SceneF, street_clips_f), (SceneE, street_clips_e),
    (SceneD, street_clips_d), (SceneC, street_clips_c), (WindSceneHD, street_clips_hd),
    (SceneHD, street_clips_hd), (WindScene, street_clips_wind), (OsdScene, street_clips_osd))


def _style(scene: object) -> Any:
    return next((module for kind, module in STYLES if isinstance(scene, kind)), street_clips)


AnyScene = StreetScene | SceneC | SceneD | SceneE | SceneF | SceneG


@one_builder_per_clip
def make_street_clip(scene: AnyScene, directory: Path) -> Path:
    """Encode ``scene`` at 15 fps CBR (640x360, styles C to G 1280x720; a GOP of 2 s unless
    the scene has its own; style G: its own frame rate, B-frames when it says) unless
    cached."""
    directory.mkdir(parents=True, exist_ok=True)
    module = _style(scene)
    width, height = module.WIDTH, module.HEIGHT
    gop = getattr(scene, "gop", GOP)
    fps = getattr(scene, "fps", FPS)  # FPS for styles A-F: their keys are unchanged
    key = scene_key(scene, fps, width, height, gop, scene.bitrate_k,
                    sources=tuple(getattr(module, "SOURCES", (str(module.__file__),))))
    path = directory / f"{scene.name}-{key}.mp4"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path
    frames = module.render(scene)
    if isinstance(scene, SceneG):
        truth = street_clips_g.encode(frames, path, (width, height), fps, gop,
                                      scene.bitrate_k, scene.bframes)
    else:
        truth = encode(frames, path, (width, height), fps, gop, scene.bitrate_k)
    given = scene.still if isinstance(scene, StreetScene) else ()
    still = [list(s) for s in given] or _still(truth, fps)
    meta.write_text(json.dumps({"fps": fps, "width": width, "height": height, "gop": gop,
                                "boxes": truth, "still": still, "key": key,
                                "masks": [list(map(list, m)) for m in scene.masks]}))
    return path


def make_street_clips(scenes: Iterable[AnyScene],
                      directory: Path, workers: int = 2) -> list[Path]:
    """``make_street_clip`` for several scenes at once, in ``workers`` processes: a cold
    cache of 720p clips is drawn by numpy in one thread per clip (style E: ~0.1 s a frame),
    so one process per core cuts the wait (the per-clip locks keep other builders apart)."""
    todo = list(scenes)
    with ProcessPoolExecutor(min(workers, len(todo)) or 1) as pool:
        return list(pool.map(make_street_clip, todo, [directory] * len(todo)))


# Held-out set 7 (issue 11, seventh round), written and committed alone before the seventh
# detector round, in a seventh drawing style (``street_clips_g*``: a camera under the eaves
# of the commune's cultural house looking over its yard and the village lane, down a lane to
# a slab bridge over a canal, the dyke road and the paddy beyond; a red flag fluttering,
# hedge, wires, shimmering water that mirrors the lamps; a cheap sensor with row and
# fixed-pattern noise, a smart codec's key-frame pulse, a rolling shutter, a lens a little
# out of focus, the burnt-in clock) at 1280x720 CBR 0.8-2 Mbit/s, 25-35 s a clip, 245 s in
# all: one clip at 12 fps, one with a GOP of 4 s, one with libx264's default B-frames. One
# scene per failure kind, none like an earlier one. Its "before" scores (main's detector,
# a8608be, at analysis widths 160 and 240) are taken once, before the round; nobody tunes on
# it. (h7-school-gate-noon: children stop and wait at the gate, the mother with her bicycle
# stops, the cart stands from 10 s: not labelled then, as in sets 5 and 6.)
_CHILD = ((0.92, 0.92, 0.92), (0.5, 0.2, 0.1))  # white shirt, navy trousers (BGR)
HELD_OUT_7: dict[str, SceneG] = {s.name: s for s in (
    # night: a car on the dyke road, its beam on the road and in the canal ahead of it (in
    # view before the car), then a motorbike with two riders the other way
    SceneG("h7-dyke-car-night", 30.0,
           (MoverG("car", ((5.0, -0.12, 0.445), (19.0, 1.12, 0.445))),
            MoverG("moto", ((21.0, 1.08, 0.446), (27.5, -0.08, 0.444)), pillion=True)),
           light=(0.04, 0.04), lamp=0.8, read_noise=1.6, fpn=0.5, clock=19 * 3600 + 2530,
           seed=701, bitrate_k=1200),
    # a small old woman in dark clothes shuffling along the yard's far edge in the dark,
    # strong sensor noise, the bridge lamp broken (0.3-0.5 % of the picture); 12 fps
    SceneG("h7-dark-walker-noise", 35.0,
           (MoverG("person", ((3.0, 0.13, 0.6), (33.0, 0.52, 0.612)),
                   ((0.12, 0.1, 0.1), (0.08, 0.08, 0.08)), stature=0.85),),
           light=(0.045, 0.045), read_noise=1.8, fpn=0.8, clock=21 * 3600 + 333, seed=702,
           fps=12, gop=24, bitrate_k=800),
    # daytime heavy rain: big blurred drops on the cover glass, sliding or staying, falling
    # streaks, rings on the canal, while a motorbike under a rain poncho crosses; GOP 4 s
    SceneG("h7-rain-poncho", 30.0,
           (MoverG("moto", ((11.0, -0.1, 0.7), (15.5, 1.1, 0.705)), poncho=True),),
           light=(0.55, 0.5), wind=0.6, rain=220, drops_per_s=1.2, stay=0.35,
           clock=14 * 3600 + 1200, seed=703, gop=60, bitrate_k=1500),
    # dusk: the camera switches to IR at 11 s while a schoolboy cycles across in ~3 s
    SceneG("h7-ir-dusk-cyclist", 25.0,
           (MoverG("cyclist", ((9.6, 1.08, 0.69), (12.8, -0.08, 0.695)), _CHILD),),
           light=(0.3, 0.18), lamp=0.6, ir_at=11.0, clock=18 * 3600 + 160, seed=704,
           bitrate_k=1000),
    # the school gate at noon: children from the bridge and along the lane, some stop and
    # wait at the gate (10 s), a mother walking her bicycle stops, a cart seller arrives and
    # stands; hard short shadows, sizes from the dyke to the camera; B-frames
    SceneG("h7-school-gate-noon", 35.0,
           (MoverG("child", ((1.0, 0.5, 0.47), (9.0, 0.47, 0.62), (13.0, 0.17, 0.82),
                             (24.0, 0.17, 0.82), (28.0, -0.1, 0.84)), _CHILD),
            MoverG("child", ((2.0, 0.53, 0.46), (11.0, 0.52, 0.64), (15.0, 0.24, 0.78),
                             (26.0, 0.24, 0.78), (31.0, -0.1, 0.8)),
                   ((0.92, 0.92, 0.92), (0.15, 0.15, 0.6))),
            MoverG("child", ((0.0, 0.1, 0.445), (12.0, 0.47, 0.445), (20.0, 0.5, 0.56),
                             (28.0, 0.6, 0.75), (34.0, 1.1, 0.8)), _CHILD),
            MoverG("child", ((4.0, 1.08, 0.72), (16.0, -0.08, 0.72)),
                   ((0.3, 0.6, 0.9), (0.5, 0.2, 0.1))),
            MoverG("child", ((17.0, 1.1, 0.93), (25.0, 0.62, 0.9), (30.0, 0.62, 0.9),
                             (34.9, 0.3, 0.98)), _CHILD),
            MoverG("child", ((18.0, 1.12, 0.96), (25.5, 0.7, 0.92), (30.0, 0.7, 0.92),
                             (34.9, 0.42, 0.99)), ((0.2, 0.2, 0.8), (0.5, 0.2, 0.1))),
            MoverG("bicycle", ((6.0, -0.12, 0.7), (18.0, 0.5, 0.7), (22.0, 0.5, 0.7),
                               (30.0, 1.12, 0.71)), ((0.4, 0.7, 0.8), (0.2, 0.2, 0.25))),
            MoverG("cart", ((0.0, 1.12, 0.62), (10.0, 0.72, 0.63), (35.0, 0.72, 0.63)),
                   ((0.6, 0.55, 0.5), (0.2, 0.25, 0.3)))),
           sun=0.9, clock=11 * 3600 + 1685, seed=705, bframes=True, bitrate_k=2000),
    # small movers only: a buffalo plodding along the far dyke, a dog trotting along the
    # near bank (it stops to sniff), four ducks waddling across the yard
    SceneG("h7-dyke-animals", 30.0,
           (MoverG("buffalo", ((1.0, 0.75, 0.445), (29.0, 0.25, 0.447)),
                   ((0.22, 0.2, 0.22), (0.0, 0.0, 0.0))),
            MoverG("dog", ((4.0, -0.05, 0.575), (12.0, 0.4, 0.575), (15.0, 0.4, 0.575),
                           (22.0, 0.3, 0.58)), ((0.3, 0.45, 0.6), (0.0, 0.0, 0.0))),
            *(MoverG("duck", ((6.0 + 0.4 * k, 0.6 + 0.03 * k, 0.63 + 0.005 * k),
                              (20.0 + 0.4 * k, 0.95 + 0.03 * k, 0.64)),
                     ((0.9, 0.92, 0.92) if k % 2 else (0.25, 0.4, 0.5), (0.0, 0.0, 0.0)))
              for k in range(4))),
           light=(0.8, 0.7), sun=0.4, clock=16 * 3600 + 2400, seed=706, bitrate_k=1000),
    # nobody: wind on a sunny day: the flag flutters, the hedge shakes, a tree's canopy
    # shadow sways on the yard, the canal shimmers and glints, cloud shade passes
    SceneG("h7-wind-flag-day", 30.0, sun=0.8, wind=1.0, clouds=True,
           clock=10 * 3600 + 930, seed=707, bitrate_k=1500),
    # nobody: a night in IR: insects circling the IR lamp by the lens, the gate's tube light
    # failing (it stutters), the exposure hunting, the clock ticking
    SceneG("h7-night-insects", 30.0, light=(0.04, 0.04), tube=1.0, flicker=True,
           ir_at=-1.0, insects=9, hunting=True, fpn=0.6, clock=23 * 3600 + 720, seed=708,
           bitrate_k=900),
)}
