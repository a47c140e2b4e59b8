"""The training options both tasks take alike (:class:`trainer.config.TrainConfig`,
:class:`trainer.pose.config.PoseTrainConfig`): how they are read from the ``train`` arguments, checked, and
stored in checkpoints. Torch-free: the CLI reads them before torch is imported.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final, Protocol

DEFAULT_LR: Final = {"adamw": 1e-3, "sgd": 1e-2}
"""Initial learning rate per optimizer when ``--lr`` is not given."""

BACKBONE_WEIGHTS: Final = ("none", "imagenet")


class RunOptions(Protocol):
    """The options :func:`run_checks` reads (fields of both config classes)."""

    @property
    def epochs(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def optimizer(self) -> str: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def workers(self) -> int: ...
    @property
    def max_steps(self) -> int | None: ...
    @property
    def weights_backbone(self) -> str: ...
    @property
    def resume(self) -> Path | None: ...
    @property
    def init(self) -> Path | None: ...


def run_options(args: argparse.Namespace, defaults: RunOptions) -> dict[str, Any]:
    """The keyword arguments of the options both tasks share, from parsed ``train`` arguments: optimisation
    (epochs, batch size, learning rate, optimizer, weight decay, backbone init), device, AMP, resume, init, workers,
    seed and the step limit. ``--batch-size`` left None takes ``defaults``' value; ``--lr`` left None the
    optimizer's :data:`DEFAULT_LR`."""
    return {
        "epochs": args.epochs,
        "batch_size": args.batch_size if args.batch_size is not None else defaults.batch_size,
        "lr": args.lr if args.lr is not None else DEFAULT_LR.get(args.optimizer, 1e-3),
        "optimizer": args.optimizer,
        "weight_decay": args.weight_decay,
        "weights_backbone": args.weights_backbone,
        "device": args.device,
        "amp": args.amp,
        "resume": Path(args.resume) if args.resume else None,
        "init": Path(args.init) if getattr(args, "init", None) else None,
        "workers": args.workers,
        "seed": args.seed,
        "max_steps": args.max_steps,
    }


def run_checks(cfg: RunOptions) -> list[tuple[bool, str]]:
    """(ok, ConfigError message) of the shared options from epochs to the step limit, in that order."""
    return [
        (cfg.epochs >= 1, f"--epochs: must be >= 1, got {cfg.epochs}"),
        (cfg.batch_size >= 2, f"--batch-size: must be >= 2 (batch norm), got {cfg.batch_size}"),
        (cfg.lr > 0, f"--lr: must be > 0, got {cfg.lr}"),
        (cfg.optimizer in DEFAULT_LR, f"--optimizer: must be adamw or sgd, got {cfg.optimizer!r}"),
        (cfg.weight_decay >= 0, f"--weight-decay: must be >= 0, got {cfg.weight_decay}"),
        (cfg.workers >= 0, f"--workers: must be >= 0, got {cfg.workers}"),
        (
            cfg.max_steps is None or cfg.max_steps >= 1,
            f"--max-steps: must be >= 1, got {cfg.max_steps}",
        ),
        (
            cfg.resume is None or cfg.init is None,
            "--init and --resume: give one or the other (--resume continues a run, --init starts one from weights)",
        ),
    ]


def backbone_check(cfg: RunOptions) -> tuple[bool, str]:
    """(ok, ConfigError message) of ``--weights-backbone``."""
    return (
        cfg.weights_backbone in BACKBONE_WEIGHTS,
        f"--weights-backbone: none or imagenet, got {cfg.weights_backbone!r}",
    )


def json_options(cfg: Any) -> dict[str, Any]:
    """JSON-able copy of a config dataclass (paths as strings, tuples as lists), stored in checkpoints."""
    out: dict[str, Any] = {}
    for k, v in asdict(cfg).items():
        out[k] = str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v
    return out
