"""Keypoint-model inputs from unlabelled frames (``train --task keypoints --unlabelled DIR``).

The pose model sees crops of the infant's padded body box; an unlabelled frame has no body box. The stand-in:
a square box whose side is U(:data:`BOX_FRACTION`) of the frame's short side, placed uniformly at random
where it fits inside the frame (so, for a cot camera, around the infant most of the time). It then goes
through exactly the labelled crops' path (:func:`trainer.pose.crops.train_crop`: box jitter, padding by
``crop_padding`` to the input's aspect, rotation, flip; then colour jitter and blur; the pipeline's
normalisation): before the jitter a crop spans 0.7-1.1 of the short side, resized to the pose input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from pipeline.contract.pose_meta import PoseSpec
from pipeline.infer.preprocess import normalize
from trainer.pose.crops import Augment, train_crop
from trainer.pose.dataset import photometric

BOX_FRACTION: Final = (0.55, 0.85)
"""Range of the stand-in body box's side, as a fraction of the frame's short side (uniform)."""

_NO_POINTS: Final = np.zeros((0, 3), np.float32)


def stand_in_box(height: int, width: int, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """A random square body box [x, y, w, h] (frame px) inside a ``height`` × ``width`` frame (see the module
    docstring)."""
    side = float(rng.uniform(*BOX_FRACTION)) * min(height, width)
    x0 = float(rng.uniform(0.0, width - side))
    y0 = float(rng.uniform(0.0, height - side))
    return (x0, y0, side, side)


@dataclass(frozen=True)
class PoseFrameInput:
    """Frame (H, W, 3) uint8 RGB → normalised crop (3, in_h, in_w) float32 (see the module docstring).

    Attributes:
        spec: input size, crop padding and normalisation of the model being trained.
        augment: the labelled crops' :class:`Augment` (same jitter, rotation and flip).
    """

    spec: PoseSpec
    augment: Augment

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        bbox = stand_in_box(image.shape[0], image.shape[1], rng)
        crop, _ = train_crop(
            image, _NO_POINTS, bbox, self.spec.input_hw, self.spec.crop_padding, self.augment, (), rng
        )
        return normalize(photometric(crop, rng), self.spec.mean, self.spec.std)
