"""Heatmap losses on hand-computed tiny cases; unlabelled (weight 0) points contribute nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pipeline.errors import ConfigError
from trainer.pose.losses import LossFn, bce_loss, heatmap_loss, kce_loss, mse_loss


def _t(values: list[float], shape: tuple[int, ...]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(shape)


def test_mse_is_the_mean_square_over_weighted_channels() -> None:
    pred = _t([0, 0, 0, 0, 9, 9, 9, 9], (1, 2, 2, 2))
    target = _t([1, 0, 0, 0, 0, 0, 0, 0], (1, 2, 2, 2))
    # channel 0: (1 + 0 + 0 + 0) / 4 = 0.25; channel 1 (weight 0) would be 81.
    assert float(mse_loss(pred, target, _t([1, 0], (1, 2)))) == pytest.approx(0.25)
    assert float(mse_loss(pred, target, _t([1, 1], (1, 2)))) == pytest.approx((0.25 + 81) / 2)


def test_bce_of_zero_logits_is_log_two_for_any_soft_target() -> None:
    target = _t([1.0, 0.5, 0.2, 0.0], (1, 1, 2, 2))
    assert float(bce_loss(torch.zeros(1, 1, 2, 2), target, torch.ones(1, 1))) == pytest.approx(math.log(2))
    # logit 0 against target 1 and logit ln 3 (p = 0.75) against target 1: mean(ln 2, -ln 0.75)
    pred = _t([0.0, math.log(3.0)], (1, 1, 1, 2))
    got = float(bce_loss(pred, torch.ones(1, 1, 1, 2), torch.ones(1, 1)))
    assert got == pytest.approx((math.log(2) - math.log(0.75)) / 2)


def test_kce_equals_the_formula() -> None:
    # one channel, two pixels: softmax([0, ln 3]) = [1/4, 3/4]; target [1, 1] normalised to [1/2, 1/2]
    pred = _t([0.0, math.log(3.0)], (1, 1, 1, 2))
    got = float(kce_loss(pred, _t([1.0, 1.0], (1, 1, 1, 2)), torch.ones(1, 1)))
    assert got == pytest.approx(-(0.5 * math.log(0.25) + 0.5 * math.log(0.75)))
    # the formula −(1/C) Σ_c Σ_hw h̄_c log softmax(ĥ_c), averaged over the batch, on random maps
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4, 5))
    target = rng.random((2, 3, 4, 5))
    h = target / target.sum(axis=(2, 3), keepdims=True)
    flat = logits.reshape(2, 3, -1)
    logp = flat - np.log(np.exp(flat).sum(axis=2, keepdims=True))
    expected = float(np.mean(-(h.reshape(2, 3, -1) * logp).sum(axis=2)))
    got = float(kce_loss(torch.tensor(logits), torch.tensor(target, dtype=torch.float32), torch.ones(2, 3)))
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("fn", [mse_loss, bce_loss, kce_loss])
def test_masked_points_contribute_nothing(fn: LossFn) -> None:
    rng = np.random.default_rng(1)
    pred = torch.tensor(rng.normal(size=(2, 3, 4, 4)), dtype=torch.float32, requires_grad=True)
    target = torch.tensor(rng.random((2, 3, 4, 4)), dtype=torch.float32)
    weight = _t([1, 0, 1, 0, 1, 1], (2, 3))
    value = fn(pred, target, weight)
    value.backward()
    assert pred.grad is not None
    masked = weight == 0
    assert float(pred.grad[masked].abs().max()) == 0.0 and float(pred.grad[~masked].abs().max()) > 0
    changed = pred.detach().clone()
    changed[masked] = 50.0  # anything at the masked points
    assert float(fn(changed, target, weight)) == pytest.approx(float(value.detach()))
    # the mean over the weighted channels = the mean of the kept channels' own losses
    one = torch.ones(1, 1)
    kept = [
        float(fn(pred.detach()[n : n + 1, k : k + 1], target[n : n + 1, k : k + 1], one))
        for n, k in zip(*np.nonzero(weight.numpy()), strict=True)
    ]
    assert float(value.detach()) == pytest.approx(float(np.mean(kept)), rel=1e-5)
    assert float(fn(pred.detach(), target, torch.zeros(2, 3))) == 0.0


def test_unknown_loss_is_a_config_error() -> None:
    assert heatmap_loss("kce") is kce_loss
    with pytest.raises(ConfigError, match="--loss: must be one of mse, bce, kce, got 'l1'"):
        heatmap_loss("l1")
