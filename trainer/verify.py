"""``infant-stream verify``: check a prepared dataset before training on it.

Checks: every image has a mask and vice versa; every mask is single-channel 8-bit with values in
0..NUM_CLASSES-1 and the size of its image; every split line names an existing frame, no frame is listed
twice, and no video is in two splits (unlabelled frames count with their split). Prints the per-class
pixel share of each split. Exits non-zero (DatasetError, exit 5) when anything is wrong.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from pipeline.contract.classes import CLASS_NAMES, NUM_CLASSES
from pipeline.errors import DatasetError
from trainer.layout import SPLITS, UNLABELLED, Layout, load_mask, video_of
from trainer.logs import show_info_logs
from trainer.pose import verify as pose_verify
from trainer.problems import raise_problems

log = logging.getLogger(__name__)

# A video may appear in only one of these groups (labelled split + its unlabelled frames).
_GROUPS: dict[str, tuple[str, ...]] = {
    "train": ("train", UNLABELLED),
    "val": ("val", f"{UNLABELLED}_val"),
    "test": ("test", f"{UNLABELLED}_test"),
}


@dataclass
class VerifyReport:
    """Result of :func:`verify_dataset`.

    Attributes:
        problems: one line each; empty means the dataset is sound.
        frames: labelled frames per split.
        class_pixels: split → (NUM_CLASSES,) int64 pixel counts per class.
    """

    problems: list[str] = field(default_factory=list)
    frames: dict[str, int] = field(default_factory=dict)
    class_pixels: dict[str, np.ndarray] = field(default_factory=dict)

    def shares_table(self) -> str:
        """Per-class pixel share (%) per split, as an aligned text table."""
        head = f"{'split':<8}{'frames':>8}" + "".join(f"{n:>12}" for n in CLASS_NAMES)
        rows = [head]
        for split, px in self.class_pixels.items():
            total = max(int(px.sum()), 1)
            cells = "".join(f"{100.0 * int(v) / total:>11.2f}%" for v in px)
            rows.append(f"{split:<8}{self.frames.get(split, 0):>8}{cells}")
        return "\n".join(rows)


def _stems(folder: Path, suffix: str) -> set[str]:
    return {p.stem for p in folder.glob(f"*{suffix}")} if folder.is_dir() else set()


def _check_mask(layout: Layout, stem: str, report: VerifyReport) -> np.ndarray | None:
    """Validate one mask against its image; returns its class pixel counts, or None when broken."""
    try:
        mask = load_mask(layout.mask(stem))
    except DatasetError as exc:
        report.problems.append(str(exc))
        return None
    counts = np.bincount(mask.ravel(), minlength=256)
    bad = counts[NUM_CLASSES:]
    if bad.any():
        values = np.flatnonzero(bad) + NUM_CLASSES
        report.problems.append(
            f"{layout.mask(stem)}: {int(bad.sum())} pixels with values outside 0..{NUM_CLASSES - 1} "
            f"(e.g. {values[:5].tolist()})"
        )
        return None
    try:
        with Image.open(layout.image(stem)) as img:
            w, h = img.size
    except OSError as exc:
        report.problems.append(f"{layout.image(stem)}: not a readable image ({exc})")
        return None
    if mask.shape != (h, w):
        report.problems.append(
            f"{layout.mask(stem)}: mask is {mask.shape[1]}x{mask.shape[0]} but image is {w}x{h}"
        )
        return None
    return counts[:NUM_CLASSES].astype(np.int64)


def verify_dataset(data: Path, progress: bool = True) -> VerifyReport:
    """Check the prepared dataset at ``data``; never raises for dataset problems, reports them."""
    layout = Layout(data)
    report = VerifyReport()
    for folder in (layout.images, layout.masks, layout.splits):
        if not folder.is_dir():
            report.problems.append(f"{folder}: folder missing")
    if report.problems:
        return report

    images, masks = _stems(layout.images, ".jpg"), _stems(layout.masks, ".png")
    report.problems += [f"{layout.image(s)}: no mask {layout.mask(s).name}" for s in sorted(images - masks)]
    report.problems += [f"{layout.mask(s)}: no image {layout.image(s).name}" for s in sorted(masks - images)]

    counts: dict[str, np.ndarray] = {}
    for stem in tqdm(sorted(images & masks), desc="masks", unit="mask", disable=None if progress else True):
        px = _check_mask(layout, stem, report)
        if px is not None:
            counts[stem] = px

    listed: dict[str, str] = {}
    groups_of: dict[str, dict[str, str]] = {}  # video → {group: first stem seen there}
    for group, names in _GROUPS.items():
        for name in names:
            path = layout.split_file(name)
            if not path.is_file():
                if name in SPLITS:
                    report.problems.append(f"{path}: split file missing")
                continue
            stems = layout.read_split(name)
            unl = name.startswith(UNLABELLED)
            for stem in stems:
                if stem in listed:
                    report.problems.append(f"{path}: {stem} already listed in {listed[stem]}.txt")
                listed[stem] = name
                # A half-present labelled frame was already reported by the 1:1 check above.
                exists = (layout.unlabelled / f"{stem}.jpg").is_file() if unl else stem in images | masks
                if not exists:
                    where = layout.unlabelled / f"{stem}.jpg" if unl else layout.image(stem)
                    report.problems.append(f"{path}: {stem}: {where} does not exist")
                groups_of.setdefault(video_of(stem), {}).setdefault(group, stem)
            if not unl:
                report.frames[name] = len(stems)
                per_frame = [counts[s] for s in stems if s in counts]
                report.class_pixels[name] = (
                    np.sum(per_frame, axis=0) if per_frame else np.zeros(NUM_CLASSES, np.int64)
                )
    for video, first_stems in sorted(groups_of.items()):
        if len(first_stems) > 1:
            seen = ", ".join(f"{g} ({stem})" for g, stem in first_stems.items())
            report.problems.append(f"{layout.splits}: video {video} is in more than one split: {seen}")
    orphans = sorted((images & masks) - listed.keys())
    if orphans:
        log.warning("%d labelled frames are in no split (e.g. %s)", len(orphans), orphans[0])
    return report


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``verify`` subcommand."""
    p = subparsers.add_parser(
        "verify",
        help="check a prepared dataset (segmentation: images/masks, mask values, sizes, splits, class shares; "
        "keypoints: images, points and boxes on their images, splits by video, labelled shares)",
        description=f"{__doc__}\n{pose_verify.__doc__}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, default=Path("data"), help="prepared dataset folder (default: data)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run ``verify``: prints the class-share table; raises DatasetError (exit 5) when problems exist.
    A keypoint dataset (``annotations/*.json``) is checked by :mod:`trainer.pose.verify`."""
    show_info_logs()
    if pose_verify.is_keypoint_layout(args.data):
        return pose_verify.main(args)
    report = verify_dataset(args.data)
    if report.class_pixels:
        sys.stdout.write(report.shares_table() + "\n")
    raise_problems(args.data, report.problems, log)
    sys.stdout.write(f"{args.data}: OK ({', '.join(f'{k} {v}' for k, v in report.frames.items())} frames)\n")
    return 0
