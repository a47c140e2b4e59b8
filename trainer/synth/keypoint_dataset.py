"""Generate synthetic keypoint datasets (``infant-stream synth keypoints``) in the NYCU and/or COCO layout.

Each video is one infant set-up: one look, body shape, clothes, mattress, lighting, camera quality and
image size (long side uniform in ``size_range``, landscape or portrait as :func:`sample_image_size`). Its
frames are far-apart samples of one GMA-like movement (:func:`trainer.synth.motion.sample_motion` with
amplitudes x :data:`AMPLITUDE_GAIN`, so limbs sweep their whole joint ranges), each framed anew: the
video's base orientation (uniform over the full circle) plus a per-frame turn (normal, sigma
:data:`ORIENTATION_JITTER` radians), a per-frame scale filling :data:`FILL` of the image (above 1 the hands,
feet or head leave the frame) and a random position. Scenes with an occluder get a new blanket edge or toy
around the infant every frame. Videos go to train/val/test whole (split by video, like
:func:`trainer.synth.dataset.write_yibp`). Video ids are ``001``, ``002``, ... (three digits, as NYCU's);
frame numbers count frames of a virtual 25 fps recording. Same seed, same files byte for byte.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from pipeline.errors import ConfigError, DatasetError
from trainer.pose.layout import SPLITS
from trainer.synth.body import Pose
from trainer.synth.dataset import FRAME_RATE, held_out_count, sample_image_size, validate_options
from trainer.synth.domain import PLAIN, Domain, aim, make_setup, place_props, shoot
from trainer.synth.joints import frame_keypoints
from trainer.synth.keypoint_formats import CocoWriter, KeypointFrame, NycuWriter, foreground_box
from trainer.synth.motion import frame_body, sample_motion
from trainer.synth.render import render

FORMATS: Final[tuple[str, ...]] = ("nycu", "coco", "both")
MAX_VIDEOS: Final[int] = 999
"""NYCU names videos with three digits."""
AMPLITUDE_GAIN: Final[float] = 1.6
FILL: Final[tuple[float, float]] = (0.55, 1.3)
ORIENTATION_JITTER: Final[float] = 0.35


@dataclass(frozen=True)
class KeypointSummary:
    """What :func:`write_keypoints` wrote: video ids per split, frame count and generation time (seconds)."""

    out_dir: Path
    fmt: str
    videos: dict[str, tuple[str, ...]]
    frames: int
    seconds: float


def validate_keypoint_options(
    fmt: str,
    videos: int,
    frames_per_video: int,
    size_range: tuple[int, int],
    val_fraction: float,
    test_fraction: float,
) -> None:
    """Raise :class:`ConfigError` naming the flag for any value :func:`write_keypoints` cannot honour."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt}")
    validate_options(videos, frames_per_video, size_range, test_fraction)
    if videos > MAX_VIDEOS:
        raise ConfigError(f"--videos must be <= {MAX_VIDEOS} (three-digit video ids), got {videos}")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"--val-fraction + --test-fraction must be < 1, got {val_fraction} + {test_fraction}"
        )


def split_videos(
    videos: int, val_fraction: float, test_fraction: float, rng: np.random.Generator
) -> list[str]:
    """The split (train, val or test) of each of ``videos`` videos, chosen at random by ``rng``; test and
    val get :func:`~trainer.synth.dataset.held_out_count` videos each, train at least one."""
    n_test = held_out_count(videos, test_fraction)
    n_val = held_out_count(videos, val_fraction, reserved=n_test)
    splits = ["train"] * videos
    for rank, i in enumerate(rng.permutation(videos)):
        if rank < n_test:
            splits[int(i)] = "test"
        elif rank < n_test + n_val:
            splits[int(i)] = "val"
    return splits


MAX_REDRAWS: Final = 20
"""Randomised keypoint frames: draws of props and aim before giving up on a frame with no infant pixel."""


