"""``infant-stream verify`` on a prepared keypoint dataset (a folder with ``annotations/*.json`` and
``images/<split>/``, as trainer/pose/layout.py describes).

Checks: the three split files exist and read; the keypoint names are a known set (NYCU-22, COCO-17) or at
least the same names in every split; no image id or file listed twice in a split; every image file exists
and has the stated width × height; every labelled point (v > 0) lies on its image and has v ∈ {0, 1, 2};
``num_keypoints`` counts the labelled points; every bbox lies inside its image; no video/subject group is
in two splits (a split by frame leaks); train has annotations. Prints, per split, the images, annotations,
groups and the share of annotations in which each keypoint is labelled. Exits non-zero (DatasetError,
exit 5) when anything is wrong, listing up to 20 problems.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline.contract.keypoints import KNOWN_SETS
from pipeline.errors import DatasetError
from trainer.pose.layout import SPLITS, KeypointSplit, annotation_path, images_dir, read_split
from trainer.pose.source import bbox_on_image, off_image
from trainer.problems import raise_problems

log = logging.getLogger(__name__)


def is_keypoint_layout(data: Path) -> bool:
    """``data/annotations/`` holds JSON files (the keypoint layout, not the segmentation one)."""
    folder = data / "annotations"
    return folder.is_dir() and any(folder.glob("*.json"))


@dataclass
class KeypointReport:
    """Result of :func:`verify_keypoints`.

    Attributes:
        problems: one line each; empty means the dataset is sound.
        names: the keypoint names (of the first split that reads).
        images, annotations, groups: counts per split.
        labelled: split → (K,) int64, annotations in which each keypoint has v > 0.
    """

    problems: list[str] = field(default_factory=list)
    names: tuple[str, ...] = ()
    images: dict[str, int] = field(default_factory=dict)
    annotations: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    labelled: dict[str, np.ndarray] = field(default_factory=dict)

    def table(self) -> str:
        """Per-split counts, then the labelled share (%) of each keypoint per split, as aligned text."""
        splits = list(self.labelled)
        rows = [f"{'split':<8}{'images':>9}{'annotations':>13}{'videos':>8}"]
        rows += [f"{s:<8}{self.images[s]:>9}{self.annotations[s]:>13}{self.groups[s]:>8}" for s in splits]
        rows.append(f"{'labelled %':<14}" + "".join(f"{s:>8}" for s in splits))
        for k, name in enumerate(self.names):
            cells = "".join(
                f"{100.0 * int(self.labelled[s][k]) / max(self.annotations[s], 1):>8.1f}" for s in splits
            )
            rows.append(f"{name:<14}{cells}")
        return "\n".join(rows)


def _check_images(data: Path, path: Path, doc: dict[str, Any], problems: list[str]) -> None:
    """Image entries of one split: unique ids and files, files exist with the stated size."""
    ids: dict[object, int] = {}
    files: dict[object, int] = {}
    for i, im in enumerate(doc.get("images") or []):
        where = f"{path}: images[{i}]"
        if not isinstance(im, dict):
            problems.append(f"{where}: need an object")
            continue
        if im.get("id") in ids:
            problems.append(f"{where}.id: {im.get('id')!r} is also images[{ids[im.get('id')]}]")
        ids.setdefault(im.get("id"), i)
        name = im.get("file_name")
        if name in files:
            problems.append(f"{where}.file_name: {name!r} is also images[{files[name]}]")
            continue
        files[name] = i
        file = images_dir(data) / str(name)
        if not file.is_file():
            problems.append(f"{where}.file_name: {file} does not exist")
            continue
        try:
            with Image.open(file) as img:
                size = img.size
        except (UnidentifiedImageError, OSError) as exc:
            problems.append(f"{where}.file_name: {file} is not a readable image ({exc})")
            continue
        if size != (im.get("width"), im.get("height")):
            problems.append(
                f"{where}.width/height: say {im.get('width')}x{im.get('height')} but {file.name} "
                f"is {size[0]}x{size[1]}"
            )


def _check_annotations(path: Path, doc: dict[str, Any], split: KeypointSplit, problems: list[str]) -> None:
    """Each annotation (= sample, same order): visibility, points on the image, num_keypoints, bbox."""
    names = split.keypoint_set.names
    raw = doc.get("annotations") or []
    for i, s in enumerate(split.samples):
        where = f"{path}: annotations[{i}]"
        v = s.keypoints[:, 2]
        bad_v = np.flatnonzero(~np.isin(v, (0, 1, 2)))
        if len(bad_v):
            problems.append(f"{where}.keypoints: visibility of {names[bad_v[0]]} is {v[bad_v[0]]:g}")
        off = np.flatnonzero(off_image(s.keypoints, s.width, s.height))
        if len(off):
            x, y = s.keypoints[off[0], :2]
            problems.append(
                f"{where}.keypoints: {len(off)} labelled point(s) off the {s.width}x{s.height} image "
                f"{s.image_path.name}, e.g. {names[off[0]]} at ({x:.1f}, {y:.1f})"
            )
        stated = raw[i].get("num_keypoints")
        if stated is not None and stated != int((v > 0).sum()):
            problems.append(
                f"{where}.num_keypoints: says {stated!r} but {int((v > 0).sum())} points have v > 0"
            )
        if not bbox_on_image(s.bbox, s.width, s.height):
            problems.append(f"{where}.bbox: {list(s.bbox)} is not inside the {s.width}x{s.height} image")


def verify_keypoints(data: Path) -> KeypointReport:
    """Check the prepared keypoint dataset at ``data``; never raises for dataset problems, reports them."""
    report = KeypointReport()
    first: KeypointSplit | None = None
    groups: dict[str, dict[str, str]] = {}  # group → {split: a file of it there}
    for name in SPLITS:
        path = annotation_path(data, name)
        if not path.is_file():
            report.problems.append(f"{path}: split file missing")
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            report.problems.append(f"{path}: not a readable JSON file: {exc}")
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("images", []), list):
            report.problems.append(f"{path}: need a COCO object with an images list")
            continue
        _check_images(data, path, doc, report.problems)
        try:
            split = read_split(data, name)
        except DatasetError as exc:
            report.problems.append(str(exc))
            continue
        kset = split.keypoint_set
        if first is None:
            first = split
            report.names = kset.names
            if kset.name not in KNOWN_SETS:
                log.warning("%s: keypoints %s are not a known set (NYCU-22, COCO-17)", path, list(kset.names))
        elif kset.names != first.keypoint_set.names:
            report.problems.append(
                f"{path}: categories[0].keypoints: {len(kset.names)} names differ from {first.split}'s "
                f"{len(first.keypoint_set.names)} (same keypoint set needed in every split)"
            )
            continue
        _check_annotations(path, doc, split, report.problems)
        for s in split.samples:
            groups.setdefault(s.video, {}).setdefault(name, s.image_path.name)
        report.images[name] = len(doc.get("images") or [])
        report.annotations[name] = len(split.samples)
        report.groups[name] = len({s.video for s in split.samples})
        vis = np.zeros((len(split.samples), kset.num_keypoints), np.float32)
        for j, s in enumerate(split.samples):
            vis[j] = s.keypoints[:, 2]
        report.labelled[name] = (vis > 0).sum(axis=0).astype(np.int64)
        if not split.samples and name == "train":
            report.problems.append(f"{path}: annotations: none (train needs labelled images)")
        elif not split.samples:
            log.warning("%s: no annotations", path)
    for group, where in sorted(groups.items()):
        if len(where) > 1:
            seen = ", ".join(f"{s} ({f})" for s, f in where.items())
            report.problems.append(
                f"{annotation_path(data, 'train').parent}: video/subject {group} is in more than one split: {seen}"
            )
    return report


def main(args: argparse.Namespace) -> int:
    """``verify`` on a keypoint dataset: prints the summary; raises DatasetError (exit 5) on problems."""
    report = verify_keypoints(args.data)
    if report.labelled:
        sys.stdout.write(report.table() + "\n")
    raise_problems(args.data, report.problems, log)
    counts = ", ".join(f"{s} {n}" for s, n in report.annotations.items())
    sys.stdout.write(f"{args.data}: OK keypoints ({counts} annotations)\n")
    return 0
