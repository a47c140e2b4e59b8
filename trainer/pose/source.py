"""What a keypoint source reader yields: images with their labelled infants, checked and ready to be
written into the prepared layout (:mod:`trainer.pose.layout`), plus the geometry rules every reader and
``verify`` share.

Coordinates are the source's pixels as stored (x right, y down; no half-pixel shift is applied).
A labelled point lies ON its image when ``-0.5 <= x <= width`` and ``-0.5 <= y <= height``: with pixel
centres at integers the image spans -0.5 … width-0.5, and the extra half pixel on the far edges accepts
tools that put pixel centres at +0.5 (LabelMe clicks land in 0 … width).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

EDGE: Final = 0.5
"""Half a pixel: how far before the first pixel centre a point may lie (see the module docstring)."""


@dataclass(frozen=True)
class Instance:
    """One labelled infant.

    Attributes:
        keypoints: (K, 3) float64 [x, y, v], image pixels as the source stores them (float64 keeps them
            exact), v ∈ {0, 1, 2}; v = 0 has x = y = 0.
        bbox: (x, y, w, h) pixels from the source, or None (then the labelled points' extent is used).
        area: the source's ``area`` (px²), or None (then bbox w·h).
        is_synthetic: the source flags this instance (or its image) as generated.
    """

    keypoints: np.ndarray
    bbox: tuple[float, float, float, float] | None
    area: float | None
    is_synthetic: bool


@dataclass(frozen=True)
class SourceImage:
    """One image of a keypoint source.

    Attributes:
        where: the source file (and entry) every message about this image names.
        name: path for the prepared layout, relative to ``images/<split>/`` (POSIX separators).
        image_path: the image file on disk, or None when only ``image_bytes`` exist (LabelMe imageData).
        image_bytes: the encoded image (JPEG/PNG) when it is embedded in the annotation, else None.
        width, height: image size in pixels (checked against the image itself).
        group: the split group (video / subject id, or the image itself); a split never cuts one.
        instances: the labelled infants (empty when nothing is labelled: ``prepare`` skips the image).
    """

    where: str
    name: str
    image_path: Path | None
    image_bytes: bytes | None
    width: int
    height: int
    group: str
    instances: tuple[Instance, ...]

    @property
    def is_synthetic(self) -> bool:
        return any(i.is_synthetic for i in self.instances)


def off_image(keypoints: np.ndarray, width: int, height: int) -> np.ndarray:
    """(K,) bool: labelled points (v > 0) that are not on a ``width`` × ``height`` image.

    Args:
        keypoints: (K, 3) [x, y, v] pixels.
    """
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    x, y, v = kp[:, 0], kp[:, 1], kp[:, 2]
    on = (x >= -EDGE) & (x <= width) & (y >= -EDGE) & (y <= height)
    return (v > 0) & ~on


def bbox_on_image(bbox: tuple[float, float, float, float], width: int, height: int) -> bool:
    """A finite box with w, h >= 0 that lies on the image (same extent as :func:`off_image`)."""
    x, y, w, h = (float(b) for b in bbox)
    if not all(np.isfinite((x, y, w, h))) or w < 0 or h < 0:
        return False
    return x >= -EDGE and y >= -EDGE and x + w <= width and y + h <= height


def clip_bbox(
    bbox: tuple[float, float, float, float], width: int, height: int
) -> tuple[float, float, float, float]:
    """The box cut to 0 … width × 0 … height (pixels); an off-image box becomes empty (w = h = 0)."""
    x, y, w, h = bbox
    x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    return (x0, y0, x1 - x0, y1 - y0)


def points_bbox(keypoints: np.ndarray, width: int, height: int) -> tuple[float, float, float, float]:
    """The labelled points' extent (x, y, w, h), cut to the image; (0, 0, 0, 0) when none is labelled.

    Args:
        keypoints: (K, 3) [x, y, v] pixels.
    """
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    pts = kp[kp[:, 2] > 0, :2]
    if len(pts) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    return clip_bbox((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), width, height)
