"""Prop layers: what a prop is (:class:`Layer`), how layers are drawn (:func:`composite`) and which pixels
they take from the infant's labels (:func:`covered`), plus the drawing helpers the props share.

CONTRACT with the renderer: a layer with ``over_infant=True`` is drawn on top of the infant and its pixels
are labelled BACKGROUND; ``over_infant=False`` is drawn on the background only, under the infant.
Arrays: masks (H, W) bool, images (H, W, 3) float32 RGB 0..255 (zero outside the mask), points (x, y) pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]
Point = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Layer:
    """One prop: ``mask`` (H, W) bool where it is, ``image`` (H, W, 3) float32 RGB 0..255 (zero outside the
    mask), ``kind`` one of :data:`trainer.synth.props.PROP_KINDS`, ``over_infant`` True = drawn over the infant and labelled
    background, False = drawn on the background under the infant."""

    mask: Mask
    image: F32
    kind: str
    over_infant: bool


def composite(base: F32, layers: Sequence[Layer]) -> F32:
    """``base`` ((H, W, 3) float32) with each layer's image copied in where its mask is, in list order.
    Pure (returns a new array). Draw the ``over_infant=False`` layers onto the background before the infant
    and the ``over_infant=True`` ones onto the frame after it."""
    out = np.array(base, dtype=np.float32, copy=True)
    for lay in layers:
        if lay.mask.shape != out.shape[:2]:
            raise ValueError(
                f"layer {lay.kind}: mask {lay.mask.shape} does not fit the image {out.shape[:2]}"
            )
        np.copyto(out, lay.image, where=lay.mask[:, :, None])
    return out


def covered(layers: Sequence[Layer], shape: tuple[int, int] | None = None) -> Mask:
    """(H, W) bool union of the ``over_infant`` layers' masks: pixels to label background. ``shape`` (H, W)
    is needed only when ``layers`` is empty."""
    if not layers:
        if shape is None:
            raise ValueError("covered(): no layers and no shape")
        return np.zeros(shape, bool)
    out = np.zeros(layers[0].mask.shape, bool)
    for lay in layers:
        if lay.over_infant:
            out |= lay.mask
    return out


def infant_point(rng: np.random.Generator, infant_mask: Mask, *, edge: bool = False) -> Point:
    """(x, y) of a random infant pixel (of its outline when ``edge``); a random central point without one."""
    m = infant_mask
    if edge and m.any():
        m = m & ~cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    ys, xs = np.nonzero(m)
    h, w = infant_mask.shape
    if len(xs) == 0:
        return np.array([rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h])
    k = int(rng.integers(len(xs)))
    return np.array([float(xs[k]), float(ys[k])])


def part_shading(parts: npt.NDArray[np.uint8], scale: float, strength: float) -> F32:
    """(H, W) float32 gain of rounded parts: darker near the outline and between parts (``scale`` pixels)."""
    edges = np.zeros(parts.shape, bool)
    dx = parts[:, 1:] != parts[:, :-1]
    dy = parts[1:, :] != parts[:-1, :]
    edges[:, 1:] |= dx
    edges[:, :-1] |= dx
    edges[1:, :] |= dy
    edges[:-1, :] |= dy
    dist = cv2.distanceTransform((~edges).astype(np.uint8), cv2.DIST_L2, 3)
    return np.asarray(1.0 - strength * np.exp(-dist / np.float32(max(scale, 0.7))), dtype=np.float32)


def from_parts(parts: npt.NDArray[np.uint8], colours: F32, gain: F32, kind: str, over: bool) -> Layer:
    """A Layer from a part-id map (0 = none) and a colour per part id ((N, 3), row 0 unused)."""
    mask = parts > 0
    image = colours[parts] * gain[:, :, None]
    image[~mask] = 0.0
    return Layer(mask, np.asarray(np.clip(image, 0, 255), dtype=np.float32), kind, over)


def place(canvas: F32, centre: Point, angle: float, h: int, w: int) -> tuple[Mask, F32]:
    """Warp a small (ch, cw, 3) float32 ``canvas`` into an (h, w) frame, rotated by ``angle`` radians about
    its centre, which lands on ``centre`` (x, y). Returns (mask (h, w) bool, image (h, w, 3) float32)."""
    ch, cw = canvas.shape[:2]
    m = cv2.getRotationMatrix2D(((cw - 1) / 2, (ch - 1) / 2), math.degrees(angle), 1.0)
    m[:, 2] += np.array(centre) - np.array([(cw - 1) / 2, (ch - 1) / 2])
    inside = cv2.warpAffine(np.ones((ch, cw), np.uint8), m, (w, h), flags=cv2.INTER_NEAREST) > 0
    image = np.asarray(cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR), dtype=np.float32)
    image[~inside] = 0.0
    return inside, image


def pt16(p: Point) -> tuple[int, int]:
    return round(float(p[0]) * 16), round(float(p[1]) * 16)


def capsule(
    img: npt.NDArray[np.uint8], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], width: float, v: int
) -> None:
    """Draw a capsule (a segment with round ends) of ``width`` pixels from ``a`` to ``b`` with value ``v``."""
    cv2.line(img, pt16(a), pt16(b), v, max(1, round(width)), cv2.LINE_8, 4)
