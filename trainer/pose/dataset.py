"""A torch Dataset of keypoint crops with Gaussian heatmap targets, over one split of a prepared keypoint
dataset (:mod:`trainer.pose.layout`).

Per item: the image (face mosaicked first with ``face_occlusion``), a crop of the body box
(:func:`trainer.pose.crops.train_crop`: box jitter, rotation, flip when augmenting; exactly the pipeline's
crop otherwise), colour jitter and blur (training), the pipeline's normalisation, then one Gaussian per
keypoint at its heatmap position and a weight per keypoint (:func:`trainer.pose.targets.target_weights`:
0 for unlabelled points, points outside the crop and, with ``omit_facial``, facial points).

Samples whose body box is degenerate, or with no labelled point, are left out (:func:`usable_samples`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from pipeline.contract.keypoints import NOT_LABELLED
from pipeline.contract.pose_meta import PoseSpec
from pipeline.infer.preprocess import normalize
from trainer.layout import load_rgb
from trainer.pose.crops import Augment, is_degenerate, train_crop
from trainer.pose.layout import KeypointSample, KeypointSplit
from trainer.pose.occlusion import occlude_face
from trainer.pose.targets import gaussian_heatmaps, input_to_heatmap, target_weights
from trainer.transforms import ColorJitter, GaussianBlur, RandomErasing, Sample

log = logging.getLogger(__name__)

_JITTER = ColorJitter(0.3, 0.3, 0.3, 0.03)
_BLUR = GaussianBlur(0.2)
_ERASE = RandomErasing(0.5, erase_mask=False)
"""Stand-ins for blankets, hands and toys over the crop; the joints under them keep their targets (the model
learns to place a hidden wrist from the arm it can see)."""


def photometric(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The training crop's colour jitter, blur and random erasing: (h, w, 3) uint8 RGB → same shape and
    dtype."""
    sample = Sample(crop, np.zeros((1, 1), np.uint8))
    return _ERASE(_BLUR(_JITTER(sample, rng), rng), rng).image


def usable_samples(split: KeypointSplit) -> list[KeypointSample]:
    """The samples of ``split`` that can be cropped and scored: a finite body box at least 2 px on each
    side and at least one labelled point. The others are counted in a log line."""
    degenerate = unlabelled = 0
    out = []
    for s in split.samples:
        if is_degenerate(s.bbox):
            degenerate += 1
        elif not (s.keypoints[:, 2] > NOT_LABELLED).any():
            unlabelled += 1
        else:
            out.append(s)
    if degenerate or unlabelled:
        log.info(
            "%s: skipped %d of %d samples (%d degenerate body boxes, %d without labelled points)",
            split.split, degenerate + unlabelled, len(split.samples), degenerate, unlabelled,
        )  # fmt: skip
    return out


def load_image(sample: KeypointSample, spec: PoseSpec, face_occlusion: bool) -> np.ndarray:
    """The sample's RGB image (H, W, 3) uint8, its face mosaicked when ``face_occlusion``.

    Raises:
        DatasetError: missing or unreadable image.
    """
    image = load_rgb(sample.image_path)
    if face_occlusion:
        image = occlude_face(image, sample.keypoints, spec.keypoints, sample.bbox)
    return image


class PoseDataset(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """Items ``(image (3, in_h, in_w) float32, target (K, h, w) float32, weight (K,) float32)``,
    h, w = input / ``spec.heatmap_stride``.

    Args:
        samples: usable samples (:func:`usable_samples`).
        spec: input size, normalisation, stride, sigma, crop padding and keypoint set.
        augment: None = evaluation crops (no randomness at all).
    Randomness: item i of epoch e draws from ``np.random.default_rng([seed, e, i])`` (index ``(e, i)`` from
    :class:`trainer.dataset.EpochSampler`, or ``i`` with the epoch of :meth:`set_epoch`).
    """

    def __init__(
        self,
        samples: Sequence[KeypointSample],
        spec: PoseSpec,
        augment: Augment | None = None,
        face_occlusion: bool = False,
        omit_facial: bool = False,
        seed: int = 0,
    ) -> None:
        self.samples = list(samples)
        self.spec = spec
        self.augment = augment
        self.face_occlusion = face_occlusion
        self.zero_ids = spec.keypoints.facial if omit_facial else ()
        self.flip_pairs = spec.keypoints.flip_pairs()
        self.seed = seed
        self.epoch = 0
        stride = spec.heatmap_stride
        self.heatmap_hw = (spec.input_hw[0] // stride, spec.input_hw[1] // stride)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def item(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(normalised crop (3, in_h, in_w), targets (K, h, w), weights (K,)), float32 numpy."""
        s = self.samples[index]
        spec = self.spec
        image = load_image(s, spec, self.face_occlusion)
        crop, kp = train_crop(
            image, s.keypoints, s.bbox, spec.input_hw, spec.crop_padding, self.augment, self.flip_pairs, rng
        )
        if self.augment is not None:
            crop = photometric(crop, rng)
        hm = kp.copy()
        hm[:, :2] = input_to_heatmap(kp[:, :2], spec.heatmap_stride)
        target = gaussian_heatmaps(hm[:, :2], self.heatmap_hw, spec.heatmap_sigma)
        weight = target_weights(hm, self.heatmap_hw, self.zero_ids)
        target *= (weight > 0)[:, None, None]
        return normalize(crop, spec.mean, spec.std), target, weight

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        x, t, w = self.item(index, np.random.default_rng([self.seed, epoch, index]))
        return torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(w)
