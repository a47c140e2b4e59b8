"""TensorRT backend: a cached engine (see :mod:`pipeline.infer.backends.trt_engine`) run with the TensorRT
10 tensor API on a private CUDA stream; I/O buffers are torch CUDA tensors.

Two entry points:

* :meth:`TrtBackend.infer`: numpy in, numpy out (one host→device and one device→host copy).
* :meth:`TrtBackend.infer_device`: torch CUDA tensor in, torch CUDA tensor out, no host copy;
  for GPU preprocessing (``model.gpu_preprocess``) and GPU arg-max.

Nothing heavy is imported at module import: ``tensorrt`` and ``torch`` load in the constructor,
which raises a one-line :class:`~pipeline.errors.ModelError` when either (or the GPU) is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import ModelError, StageError
from pipeline.infer.backends.trt_engine import BuildSettings, LoadedEngine, ensure_engine

log = logging.getLogger(__name__)


class TrtBackend:
    """A segmentation model as a TensorRT engine on one GPU.

    Attributes:
        spec: the model's spec (from its ONNX metadata).
        name: ``tensorrt:<GPU name>:<precision>``.
        max_batch: largest batch (the engine profile's max).
        engine_path: the cached ``.engine`` file in use.
        rebuilt_because: why the engine was built at load (None = loaded from the cache).
    """

    def __init__(
        self,
        path: str | Path,
        settings: BuildSettings | None = None,
        device_id: int = 0,
        warmup_runs: int = 2,
        on_build: Callable[[str], None] | None = None,
    ) -> None:
        """Load (or build, then load) the engine of the ONNX model ``path``.

        Args:
            path: the ONNX model.
            settings: precision, batch, cache folder, calibration.
            device_id: CUDA device.
            warmup_runs: inferences at load, at batch 1 and ``max_batch``.
            on_build: called with the reason just before an engine build (for a status "building engine").
        Raises:
            ModelError: TensorRT/torch/GPU missing, bad model, failed build (one line).
        """
        from pipeline.infer.backends.gpu_info import import_tensorrt, import_torch_cuda

        self.path = Path(path)
        s = settings or BuildSettings()
        self._trt = import_tensorrt()  # first: the "not installed" message names the fix
        torch = self._torch = import_torch_cuda()
        loaded, self.spec, self.input_name, self.output_name = ensure_engine(
            self.path, s, device_id, on_build
        )
        if self.spec.input_dtype != "float32":
            raise ModelError(f"{self.path}: takes uint8 pixels; run it with onnxruntime or triton")
        self._loaded: LoadedEngine = loaded
        self.engine_path = loaded.entry.engine
        self.rebuilt_because = loaded.rebuilt_because
        self.max_batch = s.max_batch
        self.on_gpu = True
        self.remote = False
        self.name = f"tensorrt:{loaded.key.gpu_name}:{s.precision}"
        self.device = torch.device("cuda", device_id)
        engine = loaded.engine
        self._context = engine.create_execution_context()
        if self._context is None:
            raise ModelError(f"{self.engine_path}: cannot create an execution context (GPU memory?)")
        self._stream = torch.cuda.Stream(device=self.device)
        h, w = self.spec.input_hw
        self._context.set_input_shape(self.input_name, (self.max_batch, 3, h, w))
        out_shape = tuple(int(d) for d in self._context.get_tensor_shape(self.output_name))
        if len(out_shape) != 4 or out_shape[1] != self.spec.num_classes:
            raise ModelError(
                f"{self.path}: engine output {out_shape} is not (N, {self.spec.num_classes}, H, W)"
            )
        self.output_hw = (out_shape[2], out_shape[3])
        out_dtype = self._torch_dtype(engine.get_tensor_dtype(self.output_name))
        self._input = torch.empty((self.max_batch, 3, h, w), dtype=torch.float32, device=self.device)
        self._output = torch.empty(out_shape, dtype=out_dtype, device=self.device)
        for n in sorted({1, self.max_batch})[: max(0, warmup_runs)]:
            self.infer(np.zeros((n, 3, h, w), np.float32))
        log.info("%s: %s (%s)", self.path, self.name, self.engine_path)

    def _torch_dtype(self, trt_dtype: Any) -> Any:
        trt, torch = self._trt, self._torch
        table = {trt.float32: torch.float32, trt.float16: torch.float16}
        if trt_dtype not in table:
            raise ModelError(f"{self.path}: engine output dtype {trt_dtype} not supported (need float32/16)")
        return table[trt_dtype]

    def _execute(self, n: int, input_ptr: int, output_ptr: int) -> None:
        h, w = self.spec.input_hw
        ctx = self._context
        ctx.set_input_shape(self.input_name, (n, 3, h, w))
        ctx.set_tensor_address(self.input_name, input_ptr)
        ctx.set_tensor_address(self.output_name, output_ptr)
        if not ctx.execute_async_v3(self._stream.cuda_stream):
            raise StageError(f"{self.engine_path}: TensorRT execution failed (batch {n})")

    def _check_batch(self, shape: tuple[int, ...]) -> int:
        h, w = self.spec.input_hw
        if len(shape) != 4 or tuple(shape[1:]) != (3, h, w) or not 1 <= shape[0] <= self.max_batch:
            raise ModelError(
                f"{self.path}: batch must be (1..{self.max_batch}, 3, {h}, {w}), is {tuple(shape)}"
            )
        return int(shape[0])

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, in_h, in_w) float32 → logits (N, num_classes, out_h, out_w) float32 (host arrays)."""
        torch = self._torch
        n = self._check_batch(batch.shape)
        host = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        with torch.cuda.stream(self._stream):
            self._input[:n].copy_(host)
            self._execute(n, int(self._input.data_ptr()), int(self._output.data_ptr()))
            result = self._output[:n].float().cpu()  # synchronises the stream
        return np.asarray(result.numpy(), dtype=np.float32)

    def infer_device(self, batch: Any) -> Any:
        """Torch CUDA float32 (N, 3, in_h, in_w) → new torch CUDA float32 tensor (N, C, out_h, out_w).

        The input is read in place (made contiguous if it is not); the caller's current stream is
        ordered before and after the engine's stream, so no explicit synchronisation is needed.
        """
        torch = self._torch
        n = self._check_batch(tuple(batch.shape))
        if batch.dtype != torch.float32 or batch.device != self.device:
            raise ModelError(
                f"infer_device: need float32 on {self.device}, got {batch.dtype} on {batch.device}"
            )
        x = batch.contiguous()
        caller = torch.cuda.current_stream(self.device)
        self._stream.wait_stream(caller)
        with torch.cuda.stream(self._stream):
            self._execute(n, int(x.data_ptr()), int(self._output.data_ptr()))
            out = self._output[:n].float().clone()
        x.record_stream(self._stream)
        caller.wait_stream(self._stream)
        out.record_stream(caller)
        return out


__all__ = ["BuildSettings", "TrtBackend"]
