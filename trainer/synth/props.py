"""Scene props for domain randomisation: things lying next to the infant or drawn over it.

Kinds (:data:`PROP_KINDS`): ``card`` (a name card with dark text-like strokes, beside the infant), ``toy``
(a bright soft toy, rattle, ball or teether ring near the body), ``hand`` (an adult hand and forearm entering
from a frame edge, any skin tone, sometimes gloved or sleeved), ``wire`` (1–3 thin smooth tubes or sensor
wires, 1–4 px wide, crossing the scene and the infant, some ending at a sensor or tape patch),
``blanket_edge`` (a cloth with a hem covering part of the body).

CONTRACT with the renderer: a :class:`Layer` with ``over_infant=True`` is drawn on top of the infant and its
pixels are labelled BACKGROUND (covered = not labelled, see :func:`covered`); ``over_infant=False`` is drawn on
the background only, under the infant. :func:`composite` draws layers in list order.

Arrays: masks (H, W) bool, images (H, W, 3) float32 RGB 0..255 (zero outside the mask); ``unit_px`` is
pixels per centimetre (the infant's scale). Deterministic given the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from trainer.synth import patterns as pt
from trainer.synth.backdrops import sample_backdrop
from trainer.synth.families import check_families
from trainer.synth.hand import hand_layer
from trainer.synth.layers import (
    Layer,
    Mask,
    capsule,
    composite,
    covered,
    from_parts,
    infant_point,
    part_shading,
    place,
    pt16,
)
from trainer.synth.textures import RGB, smooth_noise

__all__ = ["PROP_KINDS", "Layer", "composite", "covered", "make_prop", "sample_props"]

F32 = npt.NDArray[np.float32]

PROP_KINDS: Final[tuple[str, ...]] = ("card", "toy", "hand", "wire", "blanket_edge")
_ORDER: Final = {"card": 0, "toy": 1, "wire": 2, "blanket_edge": 3, "hand": 4}
WIRES: Final = np.array(
    [
        (235, 235, 235),
        (200, 200, 205),
        (60, 110, 200),
        (230, 200, 50),
        (200, 50, 50),
        (60, 160, 80),
        (30, 30, 30),
    ],
    dtype=np.float64,
)
INK: Final = np.array([(20, 20, 24), (30, 40, 120), (140, 30, 40), (40, 40, 40)], dtype=np.float64)


def _card(rng: np.random.Generator, h: int, w: int, unit: float, infant: Mask) -> Layer:
    cw = max(8, round(float(rng.uniform(7.0, 14.0)) * unit))
    ch = max(5, round(float(rng.uniform(4.5, 9.0)) * unit))
    paper = pt.colour(rng, pt.WHITE_SHEETS if rng.random() < 0.6 else pt.PASTELS, 4.0)
    canvas = np.empty((ch, cw, 3), np.uint8)  # cv2.putText draws on 8-bit images only
    canvas[:] = np.clip(paper, 0, 255).astype(np.uint8)
    top = 0
    if rng.random() < 0.5:  # a coloured header band
        top = max(1, round(ch * float(rng.uniform(0.15, 0.3))))
        canvas[:top] = np.clip(pt.colour(rng, pt.SATURATED), 0, 255).astype(np.uint8)
    ink = tuple(float(v) for v in pt.colour(rng, INK, 10.0))
    font = int(
        rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_PLAIN])
    )
    lines = int(rng.integers(2, 6))
    line_h = (ch - top) / (lines + 1)
    for i in range(lines):
        text = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(3, 14))))
        text = " ".join(text[j : j + 5] for j in range(0, len(text), 5)).capitalize()
        scale = max(0.2, line_h / 30.0)
        org = (max(1, round(cw * 0.06)), round(top + (i + 1) * line_h + line_h * 0.3))
        cv2.putText(canvas, text, org, font, scale, ink, max(1, round(line_h / 14)), cv2.LINE_AA)
    best, best_overlap = np.zeros(2), math.inf
    for _ in range(8):  # beside the infant: the candidate spot covering it least
        c = rng.uniform([0.1 * w, 0.1 * h], [0.9 * w, 0.9 * h])
        x0, y0 = int(max(0, c[0] - cw / 2)), int(max(0, c[1] - ch / 2))
        overlap = (
            float(infant[y0 : y0 + ch, x0 : x0 + cw].mean())
            if infant[y0 : y0 + ch, x0 : x0 + cw].size
            else 0.0
        )
        if overlap < best_overlap:
            best, best_overlap = c, overlap
    mask, image = place(canvas.astype(np.float32), best, float(rng.normal(0, 0.4)), h, w)
    return Layer(mask, image, "card", False)


def _toy(rng: np.random.Generator, h: int, w: int, unit: float, infant: Mask) -> Layer:
    size = float(rng.uniform(6.0, 15.0)) * unit
    p = infant_point(rng, infant, edge=True)
    c = np.clip(p + rng.normal(0.0, 0.5, 2) * size, [0.0, 0.0], [w - 1.0, h - 1.0])  # centre in the frame
    parts = np.zeros((h, w), np.uint8)
    kind = str(rng.choice(["teddy", "rattle", "ball", "ring"]))
    ang = float(rng.uniform(0, 2 * math.pi))
    axis = np.array([math.cos(ang), math.sin(ang)])
    side = np.array([-axis[1], axis[0]])
    if kind == "teddy":
        body, head = c - axis * 0.15 * size, c + axis * 0.3 * size
        for s in (-1, 1):
            capsule(parts, body, body + (side * s * 0.35 + axis * 0.1) * size, 0.16 * size, 3)  # arms
            capsule(parts, body, body + (side * s * 0.22 - axis * 0.35) * size, 0.18 * size, 3)  # legs
            cv2.circle(
                parts,
                pt16(head + (side * s * 0.17 + axis * 0.15) * size),
                round(0.09 * size * 16),
                3,
                -1,
                cv2.LINE_8,
                4,
            )
        cv2.ellipse(
            parts,
            pt16(body),
            pt16(np.array([0.27, 0.2]) * size),
            math.degrees(ang),
            0,
            360,
            1,
            -1,
            cv2.LINE_8,
            4,
        )
        cv2.circle(parts, pt16(head), round(0.18 * size * 16), 2, -1, cv2.LINE_8, 4)
        cv2.circle(parts, pt16(head + axis * 0.07 * size), round(0.07 * size * 16), 4, -1, cv2.LINE_8, 4)
    elif kind == "rattle":
        capsule(parts, c - axis * 0.45 * size, c, 0.12 * size, 2)
        cv2.circle(parts, pt16(c + axis * 0.2 * size), round(0.25 * size * 16), 1, -1, cv2.LINE_8, 4)
    elif kind == "ball":
        cv2.circle(parts, pt16(c), round(0.35 * size * 16), 1, -1, cv2.LINE_8, 4)
    else:
        cv2.circle(parts, pt16(c), round(0.4 * size * 16), 1, round(0.15 * size), cv2.LINE_8, 4)
    cols = np.zeros((5, 3), np.float32)
    cols[1] = pt.colour(rng, pt.SATURATED if rng.random() < 0.7 else pt.PASTELS)
    cols[2] = (
        cols[1] * np.float32(rng.uniform(0.85, 1.1)) if kind == "teddy" else pt.colour(rng, pt.SATURATED)
    )
    cols[3] = cols[2] * np.float32(0.9)
    cols[4] = np.float32(235.0) if rng.random() < 0.5 else cols[2] * np.float32(0.5)
    gain = part_shading(parts, 0.15 * size, 0.35) * pt.grain(rng, h, w, 0.02 if kind == "teddy" else 0.005)
    return from_parts(parts, cols, gain, "toy", bool(rng.random() < 0.5))


def _spline(points: npt.NDArray[np.float64], per_segment: int = 24) -> npt.NDArray[np.float64]:
    """Dense (M, 2) polyline of a Catmull-Rom spline through ``points`` ((N, 2), N >= 2)."""
    p = np.vstack([2 * points[0] - points[1], points, 2 * points[-1] - points[-2]])
    t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(
            0.5
            * (
                (2 * p1)
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
            )
        )
    out.append(points[-1:])
    return np.vstack(out)


def _edge_point(rng: np.random.Generator, h: int, w: int) -> npt.NDArray[np.float64]:
    """A random point on the frame border (x, y)."""
    side = int(rng.integers(4))
    t = float(rng.uniform(0, 1))
    return np.array(
        [(t * (w - 1), 0.0), (t * (w - 1), h - 1.0), (0.0, t * (h - 1)), (w - 1.0, t * (h - 1))][side]
    )


def _wire(rng: np.random.Generator, h: int, w: int, unit: float, infant: Mask) -> Layer:
    parts = np.zeros((h, w), np.uint8)
    cols = np.zeros((8, 3), np.float32)
    for i in range(int(rng.integers(1, 4))):
        sensor = rng.random() < 0.5
        mid = [
            infant_point(rng, infant) + rng.normal(0, 4.0 * unit, 2) for _ in range(int(rng.integers(1, 3)))
        ]
        end = infant_point(rng, infant) if sensor else _edge_point(rng, h, w)
        pts = np.vstack([_edge_point(rng, h, w), *mid, end])
        curve = _spline(pts)
        width = int(
            rng.integers(1, 5)
        )  # pixels: cv2 draws 1 or 3 px (thickness 1 or 2), a 2×2 dilation adds 1
        line = np.zeros((h, w), np.uint8)
        cv2.polylines(
            line, [np.round(curve * 16).astype(np.int32)], False, 1, 1 if width < 3 else 2, cv2.LINE_8, 4
        )
        if width % 2 == 0:
            line = np.asarray(cv2.dilate(line, np.ones((2, 2), np.uint8)), dtype=np.uint8)
        parts[line > 0] = 1 + 2 * i
        cols[1 + 2 * i] = pt.colour(rng, WIRES, 8.0)
        if sensor:  # an ECG electrode (a disc with a centre stud) or a tape patch
            r = max(1.5, float(rng.uniform(0.8, 1.6)) * unit)
            if rng.random() < 0.5:
                cv2.circle(parts, pt16(end), round(r * 16), 2 + 2 * i, -1, cv2.LINE_8, 4)
                cv2.circle(parts, pt16(end), round(r * 0.35 * 16), 1 + 2 * i, -1, cv2.LINE_8, 4)
            else:
                box = cv2.boxPoints((tuple(end), (2.5 * r, 1.6 * r), float(rng.uniform(0, 180))))
                cv2.fillConvexPoly(parts, np.round(box * 16).astype(np.int32), 2 + 2 * i, cv2.LINE_8, 4)
            cols[2 + 2 * i] = pt.colour(
                rng, np.array([(240, 240, 236), (236, 214, 190), (244, 200, 210)], float), 5.0
            )
    tube = cv2.distanceTransform((parts > 0).astype(np.uint8), cv2.DIST_L2, 3)
    gain = 0.8 + 0.25 * np.clip(tube / 2.0, 0, 1)  # a tube's lit centre line
    return from_parts(parts, cols, gain.astype(np.float32), "wire", bool(rng.random() < 0.8))


def _blanket_edge(rng: np.random.Generator, h: int, w: int, unit: float, infant: Mask) -> Layer:
    cloth = sample_backdrop(rng, h, w, unit, ("blanket",) if rng.random() < 0.7 else ("sheet",)).image
    ang = float(rng.uniform(0, 2 * math.pi))
    n = np.array([math.cos(ang), math.sin(ang)], np.float32)
    xx, yy = pt.coords(h, w, 0.0)
    proj = xx * n[0] + yy * n[1]
    ys, xs = np.nonzero(infant)
    ref = xs * n[0] + ys * n[1] if len(xs) else proj.ravel()
    thr = float(np.quantile(ref, rng.uniform(0.3, 0.85)))
    along = -xx * n[1] + yy * n[0]
    wave = (
        float(rng.uniform(0.5, 2.0))
        * unit
        * np.sin(along / np.float32(rng.uniform(2.0, 6.0) * unit) + rng.uniform(0, 6.3))
    )
    wave += np.float32(1.5 * unit) * smooth_noise(rng, h, w, 10.0 * unit)
    depth = proj + wave - np.float32(thr)  # > 0 under the cloth, pixels from its edge
    mask = depth > 0
    hem_w = float(rng.uniform(0.8, 3.0)) * unit
    hem = mask & (depth < hem_w)
    if rng.random() < 0.5:
        cloth = np.where(
            hem[:, :, None], pt.colour(rng, pt.PASTELS if rng.random() < 0.5 else pt.WHITE_SHEETS), cloth
        )
    gain = 1.0 - 0.3 * np.exp(-np.maximum(depth, 0) / np.float32(1.2 * unit))  # the rolled edge
    gain *= pt.fold_shading(rng, h, w, unit, folds=int(rng.integers(1, 4)), creases=0, strength=0.15)
    image = np.where(mask[:, :, None], cloth * gain[:, :, None], 0.0)
    return Layer(mask, np.asarray(np.clip(image, 0, 255), dtype=np.float32), "blanket_edge", True)


def make_prop(
    kind: str,
    rng: np.random.Generator,
    height: int,
    width: int,
    unit_px: float,
    infant_mask: Mask,
    *,
    skin: RGB | None = None,
) -> Layer:
    """One prop of ``kind`` (see :data:`PROP_KINDS`) placed around ``infant_mask`` ((height, width) bool);
    ``skin`` (RGB) colours a hand (sampled when None)."""
    check_families((kind,), PROP_KINDS, "prop kind")
    unit = max(float(unit_px), 0.5)
    mask = np.asarray(infant_mask, dtype=bool)
    if kind == "hand":
        return hand_layer(rng, height, width, unit, mask, skin)
    builders = {"card": _card, "toy": _toy, "wire": _wire, "blanket_edge": _blanket_edge}
    return builders[kind](rng, height, width, unit, mask)


def sample_props(
    rng: np.random.Generator,
    height: int,
    width: int,
    unit_px: float,
    infant_mask: Mask,
    families: Iterable[str] | None = None,
    *,
    count: int | None = None,
    skin: RGB | None = None,
) -> list[Layer]:
    """``count`` props (default 0–3: 30/35/25/10 %) of kinds drawn with equal chance from ``families``
    (default all of :data:`PROP_KINDS`), in drawing order (cards, toys, wires, blanket edges, hands); props
    that fell outside the frame are dropped. ``infant_mask`` (height, width) bool says where the infant is."""
    names = check_families(families, PROP_KINDS, "prop kinds")
    n = int(rng.choice(4, p=[0.3, 0.35, 0.25, 0.1])) if count is None else count
    kinds = [names[int(rng.integers(len(names)))] for _ in range(n)]
    layers = [make_prop(k, rng, height, width, unit_px, infant_mask, skin=skin) for k in kinds]
    return sorted((lay for lay in layers if lay.mask.any()), key=lambda lay: _ORDER[lay.kind])
