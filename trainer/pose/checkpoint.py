"""Keypoint training checkpoints: the segmentation checkpoint file format (:mod:`trainer.checkpoint`: atomic
writes, ``weights_only`` reads, keys ``format``, ``arch``, ``model``, ``spec``) with these keys besides:

- ``task``: ``"keypoints"`` (what ``evaluate`` and ``export`` dispatch on)
- ``head_channels`` (int), ``num_keypoints`` (K), ``keypoint_set`` (name), ``keypoint_names`` (list)
- ``loss`` (``mse`` | ``bce`` | ``kce``), ``activation`` (``none`` | ``sigmoid`` | ``softmax``),
  ``input_hw`` ([h, w] px), ``crop_padding`` (fraction per side)
- ``optimizer``, ``scheduler``, ``scaler``: ``state_dict()`` of each; ``epoch``, ``step``: counters
- ``best_pck``, ``best_mks``, ``best_epoch``: the best validation (PCKsh@0.1, then mKS) so far
- ``metrics``: flat validation metrics of THIS checkpoint (``PCKsh@0.1``, ``mKS``, ``PCKsh@0.1/17``, …)
- ``history``: the rows of ``metrics.csv`` so far; ``args``: the training options
- ``spec``: :meth:`pipeline.contract.pose_meta.PoseSpec.to_props` strings (what export writes)
- ``adapt``: only from ``train --unlabelled``, as in :mod:`trainer.checkpoint`
"""

from __future__ import annotations

import math
from typing import Any, Final

from pipeline.contract.pose_meta import PoseSpec
from pipeline.errors import ModelError
from trainer.checkpoint import load_weights
from trainer.pose.model import PoseNet, build_pose_model

TASK: Final = "keypoints"


def is_pose_checkpoint(state: dict[str, Any]) -> bool:
    """True for a keypoint checkpoint."""
    return state.get("task") == TASK


def pose_spec_from_checkpoint(state: dict[str, Any], where: str) -> PoseSpec:
    """The checkpoint's :class:`PoseSpec`.

    Raises:
        ModelError: not a keypoint checkpoint, or malformed spec.
    """
    _require_pose(state, where)
    return PoseSpec.from_props(state["spec"], where)


def pose_model_from_checkpoint(state: dict[str, Any], where: str) -> PoseNet:
    """Rebuild the checkpoint's model with its weights, in eval mode on the CPU.

    Raises:
        ModelError: not a keypoint checkpoint, or the weights do not fit the architecture.
    """
    _require_pose(state, where)
    model = build_pose_model(str(state["arch"]), int(state["num_keypoints"]), int(state["head_channels"]))
    return load_weights(model, state, where)


def _require_pose(state: dict[str, Any], where: str) -> None:
    if not is_pose_checkpoint(state):
        raise ModelError(f"{where}: not a keypoint checkpoint (task {state.get('task', 'segmentation')!r})")


def flat_metrics(state: dict[str, Any], prefix: str = "val_") -> dict[str, float]:
    """The checkpoint's finite scalar validation metrics, keys prefixed (for ONNX metadata)."""
    metrics = state.get("metrics") or {}
    return {
        f"{prefix}{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    }
