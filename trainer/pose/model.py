"""Top-down keypoint heatmap model: a torchvision MobileNetV3 backbone and a SimpleBaseline head.

SimpleBaseline (Xiao et al., 2018) on MobileNetV3 ``features`` (output stride 32): three
``ConvTranspose2d(4×4, stride 2, padding 1) + BatchNorm + ReLU`` blocks bring the map to stride 4, then a
1×1 convolution gives one heatmap per keypoint. Input: normalised RGB crops (N, 3, H, W) float32 with H and
W multiples of 32; output: raw heatmaps (N, K, H/4, W/4) float32 (no activation: the loss and the decoder
know which one applies, see :mod:`trainer.pose.losses`).

Weights start random (``weights=None``); ``weights_backbone="imagenet"`` loads torchvision's ImageNet
weights into the backbone (hub cache or network), as the segmentation models do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import torch
from torch import nn

from pipeline.errors import ConfigError
from trainer.models import with_backbone_weights

HEATMAP_STRIDE: Final = 4
"""Input pixels per heatmap pixel."""

INPUT_MULTIPLE: Final = 32
"""Input height and width must be multiples of the backbone's output stride."""


@dataclass(frozen=True)
class Backbone:
    """A MobileNetV3 variant: torchvision builder and weights enum names, channels of its last feature map."""

    builder: str
    weights: str
    channels: int


BACKBONES: Final[dict[str, Backbone]] = {
    "mnv3-large": Backbone("mobilenet_v3_large", "MobileNet_V3_Large_Weights", 960),
    "mnv3-small": Backbone("mobilenet_v3_small", "MobileNet_V3_Small_Weights", 576),
}
"""CLI ``--arch`` name → backbone."""


def architecture_name(arch: str, head_channels: int) -> str:
    """The ``architecture`` written into metadata, e.g. ``simplebaseline_mobilenet_v3_large_h96``."""
    return f"simplebaseline_{BACKBONES[arch].builder}_h{head_channels}"


class PoseNet(nn.Module):
    """MobileNetV3 features + SimpleBaseline deconvolution head (see the module docstring)."""

    def __init__(self, features: nn.Module, in_channels: int, num_keypoints: int, head_channels: int) -> None:
        super().__init__()
        self.features = features
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(3):
            layers += [
                nn.ConvTranspose2d(c, head_channels, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(head_channels),
                nn.ReLU(inplace=True),
            ]
            c = head_channels
        self.deconv = nn.Sequential(*layers)
        self.final = nn.Conv2d(head_channels, num_keypoints, 1)
        for m in self.deconv.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)
        nn.init.normal_(self.final.weight, std=0.001)
        if self.final.bias is not None:
            nn.init.zeros_(self.final.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) → (N, K, H/4, W/4) raw heatmaps."""
        out: torch.Tensor = self.final(self.deconv(self.features(x)))
        return out


def build_pose_model(
    arch: str, num_keypoints: int, head_channels: int = 96, weights_backbone: str = "none"
) -> PoseNet:
    """A fresh keypoint model.

    Args:
        arch: a key of :data:`BACKBONES` (``mnv3-large`` or ``mnv3-small``).
        num_keypoints: K, heatmap channels.
        head_channels: channels of the three deconvolution blocks.
        weights_backbone: ``none`` or ``imagenet``.
    Raises:
        ConfigError: unknown arch/backbone weights or bad sizes.
        ModelError: the ImageNet backbone weights cannot be downloaded or loaded.
    """
    import torchvision.models as tvm

    if arch not in BACKBONES:
        raise ConfigError(f"--arch: keypoints take one of {', '.join(BACKBONES)}, got {arch!r}")
    if weights_backbone not in ("none", "imagenet"):
        raise ConfigError(f"--weights-backbone: must be none or imagenet, got {weights_backbone!r}")
    if num_keypoints < 1 or head_channels < 1:
        raise ConfigError(
            f"keypoint model: need K >= 1 and head channels >= 1, got {num_keypoints}, {head_channels}"
        )
    spec = BACKBONES[arch]
    weights = getattr(tvm, spec.weights).IMAGENET1K_V1 if weights_backbone == "imagenet" else None
    net = with_backbone_weights(lambda: getattr(tvm, spec.builder)(weights=weights), weights)
    return PoseNet(net.features, spec.channels, num_keypoints, head_channels)
