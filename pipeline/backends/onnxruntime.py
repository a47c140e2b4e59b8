"""ONNX Runtime backend: provider choice, thread settings, shape checks and warm-up."""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from pipeline.errors import ModelError
from pipeline.model_meta import ModelSpec

log = logging.getLogger(__name__)

PREFERENCE: Final = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
"""``auto`` takes the first of these that is installed and usable."""
GPU_PROVIDERS: Final = frozenset(PREFERENCE[:2])


@dataclass(frozen=True)
class OrtOptions:
    """ONNX Runtime session settings.

    Attributes:
        providers: ``auto`` or a comma-separated list of execution provider names.
        intra_op_threads: threads inside one operator; 0 = ONNX Runtime's default (all cores).
        inter_op_threads: threads across independent operators; 0 = default.
        spin: let idle worker threads spin (lower latency, but burns CPU other stages need).
        warmup_runs: inferences run at load time so the first frame is not slow.
    """

    providers: str = "auto"
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    spin: bool = False
    warmup_runs: int = 2


def _gpu_driver_present() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def choose_providers(requested: str, available: list[str], gpu_driver: bool) -> list[str]:
    """Execution providers to ask for, best first.

    ``auto``: TensorRT > CUDA > CPU among those installed, GPU ones only when an NVIDIA
    driver is present. A named list must be a subset of ``available``.
    Raises:
        ModelError: a named provider is not installed (names it and lists what is).
    """
    if requested == "auto":
        chosen: list[str] = [
            p for p in PREFERENCE if p in available and (gpu_driver or p not in GPU_PROVIDERS)
        ]
        return chosen or ["CPUExecutionProvider"]
    names = [p.strip() for p in requested.split(",") if p.strip()]
    for name in names:
        if name not in available:
            raise ModelError(f"providers: {name} is not available (available: {', '.join(available)})")
    return names


def _static_dim(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and value > 0 else None


class OrtBackend:
    """A segmentation model in an ONNX Runtime session."""

    def __init__(self, path: str | Path, options: OrtOptions | None = None):
        import onnxruntime as ort  # heavy: imported when a model is loaded, not at import time

        self.path = Path(path)
        self.options = o = options or OrtOptions()
        if not self.path.is_file():
            raise ModelError(f"{self.path}: model file not found")
        providers = choose_providers(o.providers, ort.get_available_providers(), _gpu_driver_present())
        so = ort.SessionOptions()
        so.intra_op_num_threads = o.intra_op_threads
        so.inter_op_num_threads = o.inter_op_threads
        so.log_severity_level = 3
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if o.spin else "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "1" if o.spin else "0")
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=so, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path}: cannot load model ({first})") from None
        self.spec, self.input_name, self.output_name = self._check_io()
        self.name = f"onnxruntime:{self.session.get_providers()[0]}"
        batch_dim = self.session.get_inputs()[0].shape[0]
        self.max_batch = _static_dim(batch_dim) or 64
        for _ in range(o.warmup_runs):
            self.infer(np.zeros((1, 3, *self.spec.input_hw), dtype=np.float32))
        log.info("%s: loaded with %s", self.path, ", ".join(self.session.get_providers()))

    def _check_io(self) -> tuple[ModelSpec, str, str]:
        where = str(self.path)
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{where}: model must have 1 input (an image batch), has {len(inputs)}")
        shape = inputs[0].shape
        if len(shape) != 4 or _static_dim(shape[1]) not in (None, 3):
            raise ModelError(f"{where}: input {inputs[0].name} must be (N, 3, H, W), is {shape}")
        if inputs[0].type != "tensor(float)":
            raise ModelError(f"{where}: input {inputs[0].name} must be float32, is {inputs[0].type}")
        h, w = _static_dim(shape[2]), _static_dim(shape[3])
        graph_hw = (h, w) if h and w else None
        props = self.session.get_modelmeta().custom_metadata_map
        spec = ModelSpec.from_props(props, where, input_hw=graph_hw)
        outputs = self.session.get_outputs()
        out = next((o for o in outputs if o.name == "out"), outputs[0])
        oshape = out.shape
        if len(oshape) != 4:
            raise ModelError(f"{where}: output {out.name} must be logits (N, C, H, W), is {oshape}")
        classes = _static_dim(oshape[1])
        if classes is not None and classes != spec.num_classes:
            raise ModelError(
                f"{where}: output {out.name} has {classes} classes, metadata names {spec.num_classes}"
            )
        return spec, inputs[0].name, out.name

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, in_h, in_w) float32 → logits (N, num_classes, out_h, out_w) float32."""
        (logits,) = self.session.run([self.output_name], {self.input_name: batch})
        if logits.shape[1] != self.spec.num_classes:
            raise ModelError(
                f"{self.path}: output has {logits.shape[1]} classes, expected {self.spec.num_classes}"
            )
        return np.asarray(logits, dtype=np.float32)
