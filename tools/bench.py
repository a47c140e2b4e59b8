"""``python -m tools.bench``: is the threaded pipeline worth its threads? Measured in one run.

0. limit    the compute limit: each stage's CPU time per frame on one core, measured alone (process CPU
            time, not wall: decode + RGB, preprocess, inference with a one-thread session, postprocess);
            the machine can do at most ``cores / sum`` frames/s, whatever the threading;
1. bare     ONNX Runtime alone on frames preprocessed beforehand (all its threads);
2. naive    one thread: decode → preprocess → infer → postprocess per frame (the seed app's loop);
3. pipeline the threaded pipeline, lossless, on the same file;
4. live     the pipeline in ``latest`` mode fed by a source paced at ``--live-speed`` × the bare
            rate: capture→output latency p50/p99 (and p99 of the first vs last half: growth) and
            the drop rate.

Prints a table with ratios to the compute limit, the bare and the naive rates, or one JSON object with
``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Config, ModelConfig, Policy, TrackerConfig
from pipeline.errors import ConfigError
from pipeline.frames import Frame, Result
from pipeline.infer.backends import Backend
from pipeline.infer.inference import InferenceStage
from pipeline.infer.preprocess import Preprocessor
from pipeline.postprocess.stage import Postprocessor
from pipeline.runtime.pipeline import Pipeline, percentile
from pipeline.session.build import limit_opencv_threads, load_backend
from pipeline.sources.base import FrameStamper
from pipeline.sources.file import FileSource


@dataclass(frozen=True)
class BenchResult:
    """Everything one bench run measured (rates in frames/s, times in ms)."""

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


class Collect:
    """A sink keeping capture→postprocess latencies (ms), in arrival order and per source."""

    name, capacity, critical = "bench", 1024, True
    policy: Policy = "lossless"

    def __init__(self) -> None:
        self.latency_ms: list[float] = []
        self.by_source: dict[str, list[float]] = {}

    def write(self, result: Result) -> None:
        ms = (result.publish_mono - result.meta.capture_mono) * 1000.0
        self.latency_ms.append(ms)
        self.by_source.setdefault(result.meta.source_id, []).append(ms)

    def close(self) -> None:
        pass


class PacedFrames:
    """A live camera made of decoded frames replayed at ``fps`` (capture time = release time)."""

    live = True
    reconnects = 0
    timestamp_repairs = 0
    description = "paced frames"

    def __init__(self, images: list[np.ndarray], fps: float, count: int, source_id: str = "live") -> None:
        self.source_id, self.state = source_id, "starting"
        self.images, self.fps, self.count = images, fps, count

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        stamper = FrameStamper(self.source_id)
        t0 = time.monotonic()
        self.state = "running"
        for i in range(self.count):
            due = t0 + i / self.fps
            if stop.wait(max(0.0, due - time.monotonic())):
                break
            yield stamper.stamp(self.images[i % len(self.images)], i / self.fps)
        self.state = "stopped"


def decode_frames(source: Path, frames: int) -> list[np.ndarray]:
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


def stage_costs(source: Path, model: Path, images: list[np.ndarray]) -> dict[str, float]:
    """Each stage's CPU time per frame on one core, ms: decode (+ RGB; the whole pass, FFmpeg's own
    threads included), preprocess, inference (a one-thread session of the same model), postprocess
    (parts and tracking), the last three as per-frame medians."""
    from pipeline.infer.backends.onnxruntime import OrtBackend
    from pipeline.infer.backends.ort_providers import OrtOptions
    from pipeline.postprocess.tracking import PartTracker

    n = len(images)
    single = OrtBackend(
        model, OrtOptions(providers="CPUExecutionProvider", intra_op_threads=1, inter_op_threads=1)
    )
    pre, infer = Preprocessor(single.spec), InferenceStage(single)
    post = Postprocessor(single.spec, 100, PartTracker(TrackerConfig()))
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
    return cost


def _pipeline(source: Any, backend: Backend, sink: Collect, policy: Policy, max_frames: int | None) -> float:
    """Seconds the pipeline takes from start to the last result."""
    p = Pipeline(
        source,
        Preprocessor(backend.spec),
        InferenceStage(backend),
        Postprocessor(backend.spec, 100),
        [sink],
        policy=policy,
        max_frames=max_frames,
    )
    t0 = time.perf_counter()
    p.start()
    p.wait(3600)
    p.join()
    return time.perf_counter() - t0


def run_bench(
    source: Path, backend: Backend, frames: int, live_seconds: float, live_speed: float, model: Path
) -> BenchResult:
    """Run the five measurements on the first ``frames`` frames of ``source``."""
    images = decode_frames(source, frames)
    n = len(images)
    cores = os.cpu_count() or 1
    costs = stage_costs(source, model, images)
    pre, infer = Preprocessor(backend.spec), InferenceStage(backend)
    post = Postprocessor(backend.spec, 100)
    stamper = FrameStamper("bench")
    tensors = [pre(stamper.stamp(img, None)).tensor[None] for img in images]

    t0 = time.perf_counter()
    for x in tensors:
        backend.infer(x)
    bare_s = time.perf_counter() - t0

    stop = threading.Event()
    t0 = time.perf_counter()
    for count, frame in enumerate(FileSource(source, "naive").frames(stop), 1):
        post(infer(pre(frame)))
        if count >= n:
            stop.set()
    naive_s = time.perf_counter() - t0

    sink = Collect()
    pipe_s = _pipeline(FileSource(source, "pipeline"), backend, sink, "lossless", n)

    bare_fps = n / bare_s
    live_fps = live_speed * bare_fps
    live_count = max(20, int(live_fps * live_seconds))
    live_sink = Collect()
    _pipeline(PacedFrames(images, live_fps, live_count), backend, live_sink, "latest", None)
    lat = live_sink.latency_ms
    half = len(lat) // 2
    h, w = images[0].shape[:2]
    return BenchResult(
        frames=n,
        model=str(getattr(backend, "path", "?")),
        backend=backend.name,
        input_hw=backend.spec.input_hw,
        frame_hw=(h, w),
        bare_fps=bare_fps,
        naive_fps=n / naive_s,
        pipeline_fps=len(sink.latency_ms) / pipe_s,
        inference_ms=1000.0 * bare_s / n,
        cores=cores,
        stage_cpu_ms=costs,
        limit_fps=1000.0 * cores / sum(costs.values()),
        live_source_fps=live_fps,
        live_frames=live_count,
        live_p50_ms=percentile(lat, 50),
        live_p99_ms=percentile(lat, 99),
        live_p99_first_half_ms=percentile(lat[:half], 99),
        live_p99_second_half_ms=percentile(lat[half:], 99),
        live_drop_rate=1.0 - len(lat) / live_count,
    )


def format_table(r: BenchResult) -> str:
    """The human-readable report."""
    cost = ", ".join(f"{k} {v:.2f}" for k, v in r.stage_cpu_ms.items())
    rows = [
        (
            "compute limit",
            f"{r.limit_fps:8.1f} fps",
            "1.00 x limit",
            f"{r.cores} cores / {sum(r.stage_cpu_ms.values()):.2f} core-ms per frame ({cost})",
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
        f"frames {r.frame_hw[1]}x{r.frame_hw[0]}, {r.frames} frames",
        f"{'measurement':<22}{'rate':>12}  {'ratio':<14}{'note'}",
    ]
    lines += [f"{a:<22}{b:>12}  {c:<14}{d}" for a, b, c, d in rows]
    lines += [
        f"live (latest), source {r.live_source_fps:.1f} fps, {r.live_frames} frames:",
        f"  capture->output p50 {r.live_p50_ms:.1f} ms, p99 {r.live_p99_ms:.1f} ms "
        f"({r.live_p99_ms / r.inference_ms:.2f} x inference); p99 first half {r.live_p99_first_half_ms:.1f} ms, "
        f"second half {r.live_p99_second_half_ms:.1f} ms; drop rate {100 * r.live_drop_rate:.1f} %",
    ]
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench", help="measure bare inference, naive loop and pipeline throughput/latency"
    )
    p.add_argument("--source", required=True, help="a video file")
    p.add_argument("--model", required=True, help="ONNX model")
    p.add_argument("--frames", type=int, default=200, help="frames to measure (default 200)")
    p.add_argument("--threads", type=int, default=0, help="inference threads (0 = all cores)")
    p.add_argument("--providers", default="auto")
    p.add_argument("--live-seconds", type=float, default=10.0, help="length of the live measurement")
    p.add_argument("--live-speed", type=float, default=1.5, help="live source rate as a multiple of bare fps")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.frames < 1:
        raise ConfigError(f"--frames: must be >= 1, got {args.frames}")
    if args.live_speed <= 0 or args.live_seconds <= 0:
        raise ConfigError("--live-speed and --live-seconds: must be > 0")
    source = Path(args.source)
    FileSource(source, "bench").check()
    limit_opencv_threads()
    cfg = Config(model=ModelConfig(path=args.model, providers=args.providers, threads=args.threads))
    result = run_bench(
        source, load_backend(cfg), args.frames, args.live_seconds, args.live_speed, Path(args.model)
    )
    print(json.dumps(asdict(result)) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    from pipeline.cli.main import main as cli

    sys.exit(
        cli(
            ["bench", *sys.argv[1:]],
            {"bench": ("tools.bench", "measure bare inference, naive loop and pipeline throughput/latency")},
        )
    )
