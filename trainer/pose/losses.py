"""Heatmap losses with per-keypoint weights (0 = unlabelled / outside the crop / omitted: no contribution).

All three take raw model outputs ``pred`` (N, K, h, w), the Gaussian targets ``target`` (N, K, h, w) (peak
1 at the keypoint, sigma in heatmap px, :mod:`trainer.pose.targets`) and ``weight`` (N, K) in {0, 1}, and
return ``Σ_nk w_nk · L_nk / max(Σ_nk w_nk, 1)``, the mean of the per-channel losses ``L_nk`` over the
weighted channels (0 when none is weighted):

* ``mse``: ``L = mean_hw (ĥ − h)²``; the raw map is the heatmap (activation ``none``).
* ``bce``: ``L = mean_hw BCE(sigmoid(ĥ), h)`` computed from logits (activation ``sigmoid``).
* ``kce``: ``L = −Σ_hw h̄ · log softmax_hw(ĥ)`` with ``h̄ = h / Σ_hw h`` (NYCU's keypoint cross-entropy,
  activation ``softmax``); with every weight 1 the mean equals ``−(1/C) Σ_c Σ_hw h̄_c log softmax(ĥ_c)``
  averaged over the batch.

A loss implies the activation written into the model's metadata (:data:`trainer.pose.config.ACTIVATION_OF_LOSS`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import torch
import torch.nn.functional as F

from pipeline.errors import ConfigError

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _weighted_mean(per_channel: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(N, K) losses, (N, K) weights → scalar ``Σ w·L / max(Σ w, 1)``."""
    w = weight.to(per_channel.dtype)
    return (per_channel * w).sum() / w.sum().clamp(min=1.0)


def mse_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Masked mean squared error against the Gaussian target (see the module docstring)."""
    per = ((pred.float() - target) ** 2).flatten(2).mean(dim=2)
    return _weighted_mean(per, weight)


def bce_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Masked binary cross-entropy of the logits against the Gaussian target (soft labels in [0, 1])."""
    per = F.binary_cross_entropy_with_logits(pred.float(), target, reduction="none").flatten(2).mean(dim=2)
    return _weighted_mean(per, weight)


def kce_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Masked spatial-softmax cross-entropy against the target normalised to sum 1 per channel."""
    logp = F.log_softmax(pred.float().flatten(2), dim=2)
    t = target.flatten(2)
    t = t / t.sum(dim=2, keepdim=True).clamp(min=1e-12)
    per = -(t * logp).sum(dim=2)
    return _weighted_mean(per, weight)


LOSSES: Final[dict[str, LossFn]] = {"mse": mse_loss, "bce": bce_loss, "kce": kce_loss}


def heatmap_loss(name: str) -> LossFn:
    """The loss called ``name`` (``mse``, ``bce`` or ``kce``).

    Raises:
        ConfigError: unknown name.
    """
    if name not in LOSSES:
        raise ConfigError(f"--loss: must be one of {', '.join(LOSSES)}, got {name!r}")
    return LOSSES[name]
