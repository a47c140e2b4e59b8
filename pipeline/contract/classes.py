"""Body-part classes: ids, names and overlay colours (fixed ids; the colours of the YIBP dataset labels).

Colours are RGB, exactly as in the Youtube-Infant-Body-Parsing label PNGs.
"""

from __future__ import annotations

from typing import Final

CLASS_NAMES: Final[tuple[str, ...]] = ("background", "head", "arm", "torso", "leg")
"""Index = class id. 0 background, 1 head, 2 hand/arm, 3 body/torso, 4 foot/leg."""

CLASS_COLORS_RGB: Final[tuple[tuple[int, int, int], ...]] = (
    (0, 0, 0),
    (44, 160, 44),
    (31, 119, 180),
    (255, 127, 14),
    (214, 39, 40),
)
"""Index = class id; RGB colour of that class in dataset labels and overlays."""

BACKGROUND: Final[int] = 0
HEAD: Final[int] = 1
NUM_CLASSES: Final[int] = len(CLASS_NAMES)
