"""Gaussian heatmap targets and their weights (pure numpy).

Coordinates follow :mod:`pipeline.pose.decode`: pixel centres at integers, and heatmap pixel i covers input
pixels [i·stride, (i + 1)·stride), so :func:`input_to_heatmap` is the exact inverse of
:func:`pipeline.pose.decode.heatmap_to_input`. The Gaussian is centred on the sub-pixel position (not
rounded), so a perfect map decodes back to the labelled point with either decoder.
"""

from __future__ import annotations

import numpy as np

from pipeline.contract.keypoints import NOT_LABELLED


def input_to_heatmap(xy: np.ndarray, stride: float) -> np.ndarray:
    """Model-input points (..., 2) → heatmap points (..., 2) float32: ``(p + 0.5) / stride − 0.5``."""
    return ((np.asarray(xy, dtype=np.float32) + 0.5) / stride - 0.5).astype(np.float32)


def gaussian_heatmaps(xy: np.ndarray, hw: tuple[int, int], sigma: float) -> np.ndarray:
    """One unnormalised Gaussian per point: ``exp(−((x − μx)² + (y − μy)²) / (2σ²))`` (peak 1 at μ).

    Args:
        xy: (K, 2) centres (x, y), heatmap px (may lie outside the map).
        hw: (h, w) heatmap size.
        sigma: standard deviation, heatmap px.
    Returns:
        (K, h, w) float32.
    """
    h, w = hw
    mu = np.asarray(xy, dtype=np.float32).reshape(-1, 2)
    gx = np.exp(-((np.arange(w, dtype=np.float32)[None, :] - mu[:, :1]) ** 2) / (2.0 * sigma * sigma))
    gy = np.exp(-((np.arange(h, dtype=np.float32)[None, :] - mu[:, 1:2]) ** 2) / (2.0 * sigma * sigma))
    return (gy[:, :, None] * gx[:, None, :]).astype(np.float32)


def target_weights(keypoints: np.ndarray, hw: tuple[int, int], zero_ids: tuple[int, ...] = ()) -> np.ndarray:
    """(K,) float32 loss weights: 1 for a labelled point (v > 0) inside the heatmap's area
    (−0.5 ≤ x ≤ w − 0.5, same for y), 0 otherwise and for ``zero_ids`` (e.g. omitted facial points).

    Args:
        keypoints: (K, 3) [x, y, v] with x, y in heatmap px.
    """
    h, w = hw
    kp = np.asarray(keypoints, dtype=np.float32)
    x, y, v = kp[:, 0], kp[:, 1], kp[:, 2]
    inside = (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
    weights = ((v > NOT_LABELLED) & inside & np.isfinite(x) & np.isfinite(y)).astype(np.float32)
    if zero_ids:
        weights[list(zero_ids)] = 0.0
    return weights
