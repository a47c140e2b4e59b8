"""Decoding keypoint model outputs into points and scores (pure numpy; the trainer's metrics use the same
functions, so evaluation and streaming decode identically).

Coordinates: heatmap points are in heatmap pixels with pixel centres at integers; :func:`heatmap_to_input`
maps them to model-input pixels (same convention). SimCC points come out in input pixels directly.

Scores are 0..1:

* ``none`` (MSE-trained maps, target peak 1): the peak value, clipped to [0, 1].
* ``sigmoid`` (BCE logits): sigmoid of the peak logit.
* ``softmax`` (KCE logits): the peak probability of the spatial softmax divided by the peak of a perfect
  target (a normalised Gaussian of ``sigma`` px: 1 / (2π σ²)), clipped to [0, 1].
* SimCC: the smaller of the two axes' peak softmax probabilities divided by a perfect 1-D Gaussian's peak
  (1 / (sqrt(2π) σ) with σ in bins), clipped to [0, 1].
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.contract.pose_meta import Activation, Decoder

_EPS = 1e-12


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def probabilities(heatmaps: np.ndarray, activation: Activation) -> np.ndarray:
    """(N, K, h, w) raw outputs → (N, K, h, w) float64 non-negative maps that sum to 1 per keypoint."""
    hm = np.asarray(heatmaps, dtype=np.float64)
    n, k, h, w = hm.shape
    if activation == "softmax":
        return _softmax(hm.reshape(n, k, h * w), axis=2).reshape(n, k, h, w)
    p = 1.0 / (1.0 + np.exp(-hm)) if activation == "sigmoid" else np.clip(hm, 0.0, None)
    s = p.reshape(n, k, -1).sum(axis=2)[..., None, None]
    return np.where(s > _EPS, p / np.maximum(s, _EPS), 1.0 / (h * w))


def heatmap_scores(heatmaps: np.ndarray, activation: Activation, sigma: float = 2.0) -> np.ndarray:
    """(N, K, h, w) raw outputs → (N, K) float32 confidences in [0, 1] (see the module docstring)."""
    hm = np.asarray(heatmaps, dtype=np.float64)
    n, k = hm.shape[:2]
    peak = hm.reshape(n, k, -1).max(axis=2)
    if activation == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-peak))
    elif activation == "softmax":
        p = probabilities(hm, "softmax").reshape(n, k, -1).max(axis=2)
        s = p * (2.0 * math.pi * sigma * sigma)
    else:
        s = peak
    return np.clip(s, 0.0, 1.0).astype(np.float32)


def _refine(logp: np.ndarray, idx: np.ndarray, size: int) -> np.ndarray:
    """Sub-pixel offset along one axis from the parabola through (left, centre, right) of a log-map.

    ``logp``: (M, 3) log values at idx-1, idx, idx+1 (edges replicate); returns (M,) offsets in [-0.5, 0.5]
    (exact for a sampled Gaussian, whose log is a parabola)."""
    left, centre, right = logp[:, 0], logp[:, 1], logp[:, 2]
    curv = left - 2.0 * centre + right
    off = np.where(curv < -_EPS, 0.5 * (left - right) / np.where(curv < -_EPS, curv, -1.0), 0.0)
    off = np.where((idx == 0) | (idx == size - 1), 0.0, off)
    return np.clip(off, -0.5, 0.5)


def decode_argmax(prob: np.ndarray) -> np.ndarray:
    """(N, K, h, w) normalised maps → (N, K, 2) float32 (x, y) heatmap px: the peak, refined to sub-pixel
    by a parabola through the log of its neighbours on each axis."""
    n, k, h, w = prob.shape
    flat = prob.reshape(n * k, h * w)
    best = flat.argmax(axis=1)
    ys, xs = np.divmod(best, w)
    logm = np.log(np.maximum(prob.reshape(n * k, h, w), _EPS))
    rows = np.arange(n * k)
    xl, xr = np.clip(xs - 1, 0, w - 1), np.clip(xs + 1, 0, w - 1)
    yu, yd = np.clip(ys - 1, 0, h - 1), np.clip(ys + 1, 0, h - 1)
    dx = _refine(np.stack([logm[rows, ys, xl], logm[rows, ys, xs], logm[rows, ys, xr]], axis=1), xs, w)
    dy = _refine(np.stack([logm[rows, yu, xs], logm[rows, ys, xs], logm[rows, yd, xs]], axis=1), ys, h)
    return np.stack([xs + dx, ys + dy], axis=1).reshape(n, k, 2).astype(np.float32)


def decode_wa(prob: np.ndarray) -> np.ndarray:
    """(N, K, h, w) normalised maps → (N, K, 2) float32 (x, y) heatmap px: the expectation of the pixel
    coordinates under each map (NYCU's weighted-average decoding)."""
    _, _, h, w = prob.shape
    px = prob.sum(axis=2)  # (N, K, w)
    py = prob.sum(axis=3)  # (N, K, h)
    x = (px * np.arange(w)).sum(axis=2)
    y = (py * np.arange(h)).sum(axis=2)
    return np.stack([x, y], axis=2).astype(np.float32)


def decode_heatmaps(
    heatmaps: np.ndarray, activation: Activation, decoder: Decoder, sigma: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, h, w) raw outputs → ((N, K, 2) float32 (x, y) heatmap px, (N, K) float32 scores 0..1)."""
    prob = probabilities(heatmaps, activation)
    xy = decode_wa(prob) if decoder == "wa" else decode_argmax(prob)
    if activation == "softmax":  # the spatial softmax is computed once, for the points and the scores
        n, k = prob.shape[:2]
        peak = prob.reshape(n, k, -1).max(axis=2) * (2.0 * math.pi * sigma * sigma)
        return xy, np.clip(peak, 0.0, 1.0).astype(np.float32)
    return xy, heatmap_scores(heatmaps, activation, sigma)


def heatmap_to_input(xy: np.ndarray, stride: float) -> np.ndarray:
    """Heatmap points (..., 2) → model-input points (..., 2) for a map ``stride`` times smaller
    (pixel-centre convention: heatmap pixel i covers input pixels [i·stride, (i + 1)·stride))."""
    return ((np.asarray(xy, dtype=np.float32) + 0.5) * stride - 0.5).astype(np.float32)


def decode_simcc(
    x_logits: np.ndarray, y_logits: np.ndarray, split: float, sigma_bins: float = 6.0
) -> tuple[np.ndarray, np.ndarray]:
    """SimCC outputs ((N, K, W·k), (N, K, H·k)) → ((N, K, 2) float32 (x, y) input px, (N, K) float32 scores).

    The bin with the highest logit per axis, divided by ``split`` (k bins per input pixel)."""
    px = _softmax(np.asarray(x_logits, dtype=np.float64), axis=2)
    py = _softmax(np.asarray(y_logits, dtype=np.float64), axis=2)
    x = px.argmax(axis=2) / split
    y = py.argmax(axis=2) / split
    peak = np.minimum(px.max(axis=2), py.max(axis=2)) * (math.sqrt(2.0 * math.pi) * sigma_bins)
    return np.stack([x, y], axis=2).astype(np.float32), np.clip(peak, 0.0, 1.0).astype(np.float32)
