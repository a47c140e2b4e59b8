"""Domain-adversarial training (DANN, Ganin & Lempitsky 2015; the seed system FiDIP uses it for infant pose):
the pieces that make a backbone's features indistinguishable between two domains.

A small :class:`DomainClassifier` learns to tell, from a backbone feature map, whether an image comes from the
labelled *source* domain (synthetic infants, label 0) or the unlabelled *target* domain (the user's own camera
frames, label 1), by minimising :func:`domain_loss`. Between the backbone and the classifier sits a gradient
reversal layer (:func:`grad_reverse`): identity on the way forward, gradient × −λ on the way back. So one
backward pass trains the classifier to separate the domains and the backbone to make them inseparable, while
the task loss keeps the features useful. λ grows from 0 to ``max_lambda`` with the DANN schedule
:func:`grl_lambda`, so the noisy early classifier does not disturb the backbone.

Training only: nothing here is part of an exported model.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

SOURCE_LABEL = 0.0
"""Domain label of labelled (source, synthetic) images."""

TARGET_LABEL = 1.0
"""Domain label of unlabelled (target, the user's camera) images."""

DEFAULT_GAMMA = 10.0
"""γ of the DANN schedule (:func:`grl_lambda`)."""


class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by −λ (no gradient for λ itself)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lambda_: float) -> torch.Tensor:
        ctx.lambda_ = float(lambda_)
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grads[0].neg() * ctx.lambda_, None


def grad_reverse(x: torch.Tensor, lambda_: float) -> torch.Tensor:
    """``x`` unchanged (any shape); its gradient reaches the inputs of ``x`` multiplied by ``-lambda_``."""
    out: torch.Tensor = GradientReversal.apply(x, lambda_)
    return out


class GradReverse(nn.Module):
    """:func:`grad_reverse` as a module; ``lambda_`` may be changed between steps (the schedule)."""

    def __init__(self, lambda_: float = 1.0) -> None:
        super().__init__()
        self.lambda_ = float(lambda_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambda_)

    def extra_repr(self) -> str:
        return f"lambda_={self.lambda_:g}"


class DomainClassifier(nn.Module):
    """Backbone feature map → one domain logit per image (> 0: target, < 0: source).

    Global average pooling (N, C, h, w) → (N, C), then ``Linear(C, hidden) → ReLU → Linear(hidden, hidden) →
    ReLU → Linear(hidden, 1)``. No dropout: a step is deterministic given its inputs.

    Args:
        in_channels: C, channels of the feature map (960 for MobileNetV3-Large, 576 for -Small).
        hidden: width of the two hidden layers.
    """

    def __init__(self, in_channels: int, hidden: int = 256) -> None:
        super().__init__()
        if in_channels < 1 or hidden < 1:
            raise ValueError(
                f"DomainClassifier: channels and width must be >= 1, got {in_channels}, {hidden}"
            )
        self.in_channels = in_channels
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features (N, C, h, w) float → logits (N,) float."""
        logits: torch.Tensor = self.mlp(features.mean(dim=(2, 3))).squeeze(1)
        return logits


def domain_loss(logits_source: torch.Tensor, logits_target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the domain logits, source labelled 0 and target 1, averaged over all
    ``N_s + N_t`` images: ``(Σ softplus(z_s) + Σ softplus(−z_t)) / (N_s + N_t)``.

    Args:
        logits_source: (N_s,) logits of source images.
        logits_target: (N_t,) logits of target images.
    Returns:
        scalar float32 tensor (log 2 ≈ 0.693 when the classifier cannot tell the domains apart).
    """
    logits = torch.cat([logits_source, logits_target]).float()
    labels = torch.cat(
        [torch.full_like(logits_source, SOURCE_LABEL), torch.full_like(logits_target, TARGET_LABEL)]
    ).float()
    return F.binary_cross_entropy_with_logits(logits, labels)


def domain_correct(logits_source: torch.Tensor, logits_target: torch.Tensor) -> tuple[int, int]:
    """(images whose domain the classifier gets right, images): a source logit < 0 and a target logit > 0
    are right (a logit of exactly 0 is wrong for both). Accuracy = right / images; 0.5 = chance."""
    right = int((logits_source < 0).sum()) + int((logits_target > 0).sum())
    return right, int(logits_source.numel() + logits_target.numel())


def grl_lambda(progress: float, gamma: float = DEFAULT_GAMMA, max_lambda: float = 1.0) -> float:
    """The DANN schedule: ``max_lambda · (2 / (1 + exp(−γ·p)) − 1)``, p = ``progress`` clipped to 0..1
    (step / total steps of the run). 0 at p = 0, ``max_lambda · tanh(γ/4)`` at p = 0.5 (0.987 for γ = 10),
    ``max_lambda · tanh(γ/2)`` at p = 1 (0.99991)."""
    p = min(max(float(progress), 0.0), 1.0)
    return max_lambda * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)
