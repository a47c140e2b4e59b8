"""Skin tones across the whole human range, with undertones and a newborn's redness.

Tones run from very light to very dark along :data:`SKIN_TONES` (RGB 0..255, light → dark, about the span of
the 10-point Monk skin tone scale, a little more saturated as lit skin photographs); a sample picks a point
uniformly along that line, so dark and light skin are equally common. An undertone (pink, neutral, golden or
olive) shifts the hue in proportion to the tone's brightness, and infants younger than about two months get
some of a newborn's redness. Deterministic given the random generator.
"""

from __future__ import annotations

from typing import Final

import numpy as np

RGB = tuple[float, float, float]

SKIN_TONES: Final = np.array(
    [
        (252, 234, 222),
        (246, 218, 200),
        (238, 200, 176),
        (226, 180, 150),
        (208, 156, 120),
        (182, 128, 92),
        (150, 100, 70),
        (118, 78, 54),
        (88, 58, 42),
        (62, 42, 32),
        (44, 32, 27),
    ],
    dtype=np.float64,
)
"""Skin anchors RGB, very light → very dark."""
UNDERTONES: Final[dict[str, tuple[float, float, float]]] = {
    "pink": (6.0, -8.0, -2.0),
    "neutral": (0.0, 0.0, 0.0),
    "golden": (4.0, 2.0, -14.0),
    "olive": (-6.0, 4.0, -10.0),
}
"""Undertone → RGB shift at full brightness (scaled down on darker tones)."""
NEWBORN_RED: Final = np.array((10.0, -16.0, -10.0))
"""RGB shift of a newborn's reddish skin at full strength (fades by two months)."""


def tone_at(t: float) -> np.ndarray:
    """(3,) float64 RGB at ``t`` in [0, 1] along :data:`SKIN_TONES` (0 = lightest)."""
    x = float(np.clip(t, 0.0, 1.0)) * (len(SKIN_TONES) - 1)
    i = min(int(x), len(SKIN_TONES) - 2)
    out: np.ndarray = SKIN_TONES[i] * (1.0 - (x - i)) + SKIN_TONES[i + 1] * (x - i)
    return out


def sample_skin(rng: np.random.Generator, age_months: float = 0.0) -> tuple[RGB, float]:
    """A random skin colour (RGB 0..255) for an infant of ``age_months``, and its darkness ``t`` in [0, 1]."""
    t = float(rng.uniform(0.0, 1.0))
    base = tone_at(t)
    bright = float(base.mean()) / 255.0
    names = tuple(UNDERTONES)
    under = np.array(UNDERTONES[names[int(rng.integers(len(names)))]]) * float(rng.uniform(0.5, 1.5))
    red = NEWBORN_RED * max(0.0, 1.0 - age_months / 2.0) * float(rng.uniform(0.0, 1.0))
    rgb = base + (under + red) * bright + rng.normal(0.0, 4.0, 3)
    r, g, b = (float(v) for v in np.clip(rgb, 0.0, 255.0))
    return (r, g, b), t
