"""GPU-path benchmark, everything in one call: bare engine vs end-to-end pipeline, and correctness.

For each model size (256² ``models/infant-seg.onnx``; 512² DeepLabV3-MobileNetV3, untrained, built and
cached under ``out/gpu-bench`` when absent), each backend kind (ONNX Runtime CPU / CUDA EP / TensorRT EP,
the TensorRT API backend), precision (fp32/fp16) and batch size:

- bare   ``backend.infer`` on random (batch, 3, H, W) float32 host arrays after warm-up (frames/s);
- e2e    the threaded pipeline, lossless, ``max_batch`` = batch, on a synthetic infant clip decoded once
         into memory (``--decode`` reads the file in the pipeline instead); GPU kinds use
         :mod:`pipeline.infer.gpu_ops` for letterbox/normalise and arg-max when torch sees CUDA;
- ratio  e2e / bare (target >= 0.9);
- agree  per-frame arg-max agreement of the class maps with ONNX Runtime CPU fp32 on the same frames
         (min and mean; target min >= 99.5 %), preprocessing as in the e2e run.

Rows that cannot run here say ``n/a (reason)``. ``--quick``: 256² only, batches 1 and 8, few frames.
Run: ``python -m tools.gpu_bench [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline.frames import Frame
from pipeline.infer.backends import Backend
from pipeline.infer.inference import InferenceStage
from pipeline.lifecycle import State
from pipeline.postprocess.stage import Postprocessor
from pipeline.runtime.pipeline import Pipeline
from pipeline.session.build import data_path, limit_opencv_threads
from pipeline.sources.base import FrameStamper, Source
from pipeline.sources.file import FileSource
from tools import gpu_bench_setup as setup
from tools.bench import Collect, decode_frames


@dataclass(frozen=True)
class Row:
    """One measurement; rates in frames/s, agreement as a fraction; ``note`` explains an n/a row."""

    size: int
    kind: str
    precision: str
    batch: int
    backend: str = ""
    bare_fps: float = math.nan
    e2e_fps: float = math.nan
    mean_batch: float = math.nan
    agree_min: float = math.nan
    agree_mean: float = math.nan
    gpu_ops: bool = False
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.e2e_fps / self.bare_fps


class _MemorySource:
    """A file-like (lossless) source replaying decoded frames ``count`` times over."""

    live = False
    reconnects = 0
    timestamp_repairs = 0
    description = "memory"

    def __init__(self, images: list[np.ndarray], count: int) -> None:
        self.source_id = "bench"
        self.state: State = "starting"
        self.images, self.count = images, count

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        stamper = FrameStamper(self.source_id)
        self.state = "running"
        for i in range(self.count):
            if stop.is_set():
                break
            yield stamper.stamp(self.images[i % len(self.images)], i / 25.0)
        self.state = "stopped"


def bare_fps(backend: Backend, batch: int, frames: int, warmup: int = 3) -> float:
    """Frames/s of ``backend.infer`` on random (batch, 3, H, W) float32 inputs."""
    x = np.random.default_rng(0).normal(0, 1, (batch, 3, *backend.spec.input_hw)).astype(np.float32)
    for _ in range(warmup):
        backend.infer(x)
    iters = max(2, math.ceil(frames / batch))
    t0 = time.perf_counter()
    for _ in range(iters):
        backend.infer(x)
    return iters * batch / (time.perf_counter() - t0)


def e2e_fps(
    backend: Backend, batch: int, images: list[np.ndarray], frames: int, gpu: bool, video: Path | None
) -> tuple[float, float]:
    """(frames/s from start to last result, mean batch size) of the lossless pipeline."""
    pre, maps = data_path(backend.spec, gpu)
    post = Postprocessor(backend.spec, 100, maps=maps)
    sink = Collect()
    source: Source = FileSource(video, "bench") if video else _MemorySource(images, frames)
    p = Pipeline(
        source,
        pre,
        InferenceStage(backend),
        post,
        [sink],
        policy="lossless",
        max_frames=frames,
        max_batch=batch,
    )
    t0 = time.perf_counter()
    p.start()
    if not p.wait(600):
        p.abort()
    p.join()
    return len(sink.latency_ms) / (time.perf_counter() - t0), p.inference.stats.mean_batch


def class_maps(backend: Backend, images: Sequence[np.ndarray], batch: int, gpu: bool) -> list[np.ndarray]:
    """Class maps of ``images`` through ``backend`` in batches (data path as the e2e run)."""
    stamper = FrameStamper("agree")
    pre, to_maps = data_path(backend.spec, gpu)
    infer = InferenceStage(backend)
    prepared = [pre(stamper.stamp(im, None)) for im in images]
    maps = []
    for i in range(0, len(prepared), batch):
        inferred = infer.batch(prepared[i : i + batch])
        maps += [to_maps(it.logits, it.letterbox)[0] for it in inferred]
    return maps


def measure(
    size: int, path: Path, args: argparse.Namespace, images: list[np.ndarray], video: Path
) -> list[Row]:
    """Every (kind, precision, batch) row of one model."""
    ref_backend = setup.load("ort-cpu", "fp32", path, 64).backend
    assert ref_backend is not None, "ONNX Runtime CPU must load"
    agree_images = images[: args.agree_frames]
    reference = class_maps(ref_backend, agree_images, 8, False)
    rows = []
    for kind in args.kinds:
        for precision in args.precisions:
            for batch in args.batches:
                key = dict(size=size, kind=kind, precision=precision, batch=batch)
                loaded = ref_backend if (kind, precision) == ("ort-cpu", "fp32") else None
                if loaded is None:
                    got = setup.load(kind, precision, path, max(args.batches))
                    if got.backend is None:
                        rows.append(Row(**key, note=f"n/a ({got.reason})"))  # type: ignore[arg-type]
                        continue
                    loaded = got.backend
                gpu = kind in setup.GPU_KINDS and args.gpu_ops and setup.torch_cuda()
                try:
                    bare = bare_fps(loaded, batch, args.frames)
                    e2e, mean_batch = e2e_fps(
                        loaded, batch, images, args.frames, gpu, video if args.decode else None
                    )
                    maps = class_maps(loaded, agree_images, batch, gpu)
                except Exception as exc:  # noqa: BLE001 - report the row, go on with the others
                    rows.append(
                        Row(**key, backend=loaded.name, note=f"n/a (failed: {type(exc).__name__}: {exc})")
                    )  # type: ignore[arg-type]
                    continue
                agree = [float((a == b).mean()) for a, b in zip(maps, reference, strict=True)]
                rows.append(
                    Row(
                        **key,
                        backend=loaded.name,
                        bare_fps=bare,
                        e2e_fps=e2e,
                        mean_batch=mean_batch,  # type: ignore[arg-type]
                        agree_min=min(agree),
                        agree_mean=float(np.mean(agree)),
                        gpu_ops=gpu,
                    )
                )
    return rows


def format_table(rows: Sequence[Row], header: str) -> str:
    """The human-readable table; targets: e2e/bare >= 0.9, agreement min >= 99.5 %."""
    lines = [
        header,
        f"{'size':>4} {'backend':<8} {'prec':<4} {'batch':>5} {'bare fps':>9} {'e2e fps':>9} "
        f"{'e2e/bare':>8} {'mean b':>6} {'agree min/mean %':>17}  note",
    ]
    for r in rows:
        head = f"{r.size:>4} {r.kind:<8} {r.precision:<4} {r.batch:>5}"
        if r.note:
            lines.append(f"{head} {'':>9} {'':>9} {'':>8} {'':>6} {'':>17}  {r.note}")
            continue
        ok = "ok" if r.ratio >= 0.9 and r.agree_min >= 0.995 else "below target"
        lines.append(
            f"{head} {r.bare_fps:9.1f} {r.e2e_fps:9.1f} {r.ratio:8.2f} {r.mean_batch:6.1f} "
            f"{100 * r.agree_min:8.2f}/{100 * r.agree_mean:<8.2f}  {r.backend}{' +gpu_ops' if r.gpu_ops else ''}; {ok}"
        )
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    strs = lambda s: [v.strip() for v in s.split(",")]  # noqa: E731
    p = argparse.ArgumentParser(prog="gpu_bench", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="256² only, batches 1,8, few frames (CPU machines)")
    p.add_argument("--sizes", type=ints, default=[256, 512])
    p.add_argument("--kinds", type=strs, default=list(setup.KINDS), help=f"of {','.join(setup.KINDS)}")
    p.add_argument("--precisions", type=strs, default=["fp32", "fp16"])
    p.add_argument("--batches", type=ints, default=[1, 8, 32])
    p.add_argument("--frames", type=int, default=1024, help="frames per bare and per e2e measurement")
    p.add_argument("--agree-frames", type=int, default=32, help="clip frames compared with ORT CPU")
    p.add_argument("--clip", default="640x480", help="synthetic clip WxH")
    p.add_argument("--decode", action="store_true", help="e2e decodes the file in the pipeline")
    p.add_argument("--no-gpu-ops", dest="gpu_ops", action="store_false", help="numpy pre/post on GPU runs")
    p.add_argument("--model256", type=Path, default=setup.MODEL_256)
    p.add_argument("--model512", type=Path, default=None, help="default: found or built under out/")
    p.add_argument("--json", action="store_true", help="print one JSON list of rows instead of the table")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.batches, args.frames, args.agree_frames, args.clip = [256], [1, 8], 48, 8, "320x240"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    limit_opencv_threads()
    width, height = (int(v) for v in args.clip.lower().split("x"))
    clip_frames = max(args.agree_frames, min(args.frames, 256))
    video = setup.clip(clip_frames, width, height)
    images = decode_frames(video, clip_frames)
    rows: list[Row] = []
    for size in args.sizes:
        path: Path = args.model256 if size == 256 else (args.model512 or setup.model_512())
        rows += measure(size, path, args, images, video)
    gpu, why = setup.gpu_state()
    header = (
        f"gpu_bench: clip {width}x{height} ({len(images)} frames), {args.frames} frames per rate, "
        f"GPU {'yes' if gpu else 'no (' + why + ')'}, torch CUDA {'yes' if setup.torch_cuda() else 'no'}"
    )
    print(
        json.dumps([asdict(r) | {"ratio": r.ratio} for r in rows])
        if args.json
        else format_table(rows, header)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
