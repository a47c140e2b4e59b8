"""The prepared keypoint dataset that ``prepare --format nycu|coco`` writes and ``verify``, training and
evaluation read: one layout, COCO keypoints JSON, whatever the source.

::

    OUT/images/<split>/<relative path>.jpg      the source's images (copied, or decoded from imageData)
    OUT/annotations/train.json                  COCO keypoints format (also val.json, test.json)

Each annotation file::

    {"info": {"source": "NYCU infant keypoints", "keypoint_set": "nycu22"},
     "images": [{"id": 1, "file_name": "train/001/001_00000012.jpg", "width": 640, "height": 480,
                 "video": "001", "is_synthetic": false}],
     "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": [x, y, v, ...],
                      "num_keypoints": 20, "bbox": [x, y, w, h], "area": 1234.0, "iscrowd": 0}],
     "categories": [{"id": 1, "name": "infant", "supercategory": "person",
                     "keypoints": ["Head", ...], "skeleton": [[1, 4], ...]}]}

* ``file_name`` is relative to ``OUT/images``; ``video`` is the group a split must never cut (video id,
  subject, or the image itself when the source has no grouping).
* ``keypoints`` are pixels of the image (x right, y down, pixel centres at integer coordinates) with COCO
  visibility: 2 visible, 1 labelled but occluded, 0 not labelled (x = y = 0). ``num_keypoints`` counts v > 0.
* ``bbox`` [x, y, w, h] is the infant's body box: the foreground of the segmentation mask when the source
  has one (synthetic data: exactly what the streaming pipeline crops on), otherwise the labelled points'
  extent (training pads and jitters it).
* ``skeleton`` is 1-based, as COCO stores it; the category's ``keypoints`` are the source's own names
  (22 for NYCU, 17 for COCO/SyRIP).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from pipeline.contract.keypoints import KeypointSet, keypoint_set_for
from pipeline.errors import DatasetError
from pipeline.files import write_whole

SPLITS: Final = ("train", "val", "test")
CATEGORY_ID: Final = 1


@dataclass(frozen=True)
class KeypointSample:
    """One labelled infant in one image.

    Attributes:
        image_path: absolute path of the image file.
        width, height: image size in pixels.
        video: the split group (video / subject id).
        keypoints: (K, 3) float32 [x, y, v] in image pixels, v ∈ {0, 1, 2}.
        bbox: (x, y, w, h) body box in image pixels.
        is_synthetic: the image comes from a generator.
        image_id: the image's id in its annotation file.
    """

    image_path: Path
    width: int
    height: int
    video: str
    keypoints: np.ndarray
    bbox: tuple[float, float, float, float]
    is_synthetic: bool
    image_id: int


@dataclass(frozen=True)
class KeypointSplit:
    """One split of a prepared keypoint dataset: its keypoint set and its samples."""

    split: str
    keypoint_set: KeypointSet
    samples: tuple[KeypointSample, ...]
    source: str


def annotation_path(root: Path, split: str) -> Path:
    """``root/annotations/<split>.json``."""
    return root / "annotations" / f"{split}.json"


def images_dir(root: Path) -> Path:
    """``root/images``: ``file_name`` of every image is relative to it."""
    return root / "images"


def coco_document(
    keypoint_set: KeypointSet, source: str, images: list[dict[str, Any]], annotations: list[dict[str, Any]]
) -> dict[str, Any]:
    """The COCO keypoints JSON document of one split (see the module docstring)."""
    return {
        "info": {"source": source, "keypoint_set": keypoint_set.name},
        "images": images,
        "annotations": annotations,
        "categories": [
            {
                "id": CATEGORY_ID,
                "name": "infant",
                "supercategory": "person",
                "keypoints": list(keypoint_set.names),
                "skeleton": keypoint_set.coco_skeleton(),
            }
        ],
    }


def write_split(root: Path, split: str, document: dict[str, Any]) -> Path:
    """Write one split's document whole (never half-written); returns its path."""
    path = annotation_path(root, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(document).encode("utf-8")
    write_whole(path, lambda f: f.write(data))
    return path


def _keypoint_set_of(doc: dict[str, Any], where: Path) -> KeypointSet:
    cats = doc.get("categories")
    if not isinstance(cats, list) or not cats or not isinstance(cats[0], dict):
        raise DatasetError(f"{where}: categories: need one category with keypoints")
    names = cats[0].get("keypoints")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DatasetError(f"{where}: categories[0].keypoints: need a list of names, got {names!r}")
    known = keypoint_set_for(names)
    if known is not None:
        return known
    skeleton = cats[0].get("skeleton") or []
    try:
        edges = tuple((int(i) - 1, int(j) - 1) for i, j in skeleton)
        return KeypointSet(name="custom", names=tuple(names), skeleton=edges, sides=("",) * len(names))
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{where}: categories[0].skeleton: {e}") from None


def read_split(root: Path, split: str) -> KeypointSplit:
    """Read ``root/annotations/<split>.json`` into samples (one per annotation).

    Raises:
        DatasetError: the file is missing or malformed (names the file and the field).
    """
    path = annotation_path(root, split)
    if not path.is_file():
        raise DatasetError(
            f"{path}: no such annotation file (run `infant-stream prepare --format nycu|coco`)"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: not a readable JSON file: {e}") from None
    kset = _keypoint_set_of(doc, path)
    k = kset.num_keypoints
    images: dict[int, dict[str, Any]] = {}
    for i, im in enumerate(doc.get("images") or []):
        try:
            images[int(im["id"])] = im
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{path}: images[{i}]: need an integer id") from None
    samples = []
    for i, ann in enumerate(doc.get("annotations") or []):
        where = f"{path}: annotations[{i}]"
        try:
            im = images[int(ann["image_id"])]
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{where}.image_id: no such image") from None
        kp = ann.get("keypoints")
        if not isinstance(kp, list) or len(kp) != 3 * k:
            raise DatasetError(
                f"{where}.keypoints: need {3 * k} numbers, got {len(kp) if isinstance(kp, list) else kp!r}"
            )
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise DatasetError(f"{where}.bbox: need [x, y, w, h], got {bbox!r}")
        try:
            samples.append(
                KeypointSample(
                    image_path=images_dir(root) / str(im["file_name"]),
                    width=int(im["width"]),
                    height=int(im["height"]),
                    video=str(im.get("video", im["id"])),
                    keypoints=np.asarray(kp, dtype=np.float32).reshape(k, 3),
                    bbox=(float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])),
                    is_synthetic=bool(im.get("is_synthetic", ann.get("is_synthetic", False))),
                    image_id=int(im["id"]),
                )
            )
        except (KeyError, TypeError, ValueError) as e:
            raise DatasetError(f"{where}: malformed ({e})") from None
    source = str((doc.get("info") or {}).get("source", "unknown"))
    return KeypointSplit(split=split, keypoint_set=kset, samples=tuple(samples), source=source)
