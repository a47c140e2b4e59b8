"""Keypoint training options: the ``infant-stream train --task keypoints`` arguments and the typed, validated
:class:`PoseTrainConfig` (torch-free: the CLI reads it before torch is imported).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pipeline.errors import ConfigError
from trainer.adapt_options import DEFAULT_ADAPT_LAMBDA, DEFAULT_ADAPT_WEIGHT, adapt_checks, adapt_options
from trainer.options import DEFAULT_LR, backbone_check, json_options, run_checks, run_options

POSE_ARCHITECTURES: Final = ("mnv3-large", "mnv3-small")
"""``--arch`` for keypoints (:data:`trainer.pose.model.BACKBONES`)."""

ACTIVATION_OF_LOSS: Final[dict[str, str]] = {"mse": "none", "bce": "sigmoid", "kce": "softmax"}
"""The heatmap activation a loss implies (written into the model's metadata)."""

DECODERS: Final = ("argmax", "wa")

KEYPOINT_ONLY: Final[dict[str, str]] = {
    "loss": "--loss",
    "decoder": "--decoder",
    "sigma": "--sigma",
    "crop_padding": "--crop-padding",
    "rotation": "--rotation",
    "head_channels": "--head-channels",
    "face_occlusion": "--face-occlusion",
    "omit_facial": "--omit-facial",
}
"""Namespace attribute → flag of the ``train`` options that only keypoint training takes."""


@dataclass(frozen=True)
class PoseTrainConfig:
    """Everything one keypoint training run depends on (units: pixels, heatmap pixels, epochs, steps).

    Attributes:
        arch: backbone, ``mnv3-large`` or ``mnv3-small``; head_channels: SimpleBaseline head width (96: the
            exported 192x192 model runs in ~5.5-7 ms per crop on one core in ONNX Runtime, 128: ~7-9 ms).
        input_hw: model input (height, width), px, multiples of 32 (heatmaps are a quarter of it).
        loss: ``mse`` | ``bce`` | ``kce`` (:mod:`trainer.pose.losses`); fixes the metadata's activation.
        decoder: validation (and exported default) decoding, ``argmax`` or ``wa``.
        sigma: Gaussian target sigma, heatmap px.
        crop_padding: body-box padding per side before cropping (fraction; the pipeline uses the same).
        rotation: training rotations are U(-rotation, rotation) degrees, with probability 0.5.
        face_occlusion: mosaic the face (located by the facial points) in train and val images.
        omit_facial: facial points get loss weight 0 (the model keeps K outputs; those channels are untrained).
        lr: initial learning rate, poly decay ``(1 - step / total) ** 0.9``.
        max_steps: stop after this many optimizer steps in all (smoke runs, fixed-budget ablations).
        unlabelled: target-domain frames for domain adaptation (None = none); adapt_weight: W of the domain
            loss; adapt_lambda: the largest gradient-reversal factor (:mod:`trainer.adapt_run`).
    """

    data: Path
    out: Path
    arch: str = "mnv3-large"
    head_channels: int = 96
    input_hw: tuple[int, int] = (192, 192)
    loss: str = "mse"
    decoder: str = "argmax"
    sigma: float = 2.0
    crop_padding: float = 0.15
    rotation: float = 180.0
    face_occlusion: bool = False
    omit_facial: bool = False
    epochs: int = 60
    batch_size: int = 16
    lr: float = DEFAULT_LR["adamw"]
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
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

    @property
    def activation(self) -> str:
        return ACTIVATION_OF_LOSS[self.loss]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> PoseTrainConfig:
        """Build from parsed ``train`` arguments (``--task keypoints``) and validate.

        Raises:
            ConfigError: a segmentation-only option is given, or a value is out of range.
        """
        if getattr(args, "class_weights", None) is not None:
            raise ConfigError("--class-weights: segmentation only (not with --task keypoints)")
        if getattr(args, "aux_loss", False):
            raise ConfigError("--aux-loss: segmentation only (not with --task keypoints)")
        d = cls(data=Path(args.data), out=Path(args.out))

        def opt(name: str) -> Any:
            value = getattr(args, name, None)
            return getattr(d, name) if value is None else value

        size = args.input_size if args.input_size is not None else None
        cfg = cls(
            data=Path(args.data),
            out=Path(args.out),
            arch=args.arch if args.arch is not None else d.arch,
            head_channels=int(opt("head_channels")),
            input_hw=(int(size), int(size)) if size is not None else d.input_hw,
            loss=str(opt("loss")),
            decoder=str(opt("decoder")),
            sigma=float(opt("sigma")),
            crop_padding=float(opt("crop_padding")),
            rotation=float(opt("rotation")),
            face_occlusion=bool(getattr(args, "face_occlusion", False)),
            omit_facial=bool(getattr(args, "omit_facial", False)),
            **run_options(args, d),
            **adapt_options(args),
        )
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raises ConfigError naming the option and the bad value."""
        h, w = self.input_hw
        checks: list[tuple[bool, str]] = [
            (
                self.arch in POSE_ARCHITECTURES,
                f"--arch: keypoints take {' or '.join(POSE_ARCHITECTURES)}, got {self.arch!r}",
            ),
            (self.head_channels >= 8, f"--head-channels: must be >= 8, got {self.head_channels}"),
            (
                h >= 64 and w >= 64 and h % 32 == 0 and w % 32 == 0,
                f"--input-size: keypoint input must be a multiple of 32 and >= 64 pixels, got {h}x{w}",
            ),
            (self.loss in ACTIVATION_OF_LOSS, f"--loss: must be mse, bce or kce, got {self.loss!r}"),
            (self.decoder in DECODERS, f"--decoder: must be argmax or wa, got {self.decoder!r}"),
            (0.5 <= self.sigma <= 8.0, f"--sigma: must be 0.5..8 heatmap pixels, got {self.sigma}"),
            (0.0 <= self.crop_padding <= 1.0, f"--crop-padding: must be 0..1, got {self.crop_padding}"),
            (0.0 <= self.rotation <= 180.0, f"--rotation: must be 0..180 degrees, got {self.rotation}"),
            *run_checks(self),
            backbone_check(self),
            *adapt_checks(self),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy (paths as strings, tuples as lists), stored in checkpoints."""
        return json_options(self)


def keypoint_options_given(args: argparse.Namespace) -> list[str]:
    """The keypoint-only flags set on ``args`` (for a clear error when the task is segmentation)."""
    return [flag for attr, flag in KEYPOINT_ONLY.items() if getattr(args, attr, None) not in (None, False)]


def add_keypoint_arguments(p: argparse.ArgumentParser) -> None:
    """The ``train`` options only ``--task keypoints`` takes (defaults as in :class:`PoseTrainConfig`;
    None in the namespace = not given)."""
    d = PoseTrainConfig(data=Path("data"), out=Path("runs"))
    g = p.add_argument_group("keypoints (--task keypoints)")
    g.add_argument(
        "--loss",
        default=None,
        choices=tuple(ACTIVATION_OF_LOSS),
        help=f"heatmap loss: mse (activation none), bce (sigmoid), kce (spatial softmax) ({d.loss})",
    )
    g.add_argument(
        "--decoder", default=None, choices=DECODERS, help=f"validation/default decoding ({d.decoder})"
    )
    g.add_argument("--sigma", type=float, default=None, help=f"target Gaussian sigma, heatmap px ({d.sigma})")
    g.add_argument(
        "--crop-padding",
        type=float,
        default=None,
        help=f"body-box padding per side before cropping, fraction ({d.crop_padding})",
    )
    g.add_argument(
        "--rotation",
        type=float,
        default=None,
        metavar="DEG",
        help=f"random rotation U(-DEG, DEG) with probability 0.5 ({d.rotation:g})",
    )
    g.add_argument(
        "--head-channels", type=int, default=None, help=f"deconvolution head width ({d.head_channels})"
    )
    g.add_argument(
        "--face-occlusion",
        action="store_true",
        help="mosaic the face (located by the facial points) in training and validation images",
    )
    g.add_argument(
        "--omit-facial",
        action="store_true",
        help="facial points get loss weight 0 (outputs stay K; their channels are untrained)",
    )
