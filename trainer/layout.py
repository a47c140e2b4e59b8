"""The prepared dataset folder that ``prepare`` writes and ``verify``, training and evaluation read.

::

    DATA/images/<stem>.jpg       RGB frames (JPEG, copied byte for byte from the source)
    DATA/masks/<stem>.png        single-channel uint8 PNG, class ids 0..NUM_CLASSES-1, same size as the image
    DATA/splits/train.txt        one stem per line (also val.txt, test.txt)
    DATA/splits/unlabelled.txt   stems of frames without labels, images in DATA/unlabelled/<stem>.jpg
    DATA/dataset.json            what the data is (source, counts); optional for hand-made datasets

A stem is ``<video7><frame6>`` for YIBP data; the video id of a frame is the first 7 characters of its stem
(:func:`video_of`). Other datasets in this layout (e.g. synthetic) only need unique stems.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np

from pipeline.errors import DatasetError

SPLITS: Final = ("train", "val", "test")
UNLABELLED: Final = "unlabelled"
VIDEO_ID_LEN: Final = 7


def video_of(stem: str) -> str:
    """Video id of a frame stem (its first 7 characters)."""
    return stem[:VIDEO_ID_LEN]


@dataclass(frozen=True)
class Layout:
    """Paths of a prepared dataset rooted at ``root``."""

    root: Path

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def masks(self) -> Path:
        return self.root / "masks"

    @property
    def splits(self) -> Path:
        return self.root / "splits"

    @property
    def unlabelled(self) -> Path:
        return self.root / "unlabelled"

    @property
    def info(self) -> Path:
        return self.root / "dataset.json"

    def image(self, stem: str) -> Path:
        return self.images / f"{stem}.jpg"

    def mask(self, stem: str) -> Path:
        return self.masks / f"{stem}.png"

    def split_file(self, split: str) -> Path:
        return self.splits / f"{split}.txt"

    def read_split(self, split: str) -> list[str]:
        """Stems listed in ``splits/<split>.txt`` (blank lines ignored), in file order.

        Raises:
            DatasetError: the split file does not exist.
        """
        path = self.split_file(split)
        if not path.is_file():
            raise DatasetError(f"{path}: split file missing (run `infant-stream prepare` first)")
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def write_split(self, split: str, stems: list[str]) -> None:
        """Write ``splits/<split>.txt``, one stem per line."""
        self.splits.mkdir(parents=True, exist_ok=True)
        self.split_file(split).write_text("".join(f"{s}\n" for s in stems), encoding="utf-8")

    def read_info(self) -> dict[str, Any]:
        """``dataset.json`` as a dict; empty when the dataset has none."""
        if not self.info.is_file():
            return {}
        try:
            data = json.loads(self.info.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{self.info}: not valid JSON: {exc}") from None
        return data if isinstance(data, dict) else {}

    def describe(self) -> str:
        """One line saying what this dataset is, for model metadata."""
        info = self.read_info()
        source = info.get("source", f"dataset at {self.root}")
        counts = info.get("frames", {})
        if isinstance(counts, dict) and counts:
            parts = ", ".join(f"{k} {v}" for k, v in counts.items() if k in SPLITS)
            return f"{source} ({parts} frames)"
        return str(source)


def load_rgb(path: Path) -> np.ndarray:
    """Read an image file as RGB (H, W, 3) uint8.

    Raises:
        DatasetError: missing or undecodable file.
    """
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"{path}: missing or not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_mask(path: Path) -> np.ndarray:
    """Read a class-id mask PNG as (H, W) uint8.

    Raises:
        DatasetError: missing, undecodable, or not single-channel 8-bit.
    """
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise DatasetError(f"{path}: missing or not a readable PNG")
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise DatasetError(f"{path}: mask must be single-channel 8-bit, got shape {mask.shape} {mask.dtype}")
    return mask


def save_mask(path: Path, mask: np.ndarray) -> None:
    """Write a (H, W) uint8 class-id mask as a lossless single-channel PNG."""
    if not cv2.imwrite(str(path), mask):
        raise DatasetError(f"{path}: cannot write mask")
