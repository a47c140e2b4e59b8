"""``infant-stream prepare``: convert a Youtube-Infant-Body-Parsing root into the prepared layout.

Reads ``train_label.json``, ``test_label.json`` (and ``train_unlabel.json`` / ``test_unlabel.json`` when
present) and ``all_data/*.jpg``; writes images, class-id masks and split files (:mod:`trainer.layout`).
The validation split is carved out of the training file BY VIDEO (never by frame), deterministically
from ``--seed``. Unlabelled frames follow their video: ``splits/unlabelled.txt`` holds only frames of
training videos (safe for semi-supervised training); those of val/test videos go to
``splits/unlabelled_val.txt`` / ``splits/unlabelled_test.txt``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipeline.errors import ConfigError, DatasetError
from trainer.layout import SPLITS, UNLABELLED, Layout, save_mask, video_of
from trainer.logs import show_info_logs
from trainer.pose import prepare as pose_prepare
from trainer.yibp import IMAGE_DIR, Entry, decode_label, image_size, iter_json_files, read_entries

log = logging.getLogger(__name__)

SOURCE_NAME = "Youtube-Infant-Body-Parsing"


@dataclass(frozen=True)
class PrepareSummary:
    """What ``prepare`` wrote: frame and video counts per split (``unlabelled*`` included)."""

    frames: dict[str, int]
    videos: dict[str, int]


def split_videos(videos: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split video ids into (train, val), deterministic for a given seed and set of ids.

    ``round(n * val_fraction)`` videos go to val (at least one when ``val_fraction > 0`` and there are two
    or more videos); at least one video stays in train.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"--val-fraction: must be in [0, 1), got {val_fraction}")
    ordered = sorted(set(videos))
    random.Random(seed).shuffle(ordered)
    n_val = round(len(ordered) * val_fraction)
    if val_fraction > 0 and n_val == 0 and len(ordered) > 1:
        n_val = 1
    n_val = min(n_val, max(len(ordered) - 1, 0))
    return sorted(ordered[n_val:]), sorted(ordered[:n_val])


def _check_entries(by_file: dict[Path, list[Entry]]) -> None:
    """No duplicate image names anywhere; no video in both the train and the test files."""
    seen: dict[str, Entry] = {}
    for entries in by_file.values():
        for e in entries:
            if e.image in seen:
                raise DatasetError(f"{e.where}: image also listed in {seen[e.image].where}")
            seen[e.image] = e
    side: dict[str, Entry] = {}
    for path, entries in by_file.items():
        for e in entries:
            first = side.setdefault(e.video, e)
            if first.json_name.split("_")[0] != path.name.split("_")[0]:
                raise DatasetError(
                    f"{e.where}: video {e.video} is also in {first.json_name} (train/test overlap)"
                )


def _clear_outputs(layout: Layout) -> None:
    for folder in (layout.images, layout.masks, layout.splits, layout.unlabelled):
        if folder.exists():
            shutil.rmtree(folder)
    layout.info.unlink(missing_ok=True)
    # A keypoint dataset this one replaces (verify would take the folder for one).
    shutil.rmtree(layout.root / "annotations", ignore_errors=True)


def _write_labelled(root: Path, layout: Layout, entry: Entry) -> None:
    src = root / IMAGE_DIR / entry.image
    h, w = image_size(src, entry.where)
    mask = decode_label(entry)
    if mask.shape != (h, w):
        raise DatasetError(
            f"{entry.where}: label is {mask.shape[1]}x{mask.shape[0]} but image is {w}x{h} (width x height)"
        )
    shutil.copyfile(src, layout.image(entry.stem))
    save_mask(layout.mask(entry.stem), mask)


def prepare_dataset(
    root: Path, out: Path, val_fraction: float = 0.1, seed: int = 0, force: bool = False
) -> PrepareSummary:
    """Convert a YIBP root into the prepared layout at ``out`` (see module docstring).

    Raises:
        DatasetError: a bad entry (missing image, undecodable label, unknown colour, size mismatch), named
            by JSON file and entry; on error nothing partial is left behind.
        ConfigError: ``out`` already holds a prepared dataset and ``force`` is False; bad val_fraction.
    """
    layout = Layout(out)
    if not force and any(
        p.exists() and any(p.iterdir()) for p in (layout.images, layout.masks, layout.splits)
    ):
        raise ConfigError(f"{out}: already holds a prepared dataset; use --force to replace it")
    by_file = {path: read_entries(path, labelled) for _, path, labelled in iter_json_files(root)}
    _check_entries(by_file)
    labelled = {p.name.split("_")[0]: es for p, es in by_file.items() if p.name.endswith("_label.json")}
    unlabelled = [e for p, es in by_file.items() if p.name.endswith("_unlabel.json") for e in es]
    train_videos, val_videos = split_videos([e.video for e in labelled["train"]], val_fraction, seed)
    val_set = set(val_videos)

    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for e in labelled["train"]:
        splits["val" if e.video in val_set else "train"].append(e.stem)
    splits["test"] = [e.stem for e in labelled["test"]]
    unl: dict[str, list[str]] = {UNLABELLED: [], f"{UNLABELLED}_val": [], f"{UNLABELLED}_test": []}
    for e in unlabelled:
        if e.json_name.startswith("test"):
            unl[f"{UNLABELLED}_test"].append(e.stem)
        else:
            unl[f"{UNLABELLED}_val" if e.video in val_set else UNLABELLED].append(e.stem)

    _clear_outputs(layout)
    try:
        for folder in (layout.images, layout.masks, layout.splits):
            folder.mkdir(parents=True, exist_ok=True)
        todo = labelled["train"] + labelled["test"]
        for entry in tqdm(todo, desc="labelled frames", unit="frame", disable=None):
            _write_labelled(root, layout, entry)
        if unlabelled:
            layout.unlabelled.mkdir(parents=True, exist_ok=True)
        for entry in tqdm(unlabelled, desc="unlabelled frames", unit="frame", disable=None):
            src = root / IMAGE_DIR / entry.image
            image_size(src, entry.where)
            shutil.copyfile(src, layout.unlabelled / f"{entry.stem}.jpg")
        for name, stems in {**splits, **unl}.items():
            layout.write_split(name, sorted(stems))
    except BaseException:
        _clear_outputs(layout)
        raise

    video_count = {name: len({video_of(s) for s in stems}) for name, stems in {**splits, **unl}.items()}
    frame_count = {name: len(stems) for name, stems in {**splits, **unl}.items()}
    info: dict[str, Any] = {
        "source": SOURCE_NAME,
        "root": str(root.resolve()),
        "val_fraction": val_fraction,
        "seed": seed,
        "frames": frame_count,
        "videos": video_count,
        "val_videos": val_videos,
        "train_videos": train_videos,
    }
    layout.info.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    for name in frame_count:
        log.debug("%-16s %6d frames from %3d videos", name, frame_count[name], video_count[name])
    return PrepareSummary(frames=frame_count, videos=video_count)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``prepare`` subcommand (``--format yibp``, the default, or ``nycu`` / ``coco`` keypoints)."""
    p = subparsers.add_parser(
        "prepare",
        help="convert a YIBP (segmentation) or NYCU / COCO-SyRIP (keypoints) dataset into a prepared layout",
        description=f"{__doc__}\n{pose_prepare.__doc__}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--format",
        choices=("yibp", "nycu", "coco"),
        default="yibp",
        help="source: yibp (segmentation, default), nycu or coco (keypoints)",
    )
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="yibp: *_label.json + all_data/; nycu: Train/ Valid/ Test/; coco: SyRIP (standard names)",
    )
    p.add_argument("--out", type=Path, default=Path("data"), help="output folder (default: data)")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of training VIDEOS (coco: groups) for val (0.1)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the video split (0)")
    p.add_argument("--force", action="store_true", help="replace an existing prepared dataset in --out")
    pose_prepare.add_arguments(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run ``prepare``; returns the exit code (errors are raised as InfantStreamError)."""
    show_info_logs()
    if getattr(args, "format", "yibp") != "yibp":
        return pose_prepare.main(args)
    extra = [f"--{k}" for k in ("train", "val", "test", "images") if getattr(args, k, None) is not None]
    if extra:
        raise ConfigError(f"{extra[0]}: only for --format coco")
    if args.root is None:
        raise ConfigError("--root: --format yibp needs --root YIBP_ROOT (with *_label.json and all_data/)")
    summary = prepare_dataset(args.root, args.out, args.val_fraction, args.seed, args.force)
    n = sum(summary.frames[s] for s in ("train", "val", "test"))
    parts = ", ".join(
        f"{k} {v} ({summary.videos[k]} videos)" for k, v in summary.frames.items() if v or k in SPLITS
    )
    sys.stdout.write(f"prepared {n} labelled frames into {args.out}: {parts}\n")
    return 0
