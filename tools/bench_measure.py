"""The measurements of ``python -m tools.bench`` (tools/bench.py), each with or without the pose stage.

- :func:`stage_costs`: each stage's CPU time per frame on one core, measured alone (the compute limit);
- :func:`naive_fps`: one thread, decode → preprocess → segment → [pose] → postprocess per frame;
- :func:`run_pipeline`: the threaded pipeline (a lossless file, or a paced live source: :func:`live`).

"With pose" is the two-stage pose step of a run (:class:`~pipeline.pose.stage.PoseStage`: class/score
maps, the infant's crop, the pose model, decoding) between segmentation and postprocess, whose
postprocess then reuses the maps and smooths the joints (the keypoint tracker).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Config, KeypointTrackerConfig, Policy
from pipeline.errors import ConfigError
from pipeline.frames import Frame, Inferred, Result
from pipeline.infer.backends import Backend
from pipeline.infer.inference import InferenceStage
from pipeline.infer.preprocess import Preprocessor
from pipeline.lifecycle import State
from pipeline.pose.model import PoseModel
from pipeline.pose.stage import PoseStage
from pipeline.postprocess.stage import Postprocessor
from pipeline.runtime.pipeline import Pipeline, percentile
from pipeline.sources.base import FrameStamper
from pipeline.sources.file import FileSource

log = logging.getLogger(__name__)


class Collect:
    """A sink keeping capture→postprocess latencies (ms), in arrival order and per source, and each
    result's pose stage time (``latency_ms.pose``, ms; 0 without a pose stage)."""

    name, capacity, critical = "bench", 1024, True
    policy: Policy = "lossless"

    def __init__(self) -> None:
        self.latency_ms: list[float] = []
        self.by_source: dict[str, list[float]] = {}
        self.pose_ms: list[float] = []

    def write(self, result: Result) -> None:
        ms = (result.publish_mono - result.meta.capture_mono) * 1000.0
        self.latency_ms.append(ms)
        self.by_source.setdefault(result.meta.source_id, []).append(ms)
        self.pose_ms.append(result.timings.pose_ms)

    def close(self) -> None:
        pass


class PacedFrames:
    """A live camera made of decoded frames replayed at ``fps`` (capture time = release time)."""

    live = True
    reconnects = 0
    timestamp_repairs = 0
    description = "paced frames"

    def __init__(self, images: list[np.ndarray], fps: float, count: int, source_id: str = "live") -> None:
        self.source_id = source_id
        self.state = State.STARTING
        self.images, self.fps, self.count = images, fps, count

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        stamper = FrameStamper(self.source_id)
        t0 = time.monotonic()
        self.state = State.RUNNING
        for i in range(self.count):
            due = t0 + i / self.fps
            if stop.wait(max(0.0, due - time.monotonic())):
                break
            yield stamper.stamp(self.images[i % len(self.images)], i / self.fps)
        self.state = State.STOPPED


def decode_frames(source: Path, frames: int) -> list[np.ndarray]:
    """The first ``frames`` frames of ``source``, (H, W, 3) uint8 RGB each."""
    stop = threading.Event()
    images = []
    for frame in FileSource(source, "bench").frames(stop):
        images.append(frame.image)
        if len(images) >= frames:
            stop.set()
    if not images:
        raise ConfigError(f"--source {source}: no frames decoded")
    return images


def cpu_ms_per_frame(work: Callable[[], int]) -> float:
    """Process CPU time (ms) per frame of ``work()`` (which returns how many frames it handled)."""
    c0 = time.process_time()
    n = work()
    return 1000.0 * (time.process_time() - c0) / max(n, 1)


def median_thread_cpu_ms(step: Callable[[Any], Any], items: list[Any]) -> tuple[float, list[Any]]:
    """Median CPU time (ms) of this thread per ``step(item)``, and the outputs. The median keeps a
    few slow calls (a page fault, the host stealing the core) out of the cost; ``step`` must do its
    work on the calling thread (a one-thread ONNX Runtime session does)."""
    times, outs = [], []
    for item in items:
        c0 = time.thread_time()
        outs.append(step(item))
        times.append(time.thread_time() - c0)
    return 1000.0 * float(np.median(times)), outs


@dataclass(frozen=True)
class StageCosts:
    """Single-core CPU time per frame of each stage, ms (:func:`stage_costs`).

    Attributes:
        segmentation: decode, preprocess, inference, postprocess (the stage ``infant-stream run``
            builds, :func:`run_postprocessor`: parts, part tracking, the privacy decision).
        with_pose: decode, preprocess, inference, pose (maps + crop + pose model + decoding),
            postprocess (the same stage on the pose stage's output: parts from its maps, part and
            keypoint tracking, the privacy decision); None without a pose model.
        keypoint_tracker_ms: the keypoint tracker's part of ``with_pose["postprocess"]`` (0 without pose).
        frames_with_pose: frames on which the pose stage found the infant and ran the model.
    """

    segmentation: dict[str, float]
    with_pose: dict[str, float] | None = None
    keypoint_tracker_ms: float = 0.0
    frames_with_pose: int = 0


def single_thread_pose(path: Path, flip_test: bool = False) -> PoseModel:
    """The pose model in a one-thread CPU session (its work is on the calling thread); ``flip_test``
    as the pipeline runs it (a second, mirrored pass per crop)."""
    from pipeline.infer.backends.ort_providers import OrtOptions

    return PoseModel(
        path,
        OrtOptions(providers="CPUExecutionProvider", intra_op_threads=1, inter_op_threads=1),
        flip_test=flip_test,
    )


