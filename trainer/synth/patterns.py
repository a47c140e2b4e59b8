"""Pattern helpers for the scene backdrops and props: palettes, tiled prints, stripe sequences, cartoon
motifs, knits, and fold/crease shading.

Images are (H, W, 3) float32 RGB in 0..255, shading fields (H, W) float32 gains around 1; ``unit`` is pixels
per centimetre so pattern sizes scale with the infant. Deterministic given the random generator.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from trainer.synth.textures import pick_colour, smooth_noise

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

WHITE_SHEETS: Final = np.array(
    [
        (246, 246, 244), (238, 240, 242), (232, 236, 242), (242, 238, 228), (228, 232, 228), (220, 228, 238),
        (226, 236, 226), (246, 240, 236), (214, 218, 222),
    ],
    dtype=np.float64,
)  # fmt: skip
PASTELS: Final = np.array(
    [
        (248, 200, 214), (244, 182, 200), (252, 218, 226), (214, 196, 232), (184, 212, 238), (190, 230, 210),
        (250, 238, 170), (252, 210, 180), (246, 236, 212), (180, 228, 230), (246, 170, 160), (240, 150, 190),
    ],
    dtype=np.float64,
)  # fmt: skip
SATURATED: Final = np.array(
    [
        (214, 40, 50), (246, 132, 30), (250, 206, 40), (60, 170, 70), (40, 100, 200), (30, 50, 110),
        (120, 60, 170), (220, 50, 140), (20, 150, 150), (236, 90, 150), (70, 170, 230), (160, 210, 50),
    ],
    dtype=np.float64,
)  # fmt: skip
GRASS: Final = np.array(
    [
        (34, 70, 26),
        (48, 92, 30),
        (70, 120, 40),
        (96, 140, 48),
        (130, 160, 60),
        (160, 170, 80),
        (186, 180, 100),
    ],
    dtype=np.float64,
)
WOOD: Final = np.array(
    [(240, 240, 236), (230, 226, 216), (200, 160, 110), (170, 120, 70), (110, 72, 44), (150, 150, 150)],
    dtype=np.float64,
)
ROOM: Final = np.array(
    [
        (90, 84, 80),
        (60, 62, 70),
        (140, 130, 120),
        (180, 176, 170),
        (110, 120, 130),
        (70, 56, 44),
        (200, 196, 190),
    ],
    dtype=np.float64,
)
MOTIFS: Final[tuple[str, ...]] = ("flower", "heart", "star", "dot", "cloud", "bear", "moon")


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[F32, F32]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xx.flags.writeable = False
    yy.flags.writeable = False
    return xx, yy


def coords(h: int, w: int, angle: float) -> tuple[F32, F32]:
    """Pixel coordinates rotated by ``angle`` radians: (u, v), each (h, w) float32 (new arrays)."""
    xx, yy = _grid(h, w)
    c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    return xx * c + yy * s, yy * c - xx * s


def colour(rng: np.random.Generator, table: F64, jitter: float = 6.0) -> F32:
    """A random row of ``table`` ((N, 3) RGB) with jitter, as a (3,) float32."""
    return np.array(pick_colour(rng, table, jitter), dtype=np.float32)


def fill(h: int, w: int, rgb: F32) -> F32:
    """(h, w, 3) float32 image of one colour."""
    return np.broadcast_to(rgb.astype(np.float32), (h, w, 3)).copy()


def tile_pattern(tile: F32, h: int, w: int, angle: float, *, stagger: bool = False) -> F32:
    """Repeat ``tile`` ((th, tw, 3) float32, seamless) over an (h, w) image rotated by ``angle``; ``stagger``
    shifts every other row of tiles by half a tile (a half-drop print; only seamless when nothing crosses
    the tile's top and bottom edges). Returns (h, w, 3) float32."""
    th, tw = tile.shape[:2]
    u, v = coords(h, w, angle)
    if stagger:
        u += (np.floor(v / th) % 2) * np.float32(tw / 2)
    map_x = np.mod(u, np.float32(tw)).astype(np.float32)
    map_y = np.mod(v, np.float32(th)).astype(np.float32)
    out = cv2.remap(tile, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    return np.asarray(out, dtype=np.float32)


def stripes(rng: np.random.Generator, u: F32, unit: float, palette: F32, n: int) -> F32:
    """Colour stripes across coordinate ``u`` ((h, w) float32 pixels): a repeated sequence of ``n`` stripes,
    each 0.3–4 cm wide, colours drawn from ``palette`` ((K, 3) float32). Returns (h, w, 3) float32."""
    widths = rng.uniform(0.3, 4.0, n) * unit
    widths = np.maximum(widths, 1.0)
    cols = palette[rng.integers(len(palette), size=n)]
    if n > 1:  # no two neighbouring stripes of one colour
        cols[1:][np.all(cols[1:] == cols[:-1], axis=1)] *= np.float32(0.8)
    edges = np.cumsum(widths).astype(np.float32)
    f = np.mod(u + np.float32(rng.uniform(0, edges[-1])), edges[-1])
    idx = np.minimum(np.searchsorted(edges, f, side="right"), n - 1)
    return np.asarray(cols[idx], dtype=np.float32)


def wrap_offsets(th: int, tw: int) -> list[tuple[float, float]]:
    """The 9 offsets (dx, dy) ∈ {-tw, 0, tw} × {-th, 0, th}: drawing a shape at each keeps a (th, tw) tile
    seamless when the shape crosses a tile edge."""
    return [(float(dx), float(dy)) for dy in (-th, 0, th) for dx in (-tw, 0, tw)]


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x * 16), round(y * 16)  # cv2 fixed point, shift=4


def draw_motif(img: F32, kind: str, x: float, y: float, r: float, angle: float, cols: list[F32]) -> None:
    """Draw one cartoon motif of radius ``r`` pixels centred at (x, y) onto ``img`` (in place); ``cols``
    holds 4 colours: main, second, detail, background (the moon's bite)."""
    a, b, d, bg = (tuple(float(v) for v in c) for c in cols[:4])
    aa = cv2.LINE_AA

    def circle(cx: float, cy: float, rr: float, c: tuple[float, ...]) -> None:
        cv2.circle(img, _pt(cx, cy), max(1, round(rr * 16)), c, -1, aa, 4)

    if kind == "flower":
        n = 5 + int(abs(angle * 7)) % 4
        for i in range(n):
            t = angle + 2 * math.pi * i / n
            c = _pt(x + 0.55 * r * math.cos(t), y + 0.55 * r * math.sin(t))
            cv2.ellipse(img, c, _pt(0.5 * r, 0.3 * r), math.degrees(t), 0, 360, a, -1, aa, 4)
        circle(x, y, 0.3 * r, b)
    elif kind == "heart":
        circle(x - 0.35 * r, y - 0.2 * r, 0.42 * r, a)
        circle(x + 0.35 * r, y - 0.2 * r, 0.42 * r, a)
        tri = np.array(
            [_pt(x - 0.74 * r, y - 0.05 * r), _pt(x + 0.74 * r, y - 0.05 * r), _pt(x, y + 0.8 * r)]
        )
        cv2.fillPoly(img, [tri], a, aa, 4)
    elif kind == "star":
        turns = angle + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, r, 0.45 * r)
        pts = np.stack([x + radii * np.sin(turns), y - radii * np.cos(turns)], axis=1)
        cv2.fillPoly(img, [np.round(pts * 16).astype(np.int32)], a, aa, 4)
    elif kind == "cloud":
        for cx, cy, rr in ((-0.45, 0.1, 0.4), (0.0, -0.15, 0.52), (0.45, 0.1, 0.4), (0.0, 0.2, 0.38)):
            circle(x + cx * r, y + cy * r, rr * r, a)
    elif kind == "bear":
        circle(x - 0.62 * r, y - 0.62 * r, 0.32 * r, a)
        circle(x + 0.62 * r, y - 0.62 * r, 0.32 * r, a)
        circle(x, y, 0.8 * r, a)
        circle(x, y + 0.25 * r, 0.3 * r, b)
        circle(x - 0.3 * r, y - 0.15 * r, 0.09 * r, d)
        circle(x + 0.3 * r, y - 0.15 * r, 0.09 * r, d)
    elif kind == "moon":
        circle(x, y, r, a)
        circle(x + 0.45 * r * math.cos(angle), y + 0.45 * r * math.sin(angle), 0.8 * r, bg)
    else:  # dot
        circle(x, y, 0.6 * r, a)


