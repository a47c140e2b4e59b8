"""Fabric prints for the synthetic infant's clothes, hat and swaddle, and the garment colour palette.

A print is a weight field ``m`` in [0, 1] (0 = the fabric's colour a, 1 = colour b) evaluated at cloth
coordinates ``(u, v)`` in centimetres. The renderer gives every garment primitive its own cloth frame (the
torso's frame for the bodysuit, each limb segment's frame for a sleeve or trouser leg, +v along the limb), so a
print moves and turns with the part it is printed on. Motifs (flowers, stars, hearts, animals) sit one per
cell of a ``period_cm`` lattice, each turned and nudged by an integer hash of its cell and the print's
``seed``: the print is a pure function of (kind, period, seed, u, v), deterministic and the same every frame.

Families (:data:`PRINT_FAMILIES`) group the kinds for out-of-distribution hold-outs: a generator restricted to
some families never draws a kind of another.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from pipeline.errors import ConfigError
from trainer.synth.families import check_families

F32 = npt.NDArray[np.float32]
RGB = tuple[float, float, float]

PRINT_FAMILIES: Final[tuple[str, ...]] = ("solid", "geometric", "floral", "motif", "knit")
PRINT_KINDS: Final[dict[str, tuple[str, ...]]] = {
    "solid": ("solid",),
    "geometric": ("stripes", "dots", "checks", "gingham", "panels"),
    "floral": ("floral",),
    "motif": ("stars", "hearts", "animals"),
    "knit": ("rib", "cable"),
}
"""Family → the print kinds it holds."""
FAMILY_WEIGHTS: Final[dict[str, float]] = {
    "solid": 0.3,
    "geometric": 0.3,
    "floral": 0.12,
    "motif": 0.16,
    "knit": 0.12,
}
_PERIOD_CM: Final[dict[str, tuple[float, float]]] = {
    "solid": (2.0, 2.0),
    "stripes": (1.2, 3.5),
    "dots": (1.0, 3.0),
    "checks": (1.5, 3.5),
    "gingham": (0.6, 1.6),
    "panels": (2.0, 2.0),
    "floral": (2.2, 4.5),
    "stars": (2.0, 4.0),
    "hearts": (2.0, 4.0),
    "animals": (2.5, 4.5),
    "rib": (0.45, 0.8),
    "cable": (1.8, 3.0),
}
"""Kind → (low, high) period in centimetres (lattice cell, stripe or rib pitch)."""

GARMENT_COLOURS: Final = np.array(
    [
        (242, 242, 238), (240, 230, 205), (246, 182, 204), (170, 202, 236), (182, 230, 204), (250, 228, 140),
        (172, 172, 178), (52, 62, 104), (200, 54, 64), (92, 150, 96), (172, 142, 204), (250, 162, 92),
        (202, 172, 140), (120, 190, 200), (250, 200, 215), (236, 64, 140), (200, 40, 140), (250, 120, 100),
        (214, 30, 44), (250, 140, 30), (250, 215, 40), (160, 210, 60), (40, 150, 80), (20, 140, 140),
        (60, 200, 210), (40, 80, 200), (30, 40, 80), (110, 50, 150), (200, 180, 230), (120, 80, 50),
        (36, 36, 40), (150, 150, 156), (200, 230, 215),
    ],
    dtype=np.float64,
)  # fmt: skip
"""Baby-clothes colours RGB 0..255: whites and pastels, pinks, saturated primaries, darks."""


@dataclass(frozen=True)
class Print:
    """One fabric's print: ``kind`` (a :data:`PRINT_KINDS` value), lattice/stripe ``period_cm``, ``angle``
    (radians, turns the print in its cloth frame), colours ``a`` (ground) and ``b`` (print) RGB 0..255, and
    ``seed`` (varies motif placement between infants)."""

    kind: str
    period_cm: float
    angle: float
    a: RGB
    b: RGB
    seed: int = 0


def print_family(kind: str) -> str:
    """The :data:`PRINT_FAMILIES` entry holding print ``kind``."""
    for family, kinds in PRINT_KINDS.items():
        if kind in kinds:
            return family
    raise ConfigError(
        f"unknown print kind {kind!r} (known: {', '.join(k for v in PRINT_KINDS.values() for k in v)})"
    )


def sample_colour(rng: np.random.Generator, jitter: float = 8.0) -> RGB:
    """A garment colour: 75 % a :data:`GARMENT_COLOURS` row (+ Gaussian ``jitter``), 25 % any saturated hue."""
    if rng.random() < 0.75:
        c = GARMENT_COLOURS[int(rng.integers(len(GARMENT_COLOURS)))] + rng.normal(0.0, jitter, 3)
    else:
        hue, sat, val = rng.uniform(0.0, 1.0), rng.uniform(0.45, 1.0), rng.uniform(0.45, 1.0)
        c = 255.0 * np.array(colorsys.hsv_to_rgb(hue, sat, val))
    r, g, b = (float(v) for v in np.clip(c, 0, 255))
    return (r, g, b)


def sample_kind(rng: np.random.Generator, families: Sequence[str] | None = None) -> str:
    """A print kind from the allowed ``families`` (None = all), families weighted by :data:`FAMILY_WEIGHTS`."""
    allowed = check_families(families, PRINT_FAMILIES, "print families")
    w = np.array([FAMILY_WEIGHTS[f] for f in allowed])
    family = allowed[int(rng.choice(len(allowed), p=w / w.sum()))]
    kinds = PRINT_KINDS[family]
    return kinds[int(rng.integers(len(kinds)))]


def sample_print(rng: np.random.Generator, families: Sequence[str] | None = None) -> Print:
    """A random print of an allowed family with colours from the whole palette (knits: a darker b)."""
    kind = sample_kind(rng, families)
    a = sample_colour(rng)
    if kind in PRINT_KINDS["knit"]:
        k = float(rng.uniform(0.72, 0.88))
        b: RGB = (a[0] * k, a[1] * k, a[2] * k)
    elif rng.random() < 0.35:
        b = (245.0, 245.0, 242.0)
    else:
        b = sample_colour(rng)
    lo, hi = _PERIOD_CM[kind]
    angle = (
        0.0
        if kind in ("rib", "cable", "panels")
        else float(rng.choice([0.0, math.pi / 2, rng.uniform(0, math.pi)]))
    )
    return Print(kind, float(rng.uniform(lo, hi)), angle, a, b, int(rng.integers(0, 2**16)))


# ---------------------------------------------------------------- weight fields


def _hash01(i: npt.NDArray[np.int64], j: npt.NDArray[np.int64], seed: int, salt: int) -> F32:
    """Integer hash of lattice cells → float32 in [0, 1)."""
    h = (i * 73856093) ^ (j * 19349663) ^ ((seed * 83492791 + salt * 2654435761) & 0x7FFFFFFF)
    h = (h ^ (h >> 13)) * 1274126177
    h = h ^ (h >> 16)
    return ((h & 0xFFFF).astype(np.float32)) / np.float32(65536.0)


def _cells(u: F32, v: F32, period: float, seed: int) -> tuple[F32, F32, F32, F32]:
    """Cell-local coordinates in periods (x, y in [-0.5, 0.5)) on a staggered lattice, plus two hashes."""
    gv = v / period
    j = np.floor(gv).astype(np.int64)
    gu = u / period + 0.5 * (j & 1)
    i = np.floor(gu).astype(np.int64)
    r1, r2 = _hash01(i, j, seed, 1), _hash01(i, j, seed, 2)
    x = gu - i - 0.5 + 0.12 * (r2 - 0.5)
    y = gv - j - 0.5 + 0.12 * (r1 - 0.5)
    return x.astype(np.float32), y.astype(np.float32), r1, r2


def _edge(inside_by: F32, soft: float) -> F32:
    """Anti-aliased coverage from a signed inside distance (periods; > 0 inside) and ``soft`` periods."""
    return np.clip(inside_by / np.float32(soft) + np.float32(0.5), 0.0, 1.0).astype(np.float32)


def _turn(x: F32, y: F32, angle: F32) -> tuple[F32, F32]:
    c, s = np.cos(angle), np.sin(angle)
    return (c * x - s * y).astype(np.float32), (s * x + c * y).astype(np.float32)


def _motif(kind: str, x: F32, y: F32, r1: F32, r2: F32, soft: float) -> F32:
    """Weight of one motif per cell; ``x``/``y`` cell-local in periods, ``r1``/``r2`` the cell's hashes."""
    x, y = _turn(x, y, (r1 * np.float32(2 * math.pi)).astype(np.float32))
    r = np.hypot(x, y)
    th = np.arctan2(y, x)
    if kind == "floral":
        size = 0.26 + 0.1 * r2
        petals = np.where(r2 < 0.5, 5.0, 6.0).astype(np.float32)
        edge = size * (0.55 + 0.45 * np.abs(np.cos(0.5 * petals * th)))
        m = _edge(edge - r, soft)
        centre = _edge(0.3 * size - r, soft)
        return (m * (1.0 - 0.5 * centre)).astype(np.float32)
    if kind == "stars":
        size = 0.2 + 0.08 * r2
        star = size * (0.45 + 0.55 * np.abs(np.cos(2.5 * th)) ** 3) - r
        return _edge(star.astype(np.float32), soft)
    if kind == "hearts":  # a square turned 45 degrees with a disc on each upper side
        a = 0.24 + 0.08 * r2
        k = np.float32(math.sqrt(0.5))
        xs, ys = k * (x + y), k * (y - x)
        square = 0.5 * a - np.maximum(np.abs(xs), np.abs(ys))
        lobe = np.maximum(
            0.5 * a - np.hypot(x - k * 0.5 * a, y + k * 0.5 * a),
            0.5 * a - np.hypot(x + k * 0.5 * a, y + k * 0.5 * a),
        )
        return _edge(np.maximum(square, lobe).astype(np.float32), soft)
    # animals: a bear face, a bunny or a duck, chosen per cell
    s = np.float32(0.17 + 0.05 * r2)
    head = s - r
    bear = np.maximum(
        head,
        np.maximum(
            0.45 * s - np.hypot(x - 0.75 * s, y + 0.75 * s), 0.45 * s - np.hypot(x + 0.75 * s, y + 0.75 * s)
        ),
    )
    ears = np.maximum(
        0.3 * s - np.hypot((x - 0.45 * s) * 1.4, (y + 1.3 * s) * 0.55),
        0.3 * s - np.hypot((x + 0.45 * s) * 1.4, (y + 1.3 * s) * 0.55),
    )
    bunny = np.maximum(head, ears)
    body = 1.1 * s - np.hypot(x, (y - 0.25 * s) * 1.6)
    duck = np.maximum(body, 0.6 * s - np.hypot(x - 0.9 * s, y + 0.5 * s))
    pick = (r2 * 3.0).astype(np.int64) % 3
    d = np.where(pick == 0, bear, np.where(pick == 1, bunny, duck)).astype(np.float32)
    return _edge(d, soft)


