"""Unlabelled target-domain images for domain adaptation (``train --unlabelled DIR``): which files, how an
item is made, and the endless order they are drawn in.

What ``DIR`` may be (:func:`find_unlabelled`):

* any folder of frames: every ``.jpg``/``.jpeg``/``.png`` below it (recursively, sorted by path), e.g. frames
  saved from the user's own cameras, or the output of ``infant-stream synth ... --randomize --families ...``;
* a prepared segmentation layout (``DIR/splits/`` exists, :mod:`trainer.layout`): the frames listed in
  ``splits/unlabelled.txt`` (YIBP's unlabelled frames of the *training* videos, in ``DIR/unlabelled/``), or,
  without that list, the frames of ``splits/train.txt`` (their masks are not read);
* the ``unlabelled`` folder of a prepared layout: the frames ``splits/unlabelled.txt`` lists (those of
  validation and test videos, which ``prepare`` keeps in the same folder, are left out);
* a prepared keypoint layout (``DIR/annotations/train.json``): every image below ``DIR/images/train``.

Items are normalised model inputs made by the task's own preprocessing (:class:`SegmentationFrameInput`
here, :class:`trainer.pose.unlabelled.PoseFrameInput` for keypoints). Randomness: item ``k`` of the stream
is image ``order[c][k mod N]`` of cycle ``c = k // N`` (a permutation fixed by (seed, c)) and draws its
augmentation from ``np.random.default_rng([seed, c, index, 2])``: the stream depends only on the seed and
the position ``k``, which a checkpoint saves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from pipeline.errors import DatasetError
from trainer.layout import UNLABELLED, Layout, load_rgb
from trainer.transforms import PairTransform, Sample

log = logging.getLogger(__name__)

IMAGE_SUFFIXES: Final = (".jpg", ".jpeg", ".png")
ORDER_SALT: Final = 3
ITEM_SALT: Final = 2


@dataclass(frozen=True)
class UnlabelledImages:
    """The target-domain image files (absolute paths, fixed order) and a one-line account of them."""

    paths: tuple[Path, ...]
    description: str


def find_unlabelled(folder: Path) -> UnlabelledImages:
    """The images of ``--unlabelled`` ``folder`` (rules in the module docstring).

    Raises:
        DatasetError: the folder does not exist, holds no image, or a listed frame is missing (one line).
    """
    if not folder.is_dir():
        raise DatasetError(f"--unlabelled: {folder}: no such folder")
    listed = _listed_frames(folder)
    if listed is not None:
        paths, what = listed
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DatasetError(f"--unlabelled: {missing[0]}: listed in {what} but missing")
    else:
        root = folder / "images" / "train" if (folder / "annotations" / "train.json").is_file() else folder
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        what = f"images below {root}"
    if not paths:
        raise DatasetError(
            f"--unlabelled: {folder}: no {'/'.join(IMAGE_SUFFIXES)} images in it (searched recursively)"
        )
    return UnlabelledImages(tuple(p.resolve() for p in paths), f"{len(paths)} unlabelled frames ({what})")


def _listed_frames(folder: Path) -> tuple[list[Path], str] | None:
    """(frames, the list file) when ``folder`` is a prepared segmentation layout or its unlabelled folder."""
    if (folder / "splits").is_dir():
        layout = Layout(folder)
        if layout.split_file(UNLABELLED).is_file() and layout.read_split(UNLABELLED):
            stems = layout.read_split(UNLABELLED)
            return [layout.unlabelled / f"{s}.jpg" for s in stems], str(layout.split_file(UNLABELLED))
        stems = layout.read_split("train")
        return [layout.image(s) for s in stems], str(layout.split_file("train"))
    parent = Layout(folder.parent)
    if folder.name == UNLABELLED and parent.split_file(UNLABELLED).is_file():
        stems = parent.read_split(UNLABELLED)
        return [folder / f"{s}.jpg" for s in stems], str(parent.split_file(UNLABELLED))
    return None


FrameInput = Callable[[np.ndarray, np.random.Generator], np.ndarray]
"""RGB frame (H, W, 3) uint8 and a generator → normalised model input (3, in_h, in_w) float32 (picklable:
DataLoader workers are spawned)."""


@dataclass(frozen=True)
class SegmentationFrameInput:
    """The segmentation training transform (:func:`trainer.transforms.train_transform`: flip, rotation, scale,
    crop, colour jitter, blur, erasing, letterbox, normalisation) applied to a frame with no mask: it is run
    with an all-background stand-in mask, which is then dropped."""

    transform: PairTransform

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x, _ = self.transform(Sample(image, np.zeros(image.shape[:2], np.uint8)), rng)
        return x


class UnlabelledDataset(Dataset[torch.Tensor]):
    """Items: normalised model inputs (3, in_h, in_w) float32 of the unlabelled frames.

    Index ``(cycle, i)`` (from :class:`UnlabelledSampler`) loads ``paths[i]`` and prepares it with
    ``frame_input`` and ``np.random.default_rng([seed, cycle, i, 2])``; a plain ``i`` means cycle 0.
    """

    def __init__(self, paths: Sequence[Path], frame_input: FrameInput, seed: int = 0) -> None:
        self.paths = list(paths)
        self.frame_input = frame_input
        self.seed = seed

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int | tuple[int, int]) -> torch.Tensor:
        cycle, i = index if isinstance(index, tuple) else (0, index)
        rng = np.random.default_rng([self.seed, cycle, i, ITEM_SALT])
        return torch.from_numpy(self.frame_input(load_rgb(self.paths[i]), rng))


class UnlabelledSampler(Sampler[tuple[int, int]]):
    """Endless ``(cycle, index)`` stream over ``range(size)`` from position ``start`` (items drawn so far):
    item k is ``(k // size, order[k // size][k % size])``, ``order[c]`` a permutation fixed by (seed, c)."""

    def __init__(self, size: int, seed: int = 0, start: int = 0) -> None:
        if size < 1 or start < 0:
            raise ValueError(f"UnlabelledSampler: need size >= 1 and start >= 0, got {size}, {start}")
        self.size = size
        self.seed = seed
        self.start = start

    def order(self, cycle: int) -> np.ndarray:
        """The permutation (size,) int64 of ``cycle``."""
        return np.random.default_rng([self.seed, cycle, ORDER_SALT]).permutation(self.size)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        cycle, offset = divmod(self.start, self.size)
        while True:
            order = self.order(cycle)
            for k in range(offset, self.size):
                yield cycle, int(order[k])
            cycle, offset = cycle + 1, 0
