"""The backbone feature map of a task model, taken during training without changing the model.

Both tasks' models end their backbone in the last MobileNetV3 stage: the torchvision segmentation models
(``model.backbone``, an ``IntermediateLayerGetter`` returning a dict: DeepLabV3 ``"out"``, LR-ASPP ``"high"``,
(N, 960, H/16, W/16)) and the keypoint :class:`trainer.pose.model.PoseNet` (``model.features``, a tensor
(N, 960 or 576, H/32, W/32)). A :class:`BackboneTap` reads that map two ways: :meth:`BackboneTap.capture`
registers a forward hook for the length of a ``with`` block, so the model's usual forward (task loss) also
hands over its features; :meth:`BackboneTap.features` runs the backbone alone (images that have no task
loss). The model's modules, parameters, ``state_dict`` and exported graph stay exactly as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class Captured:
    """What a :meth:`BackboneTap.capture` block's forward pass left: the feature map (N, C, h, w), or None
    before the backbone ran. (Filled on the training thread; never crosses threads.)"""

    features: torch.Tensor | None = None


@dataclass(frozen=True)
class BackboneTap:
    """Where a model's backbone features are.

    Attributes:
        module: the backbone module.
        key: the entry of its dict output that holds the last stage; None when it returns a tensor.
        channels: C of that feature map (the out-channels of the backbone's last convolution).
    """

    module: nn.Module
    key: str | None
    channels: int

    @classmethod
    def of(cls, model: nn.Module) -> BackboneTap:
        """The tap of a segmentation model (``model.backbone``) or a keypoint model (``model.features``).

        Raises:
            TypeError: the model has neither.
        """
        backbone = getattr(model, "backbone", None)
        if isinstance(backbone, nn.Module):
            layers: dict[str, str] = getattr(backbone, "return_layers", {})
            last = list(backbone.named_children())[-1][0]
            return cls(backbone, layers.get(last, "out"), _last_conv_channels(backbone))
        features = getattr(model, "features", None)
        if isinstance(features, nn.Module):
            return cls(features, None, _last_conv_channels(features))
        raise TypeError(f"{type(model).__name__}: no backbone (.backbone) or features (.features) module")

    def pick(self, output: Any) -> torch.Tensor:
        """The feature map within the backbone's ``output`` (a tensor, or a dict holding :attr:`key`)."""
        out: torch.Tensor = output if self.key is None else output[self.key]
        return out

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Run the backbone alone: images (N, 3, H, W) → feature map (N, C, h, w)."""
        return self.pick(self.module(images))

    @contextmanager
    def capture(self) -> Iterator[Captured]:
        """Within the block, every forward of the backbone stores its feature map in the yielded
        :class:`Captured` (the last one wins); the hook is removed when the block ends, also on error."""
        captured = Captured()

        def hook(_: nn.Module, __: Any, output: Any) -> None:
            captured.features = self.pick(output)

        handle = self.module.register_forward_hook(hook)
        try:
            yield captured
        finally:
            handle.remove()


def _last_conv_channels(module: nn.Module) -> int:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise TypeError(f"{type(module).__name__}: no convolution, cannot tell its feature channels")
    return int(convs[-1].out_channels)
