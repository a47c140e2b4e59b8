"""Precise batch-norm statistics: recompute BN running mean/var with the current weights.

BatchNorm layers keep running averages that lag far behind the weights when a network is trained
from scratch (torchvision's MobileNetV3 uses momentum 0.01), so early in training the model in
``eval()`` mode can predict nothing but background while it is fine in ``train()`` mode. Before each
validation (and so before each checkpoint), the statistics are re-estimated over a few training
batches as a plain cumulative average, with gradients off and weights untouched.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device, limit: int
) -> int:
    """Re-estimate every BatchNorm's running statistics over up to ``limit`` batches.

    Args:
        model: the network; left in ``eval()`` mode afterwards.
        batches: (images (N, 3, H, W), masks) pairs, as the training loader yields them.
        limit: batches to use (> 0).
    Returns:
        the number of batches used (0 = no BatchNorm layer or no batch: statistics unchanged).
    """
    norms = [
        m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    if not norms:
        model.eval()
        return 0
    momenta = [m.momentum for m in norms]
    saved = [(m.running_mean.clone(), m.running_var.clone()) for m in norms]  # type: ignore[union-attr]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    used = 0
    for images, _ in batches:
        model(images.to(device))
        used += 1
        if used >= limit:
            break
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    if used == 0:
        for m, (mean, var) in zip(norms, saved, strict=True):
            m.running_mean.copy_(mean)  # type: ignore[union-attr]
            m.running_var.copy_(var)  # type: ignore[union-attr]
    model.eval()
    return used
