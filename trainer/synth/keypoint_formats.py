"""Write synthetic keypoint frames in the NYCU (LabelMe) and COCO/SyRIP layouts (docs/trainer.md).

NYCU layout under ``out``::

    {Train,Valid,Test}/img/VVV_FFFFFFFF.jpg
    {Train,Valid,Test}/ann/VVV_FFFFFFFF.json     LabelMe 4.5.6, one point shape per labelled keypoint

Each LabelMe file is ``{"version": "4.5.6", "flags": {}, "shapes": [{"label": NAME, "points": [[x, y]],
"group_id": null, "shape_type": "point", "flags": {}}, ...], "imagePath": "../img/VVV_FFFFFFFF.jpg",
"imageData": null, "imageHeight": H, "imageWidth": W, "infant_stream": {"bbox": [x, y, w, h],
"visibility": {NAME: v, ...}}}``: shapes in NYCU-22 order, only points with ``v > 0`` (a missing label =
outside the image). ``infant_stream`` (ignored by LabelMe) keeps what LabelMe cannot: the body box and the
0/1/2 flag of all 22 points.

COCO layout under ``out``::

    annotations/person_keypoints_{train,val,test}_infant.json
    images/{train,val,test}_infant/VVV_FFFFFFFF.jpg

COCO keypoints documents (:func:`trainer.pose.layout.coco_document`, COCO-17 names): images carry ``id``,
``file_name`` (relative to their ``images/<split>_infant`` folder), ``width``, ``height``, ``video`` (VVV)
and ``is_synthetic: true``; one annotation per image with ``keypoints`` [x, y, v] x 17 (``x = y = 0`` where
``v = 0``), ``num_keypoints`` (points with ``v > 0``), ``bbox``, ``area``, ``iscrowd: 0``.

Boxes, both layouts: ``[x, y, w, h]`` covering every infant pixel of the exact label map (all non-background
classes) in pixel-centre coordinates, i.e. ``[x0 - 0.5, y0 - 0.5, x1 - x0, y1 - y0]`` for the first/last+1
infant column x0/x1 and row y0/y1; ``area`` is the number of infant pixels. Points and boxes are rounded to
0.01 px.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pipeline.contract.keypoints import COCO17
from pipeline.files import write_whole
from trainer.pose.layout import CATEGORY_ID, SPLITS, coco_document
from trainer.synth.joints import BodyKeypoints

U8 = npt.NDArray[np.uint8]

NYCU_SPLIT_DIRS: Final[dict[str, str]] = {"train": "Train", "val": "Valid", "test": "Test"}
LABELME_VERSION: Final[str] = "4.5.6"
COCO_SOURCE: Final[str] = "infant-stream synthetic keypoints"


@dataclass(frozen=True, eq=False)
class KeypointFrame:
    """One generated frame with its truth.

    ``image``: (H, W, 3) uint8 RGB; ``bbox``: (x, y, w, h) infant box in pixels (module doc); ``area``: infant
    pixel count; ``nycu``/``coco``: the NYCU-22 and COCO-17 keypoints (:mod:`trainer.synth.joints`).
    """

    video: str
    frame: int
    image: U8
    bbox: tuple[float, float, float, float]
    area: int
    nycu: BodyKeypoints
    coco: BodyKeypoints

    @property
    def stem(self) -> str:
        """``VVV_FFFFFFFF``: the file name of the frame's image and annotation, without extension."""
        return f"{self.video}_{self.frame:08d}"

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


def foreground_box(labels: U8) -> tuple[tuple[float, float, float, float], int]:
    """((x, y, w, h), area) of the non-zero pixels of a (H, W) label map (module doc); ((0, 0, 0, 0), 0)
    when there are none."""
    cols = np.flatnonzero(labels.any(axis=0))
    rows = np.flatnonzero(labels.any(axis=1))
    if len(cols) == 0:
        return (0.0, 0.0, 0.0, 0.0), 0
    x0, x1, y0, y1 = int(cols[0]), int(cols[-1]) + 1, int(rows[0]), int(rows[-1]) + 1
    return (x0 - 0.5, y0 - 0.5, float(x1 - x0), float(y1 - y0)), int(np.count_nonzero(labels))


def labelme_document(frame: KeypointFrame) -> dict[str, Any]:
    """The LabelMe 4.5.6 document of ``frame`` (module doc)."""
    kp = frame.nycu
    shapes: list[dict[str, Any]] = [
        {"label": name, "points": [[x, y]], "group_id": None, "shape_type": "point", "flags": {}}
        for name, (x, y, v) in zip(kp.keypoint_set.names, kp.triples(), strict=True)
        if v > 0
    ]
    return {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": f"../img/{frame.stem}.jpg",
        "imageData": None,
        "imageHeight": frame.height,
        "imageWidth": frame.width,
        "infant_stream": {
            "bbox": [round(v, 2) for v in frame.bbox],
            "visibility": dict(zip(kp.keypoint_set.names, kp.visibility.tolist(), strict=True)),
        },
    }


def _write_bytes(path: Path, data: bytes) -> None:
    write_whole(path, lambda f: f.write(data))


class NycuWriter:
    """Writes frames into the NYCU layout under ``out`` (all three split folders exist afterwards)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        for folder in NYCU_SPLIT_DIRS.values():
            for sub in ("img", "ann"):
                (out / folder / sub).mkdir(parents=True, exist_ok=True)

    def add(self, split: str, frame: KeypointFrame, jpeg: bytes) -> None:
        """Write ``frame``'s JPEG bytes and LabelMe JSON into ``split`` (train, val or test)."""
        root = self.out / NYCU_SPLIT_DIRS[split]
        _write_bytes(root / "img" / f"{frame.stem}.jpg", jpeg)
        doc = json.dumps(labelme_document(frame), indent=2).encode("utf-8")
        _write_bytes(root / "ann" / f"{frame.stem}.json", doc)

    def finish(self) -> None:
        """Nothing is buffered: every file was written whole by :meth:`add`."""


class CocoWriter:
    """Writes frames into the COCO/SyRIP layout under ``out``; the split JSONs are written by :meth:`finish`
    (all three, empty ones included)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._images: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
        self._annotations: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
        for split in SPLITS:
            (out / "images" / f"{split}_infant").mkdir(parents=True, exist_ok=True)
        (out / "annotations").mkdir(parents=True, exist_ok=True)

    def add(self, split: str, frame: KeypointFrame, jpeg: bytes) -> None:
        """Write ``frame``'s JPEG bytes into ``split`` and keep its image and annotation entries."""
        file_name = f"{frame.stem}.jpg"
        _write_bytes(self.out / "images" / f"{split}_infant" / file_name, jpeg)
        image_id = len(self._images[split]) + 1
        self._images[split].append(
            {
                "id": image_id,
                "file_name": file_name,
                "width": frame.width,
                "height": frame.height,
                "video": frame.video,
                "is_synthetic": True,
            }
        )
        self._annotations[split].append(
            {
                "id": image_id,
                "image_id": image_id,
                "category_id": CATEGORY_ID,
                "keypoints": frame.coco.coco_flat(),
                "num_keypoints": frame.coco.num_labelled,
                "bbox": [round(v, 2) for v in frame.bbox],
                "area": frame.area,
                "iscrowd": 0,
            }
        )

    def finish(self) -> None:
        """Write ``annotations/person_keypoints_<split>_infant.json`` for every split."""
        for split in SPLITS:
            doc = coco_document(COCO17, COCO_SOURCE, self._images[split], self._annotations[split])
            _write_bytes(
                self.out / "annotations" / f"person_keypoints_{split}_infant.json", json.dumps(doc).encode()
            )
