"""Face occlusion for privacy experiments: mosaic the facial region located by the labelled facial points
(as NYCU does to train and test on face-anonymised infant images).

The region is a square centred on the labelled facial points' box, of side
``max(FACE_SCALE × the box's larger side, BODY_FRACTION × the body box's longer side)`` (the second term gives
a face-sized square when only one or two facial points are labelled). Inside it the image is replaced by
blocks of :data:`CELLS` × :data:`CELLS` cells (area-averaged, then enlarged with nearest neighbour).
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np

from pipeline.contract.crop import Box
from pipeline.contract.keypoints import NOT_LABELLED, KeypointSet

FACE_SCALE: Final = 2.0
BODY_FRACTION: Final = 0.18
CELLS: Final = 6


def face_region(
    keypoints: np.ndarray, kset: KeypointSet, bbox_xywh: tuple[float, float, float, float]
) -> Box | None:
    """The mosaic square (x0, y0, x1, y1) in image px, or None when no facial point is labelled.

    Args:
        keypoints: (K, 3) [x, y, v] image px.
        bbox_xywh: the body box.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    ids = [i for i in kset.facial if kp[i, 2] > NOT_LABELLED]
    if not ids:
        return None
    pts = kp[ids, :2]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    cx, cy = (lo + hi) / 2.0
    side = max(FACE_SCALE * float((hi - lo).max()), BODY_FRACTION * max(bbox_xywh[2], bbox_xywh[3]), 4.0)
    return (cx - side / 2.0, cy - side / 2.0, cx + side / 2.0, cy + side / 2.0)


def mosaic(image: np.ndarray, region: Box, cells: int = CELLS) -> np.ndarray:
    """A copy of ``image`` ((H, W, 3) uint8) with ``region`` (clipped to the image) pixelated into about
    ``cells`` × ``cells`` blocks."""
    h, w = image.shape[:2]
    x0, y0 = max(int(np.floor(region[0])), 0), max(int(np.floor(region[1])), 0)
    x1, y1 = min(int(np.ceil(region[2])), w), min(int(np.ceil(region[3])), h)
    out = image.copy()
    if x1 - x0 < 2 or y1 - y0 < 2:
        return out
    patch = image[y0:y1, x0:x1]
    side = max(x1 - x0, y1 - y0)
    block = max(side / cells, 1.0)
    small = cv2.resize(
        patch,
        (max(1, round((x1 - x0) / block)), max(1, round((y1 - y0) / block))),
        interpolation=cv2.INTER_AREA,
    )
    out[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    return out


def occlude_face(
    image: np.ndarray, keypoints: np.ndarray, kset: KeypointSet, bbox_xywh: tuple[float, float, float, float]
) -> np.ndarray:
    """``image`` with the face mosaicked (unchanged copy when no facial point is labelled)."""
    region = face_region(keypoints, kset, bbox_xywh)
    return image.copy() if region is None else mosaic(image, region)
