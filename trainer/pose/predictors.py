"""Run a keypoint model on preprocessed crops, from a training checkpoint (torch) or an exported ONNX file.

Both answer the same call: normalised crops (N, 3, in_h, in_w) float32 → raw heatmaps (N, K, h, w) float32,
and carry the :class:`PoseSpec` (input size, normalisation, activation, decoder, stride, sigma, padding)
that says how to crop for them and decode them, so a ``.pt`` and its ``.onnx`` score alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Protocol

import numpy as np
import torch
from torch import nn

from pipeline.contract.pose_meta import PoseSpec, task_of
from pipeline.errors import ModelError
from trainer.checkpoint import load_checkpoint
from trainer.models import resolve_device
from trainer.pose.checkpoint import pose_model_from_checkpoint, pose_spec_from_checkpoint

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
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                out = self.model(torch.from_numpy(np.ascontiguousarray(batch, np.float32)).to(self.device))
            return out.float().cpu().numpy()
        finally:
            self.model.train(was_training)


class OnnxPosePredictor:
    """An exported keypoint model run by ONNX Runtime; the spec comes from its ``metadata_props``."""

    def __init__(self, path: Path, providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        if not path.is_file():
            raise ModelError(f"{path}: ONNX model not found")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(path), opts, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            raise ModelError(f"{path}: ONNX Runtime cannot load it ({exc})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if task_of(meta) != "keypoints":
            raise ModelError(f"{path}: not a keypoint model (metadata task {task_of(meta)!r})")
        self.spec = PoseSpec.from_props(meta, str(path))
        outputs = [o.name for o in self.session.get_outputs()]
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = OUTPUT_NAME if OUTPUT_NAME in outputs else outputs[0]

    def heatmaps(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run(
            [self.output_name], {self.input_name: np.ascontiguousarray(batch, np.float32)}
        )[0]
        return np.asarray(out, dtype=np.float32)


def open_pose_predictor(path: Path, device: str = "cpu") -> PosePredictor:
    """A predictor for a keypoint ``.pt`` checkpoint or ``.onnx`` model (device as
    :func:`trainer.predictors.open_predictor`).

    Raises:
        ModelError: unreadable or not a keypoint model; ConfigError: unavailable device.
    """
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        providers = ["CPUExecutionProvider"]
        if device in ("cuda", "auto") and torch.cuda.is_available():
            import onnxruntime as ort

            if "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, "CUDAExecutionProvider")
        return OnnxPosePredictor(path, providers)
    if suffix in (".pt", ".pth"):
        state = load_checkpoint(path)
        dev = resolve_device(device)
        model = pose_model_from_checkpoint(state, str(path)).to(dev)
        return TorchPosePredictor(model, pose_spec_from_checkpoint(state, str(path)), dev)
    raise ModelError(f"{path}: unknown model kind {suffix!r} (expected .pt checkpoint or .onnx)")