def stage_costs(
    source: Path, model: Path, images: list[np.ndarray], pose: Path | None = None, flip_test: bool = False
) -> StageCosts:
    """Each stage's CPU time per frame on one core, ms: decode (+ RGB; the whole pass, FFmpeg's own
    threads included), preprocess, inference (a one-thread session of the same model), postprocess
    (parts and tracking), the last three as per-frame medians. With a ``pose`` model also the pose
    stage (one-thread session, with the pipeline's ``flip_test``) and the postprocess that follows it, measured alone the same way on
    the same frames, and the keypoint tracker alone."""
    from pipeline.infer.backends.onnxruntime import OrtBackend
    from pipeline.infer.backends.ort_providers import OrtOptions
    from pipeline.postprocess.tracking.keypoints import KeypointTracker

    n = len(images)
    single = OrtBackend(
        model, OrtOptions(providers="CPUExecutionProvider", intra_op_threads=1, inter_op_threads=1)
    )
    pre, infer = Preprocessor(single.spec), InferenceStage(single)
    post = run_postprocessor(single)
    stamper = FrameStamper("cost")
    frames = [stamper.stamp(img, i / 25.0) for i, img in enumerate(images)]

    def decode() -> int:
        stop = threading.Event()
        count = 0
        for _ in FileSource(source, "cost").frames(stop):
            count += 1
            if count >= n:
                stop.set()
        return count

    infer(pre(frames[0]))  # warm-up (first-call allocations)
    cost = {"decode": cpu_ms_per_frame(decode)}
    cost["preprocess"], prepared = median_thread_cpu_ms(pre, frames)
    cost["inference"], inferred = median_thread_cpu_ms(infer, prepared)
    cost["postprocess"], _ = median_thread_cpu_ms(post, inferred)
    if pose is None:
        return StageCosts(cost)

    step = PoseStage(single_thread_pose(pose, flip_test))
    step(inferred[0])  # warm-up
    with_pose = {k: cost[k] for k in ("decode", "preprocess", "inference")}
    with_pose["pose"], posed = median_thread_cpu_ms(step, inferred)
    post_pose = run_postprocessor(single)
    with_pose["postprocess"], _ = median_thread_cpu_ms(post_pose, posed)
    joints = KeypointTracker(KeypointTrackerConfig())
    tracker_ms, _ = median_thread_cpu_ms(lambda it: joints.update(it.frame.meta, it.pose), posed)
    found = sum(it.pose is not None for it in posed)
    if found == 0:
        log.warning(
            "%s: the segmentation model found no infant in any of the %d frames: the pose model never "
            "ran, so the pose cost is the class/score maps alone",
            source,
            n,
        )
    return StageCosts(cost, with_pose, tracker_ms, found)


def run_postprocessor(backend: Backend) -> Postprocessor:
    """The postprocess stage ``infant-stream run`` builds by default (parts, part and keypoint tracking,
    the privacy decision): what the naive loop and the pipeline runs do per frame, as the limit counts."""
    from pipeline.session.build import postprocessor

    return postprocessor(Config(), backend.spec)


def naive_fps(source: Path, frames: int, backend: Backend, pose: PoseModel | None = None) -> float:
    """Frames/s of one thread doing decode → preprocess → inference → [pose] → postprocess (with
    keypoint tracking after a pose) on the first ``frames`` frames of ``source``."""
    pre, infer = Preprocessor(backend.spec), InferenceStage(backend)
    post = run_postprocessor(backend)
    step = PoseStage(pose, post.maps) if pose is not None else None
    stop = threading.Event()
    count = 0
    t0 = time.perf_counter()
    for frame in FileSource(source, "naive").frames(stop):
        inferred: Inferred = infer(pre(frame))
        post(step(inferred) if step is not None else inferred)
        count += 1
        if count >= frames:
            stop.set()
    return count / (time.perf_counter() - t0)


def run_pipeline(
    source: Any,
    backend: Backend,
    sink: Collect,
    policy: Policy,
    max_frames: int | None,
    pose: PoseModel | None = None,
    workers: tuple[int, int] = (1, 1),
) -> float:
    """Seconds the pipeline (with the pose stage on its own thread when ``pose`` is given) takes from
    start to the last result; ``workers``: threads of the inference and pose stages."""
    post = run_postprocessor(backend)
    p = Pipeline(
        source,
        Preprocessor(backend.spec),
        InferenceStage(backend),
        post,
        [sink],
        policy=policy,
        max_frames=max_frames,
        pose=PoseStage(pose, post.maps) if pose is not None else None,
        infer_workers=workers[0],
        pose_workers=workers[1],
    )
    t0 = time.perf_counter()
    p.start()
    p.wait(3600)
    p.join()
    return time.perf_counter() - t0


@dataclass(frozen=True)
class Live:
    """The pipeline in ``latest`` mode fed by a paced source (:func:`live`); latencies capture→output, ms."""

    frames: int
    p50_ms: float
    p99_ms: float
    p99_first_half_ms: float
    p99_second_half_ms: float
    drop_rate: float


def live(
    images: list[np.ndarray],
    fps: float,
    count: int,
    backend: Backend,
    pose: PoseModel | None,
    workers: tuple[int, int] = (1, 1),
) -> Live:
    """``count`` frames cycled from ``images`` at ``fps`` through the pipeline (``latest`` queues)."""
    sink = Collect()
    run_pipeline(PacedFrames(images, fps, count), backend, sink, "latest", None, pose, workers)
    lat = sink.latency_ms
    half = len(lat) // 2
    return Live(
        frames=count,
        p50_ms=percentile(lat, 50),
        p99_ms=percentile(lat, 99),
        p99_first_half_ms=percentile(lat[:half], 99),
        p99_second_half_ms=percentile(lat[half:], 99),
        drop_rate=1.0 - len(lat) / count,
    )
