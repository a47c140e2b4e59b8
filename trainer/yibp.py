"""Reading the Youtube-Infant-Body-Parsing (YIBP) annotation files (docs/trainer.md).

Each ``*_label.json`` / ``*_unlabel.json`` is a dict keyed by a 7-digit video id; each value is a list of
``{"image": "<video7><frame6>.jpg", "label": "<base64 PNG>"}`` (unlabelled entries have no ``label``).
Images live in ``all_data/``. A label PNG is a palette image: it is decoded to RGB and mapped to class
ids by EXACT colour (:data:`pipeline.contract.classes.CLASS_COLORS_RGB`); palette indices are never trusted.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline.contract.classes import CLASS_COLORS_RGB
from pipeline.errors import DatasetError

IMAGE_DIR = "all_data"
LABELLED_FILES = {"train": "train_label.json", "test": "test_label.json"}
UNLABELLED_FILES = {"train": "train_unlabel.json", "test": "test_unlabel.json"}
_NAME = re.compile(r"^(\d{7})(\d{6})\.jpg$")


@dataclass(frozen=True)
class Entry:
    """One annotated (or unlabelled) frame of a YIBP JSON file.

    Attributes:
        json_name: the file it came from (e.g. ``train_label.json``), for error messages.
        video: 7-digit video id (the JSON key).
        image: image file name inside ``all_data/`` (``<video7><frame6>.jpg``).
        label_b64: the base64 PNG text, or None for an unlabelled entry.
    """

    json_name: str
    video: str
    image: str
    label_b64: str | None

    @property
    def where(self) -> str:
        """``file: entry video/image``, the prefix of every error about this entry."""
        return f"{self.json_name}: entry {self.video}/{self.image}"

    @property
    def stem(self) -> str:
        """The image name without extension; the key of this frame in a prepared dataset."""
        return Path(self.image).stem


def read_entries(path: Path, labelled: bool) -> list[Entry]:
    """All entries of one YIBP JSON file, in file order.

    Args:
        path: the JSON file.
        labelled: True for ``*_label.json`` (every entry must carry a ``label``).
    Raises:
        DatasetError: unreadable JSON, wrong structure, a bad image name or a missing label.
    """
    name = path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{name}: expected a dict keyed by video id, got {type(data).__name__}")
    entries: list[Entry] = []
    for video, items in data.items():
        if not re.fullmatch(r"\d{7}", str(video)):
            raise DatasetError(f"{name}: key {video!r} is not a 7-digit video id")
        if not isinstance(items, list):
            raise DatasetError(f"{name}: video {video}: expected a list of entries")
        for i, item in enumerate(items):
            image = item.get("image") if isinstance(item, dict) else None
            if not isinstance(image, str):
                raise DatasetError(f"{name}: entry {video}[{i}]: no 'image' name")
            match = _NAME.match(image)
            if match is None or match.group(1) != video:
                raise DatasetError(f"{name}: entry {video}/{image}: image name must be {video}<6 digits>.jpg")
            label = item.get("label")
            if labelled and not isinstance(label, str):
                raise DatasetError(f"{name}: entry {video}/{image}: no 'label' in a labelled file")
            entries.append(Entry(name, video, image, label if isinstance(label, str) else None))
    return entries


def iter_json_files(root: Path) -> Iterator[tuple[str, Path, bool]]:
    """(split, path, labelled) of the YIBP JSON files present under ``root`` (labelled ones required).

    Raises:
        DatasetError: ``train_label.json`` or ``test_label.json`` is missing.
    """
    for split, file in LABELLED_FILES.items():
        path = root / file
        if not path.is_file():
            raise DatasetError(f"{path}: missing (expected a Youtube-Infant-Body-Parsing root)")
        yield split, path, True
    for split, file in UNLABELLED_FILES.items():
        path = root / file
        if path.is_file():
            yield split, path, False


def decode_label_rgb(entry: Entry) -> np.ndarray:
    """The entry's label PNG as RGB (H, W, 3) uint8, whatever its PNG mode (palette, RGB, RGBA, L).

    Raises:
        DatasetError: no label, not base64, or not a decodable image.
    """
    if entry.label_b64 is None:
        raise DatasetError(f"{entry.where}: no label")
    text = entry.label_b64
    if text.startswith("data:") and "," in text:  # tolerate a data-URL prefix
        text = text.split(",", 1)[1]
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DatasetError(f"{entry.where}: label is not valid base64 ({exc})") from None
    try:
        with Image.open(io.BytesIO(raw)) as img:
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{entry.where}: label is not a decodable PNG ({exc})") from None
    return rgb


def rgb_to_class_ids(rgb: np.ndarray, where: str) -> np.ndarray:
    """Map an RGB label (H, W, 3) uint8 to class ids (H, W) uint8 by exact colour.

    Raises:
        DatasetError: some pixels have a colour outside the class table; the message names the
            most frequent such colour, its pixel count and how many pixels are unknown in all.
    """
    codes = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    ids = np.zeros(codes.shape, dtype=np.uint8)
    known = np.zeros(codes.shape, dtype=bool)
    for class_id, (r, g, b) in enumerate(CLASS_COLORS_RGB):
        hit = codes == ((r << 16) | (g << 8) | b)
        ids[hit] = class_id
        known |= hit
    if not known.all():
        colours, counts = np.unique(codes[~known], return_counts=True)
        top = int(np.argmax(counts))
        c = int(colours[top])
        others = f" (+{len(colours) - 1} other unknown colours)" if len(colours) > 1 else ""
        raise DatasetError(
            f"{where}: unknown label colour RGB({c >> 16}, {(c >> 8) & 255}, {c & 255}) in "
            f"{int(counts[top])} pixels{others}; {int(counts.sum())} of {codes.size} pixels unknown"
        )
    return ids


def decode_label(entry: Entry) -> np.ndarray:
    """The entry's label as class ids (H, W) uint8, 0..NUM_CLASSES-1 (see :func:`rgb_to_class_ids`)."""
    return rgb_to_class_ids(decode_label_rgb(entry), entry.where)


def image_size(path: Path, where: str) -> tuple[int, int]:
    """(height, width) of a JPEG from its header only.

    Raises:
        DatasetError: missing or unreadable image (``where`` names the entry).
    """
    if not path.is_file():
        raise DatasetError(f"{where}: image {path} not found")
    try:
        with Image.open(path) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{where}: image {path} is not readable ({exc})") from None
    return height, width
