"""ONNX Runtime backend: provider choice and options, thread settings, shape checks, warm-up and,
on CUDA/TensorRT execution providers, IO binding (input and output stay on the GPU).

Provider lists and options are built by the pure functions of :mod:`pipeline.infer.backends.ort_providers`
(re-exported here). The IO-binding paths (:meth:`OrtBackend.infer` with a GPU first provider, and
:meth:`OrtBackend.infer_device`) run only on a machine with an NVIDIA GPU; on CPU the plain
``session.run`` path is used.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.contract.model_meta import KEY_INPUT_DTYPE, ModelSpec
from pipeline.contract.pose_meta import TASK_KEYPOINTS, task_of
from pipeline.errors import ModelError
from pipeline.infer.backends.gpu_info import gpu_driver_present
from pipeline.infer.backends.ort_providers import (
    GPU_PROVIDERS,
    PREFERENCE,
    TRT_EP,
    OrtOptions,
    build_providers,
    choose_providers,
)

log = logging.getLogger(__name__)


def _static_dim(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and value > 0 else None


def check_io(session: Any, where: str) -> tuple[ModelSpec, str, str]:
    """The model's spec, input name and logits output name, checked against what the pipeline needs.

    Args:
        session: an ``onnxruntime.InferenceSession``.
        where: the model path, named in errors.
    Raises:
        ModelError: not one (N, 3, H, W) float32 input, or no (N, C, H, W) output matching the
            metadata's class count.
    """
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"{where}: model must have 1 input (an image batch), has {len(inputs)}")
    shape = inputs[0].shape
    if len(shape) != 4 or _static_dim(shape[1]) not in (None, 3):
        raise ModelError(f"{where}: input {inputs[0].name} must be (N, 3, H, W), is {shape}")
    h, w = _static_dim(shape[2]), _static_dim(shape[3])
    graph_hw = (h, w) if h and w else None
    props = session.get_modelmeta().custom_metadata_map
    if task_of(props) == TASK_KEYPOINTS:
        raise ModelError(
            f"{where}: is a keypoints (pose) model, not a segmentation model: give it as the pose model "
            "(--pose-model; with --no-seg it runs alone)"
        )
    spec = ModelSpec.from_props(props, where, input_hw=graph_hw)
    want = "tensor(float)" if spec.input_dtype == "float32" else "tensor(uint8)"
    if inputs[0].type != want:
        raise ModelError(
            f"{where}: input {inputs[0].name} must be {spec.input_dtype} (metadata {KEY_INPUT_DTYPE}), "
            f"is {inputs[0].type}"
        )
    outputs = session.get_outputs()
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


def read_model_io(path: Path) -> tuple[ModelSpec, str, str]:
    """:func:`check_io` of an ONNX file, read with a CPU session without graph optimisation
    (used before a GPU session or a TensorRT build, which need the input name and size first).

    Raises:
        ModelError: the file is missing, unreadable or does not fit (one line, names the file).
    """
    import onnxruntime as ort

    check_model_file(path)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
        raise ModelError(f"{path}: cannot load model ({_first_line(exc)})") from None
    return check_io(session, str(path))


def check_model_file(path: Path) -> None:
    """One line when ``path`` cannot be a model file: missing, or a folder."""
    if path.is_dir():
        raise ModelError(f"{path}: is a folder, not an ONNX model file")
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")


def open_session(path: Path, o: OrtOptions, providers: list[Any]) -> Any:
    """An ``onnxruntime.InferenceSession`` of ``path`` with ``o``'s thread and spin settings and
    ``providers`` (:func:`build_providers`); shared by the segmentation backend and the pose model.

    Raises:
        ModelError: ONNX Runtime cannot load the file (one line, names the file).
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = o.intra_op_threads
    so.inter_op_num_threads = o.inter_op_threads
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if o.spin else "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "1" if o.spin else "0")
    try:
        return ort.InferenceSession(str(path), sess_options=so, providers=providers)
    except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
        raise ModelError(f"{path}: cannot load model ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class OrtBackend:
    """A segmentation model in an ONNX Runtime session.

    Attributes:
        spec, name, max_batch: see :class:`~pipeline.infer.backends.base.Backend`.
        io_binding: True when inference binds GPU memory (first provider CUDA or TensorRT).
    """

    def __init__(self, path: str | Path, options: OrtOptions | None = None):
        import onnxruntime as ort  # heavy: imported when a model is loaded, not at import time

        self.path = Path(path)
        self.options = o = options or OrtOptions()
        check_model_file(self.path)
        available = ort.get_available_providers()
        names = choose_providers(o.providers, available, gpu_driver_present())
        input_name, input_hw = "input", (0, 0)
        if TRT_EP in names:  # its optimisation profile needs the input's name and size before the session
            spec, input_name, _ = read_model_io(self.path)
            input_hw = spec.input_hw
        providers = build_providers(o, available, gpu_driver_present(), input_name, input_hw, ort.__version__)
        self.session = open_session(self.path, o, providers)
        self.spec, self.input_name, self.output_name = check_io(self.session, str(self.path))
        first = self.session.get_providers()[0]
        self.name = f"onnxruntime:{first}"
        self.on_gpu = first in GPU_PROVIDERS
        self.remote = False
        self.io_binding = o.io_binding and self.on_gpu
        self._ort = ort
        batch_dim = self.session.get_inputs()[0].shape[0]
        self.max_batch = _static_dim(batch_dim) or (o.max_batch if first == TRT_EP else 64)
        self.output_hw: tuple[int, int] | None = None
        for _ in range(o.warmup_runs):
            self.infer(np.zeros((1, 3, *self.spec.input_hw), dtype=self.spec.input_dtype))
        log.info("%s: loaded with %s", self.path, ", ".join(self.session.get_providers()))

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, in_h, in_w) float32 (uint8 for a ``uint8`` model) → logits (N, num_classes, out_h, out_w)
        float32."""
        if self.io_binding:
            logits = self._infer_bound(np.ascontiguousarray(batch))
        else:
            (logits,) = self.session.run([self.output_name], {self.input_name: batch})
        if logits.shape[1] != self.spec.num_classes:
            raise ModelError(
                f"{self.path}: output has {logits.shape[1]} classes, expected {self.spec.num_classes}"
            )
        self.output_hw = (int(logits.shape[2]), int(logits.shape[3]))
        return np.asarray(logits, dtype=np.float32)

    def _infer_bound(self, batch: np.ndarray) -> np.ndarray:
        """IO binding: one host→GPU copy of the input, the output bound on the GPU, one copy back."""
        dev = self.options.device_id
        binding = self.session.io_binding()
        binding.bind_ortvalue_input(
            self.input_name, self._ort.OrtValue.ortvalue_from_numpy(batch, "cuda", dev)
        )
        binding.bind_output(self.output_name, "cuda", dev)
        self.session.run_with_iobinding(binding)
        return np.asarray(binding.copy_outputs_to_cpu()[0])

    def infer_device(self, batch: Any) -> Any:
        """Torch CUDA float32 (N, 3, in_h, in_w) → new torch CUDA float32 (N, C, out_h, out_w); no host copy.

        Needs a GPU first provider (:attr:`io_binding`). The caller's pending GPU work on ``batch`` is
        waited for before ONNX Runtime reads it (ONNX Runtime runs on its own stream).
        Raises:
            ModelError: the session runs on the CPU, or ``batch`` is not float32 CUDA.
        """
        import torch

        if not self.io_binding:
            raise ModelError(f"{self.path}: infer_device needs the CUDA or TensorRT execution provider")
        if batch.dtype != torch.float32 or batch.device.type != "cuda":
            raise ModelError(f"infer_device: need a float32 CUDA tensor, got {batch.dtype} on {batch.device}")
        if self.output_hw is None:
            raise ModelError(f"{self.path}: infer_device before warm-up (warmup_runs=0)")
        x = batch.contiguous()
        dev = x.device.index or 0
        out = torch.empty(
            (x.shape[0], self.spec.num_classes, *self.output_hw), dtype=torch.float32, device=x.device
        )
        torch.cuda.current_stream(x.device).synchronize()
        binding = self.session.io_binding()
        binding.bind_input(self.input_name, "cuda", dev, np.float32, tuple(x.shape), x.data_ptr())
        binding.bind_output(self.output_name, "cuda", dev, np.float32, tuple(out.shape), out.data_ptr())
        self.session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        return out


__all__ = [
    "PREFERENCE",
    "OrtBackend",
    "OrtOptions",
    "check_io",
    "choose_providers",
    "open_session",
    "read_model_io",
]
