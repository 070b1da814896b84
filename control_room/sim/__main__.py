"""``python -m control_room.sim``: see ``control_room.sim.cli``."""

import sys

from control_room.sim.cli import main

sys.exit(main())
