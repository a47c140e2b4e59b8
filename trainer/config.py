"""Training options: the ``infant-stream train`` arguments and the typed, validated :class:`TrainConfig`."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pipeline.contract.classes import NUM_CLASSES
from pipeline.errors import ConfigError
from trainer.adapt_options import (
    DEFAULT_ADAPT_LAMBDA,
    DEFAULT_ADAPT_WEIGHT,
    adapt_checks,
    adapt_options,
    add_adapt_arguments,
)
from trainer.options import (
    BACKBONE_WEIGHTS,
    DEFAULT_LR,
    backbone_check,
    json_options,
    run_checks,
    run_options,
)
from trainer.pose.config import POSE_ARCHITECTURES, add_keypoint_arguments, keypoint_options_given

ARCHITECTURES: Final[dict[str, str]] = {
    "deeplabv3": "deeplabv3_mobilenet_v3_large",
    "lraspp": "lraspp_mobilenet_v3_large",
}
"""CLI name → torchvision builder name (also the ``architecture`` written into ONNX metadata)."""

TASKS: Final = ("segmentation", "keypoints")
"""``--task``: what ``train`` trains (``keypoints``: :mod:`trainer.pose.train`)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on (units: pixels, epochs, optimizer steps).

    Attributes:
        input_size: square model input side in pixels (frames are letterboxed into it).
        lr: initial learning rate; decays with the poly schedule ``(1 - step / total) ** 0.9``.
        class_weights: None (plain cross-entropy), ``auto`` (1/sqrt frequency of the train split) or
            NUM_CLASSES comma-separated floats.
        max_steps: stop after this many optimizer steps in all (smoke runs); None = run all epochs.
        amp: float16 autocast + GradScaler, CUDA only (ignored with a warning elsewhere).
        unlabelled: target-domain frames for domain adaptation (None = none); adapt_weight: W of the domain
            loss; adapt_lambda: the largest gradient-reversal factor (:mod:`trainer.adapt_run`).
    """

    data: Path
    out: Path
    arch: str = "deeplabv3"
    input_size: int = 256
    epochs: int = 60
    batch_size: int = 8
    lr: float = DEFAULT_LR["adamw"]
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    class_weights: str | None = None
    aux_loss: bool = False
    weights_backbone: str = "none"
    device: str = "auto"
    amp: bool = False
    resume: Path | None = None
    init: Path | None = None
    workers: int = 2
    seed: int = 0
    max_steps: int | None = None
    unlabelled: Path | None = None
    adapt_weight: float = DEFAULT_ADAPT_WEIGHT
    adapt_lambda: float = DEFAULT_ADAPT_LAMBDA

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainConfig:
        """Build from parsed CLI arguments and validate (see :meth:`validate`).

        Options left None by the parser (shared with ``--task keypoints``) take this class's defaults.
        """
        given = keypoint_options_given(args)
        if given:
            raise ConfigError(f"{given[0]}: keypoints only (add --task keypoints)")
        d = cls(data=Path(args.data), out=Path(args.out))
        cfg = cls(
            data=Path(args.data),
            out=Path(args.out),
            arch=args.arch if args.arch is not None else d.arch,
            input_size=args.input_size if args.input_size is not None else d.input_size,
            class_weights=args.class_weights,
            aux_loss=args.aux_loss,
            **run_options(args, d),
            **adapt_options(args),
        )
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raises ConfigError naming the option and the bad value."""
        checks: list[tuple[bool, str]] = [
            (
                self.arch in ARCHITECTURES,
                f"--arch: must be one of {', '.join(ARCHITECTURES)}, got {self.arch!r}",
            ),
            (self.input_size >= 32, f"--input-size: must be >= 32 pixels, got {self.input_size}"),
            *run_checks(self),
            (
                not (self.aux_loss and self.arch != "deeplabv3"),
                f"--aux-loss: only deeplabv3 has one, not {self.arch}",
            ),
            backbone_check(self),
            *adapt_checks(self),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        self.parsed_class_weights()

    def parsed_class_weights(self) -> list[float] | None:
        """Explicit ``--class-weights`` values, None for ``auto`` or no weighting."""
        if self.class_weights in (None, "auto"):
            return None
        try:
            values = [float(v) for v in str(self.class_weights).split(",")]
        except ValueError:
            values = []
        if len(values) != NUM_CLASSES or any(v < 0 for v in values):
            raise ConfigError(
                f"--class-weights: 'auto' or {NUM_CLASSES} comma-separated non-negative floats, "
                f"got {self.class_weights!r}"
            )
        return values

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy (paths as strings), stored in checkpoints."""
        return json_options(self)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The ``infant-stream train`` options (defaults as in :class:`TrainConfig`, or
    :class:`trainer.pose.config.PoseTrainConfig` with ``--task keypoints``)."""
    d = TrainConfig(data=Path("data"), out=Path("runs/train"))
    p.add_argument("--task", default="segmentation", choices=TASKS, help="what to train (segmentation)")
    p.add_argument("--data", type=Path, default=d.data, help="prepared dataset folder (default: data)")
    p.add_argument(
        "--out", type=Path, required=True, help="run folder: last.pt, best.pt, metrics.csv, curves.png"
    )
    p.add_argument(
        "--arch",
        default=None,
        choices=(*ARCHITECTURES, *POSE_ARCHITECTURES),
        help=f"model ({d.arch}; keypoints: {POSE_ARCHITECTURES[0]})",
    )
    p.add_argument(
        "--input-size",
        type=int,
        default=None,
        help=f"square input side, px ({d.input_size}; keypoints: 192)",
    )
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"({d.epochs})")
    p.add_argument("--batch-size", type=int, default=None, help=f"({d.batch_size}; keypoints: 16)")
    p.add_argument("--lr", type=float, default=None, help="initial LR (adamw 1e-3, sgd 1e-2); poly decay")
    p.add_argument("--optimizer", default=d.optimizer, choices=tuple(DEFAULT_LR), help=f"({d.optimizer})")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help=f"({d.weight_decay})")
    p.add_argument(
        "--class-weights",
        nargs="?",
        const="auto",
        default=None,
        metavar="auto|W0,...,W4",
        help="weight the loss per class: alone or 'auto' = 1/sqrt(train pixel frequency); or 5 floats",
    )
    p.add_argument("--aux-loss", action="store_true", help="deeplabv3 auxiliary head (loss weight 0.5)")
    p.add_argument(
        "--weights-backbone", default="none", choices=BACKBONE_WEIGHTS, help="backbone init (none)"
    )
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help="(auto)")
    p.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    p.add_argument("--resume", type=Path, default=None, metavar="CKPT", help="continue from a checkpoint")
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        metavar="CKPT",
        help="fine-tune: start from a checkpoint's weights (its model options), fresh optimizer and schedule",
    )
    p.add_argument(
        "--workers", type=int, default=d.workers, help=f"DataLoader worker processes ({d.workers})"
    )
    p.add_argument("--seed", type=int, default=d.seed, help=f"({d.seed})")
    p.add_argument("--max-steps", type=int, default=None, metavar="N", help="stop after N steps (smoke runs)")
    add_keypoint_arguments(p)
    add_adapt_arguments(p)
