"""Run a model on preprocessed batches, from a training checkpoint (torch) or an exported ONNX file.

Both kinds answer the same call: normalised (N, 3, in_h, in_w) float32 → logits (N, C, out_h, out_w)
float32, so evaluation gives comparable numbers for a ``.pt`` and its ``.onnx``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import torch
from torch import nn

from pipeline.contract.model_meta import ModelSpec
from pipeline.errors import ModelError
from trainer.checkpoint import load_checkpoint, model_from_checkpoint, spec_from_checkpoint
from trainer.models import resolve_device

P = TypeVar("P")


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
        return eval_forward(self.model, torch.from_numpy(batch).to(self.device), lambda out: out["out"])


def eval_forward(
    model: nn.Module, inputs: torch.Tensor, pick: Callable[[Any], torch.Tensor] = lambda out: out
) -> np.ndarray:
    """``pick(model(inputs))`` as float32 numpy, run in eval mode without autograd; the model's train/eval
    mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = pick(model(inputs))
        return out.float().cpu().numpy()
    finally:
        model.train(was_training)


class OnnxSession:
    """An ONNX model run by ONNX Runtime: its session, its input and the output used (``output`` when the
    graph has one of that name, else its first).

    Raises:
        ModelError: the file is missing or ONNX Runtime cannot load it.
    """

    def __init__(self, path: Path, providers: list[str] | None, output: str) -> None:
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
        outputs = [o.name for o in self.session.get_outputs()]
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = output if output in outputs else outputs[0]

    def run(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, in_h, in_w) → the output, float32."""
        out = self.session.run(
            [self.output_name], {self.input_name: np.ascontiguousarray(batch, np.float32)}
        )[0]
        return np.asarray(out, dtype=np.float32)


class OnnxPredictor(OnnxSession):
    """An ONNX model run by ONNX Runtime; the spec comes from its ``metadata_props``."""

    def __init__(self, path: Path, providers: list[str] | None = None) -> None:
        super().__init__(path, providers, "out")
        shape = self.session.get_inputs()[0].shape
        fixed = (int(shape[2]), int(shape[3])) if all(isinstance(v, int) for v in shape[2:4]) else None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.spec = ModelSpec.from_props(meta, str(path), input_hw=fixed)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.run(batch)


def open_predictor(path: Path, device: str = "cpu") -> Predictor:
    """A predictor for a ``.pt`` checkpoint or an ``.onnx`` model.

    Args:
        path: the model file; the suffix picks the kind.
        device: ``auto|cpu|cuda|mps`` for checkpoints; for ONNX, ``cuda``/``auto`` use ONNX Runtime's CUDA
            provider when it is available, else the CPU one.
    Raises:
        ModelError: unreadable model; ConfigError: unknown suffix or unavailable device.
    """

    def from_checkpoint(state: dict[str, Any], where: str, dev: torch.device) -> Predictor:
        return TorchPredictor(
            model_from_checkpoint(state, where).to(dev), spec_from_checkpoint(state, where), dev
        )

    return open_model(path, device, OnnxPredictor, from_checkpoint)


def open_model(
    path: Path,
    device: str,
    onnx: Callable[[Path, list[str]], P],
    checkpoint: Callable[[dict[str, Any], str, torch.device], P],
) -> P:
    """Open ``path`` by its suffix: ``.onnx`` → ``onnx(path, providers)``; ``.pt``/``.pth`` →
    ``checkpoint(state, str(path), device)`` with the loaded checkpoint dict and the resolved torch device.

    ``device`` (``auto|cpu|cuda|mps``): for ONNX, ``cuda``/``auto`` put ONNX Runtime's CUDA provider first
    when it and a CUDA GPU are available (the CPU one stays as the fallback).
    Raises:
        ModelError: unreadable checkpoint or unknown suffix; ConfigError: unavailable device.
    """
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        providers = ["CPUExecutionProvider"]
        if device in ("cuda", "auto") and torch.cuda.is_available():
            import onnxruntime as ort

            if "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, "CUDAExecutionProvider")
        return onnx(path, providers)
    if suffix in (".pt", ".pth"):
        state = load_checkpoint(path)
        return checkpoint(state, str(path), resolve_device(device))
    raise ModelError(f"{path}: unknown model kind {suffix!r} (expected .pt checkpoint or .onnx)")
