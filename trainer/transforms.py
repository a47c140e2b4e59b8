"""Paired image/mask transforms for training and evaluation.

A :class:`Sample` holds an RGB image (H, W, 3) uint8 and its class-id mask (H, W) uint8. Geometric
transforms move both together (linear interpolation for the image, NEAREST for the mask, so class ids stay
class ids); photometric ones touch the image only. A horizontal flip keeps class ids: the classes have no
left/right. Every random choice comes from the ``rng`` passed in, so a sample is reproducible from a seed.

The last step, :class:`ToModelInput`, letterboxes into the model input and normalises with the pipeline's
own :func:`pipeline.geometry.letterbox_image` and :func:`pipeline.preprocess.normalize`: training,
evaluation and inference see exactly the same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import cv2
import numpy as np

from pipeline.contract.geometry import compute_letterbox, letterbox_image
from pipeline.contract.model_meta import ModelSpec
from pipeline.infer.preprocess import normalize


@dataclass(frozen=True)
class Sample:
    """An image (H, W, 3) uint8 RGB and its mask (H, W) uint8 of class ids, same H and W."""

    image: np.ndarray
    mask: np.ndarray


class Transform(Protocol):
    """One paired augmentation step."""

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample: ...


@dataclass(frozen=True)
class Compose:
    """Apply ``steps`` in order."""

    steps: Sequence[Transform]

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for step in self.steps:
            sample = step(sample, rng)
        return sample


@dataclass(frozen=True)
class HorizontalFlip:
    """Mirror left-right with probability ``p`` (class ids unchanged: classes are not left/right)."""

    p: float = 0.5

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        return Sample(np.ascontiguousarray(sample.image[:, ::-1]), np.ascontiguousarray(sample.mask[:, ::-1]))


@dataclass(frozen=True)
class RandomRotation:
    """Rotate about the centre by U(-max_degrees, max_degrees) with probability ``p``; size kept.

    Uncovered corners get ``pad_value`` in the image and background (0) in the mask.
    """

    max_degrees: float = 15.0
    p: float = 0.5
    pad_value: int = 0

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        h, w = sample.mask.shape
        angle = float(rng.uniform(-self.max_degrees, self.max_degrees))
        m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)
        pad = (self.pad_value,) * 3
        image = cv2.warpAffine(sample.image, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=pad)
        mask = cv2.warpAffine(sample.mask, m, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
        return Sample(image, mask)


@dataclass(frozen=True)
class RandomScale:
    """Zoom by a factor s = exp(U(log min_scale, log max_scale)) about a random point.

    s > 1 zooms in: keeps a random (H/s, W/s) window. s < 1 zooms out: places the frame at a random spot
    of a (H/s, W/s) canvas of ``pad_value`` / background. The later letterbox brings it to the model size,
    so the infant appears s times larger or smaller in the model input.
    """

    min_scale: float = 0.7
    max_scale: float = 1.4
    pad_value: int = 0

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        s = math.exp(rng.uniform(math.log(self.min_scale), math.log(self.max_scale)))
        h, w = sample.mask.shape
        nh, nw = max(1, round(h / s)), max(1, round(w / s))
        if s >= 1.0:
            y0, x0 = int(rng.integers(0, h - nh + 1)), int(rng.integers(0, w - nw + 1))
            return Sample(sample.image[y0 : y0 + nh, x0 : x0 + nw], sample.mask[y0 : y0 + nh, x0 : x0 + nw])
        y0, x0 = int(rng.integers(0, nh - h + 1)), int(rng.integers(0, nw - w + 1))
        image = np.full((nh, nw, 3), self.pad_value, dtype=np.uint8)
        mask = np.zeros((nh, nw), dtype=np.uint8)
        image[y0 : y0 + h, x0 : x0 + w] = sample.image
        mask[y0 : y0 + h, x0 : x0 + w] = sample.mask
        return Sample(image, mask)


@dataclass(frozen=True)
class RandomCrop:
    """With probability ``p``, keep a random window whose height and width are each an independent
    U(min_fraction, 1) share of the frame's (changes the aspect ratio a little, too)."""

    min_fraction: float = 0.75
    p: float = 0.5

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        h, w = sample.mask.shape
        ch = max(1, round(h * rng.uniform(self.min_fraction, 1.0)))
        cw = max(1, round(w * rng.uniform(self.min_fraction, 1.0)))
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        return replace(
            sample,
            image=sample.image[y0 : y0 + ch, x0 : x0 + cw],
            mask=sample.mask[y0 : y0 + ch, x0 : x0 + cw],
        )


