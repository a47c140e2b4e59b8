"""Scene backgrounds for domain randomisation: what the infant lies on, in six families.

* ``sheet`` — plain and white clinical sheets and mattresses (quilted or not) with folds, creases and soft
  shading; variants flat, folds, creased, mattress.
* ``blanket`` — patterned blankets in pinks, pastels and saturated colours; variants floral, stripes, checks
  (gingham and plaid), knit (ribs and cables), motifs (cartoon-like repeated prints), dots.
* ``playmat`` — bright mats; variants foam_tiles (interlocking tiles), alphabet (letter blocks), quilt.
* ``lawn`` — grass of fine oriented green/yellow strokes; variants grass, grass+blanket (a blanket patch).
* ``cot`` — a mattress with crib bars, an incubator wall (with reflections and an arm port) or a padded
  bumper along one or two sides; variants bars, incubator, bumper.
* ``photo`` — a rescaled, rotated, recoloured crop of a photograph shipped inside an installed package
  (:mod:`trainer.synth.photos`); falls back to a procedural sheet or blanket when none is installed.

Whole families can be held out of training (``families=``) for out-of-distribution evaluation.
Images are (H, W, 3) float32 RGB 0..255 before lighting; ``unit_px`` is pixels per centimetre (the infant's
scale). Everything is deterministic given the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from trainer.synth import patterns as pt
from trainer.synth.families import check_families
from trainer.synth.photos import sample_photo
from trainer.synth.textures import SHEET_COLOURS, smooth_noise

F32 = npt.NDArray[np.float32]

BACKDROP_FAMILIES: Final[tuple[str, ...]] = ("sheet", "blanket", "playmat", "lawn", "cot", "photo")


@dataclass(frozen=True, eq=False)
class Backdrop:
    """A background: ``image`` (H, W, 3) float32 RGB 0..255 before lighting; ``family`` one of
    :data:`BACKDROP_FAMILIES`; ``variant`` the family's sub-kind (e.g. ``floral``; for ``photo`` the
    photograph's name, e.g. ``skimage:coffee``, or ``fallback:sheet``); ``sides`` the frame sides
    (top/bottom/left/right) a ``cot`` wall runs along, empty otherwise."""

    image: F32
    family: str
    variant: str
    sides: tuple[str, ...] = ()


Built = tuple[F32, str, tuple[str, ...]]


def _sheet(rng: np.random.Generator, h: int, w: int, unit: float) -> Built:
    variant = str(rng.choice(["flat", "folds", "creased", "mattress"], p=[0.2, 0.35, 0.25, 0.2]))
    base = pt.colour(rng, pt.WHITE_SHEETS if rng.random() < 0.75 else SHEET_COLOURS, 5.0)
    gain = pt.grain(rng, h, w, float(rng.uniform(0.003, 0.02)))
    if variant == "mattress":  # quilted: seams on a square or diamond grid, puffed between them
        period = float(rng.uniform(5.0, 12.0)) * unit
        u, v = pt.coords(h, w, math.pi / 4 if rng.random() < 0.5 else float(rng.normal(0, 0.05)))
        du = np.abs(np.mod(u, period) - period / 2) / (period / 2)  # 1 at a seam, 0 mid-cell
        dv = np.abs(np.mod(v, period) - period / 2) / (period / 2)
        gain *= (
            1.0
            - 0.1 * np.maximum(du, dv) ** 6
            - 0.12 * np.exp(-(((1 - np.maximum(du, dv)) * period / 0.6 / unit) ** 2))
        )
    folds, creases = {"flat": (0, 0), "folds": (2, 1), "creased": (1, 4), "mattress": (0, 0)}[variant]
    gain *= pt.fold_shading(
        rng,
        h,
        w,
        unit,
        folds=folds + int(rng.integers(0, 4)),
        creases=creases + int(rng.integers(0, 5)),
        strength=float(rng.uniform(0.05, 0.16)),
    )
    return pt.shaded(pt.fill(h, w, base), gain), variant, ()


def _palette(rng: np.random.Generator, n: int) -> F32:
    """``n`` colours mixed from pastels, saturated and white."""
    rows = []
    for _ in range(n):
        table = (pt.PASTELS, pt.SATURATED, pt.WHITE_SHEETS)[int(rng.choice(3, p=[0.5, 0.35, 0.15]))]
        rows.append(pt.colour(rng, table, 8.0))
    return np.stack(rows)


def _blanket(rng: np.random.Generator, h: int, w: int, unit: float) -> Built:
    variant = str(rng.choice(["floral", "stripes", "checks", "knit", "motifs", "dots"]))
    pal = _palette(rng, 4)
    angle = float(rng.uniform(0, math.pi)) if rng.random() < 0.4 else float(rng.choice([0.0, math.pi / 2]))
    bg = pt.colour(rng, pt.PASTELS if rng.random() < 0.6 else pt.WHITE_SHEETS, 6.0)
    if variant == "stripes":
        u, _ = pt.coords(h, w, angle)
        img = pt.stripes(rng, u, unit, np.vstack([bg[None], pal]), int(rng.integers(2, 7)))
    elif variant == "checks":
        u, v = pt.coords(h, w, angle)
        n = int(rng.integers(2, 5))
        seq = pt.stripes(rng, u, unit, np.vstack([bg[None], pal[:2]]), n)
        seq2 = pt.stripes(rng, v, unit, np.vstack([bg[None], pal[:2]]), n)
        img = 0.5 * (seq + seq2)
        img *= pt.grain(rng, h, w, 0.02)[:, :, None] ** 2  # woven look
    elif variant == "knit":
        img = pt.fill(h, w, pal[0]) * pt.knit(rng, h, w, unit)[:, :, None]
    elif variant == "dots":
        size = max(6, round(float(rng.uniform(1.5, 6.0)) * unit))
        tile = pt.motif_tile(rng, size, bg, pal, ("dot",), 1, (0.25, 0.45))
        img = pt.tile_pattern(tile, h, w, angle, stagger=True)
    else:
        kinds = ("flower",) if variant == "floral" else tuple(rng.choice(pt.MOTIFS, int(rng.integers(1, 4))))
        size = max(10, round(float(rng.uniform(5.0, 16.0)) * unit))
        tile = pt.motif_tile(rng, size, bg, pal, kinds, int(rng.integers(2, 8)))
        img = pt.tile_pattern(tile, h, w, angle)
    if rng.random() < 0.5:  # fleece: a little fuzzy
        img = np.asarray(cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 1.3))), dtype=np.float32)
    gain = pt.fold_shading(
        rng, h, w, unit, folds=int(rng.integers(0, 5)), creases=int(rng.integers(0, 3)), strength=0.12
    )
    return pt.shaded(img, gain * pt.grain(rng, h, w, 0.015)), variant, ()


def _cell_ids(u: F32, v: F32, size: float, teeth: float) -> npt.NDArray[np.int64]:
    """Integer id per pixel of a grid of ``size``-pixel cells in (u, v); with ``teeth`` > 0 the cell borders
    carry square interlocking teeth ``teeth`` pixels deep (foam puzzle mats)."""
    if teeth > 0:
        iu0, iv0 = np.floor(u / size), np.floor(v / size)
        bu, bv = np.floor(u / size + 0.5), np.floor(v / size + 0.5)  # nearest border line in u and in v
        tooth_v = np.floor((v / size - iv0) * 7) % 2 == 1  # 3 teeth along each border
        tooth_u = np.floor((u / size - iu0) * 7) % 2 == 1
        sign_u = np.where((bu + iv0) % 2 == 0, teeth, -teeth)  # which side the teeth of a border point to
        sign_v = np.where((bv + iu0) % 2 == 0, teeth, -teeth)
        u = u + np.where(tooth_v, sign_u, 0.0).astype(np.float32)
        v = v + np.where(tooth_u, sign_v, 0.0).astype(np.float32)
    iu = np.floor(u / size).astype(np.int64)
    iv = np.floor(v / size).astype(np.int64)
    return iu * 7919 + iv


def _seams(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """(h, w) bool: pixels beside a pixel of another id (4-neighbourhood)."""
    edge = np.zeros(ids.shape, bool)
    dx = ids[:, 1:] != ids[:, :-1]
    dy = ids[1:, :] != ids[:-1, :]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    return edge


def _letters(
    rng: np.random.Generator, img: F32, u: F32, v: F32, size: float, uniq: npt.NDArray[np.int64], cols: F32
) -> F32:
    """``img`` with one big letter or digit in each ``size``-pixel cell of the (u, v) grid, drawn upright in
    mat coordinates (they turn with the mat); ``uniq`` are the sorted cell ids, ``cols`` their colours."""
    u0, v0 = float(u.min()), float(v.min())
    canvas_w, canvas_h = math.ceil(float(u.max()) - u0) + 2, math.ceil(float(v.max()) - v0) + 2
    ink = np.zeros((canvas_h, canvas_w, 3), np.uint8)  # cv2.putText draws on 8-bit images only
    alpha = np.zeros((canvas_h, canvas_w), np.uint8)
    font = int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX]))
    scale, thick = size / 40.0, max(1, round(size / 12))
    glyphs = string.ascii_uppercase + string.digits
    for i in range(math.floor(u0 / size), math.floor(float(u.max()) / size) + 1):
        for j in range(math.floor(v0 / size), math.floor(float(v.max()) / size) + 1):
            k = int(np.searchsorted(uniq, i * 7919 + j))
            if k >= len(uniq) or uniq[k] != i * 7919 + j:
                continue
            ch = glyphs[int(rng.integers(len(glyphs)))]
            col = 255.0 - cols[k] if rng.random() < 0.5 else pt.colour(rng, pt.SATURATED)
            (tw, th), _ = cv2.getTextSize(ch, font, scale, thick)
            org = (round((i + 0.5) * size - u0 - tw / 2), round((j + 0.5) * size - v0 + th / 2))
            rgb = tuple(float(c) for c in np.clip(col, 0, 255))
            cv2.putText(ink, ch, org, font, scale, rgb, thick, cv2.LINE_AA)
            cv2.putText(alpha, ch, org, font, scale, 255, thick, cv2.LINE_AA)
    mx, my = u - np.float32(u0), v - np.float32(v0)
    a = cv2.remap(alpha, mx, my, cv2.INTER_LINEAR).astype(np.float32)[:, :, None] / np.float32(255.0)
    letters = cv2.remap(ink, mx, my, cv2.INTER_LINEAR).astype(np.float32)
    return np.asarray(img * (1.0 - a) + letters, dtype=np.float32)


def _playmat(rng: np.random.Generator, h: int, w: int, unit: float) -> Built:
    variant = str(rng.choice(["foam_tiles", "alphabet", "quilt"]))
    size = float(rng.uniform(8.0, 20.0)) * unit
    angle = float(rng.normal(0.0, 0.3)) if rng.random() < 0.6 else float(rng.uniform(0, math.pi))
    u, v = pt.coords(h, w, angle)
    u += np.float32(rng.uniform(0, size))
    v += np.float32(rng.uniform(0, size))
    ids = _cell_ids(u, v, size, size * 0.07 if variant == "foam_tiles" else 0.0)
    table = np.stack([pt.colour(rng, pt.SATURATED if rng.random() < 0.8 else pt.PASTELS) for _ in range(64)])
    uniq, inv = np.unique(ids, return_inverse=True)
    cell_colour = table[rng.integers(len(table), size=len(uniq))]
    img = cell_colour[inv.reshape(h, w)].astype(np.float32)
    gain = pt.grain(rng, h, w, 0.02 if variant == "foam_tiles" else 0.01)
    seam = _seams(ids)
    if variant == "alphabet":
        img = _letters(rng, img, u, v, size, uniq, cell_colour)
    elif variant == "quilt":  # each patch solid, striped or dotted; stitched seams; puffed patches
        stripe = pt.stripes(rng, u + v, unit, np.stack([pt.colour(rng, pt.PASTELS) for _ in range(3)]), 3)
        dots = np.mod(u, 2 * unit) < unit
        kind = rng.integers(0, 3, size=len(uniq))[inv.reshape(h, w)]
        img = np.where((kind == 1)[:, :, None], 0.5 * (img + stripe), img)
        img = np.where(
            ((kind == 2) & dots & (np.mod(v, 2 * unit) < unit))[:, :, None], img * 0.75 + 60.0, img
        )
        dist = cv2.distanceTransform((~seam).astype(np.uint8), cv2.DIST_L2, 3)
        gain *= 1.0 - 0.18 * np.exp(-dist / np.float32(max(1.0, 0.8 * unit)))
        stitch = (np.abs(dist - 0.6 * unit) < 0.6) & (np.mod(u + v, 1.2 * unit) < 0.6 * unit)
        img = np.where(stitch[:, :, None], np.float32(235.0), img)
    gain = np.where(seam, gain * np.float32(0.55), gain)
    return (
        pt.shaded(img, gain * pt.fold_shading(rng, h, w, unit, folds=0, creases=0, strength=0.1)),
        variant,
        (),
    )


def _lawn(rng: np.random.Generator, h: int, w: int, unit: float) -> Built:
    dark = pt.colour(rng, pt.GRASS[:3], 8.0)
    light = np.maximum(pt.colour(rng, pt.GRASS[2:], 10.0), dark * np.float32(1.5))
    dry = pt.colour(rng, pt.GRASS[4:], 10.0)
    direction = float(rng.uniform(0, math.pi))
    strokes = np.zeros((h, w), np.float32)
    for _ in range(3):  # blades: white noise smeared along a few nearby directions
        length = max(3, round(float(rng.uniform(0.8, 3.0)) * unit)) | 1
        kernel = np.zeros((length, length), np.float32)
        t = direction + float(rng.normal(0.0, 0.35))
        c = (length - 1) / 2
        cv2.line(
            kernel,
            _rnd(c - c * math.cos(t), c - c * math.sin(t)),
            _rnd(c + c * math.cos(t), c + c * math.sin(t)),
            1.0,
            1,
        )
        kernel /= max(1.0, float(kernel.sum()))
        strokes += cv2.filter2D(rng.standard_normal((h, w), dtype=np.float32), -1, kernel)
    strokes /= max(1e-6, float(strokes.std()))
    m = (0.5 + 0.5 * np.tanh(1.2 * strokes))[:, :, None]
    img = dark * (1 - m) + light * m
    patch = np.clip(0.5 + smooth_noise(rng, h, w, float(rng.uniform(10, 40)) * unit), 0, 1)[:, :, None]
    dry_share = np.float32(rng.uniform(0.0, 0.6)) * patch  # dry, yellowed patches
    img = img * (1 - dry_share) + dry * dry_share
    gain = 1.0 + 0.15 * smooth_noise(rng, h, w, float(rng.uniform(5, 20)) * unit)
    img = pt.shaded(img.astype(np.float32), gain.astype(np.float32))
    if rng.random() >= 0.4:
        return img, "grass", ()
    blanket, _, _ = _blanket(rng, h, w, unit)  # a picnic blanket under the infant, grass around it
    cx, cy = w / 2 + rng.normal(0, 0.1) * w, h / 2 + rng.normal(0, 0.1) * h
    half = np.array([rng.uniform(0.3, 0.6) * w, rng.uniform(0.3, 0.6) * h])
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * half + rng.normal(0, 0.04, (4, 2)) * w
    rot = np.array([[math.cos(a := rng.normal(0, 0.4)), -math.sin(a)], [math.sin(a), math.cos(a)]])
    poly = corners @ rot.T + np.array([cx, cy])
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    return np.where(mask[:, :, None] > 0, blanket, img).astype(np.float32), "grass+blanket", ()


def _rnd(x: float, y: float) -> tuple[int, int]:
    return round(x), round(y)


_SIDES: Final[tuple[str, ...]] = ("top", "bottom", "left", "right")


def _side_coords(side: str, h: int, w: int, tilt: float) -> tuple[F32, F32]:
    """(d, a): distance inward from the frame side (tilted by ``tilt`` radians) and position along it."""
    xx, yy = pt.coords(h, w, 0.0)
    if side == "top":
        d, a = yy, xx
    elif side == "bottom":
        d, a = (h - 1) - yy, xx
    elif side == "left":
        d, a = xx, yy
    else:
        d, a = (w - 1) - xx, yy
    return d + np.float32(math.tan(tilt)) * (a - a.mean()), a


def _cot(rng: np.random.Generator, h: int, w: int, unit: float) -> Built:
    img, _, _ = _sheet(rng, h, w, unit)
    variant = str(rng.choice(["bars", "incubator", "bumper"]))
    n = 1 if rng.random() < 0.55 else 2
    sides = tuple(str(s) for s in rng.choice(_SIDES, n, replace=False))
    for side in sides:
        depth = float(rng.uniform(0.06, 0.22)) * min(h, w)
        d, a = _side_coords(side, h, w, float(rng.normal(0.0, 0.05)))
        wall = d < depth
        if variant == "bars":
            room = pt.fill(h, w, pt.colour(rng, pt.ROOM, 10.0))
            room *= (1.0 + 0.2 * smooth_noise(rng, h, w, 10 * unit))[:, :, None]
            wood = pt.colour(rng, pt.WOOD, 6.0)
            period = float(rng.uniform(5.0, 9.0)) * unit
            bar_w = period * float(rng.uniform(0.3, 0.55))
            x = np.mod(a + np.float32(rng.uniform(0, period)), np.float32(period))
            bar = x < bar_w
            across = np.maximum(np.sin(np.pi * np.clip(x / bar_w, 0, 1)), 0) ** 0.5
            rail_w = max(2.0, float(rng.uniform(2.0, 5.0)) * unit)
            rail = (d > depth - rail_w) & wall
            along = np.maximum(np.sin(np.pi * np.clip((d - depth + rail_w) / rail_w, 0, 1)), 0) ** 0.5
            wall_img = np.where(bar[:, :, None], wood * (0.6 + 0.45 * across)[:, :, None], room)
            wall_img = np.where(rail[:, :, None], wood * (0.6 + 0.45 * along)[:, :, None], wall_img)
            shadow = (d >= depth) & (d < depth + float(rng.uniform(1, 6)) * unit) & bar  # bars' shadows
            img = np.where(shadow[:, :, None], img * np.float32(rng.uniform(0.7, 0.9)), img)
        elif variant == "incubator":
            room = pt.fill(h, w, pt.colour(rng, pt.ROOM, 10.0))
            room *= (1.0 + 0.3 * smooth_noise(rng, h, w, 6 * unit))[:, :, None]
            tint = pt.colour(rng, np.array([(200, 220, 235), (225, 235, 240), (210, 230, 225)], float), 5.0)
            wall_img = 0.6 * room + 0.4 * tint
            # reflections on the acrylic: bright streaks parallel to the wall, some over the mattress too
            refl = np.zeros((h, w), np.float32)
            for _ in range(int(rng.integers(1, 4))):
                at = float(rng.uniform(-0.2, 1.6)) * depth
                wid = float(rng.uniform(0.3, 2.0)) * unit
                refl += np.float32(rng.uniform(25, 90)) * np.exp(-(((d - at) / wid) ** 2))
            refl *= np.clip(0.7 + smooth_noise(rng, h, w, 12 * unit), 0, 1)
            edge = np.abs(d - depth) < max(1.0, 0.25 * unit)
            img = np.where(wall[:, :, None], wall_img, img) + refl[:, :, None]
            img = np.where(edge[:, :, None], np.float32(rng.uniform(40, 120)), img)
            if rng.random() < 0.5:  # an arm port: a ring on the wall
                ax = float(a.mean() + rng.uniform(-0.3, 0.3) * (a.max() - a.min()))
                r = float(rng.uniform(4.0, 7.0)) * unit
                ring = np.abs(np.hypot(a - ax, (d - depth / 2) * 1.6) - r) < max(1.0, 0.6 * unit)
                img = np.where(ring[:, :, None], np.float32(rng.uniform(150, 230)), img)
            continue
        else:  # bumper: a padded strip of blanket, puffed across its width, seamed along it
            bumper, _, _ = _blanket(rng, h, w, unit)
            puff = np.maximum(np.sin(np.pi * np.clip(d / depth, 0, 1)), 0) ** 0.6
            seam_every = float(rng.uniform(8, 20)) * unit
            seam = np.abs(np.mod(a, np.float32(seam_every)) - seam_every / 2) > seam_every / 2 - max(
                1.0, 0.3 * unit
            )
            wall_img = bumper * (0.7 + 0.35 * puff)[:, :, None] * np.where(seam, 0.7, 1.0)[:, :, None]
        img = np.where(wall[:, :, None], wall_img, img)
    return np.asarray(img, dtype=np.float32), variant, sides


def _photo(rng: np.random.Generator, h: int, w: int, unit: float) -> Built:
    got = sample_photo(rng, h, w)
    if got is not None:
        return got[0], got[1].name, ()
    fallback = "sheet" if rng.random() < 0.5 else "blanket"
    img, _, _ = _BUILDERS[fallback](rng, h, w, unit)
    return img, f"fallback:{fallback}", ()


_BUILDERS: Final[dict[str, Callable[[np.random.Generator, int, int, float], Built]]] = {
    "sheet": _sheet,
    "blanket": _blanket,
    "playmat": _playmat,
    "lawn": _lawn,
    "cot": _cot,
    "photo": _photo,
}


def sample_backdrop(
    rng: np.random.Generator, height: int, width: int, unit_px: float, families: Iterable[str] | None = None
) -> Backdrop:
    """A random background of one of ``families`` (default all of :data:`BACKDROP_FAMILIES`, drawn with
    equal chance), (height, width) pixels, patterns sized by ``unit_px`` pixels per centimetre."""
    names = check_families(families, BACKDROP_FAMILIES, "backdrop families")
    family = names[int(rng.integers(len(names)))]
    image, variant, sides = _BUILDERS[family](rng, height, width, max(float(unit_px), 0.5))
    out = np.clip(np.nan_to_num(image), 0.0, 255.0).astype(np.float32)
    return Backdrop(image=out, family=family, variant=variant, sides=sides)
