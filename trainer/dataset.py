"""A torch Dataset over one split of a prepared dataset (:mod:`trainer.layout`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from pipeline.contract.classes import NUM_CLASSES
from pipeline.errors import DatasetError
from trainer.layout import Layout, load_mask, load_rgb
from trainer.transforms import PairTransform, Sample


class SegmentationDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Frames of ``split`` as (image float32 (3, in_h, in_w), mask int64 (in_h, in_w)) tensor pairs.

    Randomness: item ``i`` in epoch ``e`` draws from ``np.random.default_rng([seed, e, i])``, so a run is
    reproducible whatever the number of DataLoader workers. The index is either ``i`` (epoch from
    :meth:`set_epoch`) or an ``(e, i)`` pair from :class:`EpochSampler`, which also reaches persistent
    worker processes (they hold their own copy of the dataset, so ``set_epoch`` would not).
    """

    def __init__(self, data: Path, split: str, transform: PairTransform, seed: int = 0) -> None:
        self.layout = Layout(data)
        self.split = split
        self.stems = self.layout.read_split(split)
        self.transform = transform
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of ``epoch`` (0-based)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.stems)

    def load(self, index: int) -> Sample:
        """The raw frame and mask (original size) of item ``index``.

        Raises:
            DatasetError: missing/unreadable files, or mask and image sizes differ.
        """
        stem = self.stems[index]
        image = load_rgb(self.layout.image(stem))
        mask = load_mask(self.layout.mask(stem))
        if image.shape[:2] != mask.shape:
            raise DatasetError(
                f"{self.layout.mask(stem)}: mask size {mask.shape} != image size {image.shape[:2]}"
            )
        return Sample(image, mask)

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        rng = np.random.default_rng([self.seed, epoch, index])
        x, y = self.transform(self.load(index), rng)
        return torch.from_numpy(x), torch.from_numpy(y)


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` for a permutation of ``range(size)`` fixed by (seed, epoch).

    The order of an epoch therefore does not depend on what ran before it (a resumed run sees the same
    order as an uninterrupted one). Call :meth:`set_epoch` before iterating.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = np.random.default_rng([self.seed, self.epoch, 1]).permutation(self.size)
        return iter([(self.epoch, int(i)) for i in order])


def class_pixel_counts(data: Path, split: str) -> np.ndarray:
    """Pixels per class over all masks of ``split`` at their original size: (NUM_CLASSES,) int64."""
    layout = Layout(data)
    total = np.zeros(NUM_CLASSES, dtype=np.int64)
    for stem in layout.read_split(split):
        total += np.bincount(load_mask(layout.mask(stem)).ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES]
    return total


def balanced_class_weights(counts: np.ndarray) -> np.ndarray:
    """Cross-entropy weights ∝ 1/sqrt(class frequency), normalised to mean 1: (C,) float32.

    Absent classes get the largest weight of the present ones (they cannot dominate a loss they never
    appear in).
    """
    freq = counts.astype(np.float64) / max(int(counts.sum()), 1)
    w = np.zeros_like(freq)
    present = freq > 0
    if not present.any():
        return np.ones_like(freq, dtype=np.float32)
    w[present] = 1.0 / np.sqrt(freq[present])
    w[~present] = w[present].max()
    return (w / w.mean()).astype(np.float32)
