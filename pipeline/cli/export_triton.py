"""``infant-stream export-triton --out DIR``: a Triton model repository of the segmentation model (and the
pose model when there is one), ready for NVIDIA's Triton container (``--model-repository DIR``) and for
``run --backend triton`` (which reads the models' metadata from the configs' ``parameters``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

DEFAULT_SEG = "models/infant-seg.onnx"
DEFAULT_POSE = "models/infant-pose.onnx"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export-triton",
        help="write a Triton model repository of the models (config.pbtxt + model.onnx each)",
        description="Write a Triton Inference Server model repository of the segmentation and pose models.",
    )
    p.add_argument("--out", required=True, help="repository folder to write (e.g. model_repository/)")
    p.add_argument("--model", default=DEFAULT_SEG, help=f"segmentation model (default {DEFAULT_SEG})")
    p.add_argument("--pose-model", default=None, help=f"pose model (default {DEFAULT_POSE} when it exists)")
    p.add_argument("--no-pose", action="store_true", help="the segmentation model only")
    p.add_argument("--max-batch", type=int, default=8, help="max_batch_size (default 8)")
    p.add_argument(
        "--queue-delay-us",
        type=int,
        default=2000,
        help="dynamic batcher's max queue delay, µs (default 2000)",
    )
    p.add_argument("--instances", type=int, default=1, help="model instances per server (default 1)")
    p.add_argument("--kind", choices=("cpu", "gpu"), default="gpu", help="instance kind (default gpu)")
    p.add_argument(
        "--uint8-input",
        action="store_true",
        help="the segmentation model takes uint8 pixels and normalises in its graph (4x fewer bytes sent)",
    )
    p.add_argument(
        "--tensorrt",
        choices=("fp16", "fp32"),
        default=None,
        help="GPU servers: run the ONNX models through TensorRT inside Triton (engine built at load)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing, non-empty --out")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from pipeline.infer.backends.triton_repository import Served, write_repository
    from pipeline.session.build import resolve_model_path

    if args.pose_model is not None and args.no_pose:
        raise ConfigError("--pose-model and --no-pose: give one or the other")
    if args.tensorrt and args.kind != "gpu":
        raise ConfigError("--tensorrt: needs --kind gpu (TensorRT runs on the server's GPU)")
    for flag, value, low, high in (
        ("--max-batch", args.max_batch, 1, 1024),
        ("--instances", args.instances, 1, 64),
        ("--queue-delay-us", args.queue_delay_us, 0, 10_000_000),
    ):
        if not low <= value <= high:
            raise ConfigError(f"{flag}: must be {low}..{high}, got {value}")
    seg = resolve_model_path(args.model)
    models = {seg.stem: seg}
    if not args.no_pose:
        pose = resolve_model_path(args.pose_model or DEFAULT_POSE)
        if args.pose_model is not None or pose.is_file():
            models[pose.stem] = pose
    served = Served(
        max_batch=args.max_batch,
        queue_delay_us=args.queue_delay_us,
        instances=args.instances,
        kind=args.kind,
        tensorrt=(args.tensorrt or "").upper(),
    )
    uint8 = seg.stem if args.uint8_input else ""
    for config in write_repository(Path(args.out), models, served, force=args.force, uint8_input=uint8):
        print(config)
    return 0
