"""Polygon builders for the synthetic infant, in body-local centimetres (:mod:`trainer.synth.body` frame).

Every function returns an (N, 2) float64 array of polygon vertices (x, y), in order around the outline.
"""

from __future__ import annotations

import math
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from trainer.synth.skeleton import rotation

FloatArray = npt.NDArray[np.float64]


def unit_circle(n: int) -> FloatArray:
    """(n, 2) points on the unit circle, counter-clockwise from (1, 0)."""
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], axis=1)


_CIRCLE12: Final = unit_circle(12)


def hull(points: FloatArray) -> FloatArray:
    """Convex hull of (M, 2) points, (N, 2)."""
    out = cv2.convexHull(np.asarray(points, dtype=np.float32))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def capsule(p0: FloatArray, p1: FloatArray, r0: float, r1: float) -> FloatArray:
    """Tapered capsule (convex hull of two discs), (N, 2) points."""
    return hull(np.concatenate([p0 + r0 * _CIRCLE12, p1 + r1 * _CIRCLE12]))


def ellipse(center: FloatArray, half_x: float, half_y: float, angle: float = 0.0, n: int = 28) -> FloatArray:
    """Ellipse with half-axes along its own x/y, rotated by ``angle``; (n, 2) points."""
    pts = unit_circle(n) * np.array([half_x, half_y])
    out: FloatArray = center + pts @ rotation(angle).T
    return out


def superellipse(half_widths: FloatArray, half_y: float, power: float, n: int = 48) -> FloatArray:
    """Rounded box centred at 0: ``|x/w(y)|^p + |y/h|^p = 1`` with w linearly interpolated over
    ``half_widths`` = (3,) widths at y = -h, 0, +h; (n, 2) points."""
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    y = -np.sign(c) * np.abs(c) ** (2.0 / power) * half_y
    w = np.interp(y, [-half_y, 0.0, half_y], half_widths)
    x = np.sign(s) * np.abs(s) ** (2.0 / power) * w
    return np.stack([x, y], axis=1)


def grow(points: FloatArray, margin: float) -> FloatArray:
    """Convex hull of ``points`` (M, 2) grown outwards by ``margin`` (a disc swept around it)."""
    return hull((points[:, None, :] + margin * _CIRCLE12[None, :, :]).reshape(-1, 2))


def clip_halfplane(poly: FloatArray, normal: FloatArray, offset: float) -> FloatArray:
    """The part of polygon ``poly`` (N, 2) where ``normal . p >= offset`` (Sutherland-Hodgman), (M, 2);
    empty (0, 2) when nothing is left."""
    out: list[FloatArray] = []
    d = poly @ normal - offset
    n = len(poly)
    for k in range(n):
        a, b = poly[k], poly[(k + 1) % n]
        da, db = d[k], d[(k + 1) % n]
        if da >= 0.0:
            out.append(a)
        if (da >= 0.0) != (db >= 0.0):
            out.append(a + (b - a) * (da / (da - db)))
    return np.array(out, dtype=np.float64).reshape(-1, 2)
