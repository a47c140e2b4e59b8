"""Flip test: run the pose model on the crop and on its mirror image, and average the two answers.

The mirror pass sees the infant's right side where the left was, so its outputs are mirrored back
(horizontally) and their left/right channels swapped (:meth:`KeypointSet.flip_pairs`, matched by name)
before they are averaged with the plain pass's raw outputs (the logits, before any activation).
SimpleBaseline, HRNet and ViTPose test this way; it costs a second model pass per crop.

Pixel conventions: a heatmap pixel ``i`` covers input pixels ``[i·stride, (i + 1)·stride)``, so the
mirror of an input ``W = w·stride`` wide is exactly the mirror of its heatmap. A SimCC bin ``b`` stands
for input x = ``b / split`` (:func:`pipeline.pose.decode.decode_simcc`); its mirror x' = W − 1 − x is bin
``(W − 1)·split − b``, i.e. the reversed vector shifted by ``split − 1`` bins.
"""

from __future__ import annotations

import numpy as np

from pipeline.contract.keypoints import KeypointSet


def flip_permutation(keypoints: KeypointSet) -> np.ndarray:
    """(K,) int64 channel order of the mirror pass: ``perm[i]`` is the channel that holds keypoint ``i``
    in the mirror image (its left/right partner, or itself)."""
    perm = np.arange(keypoints.num_keypoints)
    for right, left in keypoints.flip_pairs():
        perm[right], perm[left] = left, right
    return perm


def with_mirror(batch: np.ndarray) -> np.ndarray:
    """(N, C, H, W) crops → (2N, C, H, W): the crops, then their horizontal mirror images (contiguous)."""
    return np.concatenate([batch, batch[..., ::-1]], axis=0)


def merge_heatmaps(maps: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """(2N, K, h, w) raw heatmaps of :func:`with_mirror`'s batch → (N, K, h, w) float32: the plain pass
    averaged with the mirror pass mirrored back, its channels in ``perm`` order."""
    n = len(maps) // 2
    back = maps[n:, perm, :, ::-1]
    return ((maps[:n] + back) * 0.5).astype(np.float32)


def merge_simcc(
    x: np.ndarray, y: np.ndarray, perm: np.ndarray, split: float
) -> tuple[np.ndarray, np.ndarray]:
    """SimCC logits of :func:`with_mirror`'s batch ((2N, K, W·k), (2N, K, H·k)) → ((N, K, W·k), (N, K, H·k))
    float32: y averaged with the mirror pass's (channels in ``perm`` order); x averaged with the mirror
    pass's reversed and shifted by ``split − 1`` bins (the last bins repeat the edge)."""
    n = len(x) // 2
    shift = max(0, round(split - 1.0))
    back = x[n:, perm, ::-1]
    if shift:
        back = np.concatenate([back[..., shift:], np.repeat(back[..., -1:], shift, axis=-1)], axis=-1)
    mx = ((x[:n] + back) * 0.5).astype(np.float32)
    my = ((y[:n] + y[n:, perm]) * 0.5).astype(np.float32)
    return mx, my