def motif_tile(
    rng: np.random.Generator,
    size: int,
    background: F32,
    palette: F32,
    kinds: tuple[str, ...],
    count: int,
    radius: tuple[float, float] = (0.1, 0.25),
) -> F32:
    """A seamless (size, size, 3) float32 tile: ``count`` motifs of ``kinds`` (see :data:`MOTIFS`), each of
    a radius drawn from ``radius`` (fractions of the tile), colours from ``palette``, on ``background`` (3,),
    leaves beside some flowers. A single motif sits at the centre (the tile may then be staggered)."""
    tile = fill(size, size, background)
    leaf = np.array((70, 150, 70), np.float32) * np.float32(rng.uniform(0.7, 1.2))
    for _ in range(count):
        kind = kinds[int(rng.integers(len(kinds)))]
        x, y = (float(v) for v in rng.uniform(0, size, 2)) if count > 1 else (size / 2, size / 2)
        r = float(rng.uniform(*radius)) * size
        ang = float(rng.uniform(0, 2 * math.pi))
        cols = [palette[int(i)] for i in rng.integers(len(palette), size=3)]
        cols[2] = cols[2] * np.float32(0.3)
        cols.append(background)
        with_leaf = kind == "flower" and rng.random() < 0.6
        for dx, dy in wrap_offsets(size, size):
            if with_leaf:
                c = _pt(x + dx + 0.9 * r * math.cos(ang + 2), y + dy + 0.9 * r * math.sin(ang + 2))
                axes = _pt(0.6 * r, 0.25 * r)
                cv2.ellipse(tile, c, axes, math.degrees(ang + 2), 0, 360, leaf.tolist(), -1, cv2.LINE_AA, 4)
            draw_motif(tile, kind, x + dx, y + dy, r, ang, cols)
    return tile


