"""Overlay colours of the body-part classes (RGB), and the blend the overlay uses.

The colours are the dataset's label colours (:data:`pipeline.contract.classes.CLASS_COLORS_RGB`), so an
overlay reads like a label PNG. They are four distinct, saturated hues:

=====  ========  ===============  ======
id     class     RGB              hue
=====  ========  ===============  ======
1      head      (44, 160, 44)    green
2      arm       (31, 119, 180)   blue
3      torso     (255, 127, 14)   orange
4      leg       (214, 39, 40)    red
=====  ========  ===============  ======

Background (0) is never drawn. All colours are RGB; convert to BGR only at the cv2 display/encode
boundary.

Keypoints are coloured by the infant's own side (:data:`SIDE_COLOURS`), in hues none of the classes
use, so a skeleton stays readable over the class colours: right magenta (255, 0, 255), left cyan
(0, 255, 255), midline (head, nose, lips, an edge joining right and left) white.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from pipeline.contract.classes import CLASS_COLORS_RGB, CLASS_NAMES

RGB = tuple[int, int, int]

_PALETTE: Final[np.ndarray] = np.array(CLASS_COLORS_RGB, dtype=np.uint8)
_PALETTE.setflags(write=False)


SIDE_COLOURS: Final[dict[str, RGB]] = {"R": (255, 0, 255), "L": (0, 255, 255), "": (255, 255, 255)}
"""Keypoint side (``R``, ``L``, ``""`` midline: :class:`pipeline.contract.keypoints.KeypointSet`) → RGB."""


def side_colour(side: str) -> RGB:
    """RGB colour of keypoints on ``side`` (``R``, ``L``; anything else is the midline's)."""
    return SIDE_COLOURS.get(side, SIDE_COLOURS[""])


def class_colours() -> np.ndarray:
    """(num_classes, 3) uint8 RGB, index = class id (read-only; row 0, background, is black)."""
    return _PALETTE


def class_colour(class_id: int) -> RGB:
    """RGB colour of ``class_id``; ids outside the table get white."""
    if 0 <= class_id < len(_PALETTE):
        r, g, b = (int(v) for v in _PALETTE[class_id])
        return r, g, b
    return 255, 255, 255


def class_name(class_id: int) -> str:
    """Name of ``class_id`` (``class<N>`` outside the table)."""
    return CLASS_NAMES[class_id] if 0 <= class_id < len(CLASS_NAMES) else f"class{class_id}"


def dimmed(colour: RGB, factor: float = 0.55) -> RGB:
    """``colour`` scaled towards black by ``factor`` (0..1), for predicted (coasting) parts."""
    r, g, b = (round(c * factor) for c in colour)
    return r, g, b


def blended(under: RGB, over: RGB, alpha: float) -> RGB:
    """The colour the overlay gives a pixel ``under`` covered by class colour ``over`` at ``alpha``.

    Same arithmetic as :func:`cv2.addWeighted` (rounded to nearest), for tests and legends.
    """
    r, g, b = (round(u * (1.0 - alpha) + o * alpha) for u, o in zip(under, over, strict=True))
    return r, g, b
