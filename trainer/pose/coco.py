"""Reading a COCO keypoints file (SyRIP's format, design.md §4).

A file holds ``images`` (``id``, ``file_name``, ``width``, ``height``), ``annotations`` (``image_id``,
``keypoints`` [x, y, v] × 17 in COCO-17 order, ``num_keypoints``, ``bbox`` [x, y, w, h], ``area``,
``iscrowd``) and optionally ``categories`` (when one lists ``keypoints``, they must be the COCO-17 — or
NYCU-22 — names in order). ``is_synthetic`` may sit on an image or an annotation (the annotation's wins).
The split group of an image is its ``video``, ``video_id`` or ``subject`` field (image first, then its
annotation), else the image file itself.

Where the images are: for ``F = .../person_keypoints_<NAME>.json`` (the prefix is optional) the images
folder IMAGES is the one given (``--images``), else ``F/../../images`` when F lies in a folder named
``annotations`` (SyRIP), else ``F/../images``. ``file_name`` resolves to the first existing of
``IMAGES/<NAME>/<file_name>`` (SyRIP: ``images/train_infant/train00001.jpg``) and ``IMAGES/<file_name>``.

Skipped and counted (logged by ``prepare``): ``iscrowd`` = 1 annotations, annotations with no labelled
point, images left with no annotation. Everything else that is wrong is a one-line DatasetError naming
the file and the field (``x.json: annotations[3].keypoints: need 51 numbers, got 48``).
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline.contract.keypoints import COCO17, KeypointSet, keypoint_set_for
from pipeline.errors import DatasetError
from trainer.pose.source import Instance, SourceImage, off_image

log = logging.getLogger(__name__)

PREFIX: Final = "person_keypoints_"
GROUP_FIELDS: Final = ("video", "video_id", "subject")


@dataclass(frozen=True)
class CocoFile:
    """A COCO keypoints file, read and checked.

    Attributes:
        path: the JSON file.
        keypoint_set: COCO-17 unless the categories name another known set.
        images: the images with at least one usable annotation, in file order.
    """

    path: Path
    keypoint_set: KeypointSet
    images: tuple[SourceImage, ...]


def split_name(path: Path) -> str:
    """``person_keypoints_train_infant.json`` → ``train_infant`` (the images sub-folder's name)."""
    return path.stem.removeprefix(PREFIX)


def images_folder(path: Path, images: Path | None = None) -> Path:
    """The images folder of an annotation file (see the module docstring)."""
    if images is not None:
        return images
    if path.parent.name == "annotations":
        return path.parent.parent / "images"
    return path.parent / "images"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value))


def _flag(item: dict[str, Any], key: str, where: str) -> bool | None:
    value = item.get(key)
    if value is None:
        return None
    if value not in (True, False, 0, 1) or isinstance(value, float):
        raise DatasetError(f"{where}.{key}: need true/false or 0/1, got {value!r}")
    return bool(value)


def _group(item: dict[str, Any], where: str) -> str | None:
    for key in GROUP_FIELDS:
        value = item.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
            raise DatasetError(f"{where}.{key}: need a non-empty string or integer, got {value!r}")
        return str(value)
    return None


def _list(doc: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise DatasetError(f"{path}: {key}: need a list, got {type(value).__name__}")
    return value


def _keypoint_set(doc: dict[str, Any], path: Path) -> KeypointSet:
    cats = doc.get("categories")
    if cats is None:
        return COCO17
    if not isinstance(cats, list):
        raise DatasetError(f"{path}: categories: need a list, got {type(cats).__name__}")
    for i, cat in enumerate(cats):
        if isinstance(cat, dict) and cat.get("keypoints") is not None:
            names = cat["keypoints"]
            known = keypoint_set_for(names) if isinstance(names, list) else None
            if known is None:
                raise DatasetError(f"{path}: categories[{i}].keypoints: not the COCO-17 names in order")
            return known
    return COCO17


def _image_fields(im: object, where: str) -> tuple[int, str, int, int]:
    if not isinstance(im, dict):
        raise DatasetError(f"{where}: need an object, got {type(im).__name__}")
    if not _is_int(im.get("id")):
        raise DatasetError(f"{where}.id: need an integer, got {im.get('id')!r}")
    name = im.get("file_name")
    if not isinstance(name, str) or not name.strip():
        raise DatasetError(f"{where}.file_name: need a relative path, got {name!r}")
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        raise DatasetError(f"{where}.file_name: need a path inside the images folder, got {name!r}")
    for key in ("width", "height"):
        if not _is_int(im.get(key)) or im[key] <= 0:
            raise DatasetError(f"{where}.{key}: need a positive integer, got {im.get(key)!r}")
    return int(im["id"]), pure.as_posix(), int(im["width"]), int(im["height"])


def _keypoints(ann: dict[str, Any], where: str, kset: KeypointSet, width: int, height: int) -> np.ndarray:
    """(K, 3) float64 [x, y, v] of one annotation, checked; v = 0 points get x = y = 0."""
    k = kset.num_keypoints
    flat = ann.get("keypoints")
    if not isinstance(flat, list) or len(flat) != 3 * k:
        got = len(flat) if isinstance(flat, list) else repr(flat)
        raise DatasetError(f"{where}.keypoints: need {3 * k} numbers, got {got}")
    bad = next((j for j, v in enumerate(flat) if not _number(v)), None)
    if bad is not None:
        raise DatasetError(f"{where}.keypoints[{bad}]: need a finite number, got {flat[bad]!r}")
    kp = np.asarray(flat, dtype=np.float64).reshape(k, 3)
    wrong = np.flatnonzero(~np.isin(kp[:, 2], (0, 1, 2)))
    if len(wrong):
        j = int(wrong[0])
        raise DatasetError(
            f"{where}.keypoints: visibility of {kset.names[j]} is {kp[j, 2]:g}, need 0, 1 or 2"
        )
    kp[kp[:, 2] == 0, :2] = 0.0
    off = np.flatnonzero(off_image(kp, width, height))
    if len(off):
        j = int(off[0])
        raise DatasetError(
            f"{where}.keypoints: {kset.names[j]} at ({kp[j, 0]:.1f}, {kp[j, 1]:.1f}) is off the "
            f"{width}x{height} image"
        )
    labelled = int((kp[:, 2] > 0).sum())
    stated = ann.get("num_keypoints")
    if stated is not None and (not _is_int(stated) or stated != labelled):
        raise DatasetError(f"{where}.num_keypoints: says {stated!r} but {labelled} points have v > 0")
    return kp


def _instance(ann: dict[str, Any], where: str, kp: np.ndarray, image_synthetic: bool | None) -> Instance:
    bbox = ann.get("bbox")
    if bbox is not None and (
        not isinstance(bbox, list) or len(bbox) != 4 or not all(_number(b) for b in bbox) or min(bbox[2:]) < 0
    ):
        raise DatasetError(f"{where}.bbox: need [x, y, w, h] with w, h >= 0, got {bbox!r}")
    area = ann.get("area")
    if area is not None and (not _number(area) or area < 0):
        raise DatasetError(f"{where}.area: need a number >= 0, got {area!r}")
    synthetic = _flag(ann, "is_synthetic", where)
    return Instance(
        keypoints=kp,
        bbox=None if bbox is None else (float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])),
        area=None if area is None else float(area),
        is_synthetic=bool(image_synthetic if synthetic is None else synthetic),
    )


