"""Write a synthetic dataset in the exact Youtube-Infant-Body-Parsing (YIBP) layout (docs/trainer.md).

Layout under ``out``::

    all_data/<video7><frame6>.jpg     RGB JPEGs (sizes vary per video: landscape and portrait)
    train_label.json, test_label.json {video7: [{"image": "<video7><frame6>.jpg", "label": "<base64 PNG>"}]}
    train_unlabel.json                {video7: [{"image": ...}]}  (only with unlabelled videos)

Each label is a palette ("P" mode) PNG whose pixels are the class colours of :data:`CLASS_COLORS_RGB`
(background black). The palette order is shuffled per file and padded with unused colours, so a reader that
trusts palette indices instead of decoding to RGB fails loudly. Frames of one video share the infant, its look
and the set-up while the pose moves, so splits must be by video. Deterministic given ``seed``.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.contract.classes import CLASS_COLORS_RGB, NUM_CLASSES
from pipeline.errors import ConfigError, DatasetError
from trainer.synth.domain import PLAIN, Domain, make_setup, shoot
from trainer.synth.motion import sample_motion
from trainer.synth.render import render

U8 = npt.NDArray[np.uint8]

ASPECTS: Final[tuple[float, ...]] = (4 / 3, 16 / 9, 3 / 2, 5 / 4)
FRAME_RATE: Final[float] = 25.0
"""Frame numbers in image names count frames of a virtual 25 fps recording; poses follow that clock."""
PALETTE_SIZE: Final[int] = 16


@dataclass(frozen=True)
class DatasetSummary:
    """What :func:`write_yibp` wrote: video ids per split and the number of JPEGs."""

    out_dir: Path
    train_videos: tuple[str, ...]
    test_videos: tuple[str, ...]
    unlabelled_videos: tuple[str, ...]
    images: int


def labels_to_rgb(labels: U8) -> U8:
    """(H, W) class ids → (H, W, 3) uint8 RGB class colours."""
    return np.asarray(CLASS_COLORS_RGB, dtype=np.uint8)[labels]


def encode_label_png(labels: U8, rng: np.random.Generator) -> bytes:
    """(H, W) uint8 class ids → palette PNG bytes coloured with the class RGB colours.

    The class colours sit at random palette slots (never the identity order) among unused filler colours.
    """
    from PIL import Image  # Pillow: the only writer of palette PNGs at hand (OpenCV writes none)

    if labels.ndim != 2 or int(labels.max(initial=0)) >= NUM_CLASSES:
        raise DatasetError(f"label map must be (H, W) with ids < {NUM_CLASSES}, got shape {labels.shape}")
    identity = np.arange(NUM_CLASSES)
    slots = identity
    while np.array_equal(slots, identity):
        slots = rng.choice(PALETTE_SIZE, size=NUM_CLASSES, replace=False)
    palette = rng.integers(0, 256, size=(PALETTE_SIZE, 3))
    palette[slots] = np.asarray(CLASS_COLORS_RGB)
    index = slots.astype(np.uint8)[labels]
    image = Image.frombytes("P", (labels.shape[1], labels.shape[0]), np.ascontiguousarray(index).tobytes())
    image.putpalette([int(v) for v in palette.ravel()])
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def sample_image_size(rng: np.random.Generator, size_range: tuple[int, int]) -> tuple[int, int]:
    """(width, height): long side uniform in ``size_range``, a common aspect, portrait one time in three."""
    long_side = int(rng.integers(size_range[0], size_range[1] + 1))
    short_side = max(16, round(long_side / ASPECTS[int(rng.integers(len(ASPECTS)))]))
    return (short_side, long_side) if rng.random() < 1 / 3 else (long_side, short_side)


def held_out_count(videos: int, fraction: float, reserved: int = 0) -> int:
    """Videos to hold out for a split of ``fraction``: ``round(fraction * videos)``, at least one when
    ``fraction > 0`` and at least two videos remain, never the last of the ``videos - reserved`` not yet
    held out (``reserved``: videos already given to another held-out split)."""
    left = videos - reserved
    return min(left - 1, max(1 if fraction > 0 and left >= 2 else 0, math.floor(fraction * videos + 0.5)))


def _video_ids(rng: np.random.Generator, n: int) -> list[str]:
    ids: list[str] = []
    seen: set[int] = set()
    while len(ids) < n:
        v = int(rng.integers(0, 10**7))
        if v not in seen:
            seen.add(v)
            ids.append(f"{v:07d}")
    return ids


def validate_options(
    videos: int, frames_per_video: int, size_range: tuple[int, int], test_fraction: float
) -> None:
    """Raise :class:`ConfigError` naming the flag for any value :func:`write_yibp` cannot honour."""
    if videos < 1:
        raise ConfigError(f"--videos must be >= 1, got {videos}")
    if frames_per_video < 1:
        raise ConfigError(f"--frames-per-video must be >= 1, got {frames_per_video}")
    lo, hi = size_range
    if not 64 <= lo <= hi <= 4096:
        raise ConfigError(f"--size-range must satisfy 64 <= MIN <= MAX <= 4096, got {lo} {hi}")
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"--test-fraction must be in [0, 1), got {test_fraction}")


def write_yibp(
    out_dir: Path,
    *,
    videos: int,
    frames_per_video: int,
    seed: int,
    size_range: tuple[int, int] = (256, 640),
    test_fraction: float = 0.2,
    unlabelled_videos: int = 0,
    jpeg_quality: int = 92,
    on_image: Callable[[], None] | None = None,
    domain: Domain = PLAIN,
) -> DatasetSummary:
    """Render ``videos`` labelled videos (+ ``unlabelled_videos``) of ``frames_per_video`` frames each into a
    YIBP tree at ``out_dir``. ``round(test_fraction * videos)`` videos (at least one when ``videos >= 2`` and
    ``test_fraction > 0``) go to the test split. ``on_image`` is called after each JPEG is written. A
    randomised ``domain`` films each video with its own random camera (:mod:`trainer.synth.domain`)."""
    validate_options(videos, frames_per_video, size_range, test_fraction)
    if unlabelled_videos < 0:
        raise ConfigError(f"--unlabelled-videos must be >= 0, got {unlabelled_videos}")
    images_dir = out_dir / "all_data"
    images_dir.mkdir(parents=True, exist_ok=True)
    root = np.random.SeedSequence(seed)
    master = np.random.default_rng(root.spawn(1)[0])
    ids = _video_ids(master, videos + unlabelled_videos)
    n_test = held_out_count(videos, test_fraction)
    order = master.permutation(videos)
    test_set = {ids[int(i)] for i in order[:n_test]}
    train: dict[str, list[dict[str, str]]] = {}
    test: dict[str, list[dict[str, str]]] = {}
    unlabelled: dict[str, list[dict[str, str]]] = {}
    count = 0
    for vi, (video_id, child) in enumerate(zip(ids, root.spawn(len(ids)), strict=True)):
        rng = np.random.default_rng(child)
        width, height = sample_image_size(rng, size_range)
        motion = sample_motion(rng, width, height)
        frame_numbers = np.cumsum(rng.integers(8, 60, size=frames_per_video)) + int(rng.integers(0, 600))
        setup = make_setup(domain, rng, width, height, motion.pose_at(frame_numbers[0] / FRAME_RATE))
        scene, cam = setup.scene, setup.camera
        entries: list[dict[str, str]] = []
        for frame in (int(f) for f in frame_numbers):
            name = f"{video_id}{frame:06d}.jpg"
            frame_out, _ = shoot(render(scene, motion.pose_at(frame / FRAME_RATE), rng), (), cam, rng)
            bgr = cv2.cvtColor(frame_out.image, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(images_dir / name), bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]):
                raise DatasetError(f"cannot write {images_dir / name}")
            count += 1
            if vi < videos:
                label = base64.b64encode(encode_label_png(frame_out.labels, rng)).decode("ascii")
                entries.append({"image": name, "label": label})
            else:
                entries.append({"image": name})
            if on_image is not None:
                on_image()
        if vi >= videos:
            unlabelled[video_id] = entries
        elif video_id in test_set:
            test[video_id] = entries
        else:
            train[video_id] = entries
    _write_json(out_dir / "train_label.json", train)
    _write_json(out_dir / "test_label.json", test)
    if unlabelled_videos:
        _write_json(out_dir / "train_unlabel.json", unlabelled)
    return DatasetSummary(
        out_dir=out_dir,
        train_videos=tuple(sorted(train)),
        test_videos=tuple(sorted(test)),
        unlabelled_videos=tuple(sorted(unlabelled)),
        images=count,
    )


def _write_json(path: Path, split: dict[str, list[dict[str, str]]]) -> None:
    path.write_text(json.dumps({k: split[k] for k in sorted(split)}), encoding="ascii")
