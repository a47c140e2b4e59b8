"""``python -m tools.multi_bench``: what do several sources in one process cost? Measured in one run.

1. files    N copies of a clip through one pipeline (lossless, as fast as possible), inference
            one frame at a time and batched across the sources (``max_batch`` = N): total and
            slowest-source fps, ratio to one source;
2. live     N cameras replayed at ``--live-fps`` each (``latest``), with and without one extra
            camera that never delivers a frame (an unreachable RTSP camera): per-source delivered
            fps (slowest source), capture→postprocess p99 latency and drop rate.

Prints one table; ratios are to the one-source rows measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import Config, ModelConfig, Policy
from pipeline.errors import ConfigError
from pipeline.frames import Frame
from pipeline.infer.backends import Backend
from pipeline.infer.inference import InferenceStage
from pipeline.infer.preprocess import Preprocessor
from pipeline.postprocess.stage import Postprocessor
from pipeline.runtime.pipeline import Pipeline, percentile
from pipeline.session.build import limit_opencv_threads, load_backend
from pipeline.sources.base import Source
from pipeline.sources.file import FileSource
from tools.bench import Collect, PacedFrames, decode_frames


@dataclass(frozen=True)
class Row:
    """One measurement: ``sources`` sources (``dead`` of them never deliver), ``batch`` max batch."""

    kind: str
    sources: int
    dead: int
    batch: int
    total_fps: float
    slowest_fps: float
    p99_ms: float
    drop_rate: float


class _Dead:
    """A camera that never connects: state ``reconnecting``, no frame until stopped."""

    live = True
    reconnects = 0
    timestamp_repairs = 0
    description = "unreachable camera"

    def __init__(self, source_id: str) -> None:
        self.source_id, self.state = source_id, "reconnecting"

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        stop.wait()
        return iter(())


def _run(
    sources: list[Source], backend: Backend, batch: int, policy: Policy, max_frames: int | None = None
) -> tuple[Collect, float]:
    sink = Collect()
    p = Pipeline(
        sources,
        Preprocessor(backend.spec),
        InferenceStage(backend),
        Postprocessor(backend.spec, 100),
        [sink],
        policy=policy,
        max_batch=batch,
        max_frames=max_frames,
    )
    t0 = time.perf_counter()
    p.start()
    dead = {s.source_id for s in sources if isinstance(s, _Dead)}

    def delivering() -> bool:
        return any(
            s.state not in ("stopped", "error") for s in p.counters().sources if s.source_id not in dead
        )

    while p.running and delivering():
        time.sleep(0.05)
    p.stop()
    p.wait(60)
    p.join()
    return sink, time.perf_counter() - t0


def measure_files(source: Path, backend: Backend, n: int, batch: int, frames: int) -> Row:
    """``n`` copies of ``frames`` frames of ``source``, lossless."""
    files: list[Source] = [FileSource(source, f"f{i}") for i in range(n)]
    sink, seconds = _run(files, backend, batch, "lossless", max_frames=frames)
    counts = [len(sink.by_source.get(f"f{i}", [])) for i in range(n)]
    lat = sink.latency_ms
    return Row("files", n, 0, batch, sum(counts) / seconds, min(counts) / seconds, percentile(lat, 99), 0.0)


def measure_live(
    images: list[np.ndarray], backend: Backend, n: int, dead: int, fps: float, seconds: float
) -> Row:
    """``n`` cameras at ``fps`` for ``seconds`` (+ ``dead`` that never deliver), batched across them."""
    count = int(fps * seconds)
    cams: list[Source] = [PacedFrames(images, fps, count, f"c{i}") for i in range(n)]
    cams += [_Dead(f"dead{i}") for i in range(dead)]
    sink, _ = _run(cams, backend, max(1, n + dead), "latest")
    counts = [len(sink.by_source.get(f"c{i}", [])) for i in range(n)]
    lat = sink.latency_ms  # the dead cameras have none
    return Row(
        "live",
        n,
        dead,
        n + dead,
        sum(counts) / seconds,
        min(counts) / seconds,
        percentile(lat, 99),
        1.0 - sum(counts) / (n * count),
    )


def format_table(rows: list[Row], live_fps: float) -> str:
    """One line per row, ratios to the one-source row of the same kind (and batch for files)."""
    lines = [
        f"{'kind':<6}{'sources':>8}{'dead':>6}{'batch':>6}{'total fps':>11}{'slowest':>9}"
        f"{'x 1 src':>9}{'p99 ms':>9}{'drops':>8}"
    ]
    for r in rows:
        base = next(
            b
            for b in rows
            if b.kind == r.kind and b.sources == 1 and b.dead == 0 and (r.kind == "live" or b.batch == 1)
        )
        ratio = r.slowest_fps / base.slowest_fps if base.slowest_fps else float("nan")
        lines.append(
            f"{r.kind:<6}{r.sources:>8}{r.dead:>6}{r.batch:>6}{r.total_fps:>11.1f}{r.slowest_fps:>9.1f}"
            f"{ratio:>9.2f}{r.p99_ms:>9.1f}{100 * r.drop_rate:>7.1f}%"
        )
    lines.append(
        f"x 1 src = the slowest source's fps / one source's fps (files: batch 1); each live camera "
        f"offers {live_fps:g} fps; p99 = capture->postprocess latency"
    )
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench-sources", help="measure several sources in one pipeline (files and live)"
    )
    p.add_argument("--source", required=True, help="a video file")
    p.add_argument("--model", required=True, help="ONNX model")
    p.add_argument("--frames", type=int, default=100, help="frames per file source (default 100)")
    p.add_argument("--counts", default="1,2,4", help="numbers of sources to measure (default 1,2,4)")
    p.add_argument("--live-fps", type=float, default=10.0, help="each live camera's frame rate (default 10)")
    p.add_argument("--live-seconds", type=float, default=8.0, help="length of each live measurement")
    p.add_argument("--threads", type=int, default=0, help="inference threads (0 = all cores)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        counts = [int(c) for c in args.counts.split(",")]
    except ValueError:
        raise ConfigError(f"--counts: must be comma-separated integers, got {args.counts!r}") from None
    if args.frames < 1 or not counts or min(counts) < 1 or args.live_fps <= 0 or args.live_seconds <= 0:
        raise ConfigError("--frames, --counts, --live-fps, --live-seconds: must be positive")
    counts = sorted(set([1, *counts]))
    source = Path(args.source)
    FileSource(source, "bench").check()
    limit_opencv_threads()
    backend = load_backend(Config(model=ModelConfig(path=args.model, threads=args.threads)))
    images = decode_frames(source, min(args.frames, 100))
    rows = []
    for n in counts:
        for batch in sorted({1, min(n, int(backend.max_batch))}):
            rows.append(measure_files(source, backend, n, batch, args.frames))
    for n in counts:
        rows.append(measure_live(images, backend, n, 0, args.live_fps, args.live_seconds))
        rows.append(measure_live(images, backend, n, 1, args.live_fps, args.live_seconds))
    print(f"model {args.model} ({backend.name}, input {backend.spec.input_hw}), source {source.name}")
    print(format_table(rows, args.live_fps))
    return 0


if __name__ == "__main__":
    from pipeline.cli.main import main as cli

    sys.exit(
        cli(
            ["bench-sources", *sys.argv[1:]],
            {
                "bench-sources": (
                    "tools.multi_bench",
                    "measure several sources in one pipeline (files and live cameras)",
                )
            },
        )
    )
