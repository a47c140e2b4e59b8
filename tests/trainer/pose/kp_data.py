"""Hand-written keypoint datasets for the tests: NYCU LabelMe frames and SyRIP-style COCO files with tiny
JPEGs (noise, never infant images), written byte for byte the way the real formats are."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline.contract.keypoints import COCO17, NYCU22

W, H = 64, 48
"""Default image size (width, height) in pixels."""


def jpeg_bytes(width: int = W, height: int = H, seed: int = 0) -> bytes:
    """A small noise JPEG."""
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def write_jpeg(path: Path, width: int = W, height: int = H, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes(width, height, seed))
    return path


def points_for(seed: int, missing: tuple[str, ...] = ()) -> dict[str, tuple[float, float]]:
    """NYCU label → (x, y) on a W×H image, quarter-pixel values (exact in binary), some labels left out."""
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 4 * (W - 1), 22) / 4.0, rng.integers(0, 4 * (H - 1), 22) / 4.0
    return {n: (float(xy[0][i]), float(xy[1][i])) for i, n in enumerate(NYCU22.names) if n not in missing}


def labelme_doc(
    points: dict[str, tuple[float, float]],
    width: int = W,
    height: int = H,
    image_path: str = "..\\img\\frame.jpg",
    image_data: str | None = None,
    extra_shapes: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """A LabelMe 4.5.6 document with one point shape per label (in the given order)."""
    shapes: list[dict[str, Any]] = [
        {"label": label, "points": [[x, y]], "group_id": None, "shape_type": "point", "flags": {}}
        for label, (x, y) in points.items()
    ]
    return {
        "version": "4.5.6",
        "flags": {},
        "shapes": shapes + list(extra_shapes),
        "imagePath": image_path,
        "imageData": image_data,
        "imageHeight": height,
        "imageWidth": width,
    }


def write_labelme(path: Path, doc: dict[str, Any], encoding: str = "utf-8") -> Path:
    """The document as LabelMe writes it (indent 2, non-ASCII kept), in ``encoding``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(json.dumps(doc, ensure_ascii=False, indent=2).encode(encoding))
    return path


def truth(points: dict[str, tuple[float, float]]) -> np.ndarray:
    """(22, 3) [x, y, v] expected from ``points`` (absent labels: 0, 0, 0)."""
    kp = np.zeros((22, 3))
    for label, (x, y) in points.items():
        kp[NYCU22.index(label)] = (x, y, 2)
    return kp


NYCU_VIDEOS = {"Train": ("001", "002"), "Valid": ("003",), "Test": ("004",)}


def make_nycu(root: Path, frames: int = 2, embed_first: bool = True) -> dict[str, np.ndarray]:
    """An NYCU root; returns ``<Folder>/<stem>`` → the (22, 3) truth of each frame.

    Frame ``f`` of each video leaves out label ``NYCU22.names[f]`` (missing points). With ``embed_first``
    the first Train frame has no JPEG on disk, only imageData.
    """
    out = {}
    seed = 0
    for folder, videos in NYCU_VIDEOS.items():
        for video in videos:
            for f in range(frames):
                seed += 1
                stem = f"{video}_{f + 1:08d}"
                pts = points_for(seed, missing=(NYCU22.names[f],))
                embed = embed_first and folder == "Train" and seed == 1
                data = base64.b64encode(jpeg_bytes(seed=seed)).decode() if embed else None
                if not embed:
                    write_jpeg(root / folder / "img" / f"{stem}.jpg", seed=seed)
                write_labelme(
                    root / folder / "ann" / f"{stem}.json",
                    labelme_doc(pts, image_path=f"..\\img\\{stem}.jpg", image_data=data),
                )
                out[f"{folder}/{stem}"] = truth(pts)
    return out


def coco_keypoints(seed: int, labelled: int = 17) -> list[float]:
    """51 numbers: the first ``labelled`` COCO-17 points on a W×H image (v = 2), the rest (0, 0, 0)."""
    rng = np.random.default_rng(seed)
    flat: list[float] = []
    for k in range(COCO17.num_keypoints):
        if k < labelled:
            flat += [float(rng.integers(1, W - 1)), float(rng.integers(1, H - 1)), 2]
        else:
            flat += [0, 0, 0]
    return flat


def syrip_doc(n: int, prefix: str, seed: int = 0) -> dict[str, Any]:
    """A COCO keypoints document of ``n`` images ``<prefix>0000i.jpg``, one annotation each."""
    images = [
        {"id": i + 1, "file_name": f"{prefix}{i + 1:05d}.jpg", "width": W, "height": H} for i in range(n)
    ]
    anns = [
        {
            "id": 100 + i,
            "image_id": i + 1,
            "category_id": 1,
            "keypoints": coco_keypoints(seed + i),
            "num_keypoints": 17,
            "bbox": [2.0, 3.0, 40.0, 30.0],
            "area": 1200.0,
            "iscrowd": 0,
        }
        for i in range(n)
    ]
    cats = [{"id": 1, "name": "person", "keypoints": list(COCO17.names), "skeleton": COCO17.coco_skeleton()}]
    return {"images": images, "annotations": anns, "categories": cats}


def write_syrip(root: Path, name: str, doc: dict[str, Any], seed: int = 0) -> Path:
    """``root/annotations/person_keypoints_<name>.json`` and its images in ``root/images/<name>/``."""
    for i, im in enumerate(doc["images"]):
        write_jpeg(root / "images" / name / im["file_name"], im["width"], im["height"], seed=seed + i)
    path = root / "annotations" / f"person_keypoints_{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def make_syrip(root: Path, train: int = 6, test: int = 2) -> dict[str, Path]:
    """A SyRIP root with the standard names: train_infant (half flagged synthetic on the images) and
    validate_infant."""
    tr = syrip_doc(train, "train")
    for im in tr["images"][: train // 2]:
        im["is_synthetic"] = True
    te = syrip_doc(test, "test", seed=50)
    return {
        "train": write_syrip(root, "train_infant", tr),
        "test": write_syrip(root, "validate_infant", te, 50),
    }