def video_poses(rng: np.random.Generator, width: int, height: int, frames: int) -> list[tuple[int, Pose]]:
    """(frame number, pose) of the ``frames`` frames of one video in a (height, width) image (module doc)."""
    motion = sample_motion(rng, width, height)
    motion = replace(motion, amps=motion.amps * AMPLITUDE_GAIN)
    base = float(rng.uniform(-math.pi, math.pi))
    numbers = np.cumsum(rng.integers(8, 60, size=frames)) + int(rng.integers(0, 600))
    out = []
    for number in (int(n) for n in numbers):
        turn = base + float(rng.normal(0.0, ORIENTATION_JITTER))
        cx, cy, orientation, scale = frame_body(rng, width, height, fill=FILL, orientation=turn)
        pose = replace(
            motion.pose_at(number / FRAME_RATE),
            center_x=cx,
            center_y=cy,
            orientation=orientation,
            scale=scale,
        )
        out.append((number, pose))
    return out


def generate_video(
    seed: np.random.SeedSequence,
    video: str,
    frames: int,
    size_range: tuple[int, int],
    domain: Domain = PLAIN,
) -> Iterator[KeypointFrame]:
    """Render the ``frames`` frames of video ``video`` (module doc) from its own ``seed``; a randomised
    ``domain`` films them with one random camera per video (:mod:`trainer.synth.domain`), and a frame in which
    props and framing left no infant pixel (no body box to crop) is drawn again with new props and aim."""
    rng = np.random.default_rng(seed)
    width, height = sample_image_size(rng, size_range)
    poses = video_poses(rng, width, height, frames)
    setup = make_setup(domain, rng, width, height, poses[0][1])
    for number, pose in poses:
        for _ in range(MAX_REDRAWS):  # randomised: props or the framing may hide the whole infant; redraw
            framed = place_props(setup, pose, domain, rng)
            drawn = render(framed, pose, rng)
            kps = frame_keypoints(pose, framed.shape, drawn.instances, drawn.occluder_mask)
            aimed = aim(setup.camera, width, height, (pose.center_x, pose.center_y), rng)  # framed anew
            out, (nycu, coco) = shoot(drawn, kps, aimed, rng)
            bbox, area = foreground_box(out.labels)
            if area > 0 or not domain.randomize:
                break
        else:
            raise DatasetError(
                f"video {video} frame {number}: no infant pixel left after {MAX_REDRAWS} draws"
            )
        yield KeypointFrame(video, number, out.image, bbox, area, nycu, coco)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """(H, W, 3) uint8 RGB → JPEG bytes at ``quality`` (0..100)."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise DatasetError(f"cannot encode a {image.shape} image as JPEG")
    return bytes(buf)


def write_keypoints(
    out_dir: Path,
    *,
    fmt: str,
    videos: int,
    frames_per_video: int,
    seed: int,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    size_range: tuple[int, int] = (256, 640),
    jpeg_quality: int = 92,
    on_image: Callable[[], None] | None = None,
    domain: Domain = PLAIN,
) -> KeypointSummary:
    """Render ``videos`` x ``frames_per_video`` frames into ``out_dir`` in the ``fmt`` layout (``nycu``,
    ``coco`` or ``both``, see :mod:`trainer.synth.keypoint_formats`). ``on_image`` is called per frame."""
    validate_keypoint_options(fmt, videos, frames_per_video, size_range, val_fraction, test_fraction)
    start = time.perf_counter()
    root = np.random.SeedSequence(seed)
    master = np.random.default_rng(root.spawn(1)[0])
    splits = split_videos(videos, val_fraction, test_fraction, master)
    writers: list[NycuWriter | CocoWriter] = []
    if fmt in ("nycu", "both"):
        writers.append(NycuWriter(out_dir))
    if fmt in ("coco", "both"):
        writers.append(CocoWriter(out_dir))
    count = 0
    for i, (split, child) in enumerate(zip(splits, root.spawn(videos), strict=True)):
        for frame in generate_video(child, f"{i + 1:03d}", frames_per_video, size_range, domain):
            jpeg = encode_jpeg(frame.image, jpeg_quality)
            for writer in writers:
                writer.add(split, frame, jpeg)
            count += 1
            if on_image is not None:
                on_image()
    for writer in writers:
        writer.finish()
    ids = {s: tuple(f"{i + 1:03d}" for i, x in enumerate(splits) if x == s) for s in SPLITS}
    return KeypointSummary(out_dir, fmt, ids, count, time.perf_counter() - start)
