"""Run a model on preprocessed batches, from a training checkpoint (torch) or an exported ONNX file.

Both kinds answer the same call: normalised (N, 3, in_h, in_w) float32 → logits (N, C, out_h, out_w)
float32, so evaluation gives comparable numbers for a ``.pt`` and its ``.onnx``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from pipeline.contract.model_meta import ModelSpec
from pipeline.errors import ModelError
from trainer.checkpoint import load_checkpoint, model_from_checkpoint, spec_from_checkpoint
from trainer.models import resolve_device


class Predictor(Protocol):
    """A model plus the :class:`ModelSpec` that says how to preprocess for it."""

    spec: ModelSpec

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, in_h, in_w) float32 → (N, C, out_h, out_w) float32."""
        ...


class TorchPredictor:
    """A torchvision segmentation model (dict output with ``"out"``) in eval mode."""

    def __init__(self, model: nn.Module, spec: ModelSpec, device: torch.device | None = None) -> None:
        self.model = model
        self.spec = spec
        self.device = device or torch.device("cpu")

    def logits(self, batch: np.ndarray) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                out = self.model(torch.from_numpy(batch).to(self.device))["out"]
            return out.float().cpu().numpy()
        finally:
            self.model.train(was_training)


class OnnxPredictor:
    """An ONNX model run by ONNX Runtime; the spec comes from its ``metadata_props``."""

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
        inp = self.session.get_inputs()[0]
        outputs = [o.name for o in self.session.get_outputs()]
        self.input_name = inp.name
        self.output_name = "out" if "out" in outputs else outputs[0]
        shape = inp.shape
        fixed = (int(shape[2]), int(shape[3])) if all(isinstance(v, int) for v in shape[2:4]) else None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.spec = ModelSpec.from_props(meta, str(path), input_hw=fixed)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run(
            [self.output_name], {self.input_name: np.ascontiguousarray(batch, np.float32)}
        )[0]
        return np.asarray(out, dtype=np.float32)


def open_predictor(path: Path, device: str = "cpu") -> Predictor:
    """A predictor for a ``.pt`` checkpoint or an ``.onnx`` model.

    Args:
        path: the model file; the suffix picks the kind.
        device: ``auto|cpu|cuda|mps`` for checkpoints; for ONNX, ``cuda``/``auto`` use ONNX Runtime's CUDA
            provider when it is available, else the CPU one.
    Raises:
        ModelError: unreadable model; ConfigError: unknown suffix or unavailable device.
    """
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        providers = ["CPUExecutionProvider"]
        if device in ("cuda", "auto") and torch.cuda.is_available():
            import onnxruntime as ort

            if "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, "CUDAExecutionProvider")
        return OnnxPredictor(path, providers)
    if suffix in (".pt", ".pth"):
        state = load_checkpoint(path)
        dev = resolve_device(device)
        model = model_from_checkpoint(state, str(path)).to(dev)
        return TorchPredictor(model, spec_from_checkpoint(state, str(path)), dev)
    raise ModelError(f"{path}: unknown model kind {suffix!r} (expected .pt checkpoint or .onnx)")
