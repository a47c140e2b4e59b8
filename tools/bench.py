"""``python -m tools.bench``: is the threaded pipeline worth its threads? Measured in one run, for
segmentation alone and, with a pose model, for segmentation + pose.

0. limit    the compute limit: each stage's CPU time per frame on one core, measured alone (process CPU
            time, not wall: decode + RGB, preprocess, inference with a one-thread session, postprocess);
            the machine can do at most ``cores / sum`` frames/s, whatever the threading. With a pose
            model also the pose stage (class/score maps + crop + pose model in a one-thread session +
            decoding) and the postprocess after it (the maps reused, the keypoint tracker added):
            ``limit with pose = cores / sum with pose``;
1. bare     ONNX Runtime alone on frames preprocessed beforehand (one session with an intra-op thread
            per core, as a plain ONNX Runtime app runs; segmentation);
2. naive    one thread: decode → preprocess → infer → [pose →] postprocess per frame (the seed app's
            loop, with the same all-cores sessions);
3. pipeline the threaded pipeline, lossless, on the same file (the pose stage on its own thread), with
            the inference and pose workers and intra-op threads ``infant-stream run`` chooses for this
            machine (pipeline/runtime/threads.py; ``--workers``, ``--pose-workers``, ``--threads``
            override them);
4. camera   the pipeline in ``latest`` mode fed by a source paced at a camera's rate (``--camera-fps``,
            30): capture→output p50/p99 against one frame's **sequential cost** (the sum of the stages'
            single-core costs, the limit's denominator), p99 of the first vs the second half, drops;
            with the workers a live run gets (one per model, pipeline/runtime/threads.py);
5. live     the pipeline in ``latest`` mode fed by a source paced at ``--live-speed`` × the bare
            rate: capture→output latency p50/p99 (and p99 of the first vs last half: growth) and
            the drop rate; with a pose model once more with the pose stage, same source rate.

The pose model is ``--pose-model``, else ``models/infant-pose.onnx`` when it exists (as ``infant-stream
run``); ``--no-pose`` measures segmentation alone. Prints a table with ratios to the compute limit, the
bare and the naive rates and, with pose, one row per variant (fps with and without pose, the pose stage's
cost per frame), or one JSON object with ``--json`` (the pose measurements under ``pose``, null without).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Config, ModelConfig, PoseConfig, evolve
from pipeline.errors import ConfigError
from pipeline.infer.backends import Backend
from pipeline.infer.preprocess import Preprocessor
from pipeline.pose.model import PoseModel
from pipeline.runtime.threads import available_cores
from pipeline.session.build import limit_opencv_threads, load_backend, load_pose_model, stage_workers
from pipeline.sources.base import FrameStamper
from pipeline.sources.file import FileSource
from tools.bench_measure import (
    Collect,
    Live,
    PacedFrames,
    StageCosts,
    decode_frames,
    live,
    naive_fps,
    run_pipeline,
    stage_costs,
)

__all__ = ["BenchResult", "Collect", "PacedFrames", "PoseBench", "decode_frames", "run_bench"]


@dataclass(frozen=True)
class PoseBench:
    """The segmentation + pose measurements of a bench run (rates in frames/s, times in ms); the field
    names of :class:`BenchResult`'s, for the same measurement with the pose stage.

    Attributes:
        model: the pose model file; ``output``, ``keypoints``, ``input_hw``: its kind, keypoint count
            and input (height, width) px.
        frames_with_pose: of the ``frames`` measured for the costs, those where the segmentation found
            the infant and the pose model ran (0: the pose cost is the class/score maps alone).
        stage_cpu_ms: single-core CPU ms per frame: decode, preprocess, inference, pose (maps + crop +
            model + decoding), postprocess (the maps reused; part and keypoint tracking).
        keypoint_tracker_ms: the keypoint tracker's part of ``stage_cpu_ms["postprocess"]``.
        pose_wall_ms: median ``latency_ms.pose`` (wall, the pose thread's time per frame) in the
            lossless pipeline run.
        limit_fps: ``cores / sum(stage_cpu_ms)``, the compute limit with pose.
        workers: (inference, pose) worker threads of the pipeline runs.
        camera: the camera-rate live measurement (:func:`_camera_fields`).
    """

    model: str
    output: str
    keypoints: int
    input_hw: tuple[int, int]
    frames_with_pose: int
    stage_cpu_ms: dict[str, float]
    keypoint_tracker_ms: float
    pose_wall_ms: float
    limit_fps: float
    naive_fps: float
    pipeline_fps: float
    live_frames: int
    live_p50_ms: float
    live_p99_ms: float
    live_p99_first_half_ms: float
    live_p99_second_half_ms: float
    live_drop_rate: float
    workers: tuple[int, int] = (1, 1)
    camera: dict[str, float] | None = None


@dataclass(frozen=True)
class BenchResult:
    """Everything one bench run measured (rates in frames/s, times in ms); the top-level rates are
    segmentation alone, ``pose`` the same measurements with the pose stage (None without a pose model);
    ``workers``: the inference workers and ``intra_threads`` the intra-op threads of the pipeline runs."""

    frames: int
    model: str
    backend: str
    input_hw: tuple[int, int]
    frame_hw: tuple[int, int]
    bare_fps: float
    naive_fps: float
    pipeline_fps: float
    inference_ms: float
    cores: int
    stage_cpu_ms: dict[str, float]
    limit_fps: float
    live_source_fps: float
    live_frames: int
    live_p50_ms: float
    live_p99_ms: float
    live_p99_first_half_ms: float
    live_p99_second_half_ms: float
    live_drop_rate: float
    pose: PoseBench | None = None
    workers: int = 1
    intra_threads: int = 0
    camera: dict[str, float] | None = None


def _live_fields(r: Live) -> dict[str, Any]:
    return {
        "live_frames": r.frames,
        "live_p50_ms": r.p50_ms,
        "live_p99_ms": r.p99_ms,
        "live_p99_first_half_ms": r.p99_first_half_ms,
        "live_p99_second_half_ms": r.p99_second_half_ms,
        "live_drop_rate": r.drop_rate,
    }


def _camera_fields(r: Live, fps: float, sequential_ms: float) -> dict[str, float]:
    """The camera-rate live run: source fps, frames, latencies (ms), drops, one frame's sequential cost
    (ms) and p99 / sequential cost (the live target's ratio)."""
    return {
        "fps": fps,
        "frames": r.frames,
        "p50_ms": r.p50_ms,
        "p99_ms": r.p99_ms,
        "p99_first_half_ms": r.p99_first_half_ms,
        "p99_second_half_ms": r.p99_second_half_ms,
        "drop_rate": r.drop_rate,
        "sequential_ms": sequential_ms,
        "p99_over_sequential": r.p99_ms / sequential_ms,
    }


@dataclass(frozen=True)
class LiveRuns:
    """How the live runs are fed: overload (``speed`` × bare fps, ``count`` frames) and camera rate
    (``camera_fps``, ``camera_count`` frames); ``workers``: (inference alone, inference with pose, pose)
    workers of a live run."""

    fps: float
    count: int
    camera_fps: float
    camera_count: int
    workers: tuple[int, int, int]


def _with_pose(
    source: Path,
    images: list[np.ndarray],
    backend: Backend,
    pose: PoseModel,
    costs: StageCosts,
    cores: int,
    runs: LiveRuns,
    reference: tuple[Backend, PoseModel],
    workers: tuple[int, int],
) -> PoseBench:
    """The naive, pipeline and live measurements again with the pose stage, beside its ``costs``
    (naive with the ``reference`` all-cores sessions, the pipeline with ``workers``)."""
    assert costs.with_pose is not None
    n = len(images)
    naive = naive_fps(source, n, *reference)
    sink = Collect()
    pipe_s = run_pipeline(FileSource(source, "pipeline"), backend, sink, "lossless", n, pose, workers)
    live_workers = (runs.workers[1], runs.workers[2])
    paced = live(images, runs.fps, runs.count, backend, pose, live_workers)
    camera = live(images, runs.camera_fps, runs.camera_count, backend, pose, live_workers)
    spec = pose.spec
    return PoseBench(
        model=str(pose.path),
        output=spec.output,
        keypoints=len(spec.keypoints.names),
        input_hw=spec.input_hw,
        frames_with_pose=costs.frames_with_pose,
        stage_cpu_ms=costs.with_pose,
        keypoint_tracker_ms=costs.keypoint_tracker_ms,
        pose_wall_ms=float(np.median(sink.pose_ms)),
        limit_fps=1000.0 * cores / sum(costs.with_pose.values()),
        naive_fps=naive,
        pipeline_fps=len(sink.latency_ms) / pipe_s,
        workers=workers,
        camera=_camera_fields(camera, runs.camera_fps, sum(costs.with_pose.values())),
        **_live_fields(paced),
    )


def run_bench(
    source: Path,
    backend: Backend,
    frames: int,
    live_seconds: float,
    live_speed: float,
    model: Path,
    pose: PoseModel | None = None,
    reference: tuple[Backend, PoseModel | None] | None = None,
    workers: tuple[int, int, int] = (1, 1, 1),
    live_workers: tuple[int, int, int] = (1, 1, 1),
    camera_fps: float = 30.0,
) -> BenchResult:
    """Run the measurements on the first ``frames`` frames of ``source``: segmentation alone, and with
    the ``pose`` model's stage when one is given.

    ``backend`` and ``pose`` are the pipeline's sessions; ``reference`` the bare/naive sessions (an
    intra-op thread per core; default: the pipeline's); ``workers``: inference workers alone, inference
    and pose workers with pose, in the lossless runs; ``live_workers`` the same in the live runs."""
    ref_backend, ref_pose = reference or (backend, pose)
    images = decode_frames(source, frames)
    n = len(images)
    cores = available_cores()
    costs = stage_costs(
        source, model, images, pose.path if pose is not None else None, pose is not None and pose.flip_test
    )
    pre = Preprocessor(backend.spec)
    stamper = FrameStamper("bench")
    tensors = [pre(stamper.stamp(img, None)).tensor[None] for img in images]

    t0 = time.perf_counter()
    for x in tensors:
        ref_backend.infer(x)
    bare_s = time.perf_counter() - t0

    naive = naive_fps(source, n, ref_backend)
    sink = Collect()
    seg_workers = (workers[0], 1)
    pipe_s = run_pipeline(FileSource(source, "pipeline"), backend, sink, "lossless", n, None, seg_workers)

    bare_fps = n / bare_s
    live_fps = live_speed * bare_fps
    runs = LiveRuns(
        live_fps,
        max(20, int(live_fps * live_seconds)),
        camera_fps,
        max(20, int(camera_fps * live_seconds)),
        live_workers,
    )
    seg_live = live(images, runs.fps, runs.count, backend, None, (live_workers[0], 1))
    seg_camera = live(images, runs.camera_fps, runs.camera_count, backend, None, (live_workers[0], 1))
    h, w = images[0].shape[:2]
    with_pose = None
    if pose is not None and costs.with_pose is not None:
        refs = (ref_backend, ref_pose or pose)
        with_pose = _with_pose(
            source, images, backend, pose, costs, cores, runs, refs, (workers[1], workers[2])
        )
    return BenchResult(
        frames=n,
        model=str(getattr(backend, "path", "?")),
        backend=backend.name,
        input_hw=backend.spec.input_hw,
        frame_hw=(h, w),
        bare_fps=bare_fps,
        naive_fps=naive,
        pipeline_fps=len(sink.latency_ms) / pipe_s,
        inference_ms=1000.0 * bare_s / n,
        cores=cores,
        stage_cpu_ms=costs.segmentation,
        limit_fps=1000.0 * cores / sum(costs.segmentation.values()),
        live_source_fps=live_fps,
        pose=with_pose,
        workers=workers[0],
        intra_threads=int(getattr(getattr(backend, "options", None), "intra_op_threads", 0)),
        camera=_camera_fields(seg_camera, camera_fps, sum(costs.segmentation.values())),
        **_live_fields(seg_live),
    )


def _costs(cost: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in cost.items())


def _live_line(title: str, r: BenchResult | PoseBench, inference_ms: float) -> list[str]:
    return [
        title,
        f"  capture->output p50 {r.live_p50_ms:.1f} ms, p99 {r.live_p99_ms:.1f} ms "
        f"({r.live_p99_ms / inference_ms:.2f} x inference); p99 first half {r.live_p99_first_half_ms:.1f} ms, "
        f"second half {r.live_p99_second_half_ms:.1f} ms; drop rate {100 * r.live_drop_rate:.1f} %",
    ]


def _camera_line(title: str, c: dict[str, float] | None) -> list[str]:
    if c is None:
        return []
    return [
        title,
        f"  capture->output p50 {c['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms = {c['p99_over_sequential']:.2f} x "
        f"one frame's sequential cost ({c['sequential_ms']:.1f} core-ms); p99 first half "
        f"{c['p99_first_half_ms']:.1f} ms, second half {c['p99_second_half_ms']:.1f} ms; drop rate "
        f"{100 * c['drop_rate']:.1f} %",
    ]


def pose_table(r: BenchResult, p: PoseBench) -> list[str]:
    """The lines comparing segmentation alone with segmentation + pose."""
    head = (
        f"{'':<22}{'limit fps':>10}{'naive fps':>11}{'pipeline fps':>14}"
        f"{'x limit':>9}{'x naive':>9}{'pose core-ms':>14}"
    )
    rows = [
        ("segmentation", r.limit_fps, r.naive_fps, r.pipeline_fps, "-"),
        ("segmentation + pose", p.limit_fps, p.naive_fps, p.pipeline_fps, f"{p.stage_cpu_ms['pose']:.2f}"),
    ]
    return [
        f"pose model {p.model} ({p.output}, {p.keypoints} keypoints, input {p.input_hw[0]}x{p.input_hw[1]}): "
        f"infant found in {p.frames_with_pose}/{r.frames} frames; pipeline: {p.workers[0]} inference and "
        f"{p.workers[1]} pose worker(s)",
        f"compute limit with pose {p.limit_fps:.1f} fps: {r.cores} cores / {sum(p.stage_cpu_ms.values()):.2f} "
        f"core-ms per frame ({_costs(p.stage_cpu_ms)}; keypoint tracker {p.keypoint_tracker_ms:.2f} "
        "of postprocess)",
        head,
        *(
            f"{name:<22}{limit:>10.1f}{naive:>11.1f}{pipe:>14.1f}{pipe / limit:>9.2f}{pipe / naive:>9.2f}{ms:>14}"
            for name, limit, naive, pipe, ms in rows
        ),
        f"pose stage per frame: {p.stage_cpu_ms['pose']:.2f} core-ms alone, median {p.pose_wall_ms:.2f} ms "
        "wall in the pipeline (latency_ms.pose)",
        *_camera_line(
            f"camera rate (latest) with pose, {p.camera['fps'] if p.camera else 0:.0f} fps:", p.camera
        ),
        *_live_line(f"live (latest) with pose, same source, {p.live_frames} frames:", p, r.inference_ms),
    ]


def format_table(r: BenchResult) -> str:
    """The human-readable report."""
    rows = [
        (
            "compute limit",
            f"{r.limit_fps:8.1f} fps",
            "1.00 x limit",
            f"{r.cores} cores / {sum(r.stage_cpu_ms.values()):.2f} core-ms per frame ({_costs(r.stage_cpu_ms)})",
        ),
        ("bare inference", f"{r.bare_fps:8.1f} fps", "1.00 x bare", f"{r.inference_ms:.1f} ms/frame"),
        ("naive loop", f"{r.naive_fps:8.1f} fps", f"{r.naive_fps / r.bare_fps:.2f} x bare", "1 thread"),
        (
            "pipeline (lossless)",
            f"{r.pipeline_fps:8.1f} fps",
            f"{r.pipeline_fps / r.limit_fps:.2f} x limit",
            f"{r.pipeline_fps / r.bare_fps:.2f} x bare, {r.pipeline_fps / r.naive_fps:.2f} x naive",
        ),
    ]
    lines = [
        f"model {r.model} ({r.backend}, input {r.input_hw[0]}x{r.input_hw[1]}), "
        f"frames {r.frame_hw[1]}x{r.frame_hw[0]}, {r.frames} frames; pipeline: {r.workers} inference "
        f"worker(s) x {r.intra_threads} intra-op thread(s); bare and naive: one session, {r.cores} threads",
        f"{'measurement':<22}{'rate':>12}  {'ratio':<14}{'note'}",
    ]
    lines += [f"{a:<22}{b:>12}  {c:<14}{d}" for a, b, c, d in rows]
    lines += _camera_line(f"camera rate (latest), {r.camera['fps'] if r.camera else 0:.0f} fps:", r.camera)
    lines += _live_line(
        f"live (latest), source {r.live_source_fps:.1f} fps, {r.live_frames} frames:", r, r.inference_ms
    )
    if r.pose is not None:
        lines += ["", *pose_table(r, r.pose)]
    return "\n".join(lines)


HELP = "measure bare inference, naive loop and pipeline throughput/latency, with and without pose"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("bench", help=HELP)
    p.add_argument("--source", required=True, help="a video file")
    p.add_argument("--model", required=True, help="ONNX segmentation model")
    p.add_argument(
        "--pose-model",
        help="ONNX keypoint model: also measure segmentation + pose (default models/infant-pose.onnx "
        "when it exists)",
    )
    p.add_argument("--no-pose", action="store_true", help="segmentation alone (no pose measurements)")
    p.add_argument("--frames", type=int, default=200, help="frames to measure (default 200)")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="intra-op threads per pipeline worker (0 = from the core count)",
    )
    p.add_argument("--workers", type=int, default=0, help="inference workers (0 = from the core count)")
    p.add_argument("--pose-workers", type=int, default=0, help="pose workers (0 = from the core count)")
    p.add_argument("--providers", default="auto")
    p.add_argument("--live-seconds", type=float, default=10.0, help="length of the live measurement")
    p.add_argument("--live-speed", type=float, default=1.5, help="live source rate as a multiple of bare fps")
    p.add_argument("--camera-fps", type=float, default=30.0, help="camera-rate live source, fps (30)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.frames < 1:
        raise ConfigError(f"--frames: must be >= 1, got {args.frames}")
    if args.live_speed <= 0 or args.live_seconds <= 0 or args.camera_fps <= 0:
        raise ConfigError("--live-speed, --live-seconds and --camera-fps: must be > 0")
    if args.pose_model is not None and args.no_pose:
        raise ConfigError("--pose-model and --no-pose: give one or the other")
    if args.pose_model is not None and not args.pose_model.strip():
        raise ConfigError(f"--pose-model: must be a file path, got {args.pose_model!r}")
    if min(args.threads, args.workers, args.pose_workers) < 0:
        raise ConfigError("--threads, --workers and --pose-workers: must be >= 0")
    source = Path(args.source)
    FileSource(source, "bench").check()
    limit_opencv_threads()
    cfg = Config(
        model=ModelConfig(
            path=args.model, providers=args.providers, threads=args.threads, workers=args.workers
        ),
        pose=PoseConfig(enabled=not args.no_pose, model=args.pose_model, workers=args.pose_workers),
    )
    backend, pose = load_backend(cfg), load_pose_model(cfg)
    cores = available_cores()  # the reference: one session with an intra-op thread per core
    ref_cfg = evolve(cfg, model=evolve(cfg.model, threads=cores), pose=evolve(cfg.pose, threads=cores))
    reference = (load_backend(ref_cfg), load_pose_model(ref_cfg))
    seg_only = evolve(cfg, pose=evolve(cfg.pose, enabled=False))
    seg_workers, _ = stage_workers(seg_only, backend, None)
    infer_workers, pose_workers = stage_workers(cfg, backend, pose)
    live_seg, _ = stage_workers(seg_only, backend, None, live=True)
    live_infer, live_pose = stage_workers(cfg, backend, pose, live=True)
    result = run_bench(
        source,
        backend,
        args.frames,
        args.live_seconds,
        args.live_speed,
        Path(args.model),
        pose,
        reference,
        (seg_workers, infer_workers, pose_workers),
        (live_seg, live_infer, live_pose),
        args.camera_fps,
    )
    print(json.dumps(asdict(result)) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    from pipeline.cli.main import main as cli

    sys.exit(cli(["bench", *sys.argv[1:]], {"bench": ("tools.bench", HELP)}))
