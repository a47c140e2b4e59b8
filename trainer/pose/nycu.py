"""Reading the NYCU infant keypoints dataset: one LabelMe 4.5.6 JSON per frame (design.md §4).

::

    ROOT/Train/img/VVV_FFFFFFFF.jpg     the frame (VVV = video id, FFFFFFFF = frame number)
    ROOT/Train/ann/VVV_FFFFFFFF.json    its LabelMe file (also Valid/ and Test/; folder names match
                                        case-insensitively)

A LabelMe file holds ``shapes`` (``{"label", "points": [[x, y]], "shape_type": "point", ...}``),
``imagePath``, ``imageData`` (the image in base64, or null), ``imageHeight`` and ``imageWidth``.
The 22 labels are :data:`pipeline.contract.keypoints.NYCU22`; a label that is absent is "not annotated"
(v = 0, x = y = 0), a present one is visible (v = 2). Files are UTF-8 (with or without a BOM) or Big5
(tried in that order; cp950, Big5's Windows superset, last).

The image is ``img/<json stem>.jpg``, else ``img/<basename of imagePath>``, else the embedded imageData.

Errors (one line naming the file and the field; the frame is never guessed): text that is neither UTF-8
nor Big5, invalid JSON, a file name not ``VVV_FFFFFFFF.json``, missing or non-positive
imageWidth/imageHeight, an unknown label, a label twice, a keypoint label on a non-point shape, a point
that is not one finite [x, y] pair or lies off the image, imageData that is not base64 JPEG/PNG, an image
whose size differs from imageWidth × imageHeight, no image on disk and no imageData.
Frames written by ``infant-stream synth keypoints`` carry an extra ``infant_stream`` key (occlusion flags
and the segmentation-foreground body box; LabelMe ignores it): points flagged occluded become v = 1 and the
box becomes the annotation's ``bbox``.
Skipped and counted (logged by ``prepare``): shapes that are not points and carry no keypoint label
(a box or polygon drawn beside the points). A frame with no labelled point is read with no instance.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import io
import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any, Final

import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline.contract.keypoints import NYCU22, VISIBLE
from pipeline.errors import DatasetError
from trainer.pose.source import Instance, SourceImage, off_image

Bbox = tuple[float, float, float, float]
EXTENSION: Final = "infant_stream"
"""The top-level key ``infant-stream synth keypoints`` adds to its LabelMe files (see :func:`_extension`)."""

log = logging.getLogger(__name__)

SPLIT_FOLDERS: Final = {"train": "Train", "val": "Valid", "test": "Test"}
"""Prepared split → the NYCU folder it comes from."""
ENCODINGS: Final = ("utf-8-sig", "big5", "cp950")
IMAGE_FORMATS: Final = {"JPEG": ".jpg", "PNG": ".png"}
_STEM = re.compile(r"^(?P<video>.+)_(?P<frame>\d+)$")


def decode_text(data: bytes, where: Path) -> str:
    """The text of a LabelMe file: UTF-8 (BOM or not), else Big5, else cp950.

    Raises:
        DatasetError: none of them decodes the bytes.
    """
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DatasetError(f"{where}: not UTF-8 or Big5 text")


def split_folder(root: Path, split: str) -> Path:
    """The NYCU folder of a prepared split (``train`` → ``ROOT/Train``), matched case-insensitively.

    Raises:
        DatasetError: the folder or its ``ann/`` is missing.
    """
    name = SPLIT_FOLDERS[split]
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder (NYCU layout: Train/, Valid/, Test/ with img/ and ann/)")
    found = [p for p in root.iterdir() if p.is_dir() and p.name.lower() == name.lower()]
    if not found:
        raise DatasetError(
            f"{root}: no {name}/ folder (NYCU layout: Train/, Valid/, Test/ with img/ and ann/)"
        )
    folder = sorted(found)[0]
    if not (folder / "ann").is_dir():
        raise DatasetError(f"{folder}: no ann/ folder of LabelMe JSON files")
    return folder


def frame_key(path: Path) -> tuple[str, int]:
    """(video id, frame number) from ``VVV_FFFFFFFF.json``.

    Raises:
        DatasetError: the name is not ``<video>_<digits>.json``.
    """
    m = _STEM.match(path.stem)
    if m is None:
        raise DatasetError(f"{path}: file name: need VVV_FFFFFFFF.json (video id _ frame number)")
    return m.group("video"), int(m.group("frame"))


def annotation_files(folder: Path) -> list[Path]:
    """The LabelMe files of one split folder, in (video, frame) order."""
    return sorted((folder / "ann").glob("*.json"), key=frame_key)


def _size(doc: dict[str, Any], field: str, path: Path) -> int:
    value = doc.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DatasetError(f"{path}: {field}: need a positive integer, got {value!r}")
    return value


def _label_hint(label: str) -> str:
    close = difflib.get_close_matches(label, NYCU22.names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else " (not one of the NYCU-22 names)"


def read_keypoints(
    doc: dict[str, Any], path: Path, width: int, height: int, skipped: Counter[str] | None = None
) -> np.ndarray:
    """(22, 3) float64 [x, y, v] from a LabelMe document's ``shapes`` (see the module docstring).

    Raises:
        DatasetError: a malformed, unknown, duplicate or off-image keypoint.
    """
    shapes = doc.get("shapes")
    if not isinstance(shapes, list):
        raise DatasetError(f"{path}: shapes: need a list, got {type(shapes).__name__}")
    kp = np.zeros((NYCU22.num_keypoints, 3), np.float64)
    seen: dict[str, int] = {}
    for i, shape in enumerate(shapes):
        field = f"{path}: shapes[{i}]"
        if not isinstance(shape, dict):
            raise DatasetError(f"{field}: need an object, got {type(shape).__name__}")
        label, kind = shape.get("label"), shape.get("shape_type")
        if not isinstance(label, str):
            raise DatasetError(f"{field}.label: need a string, got {label!r}")
        if kind != "point":
            if label in NYCU22.names:
                raise DatasetError(f"{field}.shape_type: {kind!r} for keypoint {label!r}, need 'point'")
            log.debug("%s: skipped a %r shape labelled %r", field, kind, label)
            if skipped is not None:
                skipped[f"non-point shapes ({kind})"] += 1
            continue
        if label not in NYCU22.names:
            raise DatasetError(f"{field}.label: unknown keypoint {label!r}{_label_hint(label)}")
        if label in seen:
            raise DatasetError(f"{field}.label: {label!r} labelled twice (also shapes[{seen[label]}])")
        seen[label] = i
        points = shape.get("points")
        try:
            ((x, y),) = points  # type: ignore[misc]
            xy = np.array([x, y], dtype=np.float64)
        except (TypeError, ValueError):
            raise DatasetError(f"{field}.points: need one [x, y] pair, got {points!r}") from None
        if not np.isfinite(xy).all():
            raise DatasetError(f"{field}.points: need finite numbers, got {points!r}")
        k = NYCU22.index(label)
        kp[k] = (xy[0], xy[1], VISIBLE)
        if off_image(kp[k : k + 1], width, height).any():
            raise DatasetError(
                f"{field}.points: {label} at ({xy[0]:.1f}, {xy[1]:.1f}) is off the {width}x{height} image"
            )
    return kp


def _embedded(doc: dict[str, Any], path: Path) -> tuple[bytes, str, tuple[int, int]] | None:
    """(bytes, suffix, (width, height)) of the imageData, or None when it is null/absent."""
    data = doc.get("imageData")
    if data is None:
        return None
    if not isinstance(data, str):
        raise DatasetError(f"{path}: imageData: need base64 text or null, got {type(data).__name__}")
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
        with Image.open(io.BytesIO(raw)) as img:
            fmt, size = img.format, img.size
    except (binascii.Error, ValueError):
        raise DatasetError(f"{path}: imageData: not valid base64") from None
    except (UnidentifiedImageError, OSError):
        raise DatasetError(f"{path}: imageData: not a readable image") from None
    if fmt not in IMAGE_FORMATS:
        raise DatasetError(f"{path}: imageData: a {fmt} image, need JPEG or PNG")
    return raw, IMAGE_FORMATS[fmt], size


def _on_disk(doc: dict[str, Any], path: Path, img_dir: Path) -> Path | None:
    candidates = [img_dir / f"{path.stem}.jpg"]
    image_path = doc.get("imagePath")
    if isinstance(image_path, str) and image_path.strip():
        candidates.append(img_dir / re.split(r"[\\/]", image_path.strip())[-1])
    return next((c for c in candidates if c.is_file()), None)


def _check_size(path: Path, what: str, size: tuple[int, int], width: int, height: int) -> None:
    if size != (width, height):
        raise DatasetError(
            f"{path}: imageWidth/imageHeight: say {width}x{height} but {what} is {size[0]}x{size[1]}"
        )


def _extension(doc: dict[str, Any], path: Path, keypoints: np.ndarray) -> tuple[Bbox | None, bool]:
    """Apply the generator's ``infant_stream`` key, when present: occlusion flags and the body box.

    ``infant-stream synth keypoints`` adds ``{"infant_stream": {"bbox": [x, y, w, h], "visibility":
    {name: 0|1|2}}}`` (LabelMe ignores unknown keys): a labelled point flagged 1 becomes v = 1 (occluded)
    in place; the bbox is the infant's segmentation foreground. Returns (bbox or None, is synthetic).
    """
    ext = doc.get(EXTENSION)
    if ext is None:
        return None, False
    if not isinstance(ext, dict):
        raise DatasetError(f"{path}: {EXTENSION}: need an object, got {type(ext).__name__}")
    vis = ext.get("visibility", {})
    if not isinstance(vis, dict):
        raise DatasetError(f"{path}: {EXTENSION}.visibility: need an object of name: 0|1|2")
    for name, v in vis.items():
        if name not in NYCU22.names or v not in (0, 1, 2):
            raise DatasetError(
                f"{path}: {EXTENSION}.visibility.{name}: need a NYCU-22 name and 0, 1 or 2, got {v!r}"
            )
        i = NYCU22.index(name)
        if v == 1 and keypoints[i, 2] > 0:
            keypoints[i, 2] = 1
    box = ext.get("bbox")
    if box is None:
        return None, True
    if not (
        isinstance(box, list)
        and len(box) == 4
        and all(isinstance(b, int | float) for b in box)
        and box[2] > 0
        and box[3] > 0
    ):
        raise DatasetError(f"{path}: {EXTENSION}.bbox: need [x, y, w, h] with w, h > 0, got {box!r}")
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3])), True


def read_frame(path: Path, img_dir: Path, skipped: Counter[str] | None = None) -> SourceImage:
    """One LabelMe frame as a :class:`SourceImage` named ``<video>/<stem>.jpg`` (``.png`` for an
    embedded PNG), grouped by its video id; no instance when no point is labelled.

    Args:
        path: ``.../ann/VVV_FFFFFFFF.json``.
        img_dir: the split's ``img/`` folder (it need not exist when every file embeds its image).
        skipped: counts what was skipped, by reason (see the module docstring).
    Raises:
        DatasetError: see the module docstring; the message names ``path`` and the field.
    """
    video, _ = frame_key(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        doc = json.loads(decode_text(raw, path))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DatasetError(f"{path}: need a LabelMe object, got {type(doc).__name__}")
    width, height = _size(doc, "imageWidth", path), _size(doc, "imageHeight", path)
    keypoints = read_keypoints(doc, path, width, height, skipped)
    embedded = _embedded(doc, path)
    disk = _on_disk(doc, path, img_dir)
    if embedded is not None:
        _check_size(path, "imageData", embedded[2], width, height)
    if disk is not None:
        try:
            with Image.open(disk) as img:
                size = img.size
        except (UnidentifiedImageError, OSError) as exc:
            raise DatasetError(f"{path}: imagePath: {disk} is not a readable image ({exc})") from None
        _check_size(path, str(disk.name), size, width, height)
        name, data = f"{video}/{path.stem}{disk.suffix.lower()}", None
    elif embedded is not None:
        name, data = f"{video}/{path.stem}{embedded[1]}", embedded[0]
    else:
        raise DatasetError(
            f"{path}: imagePath: no image {img_dir / (path.stem + '.jpg')} and imageData is null"
        )
    bbox, synthetic = _extension(doc, path, keypoints)
    labelled = bool((keypoints[:, 2] > 0).any())
    return SourceImage(
        where=str(path),
        name=name,
        image_path=disk,
        image_bytes=data,
        width=width,
        height=height,
        group=video,
        instances=(Instance(keypoints, bbox, None, synthetic),) if labelled else (),
    )
