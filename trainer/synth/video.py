"""Write an H.264 clip of one synthetic infant moving smoothly, with exact per-frame ground truth.

The clip (``FILE.mp4``, yuv420p, constant frame rate, frame ``i`` at ``pts_s = i / fps``) shows one infant in
one set-up kicking, waving and turning its head: randomly, or as a motion program with a known truth
(``program``, e.g. ``kick:0.8``: :mod:`trainer.synth.programs`). Next to it, ``FILE.json`` holds::

    {"schema": 1, "video": "FILE.mp4", "fps": 25.0, "width": 640, "height": 480, "seed": 0,
     "program": "kick:0.8", "num_frames": N,
     "frames": [{"index": i, "pts_s": t,
                 "classes": {"head": {"centroid": [x, y], "area_px": n, "box": [x0, y0, x1, y1]}, ...},
                 "instances": {"arm": [{"side": "left", "centroid": [x, y], "area_px": n, "box": [...]}, ...],
                               "leg": [...]},
                 "keypoints": {"nycu22": [[x, y, v], ...], "coco17": [[x, y, v], ...]}}]}

computed from the exact label map of each frame. ``keypoints`` holds the 22 NYCU and 17 COCO points in
their set's order (:mod:`trainer.synth.joints`: pixels, the infant's own sides, v = 2 visible, 1 hidden by
another body part or the head's turn, 0 outside the frame with x = y = 0). Pixel coordinates: a centroid is the plain mean of the
pixels' column/row indices (as ``cv2.connectedComponentsWithStats``); a box is [x0, y0, x1, y1] with x1/y1
exclusive. Classes and instances not visible in a frame are omitted. ``program`` (the canonical spec) is
present only for a programmed clip (not ``random``). The JSON is byte-identical for a seed (and program).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.contract.classes import CLASS_NAMES
from pipeline.errors import ConfigError, SourceError
from trainer.synth.body import INSTANCE_CLASS, INSTANCE_SIDE, Pose
from trainer.synth.domain import PLAIN, Domain, describe, make_setup, shoot
from trainer.synth.joints import BodyKeypoints, frame_keypoints
from trainer.synth.programs import check_sampling, parse_program
from trainer.synth.render import Rendered, Scene, render

U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class VideoSummary:
    """What :func:`write_video` wrote."""

    video_path: Path
    truth_path: Path
    frames: int
    fps: float
    width: int
    height: int


def truth_path_for(video_path: Path) -> Path:
    """The ground-truth JSON written next to ``video_path`` (same stem, ``.json``)."""
    return video_path.with_suffix(".json")


def _stats(mask: npt.NDArray[np.bool_]) -> dict[str, Any] | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return {
        "centroid": [round(float(xs.mean()), 4), round(float(ys.mean()), 4)],
        "area_px": len(xs),
        "box": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1],
    }


def part_truth(labels: U8, instances: U8) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Per-class and per-instance (left/right arm and leg) statistics of one frame.

    ``labels``/``instances``: (H, W) uint8 maps from :func:`trainer.synth.render.render`. Returns
    (``classes``, ``instances``) as in the module doc.
    """
    classes: dict[str, Any] = {}
    for class_id in range(1, len(CLASS_NAMES)):
        s = _stats(labels == class_id)
        if s is not None:
            classes[CLASS_NAMES[class_id]] = s
    sided: dict[str, list[dict[str, Any]]] = {}
    for inst, side in enumerate(INSTANCE_SIDE):
        if not side:
            continue
        s = _stats(instances == inst)
        if s is not None:
            sided.setdefault(CLASS_NAMES[INSTANCE_CLASS[inst]], []).append({"side": side, **s})
    return classes, sided


def validate_options(frames: int, fps: float, width: int, height: int, program: str = "random") -> None:
    """Raise :class:`ConfigError` naming the flag for any value :func:`write_video` cannot honour (a bad
    motion ``program`` spec, or one too fast for ``fps``, included)."""
    if frames < 1:
        raise ConfigError(f"--frames must be >= 1, got {frames}")
    if not 0.0 < fps <= 240.0:
        raise ConfigError(f"--fps must be in (0, 240], got {fps}")
    for flag, v in (("--width", width), ("--height", height)):
        if not 64 <= v <= 4096 or v % 2:
            raise ConfigError(f"{flag} must be an even number in [64, 4096] (yuv420p), got {v}")
    check_sampling(parse_program(program), fps)


