"""Training and evaluation crops of the body box, made exactly as the streaming pipeline makes them.

Evaluation (and the pipeline): ``body box → pose_box(padding, aspect) → crop_image`` (:mod:`pipeline.contract.crop`).
Training adds, before the crop, a jitter of the body box (scale and shift, as a segmentation box would
wander) and, after it, a rotation about the crop centre and a horizontal flip, all folded into the one affine
warp (same interpolation and border as :func:`pipeline.contract.crop.crop_image`). With no augmentation the
training crop IS the evaluation crop. A flip also swaps the right/left keypoints
(:meth:`pipeline.contract.keypoints.KeypointSet.flip_pairs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from pipeline.contract.crop import Box, crop_image, crop_matrix, pose_box

MIN_BOX_SIDE: Final = 2.0
"""A body box narrower or lower than this (px) is degenerate: its sample is skipped."""


@dataclass(frozen=True)
class Augment:
    """Random crop geometry for training.

    Attributes:
        scale: the body box is scaled about its centre by exp(U(−log(1 + scale), log(1 + scale))).
        shift: its centre moves by U(−shift, shift) × its width / height.
        rotation: rotation U(−rotation, rotation) degrees about the crop centre, with probability rotation_p.
        flip_p: probability of a horizontal flip (right/left keypoints swap).
    """

    scale: float = 0.25
    shift: float = 0.08
    rotation: float = 180.0
    rotation_p: float = 0.5
    flip_p: float = 0.5


def body_box(bbox_xywh: tuple[float, float, float, float]) -> Box:
    """COCO ``bbox`` [x, y, w, h] → (x0, y0, x1, y1) with x1/y1 exclusive."""
    x, y, w, h = bbox_xywh
    return (x, y, x + w, y + h)


def is_degenerate(bbox_xywh: tuple[float, float, float, float]) -> bool:
    """True when the body box is not finite or a side is below :data:`MIN_BOX_SIDE`."""
    values = np.asarray(bbox_xywh, dtype=np.float64)
    return bool(not np.isfinite(values).all() or values[2] < MIN_BOX_SIDE or values[3] < MIN_BOX_SIDE)


def crop_box(bbox_xywh: tuple[float, float, float, float], input_hw: tuple[int, int], padding: float) -> Box:
    """The evaluation/streaming crop box of a body box: :func:`pose_box` at the input's aspect."""
    return pose_box(body_box(bbox_xywh), padding, input_hw[1] / input_hw[0])


def eval_crop(
    image: np.ndarray, bbox_xywh: tuple[float, float, float, float], input_hw: tuple[int, int], padding: float
) -> tuple[np.ndarray, Box]:
    """(crop (in_h, in_w, 3) uint8, its box in image px) exactly as the pipeline crops (pad value 0)."""
    box = crop_box(bbox_xywh, input_hw, padding)
    return crop_image(image, box, input_hw), box


def jitter_box(box: Box, aug: Augment, rng: np.random.Generator) -> Box:
    """The body box scaled and shifted at random (see :class:`Augment`)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    s = math.exp(rng.uniform(-math.log1p(aug.scale), math.log1p(aug.scale)))
    cx = (x0 + x1) / 2.0 + rng.uniform(-aug.shift, aug.shift) * w
    cy = (y0 + y1) / 2.0 + rng.uniform(-aug.shift, aug.shift) * h
    return (cx - s * w / 2.0, cy - s * h / 2.0, cx + s * w / 2.0, cy + s * h / 2.0)


def crop_augmentation(out_hw: tuple[int, int], angle_deg: float, flip: bool) -> np.ndarray:
    """(3, 3) float64 affine on crop px: rotate by ``angle_deg`` about the crop centre, then mirror x."""
    h, w = out_hw
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    rot = np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [0.0, 0.0, 1.0]])
    mirror = np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) if flip else np.eye(3)
    out: np.ndarray = mirror @ rot
    return out


def transform_points(xy: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Points (K, 2) through a (2, 3) affine → (K, 2) float32."""
    p = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    return (p @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def swap_pairs(keypoints: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Rows i and j exchanged for each (i, j) of ``pairs`` (a copy)."""
    out = np.array(keypoints, copy=True)
    for i, j in pairs:
        out[[i, j]] = out[[j, i]]
    return out


def train_crop(
    image: np.ndarray,
    keypoints: np.ndarray,
    bbox_xywh: tuple[float, float, float, float],
    input_hw: tuple[int, int],
    padding: float,
    aug: Augment | None,
    flip_pairs: tuple[tuple[int, int], ...],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A randomly augmented crop and its keypoints.

    Args:
        image: (H, W, 3) uint8 RGB.
        keypoints: (K, 3) [x, y, v] image px.
        aug: None = no augmentation (then identical to :func:`eval_crop`).
    Returns:
        (crop (in_h, in_w, 3) uint8, keypoints (K, 3) float32 [x, y, v] in crop px, flipped ids swapped).
    """
    box = body_box(bbox_xywh)
    angle, flip = 0.0, False
    if aug is not None:
        box = jitter_box(box, aug, rng)
        if aug.rotation > 0 and rng.random() < aug.rotation_p:
            angle = float(rng.uniform(-aug.rotation, aug.rotation))
        flip = bool(rng.random() < aug.flip_p)
    cbox = pose_box(box, padding, input_hw[1] / input_hw[0])
    matrix = crop_matrix(cbox, input_hw)
    if angle != 0.0 or flip:
        matrix = (crop_augmentation(input_hw, angle, flip) @ np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
        crop = cv2.warpAffine(
            image,
            matrix,
            (input_hw[1], input_hw[0]),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
    else:
        crop = crop_image(image, cbox, input_hw)
    kp = np.asarray(keypoints, dtype=np.float32).copy()
    kp[:, :2] = transform_points(kp[:, :2], matrix)
    if flip:
        kp = swap_pairs(kp, flip_pairs)
    return crop, kp