@dataclass(frozen=True)
class ColorJitter:
    """Random brightness, contrast and saturation factors in [1 - x, 1 + x] and a hue shift in
    [-hue, hue] (fraction of the colour circle), image only."""

    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.03

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        img = sample.image.astype(np.float32)
        img *= rng.uniform(1 - self.brightness, 1 + self.brightness)
        gray = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        c = rng.uniform(1 - self.contrast, 1 + self.contrast)
        img = (img - gray.mean()) * c + gray.mean()
        gray = (img @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
        sat = rng.uniform(1 - self.saturation, 1 + self.saturation)
        img = (img - gray) * sat + gray
        out = np.clip(img, 0, 255).astype(np.uint8)
        if self.hue > 0:
            hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
            shift = round(rng.uniform(-self.hue, self.hue) * 180)
            hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
            out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        return replace(sample, image=out)


@dataclass(frozen=True)
class GaussianBlur:
    """With probability ``p``, blur the image with sigma U(min_sigma, max_sigma) pixels."""

    p: float = 0.2
    min_sigma: float = 0.3
    max_sigma: float = 1.5

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        sigma = float(rng.uniform(self.min_sigma, self.max_sigma))
        return replace(sample, image=cv2.GaussianBlur(sample.image, (0, 0), sigma))


@dataclass(frozen=True)
class RandomErasing:
    """With probability ``p``, cover 1..``max_patches`` random rectangles of the image (each ``area``
    fraction of the image, aspect ratio within ``aspect`` and its inverse, placed anywhere) with noise, a
    solid colour or a block of shuffled image pixels — a stand-in for the blankets, hands, toys and cards of
    real footage. With ``erase_mask`` the covered mask pixels become background (0: covered parts are not
    labelled, as in the generator); without it the mask is kept (keypoint targets stay where the joints are)."""

    p: float = 0.5
    max_patches: int = 2
    area: tuple[float, float] = (0.02, 0.12)
    aspect: float = 3.0
    erase_mask: bool = True

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        image, mask = sample.image.copy(), sample.mask.copy()
        h, w = image.shape[:2]
        for _ in range(int(rng.integers(1, self.max_patches + 1))):
            area = float(rng.uniform(*self.area)) * h * w
            ratio = math.exp(float(rng.uniform(-math.log(self.aspect), math.log(self.aspect))))
            ph = max(1, min(h, round(math.sqrt(area / ratio))))
            pw = max(1, min(w, round(math.sqrt(area * ratio))))
            y0, x0 = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
            kind = int(rng.integers(3))
            if kind == 0:
                patch = rng.integers(0, 256, (ph, pw, 3), dtype=np.uint8)
            elif kind == 1:
                patch = np.broadcast_to(rng.integers(0, 256, 3, dtype=np.uint8), (ph, pw, 3))
            else:
                flat = image.reshape(-1, 3)
                patch = flat[rng.integers(0, len(flat), ph * pw)].reshape(ph, pw, 3)
            image[y0 : y0 + ph, x0 : x0 + pw] = patch
            if self.erase_mask:  # the mask has the image's size whenever it is erased
                mask[y0 : y0 + ph, x0 : x0 + pw] = 0
        return Sample(image, mask)


@dataclass(frozen=True)
class ToModelInput:
    """Letterbox into ``spec.input_hw`` and normalise, exactly as :class:`pipeline.infer.preprocess.Preprocessor`.

    Returns (image float32 (3, in_h, in_w), mask int64 (in_h, in_w)); padding is background (0) in the mask.
    """

    spec: ModelSpec

    def __call__(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        box = compute_letterbox(sample.mask.shape[:2], self.spec.input_hw, self.spec.letterbox)
        canvas = letterbox_image(sample.image, box, self.spec.pad_value)
        mask = letterbox_image(sample.mask, box, 0, interpolation=cv2.INTER_NEAREST)
        return normalize(canvas, self.spec.mean, self.spec.std), mask.astype(np.int64)


@dataclass(frozen=True)
class PairTransform:
    """Augmentations (may be empty) followed by :class:`ToModelInput`."""

    augment: Compose
    final: ToModelInput

    def __call__(self, sample: Sample, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self.final(self.augment(sample, rng))


def train_transform(spec: ModelSpec) -> PairTransform:
    """The default training augmentation for a model described by ``spec``."""
    pad = spec.pad_value
    steps: list[Transform] = [
        HorizontalFlip(0.5),
        RandomRotation(15.0, 0.5, pad),
        RandomScale(0.7, 1.4, pad),
        RandomCrop(0.75, 0.5),
        ColorJitter(0.3, 0.3, 0.3, 0.03),
        GaussianBlur(0.2),
        RandomErasing(0.5),
    ]
    return PairTransform(Compose(steps), ToModelInput(spec))


def eval_transform(spec: ModelSpec) -> PairTransform:
    """No augmentation: letterbox + normalise only (the pipeline's preprocessing)."""
    return PairTransform(Compose(()), ToModelInput(spec))
