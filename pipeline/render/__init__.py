"""Images that leave the process: the overlay, trails, HUD, colours and the privacy filter.

A :data:`Renderer` turns a result into the RGB image a recording, a ``frame.*`` message or the window
shows; every renderer used for an output applies :mod:`pipeline.render.privacy` first.
"""

from collections.abc import Callable

import numpy as np

from pipeline.frames import Result

Renderer = Callable[[Result], np.ndarray]
"""Result → (H, W, 3) uint8 RGB image; never writes into ``result.image``."""
