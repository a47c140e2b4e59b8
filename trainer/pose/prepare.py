"""``infant-stream prepare --format nycu|coco``: convert a keypoint dataset into the prepared keypoint
layout (OUT/images/<split>/..., OUT/annotations/{train,val,test}.json; COCO keypoints format with the
source's own keypoint names and skeleton).

NYCU (``--format nycu --root NYCU``): Train/, Valid/, Test/ become train, val, test as published; frames
whose image exists only as LabelMe imageData get it written out. SyRIP / COCO (``--format coco``): give
the split files with ``--train FILE [--val FILE] [--test FILE]``, or ``--root SYRIP`` for SyRIP's standard
names (train = annotations/person_keypoints_train_infant.json, test =
annotations/person_keypoints_validate_infant.json, SyRIP's 500 real benchmark images); ``--train`` /
``--val`` / ``--test`` override single files. Without a val file, val is carved out of train BY GROUP
(video/subject, else image), ``--val-fraction`` of the groups, deterministic from ``--seed``. Images are
found beside each file (images/<NAME>/ for person_keypoints_<NAME>.json, or images/), or in ``--images``.

The body box of each infant is the COCO annotation's own bbox (cut to the image) when present, else the
labelled points' extent. OUT is written whole (a temporary folder renamed at the end); ``--force``
replaces a prepared dataset there.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from tqdm import tqdm

from pipeline.contract.keypoints import NYCU22, KeypointSet
from pipeline.errors import ConfigError, DatasetError
from trainer.pose import nycu
from trainer.pose.coco import CocoFile, read_coco
from trainer.pose.layout import SPLITS
from trainer.pose.source import SourceImage
from trainer.pose.writer import LayoutWriter, SplitCount, check_out, staged

log = logging.getLogger(__name__)

NYCU_SOURCE: Final = "NYCU infant keypoints"
COCO_SOURCE: Final = "COCO keypoints"
SYRIP_FILES: Final = {
    "train": "annotations/person_keypoints_train_infant.json",
    "test": "annotations/person_keypoints_validate_infant.json",
}
"""SyRIP's standard annotation files below ``--root`` (val is carved out of train)."""
GENERATOR_FILES: Final = {
    "val": "annotations/person_keypoints_val_infant.json",
    "test": "annotations/person_keypoints_test_infant.json",
}
"""The val/test files ``infant-stream synth keypoints --format coco`` writes: below ``--root`` they are used
when present (test before SyRIP's validate file)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags only ``--format coco`` uses."""
    p.add_argument("--train", type=Path, default=None, help="coco: training annotation file")
    p.add_argument(
        "--val", type=Path, default=None, help="coco: validation file (default: carved from train)"
    )
    p.add_argument("--test", type=Path, default=None, help="coco: test file (default: none, test is empty)")
    p.add_argument(
        "--images", type=Path, default=None, help="coco: images folder (default: found beside each file)"
    )


def _log_skipped(where: object, skipped: Counter[str]) -> None:
    for reason, n in sorted(skipped.items()):
        log.warning("%s: skipped %d %s", where, n, reason)


def _warn_shared_groups(splits_of: dict[str, set[str]]) -> None:
    shared = sorted(g for g, s in splits_of.items() if len(s) > 1)
    if shared:
        log.warning(
            "%d videos/subjects lie in more than one of the source's splits (e.g. %s); kept as published, "
            "`infant-stream verify` will report them",
            len(shared),
            shared[0],
        )


def _write(
    out: Path,
    sources: list[Path],
    force: bool,
    kset: KeypointSet,
    source: str,
    assigned: Iterator[tuple[str, SourceImage]],
    info: dict[str, object],
) -> dict[str, SplitCount]:
    check_out(out, force, sources)
    splits_of: dict[str, set[str]] = {}  # group → the splits it is in
    with staged(out) as tmp:
        writer = LayoutWriter(tmp, kset, source)
        for split, image in tqdm(assigned, desc="images", unit="image", disable=None):
            writer.add(split, image)
            splits_of.setdefault(image.group, set()).add(split)
        _warn_shared_groups(splits_of)
        return writer.finish(info)


