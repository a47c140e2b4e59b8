"""``infant-stream build-engine``: build (or validate) the TensorRT engine of a model ahead of time.

The engine lands in the engine cache (``models/.engines`` by default) under a name and JSON
sidecar keyed by GPU, compute capability, TensorRT version, precision, batch profile and model
hash; ``run --backend tensorrt`` then loads it without building. A valid cached engine is reused
unless ``--force``. Prints the engine's path. Errors are one line, exit 4 (TensorRT missing, no
GPU, bad model, failed build). TensorRT and torch are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, get_args

from pipeline.config import Precision

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "build-engine",
        help="build the TensorRT engine of a model ahead of time",
        description="Build (or reuse, when valid) the TensorRT engine of an ONNX model for this GPU.",
    )
    p.add_argument("--model", default="models/infant-seg.onnx", help="ONNX model (default the bundled one)")
    p.add_argument("--precision", choices=get_args(Precision), default="fp16", help="engine precision")
    p.add_argument("--max-batch", type=int, default=1, help="largest batch (profile 1..N, opt N; default 1)")
    p.add_argument("--engine-cache", default="", help="engine folder (default models/.engines in the repo)")
    p.add_argument(
        "--calibration", default="", help="int8: folder of frames, image or video to calibrate from"
    )
    p.add_argument("--workspace-gb", type=float, default=4.0, help="TensorRT builder workspace (GiB)")
    p.add_argument(
        "--force", action="store_true", help="rebuild (and recalibrate) even if the cache is valid"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from pipeline.config import ModelConfig
    from pipeline.errors import ConfigError
    from pipeline.infer.backends import engine_cache_dir
    from pipeline.infer.backends.gpu_info import import_tensorrt, require_gpu
    from pipeline.session.build import resolve_model_path

    if not 1 <= args.max_batch <= 256:
        raise ConfigError(f"--max-batch: must be 1..256, got {args.max_batch}")
    if args.workspace_gb <= 0:
        raise ConfigError(f"--workspace-gb: must be > 0, got {args.workspace_gb}")
    import_tensorrt()  # one line each, before anything is read or written
    require_gpu()
    from pipeline.infer.backends.trt_engine import BuildSettings, ensure_engine

    model = resolve_model_path(args.model or ModelConfig().path)
    settings = BuildSettings(
        precision=args.precision,
        max_batch=args.max_batch,
        cache_dir=engine_cache_dir(args.engine_cache),
        calibration=Path(args.calibration) if args.calibration else None,
        workspace_bytes=int(args.workspace_gb * (1 << 30)),
        force=args.force,
        progress=not args.no_progress,
    )

    def building(reason: str) -> None:
        print(f"building engine for {model} ({reason}) ...", file=sys.stderr, flush=True)

    loaded, _, _, _ = ensure_engine(model, settings, on_build=building)
    if loaded.rebuilt_because is None:
        print(f"engine is up to date (cached): {model}", file=sys.stderr, flush=True)
    print(loaded.entry.engine, flush=True)
    return 0