def print_weight(p: Print, u: F32, v: F32, px_cm: float, limb: npt.NDArray[np.bool_] | None = None) -> F32:
    """Print weight in [0, 1] (float32, shape of ``u``) at cloth coordinates ``u``/``v`` (cm, float32).

    ``px_cm``: centimetres per image pixel (edges are anti-aliased over one pixel); ``limb``: bool, same
    shape, True on sleeve / trouser-leg pixels (the ``panels`` kind colours limbs and a chest yoke with b).
    """
    c, s = math.cos(p.angle), math.sin(p.angle)
    u, v = (c * u + s * v).astype(np.float32), (-s * u + c * v).astype(np.float32)
    w = np.float32(2 * math.pi / p.period_cm)
    kind = p.kind
    if kind == "stripes":
        m = 0.5 + 0.5 * np.tanh(3.0 * np.sin(u * w))
    elif kind == "checks":
        m = 0.25 * (2.0 + np.tanh(3.0 * np.sin(u * w)) + np.tanh(3.0 * np.sin(v * w)))
    elif kind == "dots":
        m = np.clip(4.0 * (np.cos(u * w) * np.cos(v * w) - 0.55), 0.0, 1.0)
    elif kind == "gingham":
        m = 0.25 * (2.0 + np.tanh(8.0 * np.sin(u * w)) + np.tanh(8.0 * np.sin(v * w)))
    elif kind == "panels":
        yoke = (v < -4.5).astype(np.float32)
        m = yoke if limb is None else np.where(limb, np.float32(1.0), yoke)
    elif kind == "rib":
        m = 0.5 + 0.5 * np.sin(u * w) * np.abs(np.sin(u * w)) ** 0.5
    elif kind == "cable":
        col = u / p.period_cm - np.floor(u / p.period_cm) - 0.5
        twist = 0.17 * np.sin(v * w * 0.8)
        strands = np.minimum(np.abs(col - twist), np.abs(col + twist))
        cable = np.clip(1.0 - strands / 0.11, 0.0, 1.0)
        rib = 0.5 + 0.5 * np.sin(u * w * 4.0)
        m = np.where(np.abs(col) < 0.3, 0.85 * (1.0 - cable), 0.3 + 0.4 * rib)
    elif kind in ("floral", "stars", "hearts", "animals"):
        x, y, r1, r2 = _cells(u, v, p.period_cm, p.seed)
        m = _motif(kind, x, y, r1, r2, px_cm / p.period_cm)
    else:
        m = np.zeros(u.shape, np.float32)
    if kind in ("gingham", "rib", "cable"):  # fine weaves fade to their mean where pixels cannot resolve them
        fade = min(1.0, max(0.0, (p.period_cm / px_cm - 2.5) / 4.0))
        m = 0.5 + (m - 0.5) * np.float32(fade)
    return np.asarray(m, dtype=np.float32)