def prepare_nycu(root: Path, out: Path, force: bool = False) -> dict[str, SplitCount]:
    """Convert an NYCU root into the keypoint layout at ``out``; returns the counts per split.

    Raises:
        DatasetError: a malformed frame (one line naming its file and field); ``out`` is then untouched.
        ConfigError: ``out`` holds a dataset and ``force`` is False, or holds other files or the source.
    """
    folders = {split: nycu.split_folder(root, split) for split in SPLITS}
    skipped: Counter[str] = Counter()

    def frames() -> Iterator[tuple[str, SourceImage]]:
        for split, folder in folders.items():
            files = nycu.annotation_files(folder)
            if not files:
                log.warning("%s: no LabelMe files in ann/", folder)
            for path in files:
                image = nycu.read_frame(path, folder / "img", skipped)
                if image.instances:
                    yield split, image
                else:
                    skipped["frames with no labelled point"] += 1

    counts = _write(out, [root], force, NYCU22, NYCU_SOURCE, frames(), {"root": str(root.resolve())})
    _log_skipped(root, skipped)
    return counts


def coco_split_files(
    root: Path | None, train: Path | None, val: Path | None, test: Path | None
) -> dict[str, Path | None]:
    """The annotation file of each split: SyRIP's standard names below ``root``, overridden one by one.

    Raises:
        ConfigError: no training file.
    """
    files: dict[str, Path | None] = {s: None for s in SPLITS}
    if root is not None:
        files.update({s: root / rel for s, rel in SYRIP_FILES.items()})
        files.update({s: root / rel for s, rel in GENERATOR_FILES.items() if (root / rel).is_file()})
    for split, given in (("train", train), ("val", val), ("test", test)):
        if given is not None:
            files[split] = given
    if files["train"] is None:
        raise ConfigError("--train: --format coco needs --train FILE or --root SYRIP_ROOT")
    return files


def prepare_coco(
    files: dict[str, Path | None],
    out: Path,
    images: Path | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    force: bool = False,
) -> dict[str, SplitCount]:
    """Convert COCO keypoints files (split → file or None) into the keypoint layout at ``out``.

    Without a val file, val takes ``val_fraction`` of the training file's groups (:func:`split_videos`).

    Raises:
        DatasetError: a malformed file (one line naming the file and field); ``out`` is then untouched.
        ConfigError: see :func:`prepare_nycu`; a bad ``val_fraction``.
    """
    from trainer.prepare import split_videos  # trainer.prepare imports this module

    skipped: Counter[str] = Counter()
    read: dict[str, CocoFile] = {}
    for split, path in files.items():
        if path is None:
            continue
        if not path.is_file():
            raise DatasetError(f"{path}: no such annotation file (--{split})")
        read[split] = read_coco(path, images, skipped)
    sets = {f.keypoint_set.name for f in read.values()}
    if len(sets) > 1:
        raise DatasetError(
            f"{', '.join(str(f.path) for f in read.values())}: categories: different keypoint sets"
        )
    assigned: dict[str, list[SourceImage]] = {s: list(read[s].images) if s in read else [] for s in SPLITS}
    carved: list[str] = []
    if "val" not in read:
        groups = [im.group for im in assigned["train"]]
        _, carved = split_videos(groups, val_fraction, seed)
        val = set(carved)
        assigned["val"] = [im for im in assigned["train"] if im.group in val]
        assigned["train"] = [im for im in assigned["train"] if im.group not in val]
    if "test" not in read:
        log.warning("no test file: annotations/test.json will be empty")
    info: dict[str, object] = {f"{s}_file": str(p.resolve()) for s, p in files.items() if p is not None}
    if carved:
        info.update({"val_fraction": val_fraction, "seed": seed, "val_groups": carved})
    kset = read["train"].keypoint_set
    order = ((s, im) for s in SPLITS for im in assigned[s])
    sources = [p for p in files.values() if p is not None]
    if images is not None:
        sources.append(images)
    counts = _write(out, sources, force, kset, COCO_SOURCE, order, info)
    _log_skipped(", ".join(str(p) for p in sources), skipped)
    return counts


def main(args: argparse.Namespace) -> int:
    """Run ``prepare --format nycu|coco``; returns the exit code (errors are raised)."""
    if args.format == "nycu":
        extra = [f"--{k}" for k in ("train", "val", "test", "images") if getattr(args, k) is not None]
        if extra:
            raise ConfigError(f"{extra[0]}: only for --format coco")
        if args.root is None:
            raise ConfigError("--root: --format nycu needs --root NYCU_ROOT (with Train/, Valid/, Test/)")
        counts = prepare_nycu(args.root, args.out, args.force)
        unit = "videos"
    else:
        files = coco_split_files(args.root, args.train, args.val, args.test)
        counts = prepare_coco(files, args.out, args.images, args.val_fraction, args.seed, args.force)
        unit = "groups"
    parts = ", ".join(f"{s} {c.images} ({c.groups} {unit})" for s, c in counts.items())
    n = sum(c.images for c in counts.values())
    m = sum(c.instances for c in counts.values())
    sys.stdout.write(f"prepared {n} images ({m} labelled infants) into {args.out}: {parts}\n")
    return 0
