"""Writing a prepared keypoint dataset (:mod:`trainer.pose.layout`) whole: everything goes into a hidden
temporary folder beside ``OUT`` that is renamed to ``OUT`` only when complete, so a failed or interrupted
``prepare`` leaves ``OUT`` as it was. ``--force`` replaces an ``OUT`` that holds a prepared dataset
(keypoints or segmentation) and nothing else; a folder holding other files, or the source data, is never
replaced.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pipeline.contract.keypoints import NOT_LABELLED, KeypointSet
from pipeline.errors import ConfigError
from trainer.pose.layout import CATEGORY_ID, SPLITS, coco_document, images_dir, write_split
from trainer.pose.source import SourceImage, clip_bbox, points_bbox

PREPARED_ENTRIES: Final = frozenset(
    {"images", "annotations", "masks", "splits", "unlabelled", "dataset.json"}
)
"""What a prepared dataset folder may hold (this layout's and the segmentation layout's)."""


def check_out(out: Path, force: bool, sources: list[Path]) -> None:
    """Refuse an ``out`` that must not be (re)written.

    Raises:
        ConfigError: ``out`` holds the source data, holds a dataset and ``force`` is False, or holds
            anything that is not a prepared dataset.
    """
    target = out.resolve()
    for src in sources:
        s = src.resolve()
        if s == target or target in s.parents or s in target.parents:
            raise ConfigError(f"--out: {out} overlaps the source data {src}; choose another folder")
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"--out: {out} is not a folder")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    other = [e for e in entries if e not in PREPARED_ENTRIES]
    if other:
        raise ConfigError(
            f"--out: {out} holds other files ({other[0]}); not replacing it, choose another folder"
        )
    if not force:
        raise ConfigError(f"{out}: already holds a prepared dataset; use --force to replace it")


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A fresh temporary folder beside ``out``; on normal exit it replaces ``out``, on error it is removed.

    Call :func:`check_out` first.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # what mkdir would give (mkdtemp makes it 0700)
        yield tmp
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old)
        try:
            os.replace(tmp, out)
        except BaseException:
            if old is not None:
                os.replace(old, out)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True)
class SplitCount:
    """What one split received: images, instances (annotations) and groups (videos/subjects)."""

    images: int
    instances: int
    groups: int


class LayoutWriter:
    """Builds the layout in ``root`` (the staging folder): images as they come, documents at the end."""

    def __init__(self, root: Path, keypoint_set: KeypointSet, source: str) -> None:
        self.root = root
        self.keypoint_set = keypoint_set
        self.source = source
        self._images: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
        self._annotations: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}

    def add(self, split: str, image: SourceImage) -> None:
        """Write ``image`` to ``images/<split>/<image.name>`` and record its entry and instances."""
        file_name = f"{split}/{image.name}"
        dest = images_dir(self.root) / file_name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if image.image_bytes is not None:
            dest.write_bytes(image.image_bytes)
        elif image.image_path is not None:
            shutil.copyfile(image.image_path, dest)
        images, anns = self._images[split], self._annotations[split]
        image_id = len(images) + 1
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "width": image.width,
                "height": image.height,
                "video": image.group,
                "is_synthetic": image.is_synthetic,
            }
        )
        for inst in image.instances:
            kp = inst.keypoints
            box = points_bbox(kp, image.width, image.height)
            if inst.bbox is not None:
                box = clip_bbox(inst.bbox, image.width, image.height)
            flat: list[float | int] = []
            for x, y, v in kp.tolist():
                flat += [0, 0, NOT_LABELLED] if v <= 0 else [x, y, int(v)]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": CATEGORY_ID,
                    "keypoints": flat,
                    "num_keypoints": int((kp[:, 2] > 0).sum()),
                    "bbox": list(box),
                    "area": inst.area if inst.area is not None else box[2] * box[3],
                    "iscrowd": 0,
                    "is_synthetic": inst.is_synthetic,
                }
            )

    def finish(self, info: dict[str, Any]) -> dict[str, SplitCount]:
        """Write every split's annotation file (``info`` added to each document's ``info``)."""
        counts = {}
        for split in SPLITS:
            doc = coco_document(self.keypoint_set, self.source, self._images[split], self._annotations[split])
            doc["info"].update(info)
            write_split(self.root, split, doc)
            counts[split] = SplitCount(
                images=len(self._images[split]),
                instances=len(self._annotations[split]),
                groups=len({im["video"] for im in self._images[split]}),
            )
        return counts
