"""Run a keypoint model on preprocessed crops, from a training checkpoint (torch) or an exported ONNX file.

Both answer the same call: normalised crops (N, 3, in_h, in_w) float32 → raw heatmaps (N, K, h, w) float32,
and carry the :class:`PoseSpec` (input size, normalisation, activation, decoder, stride, sigma, padding)
that says how to crop for them and decode them, so a ``.pt`` and its ``.onnx`` score alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import torch
from torch import nn

from pipeline.contract.pose_meta import PoseSpec, task_of
from pipeline.errors import ModelError
from trainer.pose.checkpoint import pose_model_from_checkpoint, pose_spec_from_checkpoint
from trainer.predictors import OnnxSession, eval_forward, open_model

OUTPUT_NAME: Final = "heatmaps"


class PosePredictor(Protocol):
    """A keypoint model plus its :class:`PoseSpec`."""

    spec: PoseSpec

    def heatmaps(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, in_h, in_w) float32 → (N, K, h, w) float32 raw heatmaps."""
        ...


class TorchPosePredictor:
    """A :class:`trainer.pose.model.PoseNet` run in eval mode (its train/eval mode is restored after)."""

    def __init__(self, model: nn.Module, spec: PoseSpec, device: torch.device | None = None) -> None:
        self.model = model
        self.spec = spec
        self.device = device or torch.device("cpu")

    def heatmaps(self, batch: np.ndarray) -> np.ndarray:
        return eval_forward(
            self.model, torch.from_numpy(np.ascontiguousarray(batch, np.float32)).to(self.device)
        )


class OnnxPosePredictor(OnnxSession):
    """An exported keypoint model run by ONNX Runtime; the spec comes from its ``metadata_props``."""

    def __init__(self, path: Path, providers: list[str] | None = None) -> None:
        super().__init__(path, providers, OUTPUT_NAME)
        meta = self.session.get_modelmeta().custom_metadata_map
        if task_of(meta) != "keypoints":
            raise ModelError(f"{path}: not a keypoint model (metadata task {task_of(meta)!r})")
        self.spec = PoseSpec.from_props(meta, str(path))

    def heatmaps(self, batch: np.ndarray) -> np.ndarray:
        return self.run(batch)


def open_pose_predictor(path: Path, device: str = "cpu") -> PosePredictor:
    """A predictor for a keypoint ``.pt`` checkpoint or ``.onnx`` model (device as
    :func:`trainer.predictors.open_predictor`).

    Raises:
        ModelError: unreadable or not a keypoint model; ConfigError: unavailable device.
    """

    def from_checkpoint(state: dict[str, Any], where: str, dev: torch.device) -> PosePredictor:
        model = pose_model_from_checkpoint(state, where).to(dev)
        return TorchPosePredictor(model, pose_spec_from_checkpoint(state, where), dev)

    return open_model(path, device, OnnxPosePredictor, from_checkpoint)