@dataclass(frozen=True, eq=False)
class ClipFrame:
    """One frame of the clip: ``pts_s``, the ``scene`` and ``pose`` it was drawn from, the ``rendered`` frame
    as the camera saw it and its keypoints (``nycu``, ``coco``) in the same pixels."""

    pts_s: float
    scene: Scene
    pose: Pose
    rendered: Rendered
    nycu: BodyKeypoints
    coco: BodyKeypoints


def clip_frames(
    *,
    frames: int,
    fps: float,
    width: int,
    height: int,
    seed: int,
    domain: Domain = PLAIN,
    program: str = "random",
) -> Iterator[ClipFrame]:
    """Yield the frames :func:`write_video` encodes; same seed (and domain and program) → same frames. A
    randomised ``domain`` films the clip with one random camera (:mod:`trainer.synth.domain`); ``program``
    is the motion spec (:mod:`trainer.synth.programs`; ConfigError when bad)."""
    rate = Fraction(fps).limit_denominator(1001)
    build = parse_program(program)
    rng = np.random.default_rng(seed)
    motion = build(rng, width, height)
    setup = make_setup(domain, rng, width, height, motion.pose_at(0.0), occluders=False)
    scene, cam = setup.scene, setup.camera
    for i in range(frames):
        t = float(i / rate)
        pose = motion.pose_at(t)
        drawn = render(scene, pose, rng)
        nycu, coco = frame_keypoints(pose, scene.shape, drawn.instances, drawn.occluder_mask)
        shot, (nycu, coco) = shoot(drawn, (nycu, coco), cam, rng)
        yield ClipFrame(t, scene, pose, shot, nycu, coco)


def video_frames(
    *, frames: int, fps: float, width: int, height: int, seed: int
) -> Iterator[tuple[float, Rendered]]:
    """Yield (pts_s, rendered frame) for the clip :func:`write_video` encodes; same seed → same frames."""
    for f in clip_frames(frames=frames, fps=fps, width=width, height=height, seed=seed):
        yield f.pts_s, f.rendered


def write_video(
    out_path: Path,
    *,
    frames: int,
    fps: float,
    width: int,
    height: int,
    seed: int,
    crf: int = 18,
    on_frame: Callable[[], None] | None = None,
    domain: Domain = PLAIN,
    program: str = "random",
) -> VideoSummary:
    """Encode the clip to ``out_path`` (H.264 via PyAV) and its ground truth to :func:`truth_path_for`; a
    randomised ``domain`` films it with one random camera (the truth is in the camera's pixels);
    ``program`` is the motion spec (:mod:`trainer.synth.programs`), recorded in the truth unless
    ``random``."""
    import av  # heavy; only needed here

    validate_options(frames, fps, width, height, program)
    spec = parse_program(program).spec
    rate = Fraction(fps).limit_denominator(1001)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    try:
        with av.open(str(out_path), "w") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = 1 / rate
            stream.options = {"crf": str(crf), "preset": "veryfast", "bf": "0"}
            for i, f in enumerate(
                clip_frames(
                    frames=frames,
                    fps=fps,
                    width=width,
                    height=height,
                    seed=seed,
                    domain=domain,
                    program=program,
                )
            ):
                frame = f.rendered
                vf = av.VideoFrame.from_ndarray(frame.image, format="rgb24")
                vf.pts = i
                vf.time_base = 1 / rate
                for packet in stream.encode(vf):
                    container.mux(packet)
                classes, sided = part_truth(frame.labels, frame.instances)
                records.append(
                    {
                        "index": i,
                        "pts_s": round(f.pts_s, 6),
                        "classes": classes,
                        "instances": sided,
                        "keypoints": {"nycu22": f.nycu.triples(), "coco17": f.coco.triples()},
                    }
                )
                if on_frame is not None:
                    on_frame()
            for packet in stream.encode(None):
                container.mux(packet)
    except av.FFmpegError as exc:
        raise SourceError(f"cannot write video {out_path}: {exc}") from exc
    truth = {
        "schema": 1,
        "video": out_path.name,
        "fps": float(fps),
        "width": width,
        "height": height,
        "seed": seed,
        **({"domain": describe(domain)} if domain.randomize else {}),
        **({"program": spec} if spec != "random" else {}),
        "num_frames": frames,
        "frames": records,
    }
    truth_path = truth_path_for(out_path)
    truth_path.write_text(json.dumps(truth), encoding="ascii")
    return VideoSummary(out_path, truth_path, frames, float(fps), width, height)
