"""Segmentation model factory: torchvision MobileNetV3-Large DeepLabV3 (default) or LR-ASPP.

Both take normalised RGB (N, 3, H, W) float32 and return a dict whose ``"out"`` holds logits
(N, NUM_CLASSES, H, W) at input resolution; DeepLabV3 built with ``aux_loss`` adds ``"aux"`` (training only).
Weights start random (``weights=None``); ``weights_backbone="imagenet"`` loads torchvision's ImageNet
MobileNetV3-Large backbone, which needs the file in torch's hub cache or a network connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.error import URLError

import torch
from torch import nn

from pipeline.contract.classes import NUM_CLASSES
from pipeline.errors import ConfigError, ModelError
from trainer.config import ARCHITECTURES, BACKBONE_WEIGHTS


def build_model(
    arch: str, num_classes: int = NUM_CLASSES, aux_loss: bool = False, weights_backbone: str = "none"
) -> nn.Module:
    """A fresh segmentation model.

    Args:
        arch: ``deeplabv3`` or ``lraspp`` (keys of :data:`ARCHITECTURES`).
        num_classes: output channels.
        aux_loss: add DeepLabV3's auxiliary FCN head (``"aux"`` output); not available for LR-ASPP.
        weights_backbone: ``none`` or ``imagenet``.
    Raises:
        ConfigError: unknown arch / backbone weights, or aux_loss with LR-ASPP.
        ModelError: the ImageNet backbone weights cannot be downloaded or loaded.
    """
    from torchvision.models import MobileNet_V3_Large_Weights
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large

    if arch not in ARCHITECTURES:
        raise ConfigError(f"--arch: must be one of {', '.join(ARCHITECTURES)}, got {arch!r}")
    if weights_backbone not in BACKBONE_WEIGHTS:
        raise ConfigError(
            f"--weights-backbone: must be one of {', '.join(BACKBONE_WEIGHTS)}, got {weights_backbone!r}"
        )
    if aux_loss and arch != "deeplabv3":
        raise ConfigError(f"--aux-loss: only deeplabv3 has an auxiliary head, not {arch}")
    backbone = MobileNet_V3_Large_Weights.IMAGENET1K_V1 if weights_backbone == "imagenet" else None
    builder: Callable[..., nn.Module]
    if arch == "deeplabv3":
        builder = deeplabv3_mobilenet_v3_large
        kwargs: dict[str, object] = {"aux_loss": aux_loss}
    else:
        builder = lraspp_mobilenet_v3_large
        kwargs = {}
    return with_backbone_weights(
        lambda: builder(weights=None, weights_backbone=backbone, num_classes=num_classes, **kwargs), backbone
    )


T = TypeVar("T")


def with_backbone_weights(build: Callable[[], T], weights: Any) -> T:
    """``build()``, which loads the torchvision ImageNet backbone ``weights`` (a weights enum member; None =
    random init).

    Raises:
        ModelError: the weights cannot be downloaded or loaded: one line naming the URL, the reason and the
            file to put into torch's hub cache. Without weights the error is re-raised as it is.
    """
    try:
        return build()
    except (URLError, OSError, RuntimeError, ValueError) as exc:
        if weights is None:
            raise
        from torch.hub import get_dir

        reason = getattr(exc, "reason", None) or exc
        file = weights.url.rsplit("/", 1)[-1]
        raise ModelError(
            f"--weights-backbone imagenet: cannot download {weights.url} ({reason}); "
            f"put {file} into {get_dir()}/checkpoints/ or train with --weights-backbone none"
        ) from None


class LogitsOnly(nn.Module):
    """Wraps a torchvision segmentation model to return only ``"out"`` logits (N, C, H, W) (for export)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)["out"]
        return out


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda, else mps, else cpu; an explicit device must be available.

    Raises:
        ConfigError: unknown name, or the requested accelerator is not available.
    """
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available (use --device cpu or auto)")
        return torch.device("cuda")
    if name == "mps":
        if not mps_ok:
            raise ConfigError("--device mps: Apple MPS is not available (use --device cpu or auto)")
        return torch.device("mps")
    raise ConfigError(f"--device: must be auto, cpu, cuda or mps, got {name!r}")
