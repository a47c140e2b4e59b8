"""Pure geometry of the two-stage pose crop: body box → square-ish crop at the pose model's aspect → model
input pixels, and back. Training and streaming both use these functions, so the model sees the same crops.

Conventions (as :mod:`pipeline.contract.geometry`): a box is (x0, y0, x1, y1) in frame pixels with x1/y1
exclusive (pixel i covers [i, i + 1)); a *point* has pixel centres at integer coordinates (the point
(3, 4) is the centre of pixel column 3, row 4), as cv2 and COCO keypoints use. Boxes here are floats and may
extend past the frame: the part outside is filled with the pad value.
"""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[float, float, float, float]
"""(x0, y0, x1, y1) in frame pixels, x1/y1 exclusive, floats."""


def pose_box(box: Box, padding: float, aspect_wh: float, min_side: float = 8.0) -> Box:
    """The crop box for a body box: enlarged by ``padding`` on every side, then widened or heightened
    (about its centre) to the model input's aspect ``aspect_wh`` = width / height.

    Args:
        box: the body box (e.g. the segmentation foreground), frame px.
        padding: fraction of the box's width/height added on EACH side (0.15 → 1.3× wider and taller).
        aspect_wh: model input width / height (> 0).
        min_side: the box's sides are at least this many pixels (a tiny or empty box still crops something).
    """
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    w = max(x1 - x0, min_side) * (1.0 + 2.0 * padding)
    h = max(y1 - y0, min_side) * (1.0 + 2.0 * padding)
    if w / h > aspect_wh:
        h = w / aspect_wh
    else:
        w = h * aspect_wh
    return (cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)


def crop_matrix(box: Box, out_hw: tuple[int, int]) -> np.ndarray:
    """(2, 3) float64 affine mapping frame points → crop points (pixel-centre convention), as
    ``cv2.warpAffine`` takes it: the box's edges land on the crop's edges."""
    x0, y0, x1, y1 = box
    sx = out_hw[1] / (x1 - x0)
    sy = out_hw[0] / (y1 - y0)
    return np.array([[sx, 0.0, sx * (0.5 - x0) - 0.5], [0.0, sy, sy * (0.5 - y0) - 0.5]], dtype=np.float64)


def to_crop(xy: np.ndarray, box: Box, out_hw: tuple[int, int]) -> np.ndarray:
    """Frame points (..., 2) → crop points (..., 2), float32."""
    m = crop_matrix(box, out_hw)
    p = np.asarray(xy, dtype=np.float64)
    return (p * np.array([m[0, 0], m[1, 1]]) + np.array([m[0, 2], m[1, 2]])).astype(np.float32)


def to_frame(xy: np.ndarray, box: Box, out_hw: tuple[int, int]) -> np.ndarray:
    """Crop points (..., 2) → frame points (..., 2), float32 (the inverse of :func:`to_crop`)."""
    m = crop_matrix(box, out_hw)
    p = np.asarray(xy, dtype=np.float64)
    return ((p - np.array([m[0, 2], m[1, 2]])) / np.array([m[0, 0], m[1, 1]])).astype(np.float32)


def crop_image(image: np.ndarray, box: Box, out_hw: tuple[int, int], pad_value: int = 0) -> np.ndarray:
    """The crop of ``image`` ((H, W, 3) uint8) under ``box``, resized to ``out_hw`` ((out_h, out_w, 3)
    uint8, bilinear); pixels outside the frame are ``pad_value``."""
    return cv2.warpAffine(
        image,
        crop_matrix(box, out_hw),
        (out_hw[1], out_hw[0]),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(pad_value, pad_value, pad_value),
    )


def mask_box(mask: np.ndarray) -> Box | None:
    """The box of a boolean mask's True pixels ((H, W) bool), or None when it is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
