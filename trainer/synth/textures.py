"""Procedural textures and colours for the synthetic scenes: hair, cloth and sheet palettes (skin tones: :mod:`trainer.synth.skin`), fabric
(mattress sheet / blanket) textures with prints, folds and grain, and lighting fields.

Images are (H, W, 3) float32 RGB in 0..255 (textures) or (H, W, 3) float32 gains (lighting); ``unit_px``
is pixels per centimetre so print sizes scale with the infant. Deterministic given the random generator.
"""

from __future__ import annotations

import math
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
RGB = tuple[float, float, float]

HAIR_COLOURS: Final = np.array(
    [(38, 28, 24), (70, 48, 34), (120, 84, 52), (176, 140, 90), (150, 74, 38)], dtype=np.float64
)
CLOTH_COLOURS: Final = np.array(
    [
        (242, 242, 238), (240, 230, 205), (246, 182, 204), (170, 202, 236), (182, 230, 204), (250, 228, 140),
        (172, 172, 178), (52, 62, 104), (200, 54, 64), (92, 150, 96), (172, 142, 204), (250, 162, 92),
        (202, 172, 140), (120, 190, 200),
    ],
    dtype=np.float64,
)  # fmt: skip
SHEET_COLOURS: Final = np.array(
    [
        (236, 236, 232), (214, 216, 220), (190, 210, 232), (240, 212, 220), (226, 214, 190), (196, 226, 206),
        (150, 166, 186), (246, 236, 190), (120, 130, 150), (200, 186, 210), (90, 110, 140), (170, 150, 120),
    ],
    dtype=np.float64,
)  # fmt: skip


def pick_colour(rng: np.random.Generator, table: npt.NDArray[np.float64], jitter: float = 8.0) -> RGB:
    """A random row of ``table`` ((N, 3) RGB) plus Gaussian ``jitter`` per channel, clipped to 0..255."""
    c = table[int(rng.integers(len(table)))] + rng.normal(0.0, jitter, 3)
    r, g, b = (float(v) for v in np.clip(c, 0, 255))
    return (r, g, b)


def rotated_grid(h: int, w: int, angle: float) -> tuple[F32, F32]:
    """Pixel coordinates of an (h, w) image rotated by ``angle``: (u, v), each (h, w) float32."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c, s = math.cos(angle), math.sin(angle)
    return (xx * c + yy * s).astype(np.float32), (-xx * s + yy * c).astype(np.float32)


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> F32:
    """(h, w) float32 smooth noise in about [-1, 1] with features of ``cell`` pixels."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    small = rng.standard_normal((gh, gw)).astype(np.float32)
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), dtype=np.float32)


def fabric_texture(
    rng: np.random.Generator, h: int, w: int, colours: npt.NDArray[np.float64], unit_px: float
) -> F32:
    """A mattress sheet or blanket: solid, stripes, checks, dots or mottled, with soft folds and grain.

    ``unit_px``: pixels per centimetre (pattern sizes scale with it). Returns (h, w, 3) float32 RGB 0..255.
    """
    a = np.array(pick_colour(rng, colours), dtype=np.float32)
    b = np.array(pick_colour(rng, colours), dtype=np.float32)
    if rng.random() < 0.3:
        b = a * np.float32(rng.uniform(0.8, 0.95))
    kind = str(rng.choice(["solid", "stripes", "checks", "dots", "noise"], p=[0.3, 0.22, 0.16, 0.12, 0.2]))
    period = float(rng.uniform(2.0, 9.0)) * unit_px
    u, v = rotated_grid(h, w, float(rng.uniform(0, math.pi)) if rng.random() < 0.5 else 0.0)
    if kind == "stripes":
        m = 0.5 + 0.5 * np.tanh(4.0 * np.sin(u * (2 * math.pi / period)))
    elif kind == "checks":
        su = 0.5 + 0.5 * np.tanh(4.0 * np.sin(u * (2 * math.pi / period)))
        sv = 0.5 + 0.5 * np.tanh(4.0 * np.sin(v * (2 * math.pi / period)))
        m = 0.5 * (su + sv)
    elif kind == "dots":
        fu = u / period - np.floor(u / period) - 0.5
        fv = v / period - np.floor(v / period) - 0.5
        m = np.clip((0.18 - np.hypot(fu, fv)) * period / 1.5, 0.0, 1.0)
    elif kind == "noise":
        m = np.clip(0.5 + 0.5 * smooth_noise(rng, h, w, period), 0.0, 1.0)
    else:
        m = np.zeros((h, w), np.float32)
    m = m.astype(np.float32)[:, :, None]
    tex = a * (1.0 - m) + b * m
    shade = 1.0 + float(rng.uniform(0.0, 0.12)) * smooth_noise(rng, h, w, float(rng.uniform(6, 20)) * unit_px)
    n_folds = int(rng.integers(0, 4))
    for _ in range(n_folds):  # soft ridges of the cloth
        fu, _fv = rotated_grid(h, w, float(rng.uniform(0, math.pi)))
        ridge = np.cos((fu - float(rng.uniform(0, max(h, w)))) / (float(rng.uniform(1.5, 4.0)) * unit_px))
        width = smooth_noise(rng, h, w, 12.0 * unit_px)
        shade += float(rng.uniform(0.03, 0.1)) * np.clip(ridge + 0.3 * width, -1.0, 1.0) ** 3
    grain = rng.normal(0.0, float(rng.uniform(0.0, 0.025)), (h, w)).astype(np.float32)
    out = tex * (shade + grain)[:, :, None]
    return np.asarray(out, dtype=np.float32)


def lighting(rng: np.random.Generator, h: int, w: int) -> F32:
    """(h, w, 3) float32 gains: brightness gradient, vignette, white balance."""
    u, _ = rotated_grid(h, w, float(rng.uniform(0, 2 * math.pi)))
    diag = math.hypot(h, w)
    grad = 1.0 + float(rng.uniform(0.0, 0.35)) * (u - u.mean()) / diag
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (diag / 2) ** 2
    vig = 1.0 - float(rng.uniform(0.0, 0.25)) * r2
    gain = float(rng.uniform(0.9, 1.12)) * (1.0 + np.clip(rng.normal(0.0, 0.025, 3), -0.05, 0.05))
    return np.asarray((grad * vig)[:, :, None] * gain, dtype=np.float32)