def knit(rng: np.random.Generator, h: int, w: int, unit: float) -> F32:
    """(h, w) float32 brightness 0.55..1.1 of a knitted fabric: V-stitch columns, purl ribs, and (often)
    cables — two twisted strands — every few columns. Stitches are 0.4–0.9 cm wide."""
    p = max(3.0, float(rng.uniform(0.4, 0.9)) * unit)
    u, v = coords(h, w, float(rng.normal(0.0, 0.05)) + (math.pi / 2 if rng.random() < 0.3 else 0.0))
    fu = u / np.float32(p)
    x = fu - np.floor(fu) - np.float32(0.5)
    stitch = np.float32(0.5) + np.float32(0.5) * np.cos(
        (v / np.float32(0.8 * p) + np.abs(x) * 1.2) * 2 * math.pi
    )
    m = (0.6 + 0.4 * stitch) * np.sqrt(np.maximum(np.cos(np.pi * x), 0.0))
    rib = int(rng.integers(2, 5))
    m = np.where(np.floor(fu) % (rib + 1) == rib, m * 0.7, m)
    if rng.random() < 0.6:
        cw = p * float(rng.integers(4, 8))
        period = cw + p * float(rng.integers(3, 7))
        xc = np.mod(u, np.float32(period))
        wave = np.float32(cw / 4) * np.sin(v * np.float32(2 * math.pi / (cw * rng.uniform(1.2, 2.0))))
        s = np.float32(cw / 5)
        strand = np.maximum(
            np.exp(-(((xc - cw / 2 - wave) / s) ** 2)), np.exp(-(((xc - cw / 2 + wave) / s) ** 2))
        )
        cable = 0.55 + 0.45 * strand * (0.85 + 0.15 * stitch)
        m = np.where(xc < cw, cable, m)
    return np.asarray(0.5 + 0.6 * m, dtype=np.float32)


def fold_shading(
    rng: np.random.Generator, h: int, w: int, unit: float, *, folds: int, creases: int, strength: float
) -> F32:
    """(h, w) float32 gain around 1: soft large-scale shading, ``folds`` smooth ridges (a lit and a shaded
    side, 1.5–5 cm wide, bent, fading along their length) and ``creases`` sharp ones (0.15–0.5 cm).
    ``strength``: fraction of brightness a fold changes (0.1 = ±10 %)."""
    shade = 1.0 + np.float32(strength * 0.5) * smooth_noise(rng, h, w, float(rng.uniform(8, 25)) * unit)
    for i in range(folds + creases):
        crease = i >= folds
        wdt = float(rng.uniform(0.15, 0.5) if crease else rng.uniform(1.5, 5.0)) * unit
        u, _ = coords(h, w, float(rng.uniform(0, math.pi)))
        bend = smooth_noise(rng, h, w, 18.0 * unit) * np.float32(rng.uniform(1.0, 6.0) * unit)
        g = (u + bend - np.float32(rng.uniform(u.min(), u.max()))) / np.float32(max(wdt, 0.7))
        ridge = -2.33 * g * np.exp(-(g**2))
        fade = np.clip(0.6 + smooth_noise(rng, h, w, float(rng.uniform(6, 20)) * unit), 0.0, 1.0)
        amp = strength * float(rng.uniform(0.4, 1.0)) * (0.6 if crease else 1.0)
        shade += np.float32(amp) * ridge * fade
    return np.asarray(shade, dtype=np.float32)


def grain(rng: np.random.Generator, h: int, w: int, sigma: float) -> F32:
    """(h, w) float32 gain 1 + N(0, ``sigma``) per pixel: weave and fibre grain."""
    return np.float32(1.0) + np.float32(sigma) * rng.standard_normal((h, w), dtype=np.float32)


def shaded(image: F32, gain: F32) -> F32:
    """``image`` ((h, w, 3)) times ``gain`` ((h, w)), clipped to 0..255, float32."""
    return np.asarray(np.clip(image * gain[:, :, None], 0.0, 255.0), dtype=np.float32)