def _resolve(path: Path, images: Path, where: str, name: str, width: int, height: int) -> Path:
    candidates = (images / split_name(path) / name, images / name)
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise DatasetError(f"{where}.file_name: {name!r} is in neither {candidates[0].parent} nor {images}")
    try:
        with Image.open(found) as img:
            size = img.size
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{where}.file_name: {found} is not a readable image ({exc})") from None
    if size != (width, height):
        raise DatasetError(f"{where}.width/height: say {width}x{height} but {found} is {size[0]}x{size[1]}")
    return found


def read_coco(path: Path, images: Path | None = None, skipped: Counter[str] | None = None) -> CocoFile:
    """Read and check one COCO keypoints file (see the module docstring).

    Args:
        path: the JSON file.
        images: the images folder (default: found from ``path``).
        skipped: counts what was skipped, by reason.
    Raises:
        DatasetError: one line naming ``path`` and the field.
    """
    skipped = Counter() if skipped is None else skipped
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DatasetError(f"{path}: need a COCO object, got {type(doc).__name__}")
    kset = _keypoint_set(doc, path)
    folder = images_folder(path, images)
    by_id: dict[int, tuple[int, dict[str, Any]]] = {}
    names: dict[str, int] = {}
    for i, im in enumerate(_list(doc, "images", path)):
        where = f"{path}: images[{i}]"
        image_id, name, _, _ = _image_fields(im, where)
        if image_id in by_id:
            raise DatasetError(f"{where}.id: {image_id} is also images[{by_id[image_id][0]}]")
        if name in names:
            raise DatasetError(f"{where}.file_name: {name!r} is also images[{names[name]}]")
        by_id[image_id], names[name] = (i, im), i
    kept: dict[int, list[tuple[Instance, str | None]]] = {}
    for i, ann in enumerate(_list(doc, "annotations", path)):
        where = f"{path}: annotations[{i}]"
        if not isinstance(ann, dict):
            raise DatasetError(f"{where}: need an object, got {type(ann).__name__}")
        ref = ann.get("image_id")
        if not _is_int(ref) or ref not in by_id:
            raise DatasetError(f"{where}.image_id: no image with id {ref!r}")
        image_id = int(ref)
        j, im = by_id[image_id]
        if _flag(ann, "iscrowd", where):
            skipped["annotations with iscrowd 1"] += 1
            continue
        kp = _keypoints(ann, where, kset, int(im["width"]), int(im["height"]))
        if not (kp[:, 2] > 0).any():
            skipped["annotations with num_keypoints 0"] += 1
            continue
        inst = _instance(ann, where, kp, _flag(im, "is_synthetic", f"{path}: images[{j}]"))
        kept.setdefault(image_id, []).append((inst, _group(ann, where)))
    out = []
    for image_id, (i, im) in by_id.items():
        if image_id not in kept:
            skipped["images with no usable annotation"] += 1
            continue
        where = f"{path}: images[{i}]"
        _, name, width, height = _image_fields(im, where)
        found = _resolve(path, folder, where, name, width, height)
        group = _group(im, where) or next((g for _, g in kept[image_id] if g is not None), None)
        out.append(
            SourceImage(
                where=where,
                name=name,
                image_path=found,
                image_bytes=None,
                width=width,
                height=height,
                group=group or found.relative_to(folder).as_posix(),
                instances=tuple(inst for inst, _ in kept[image_id]),
            )
        )
    return CocoFile(path=path, keypoint_set=kset, images=tuple(out))
