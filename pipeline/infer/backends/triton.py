"""The ``triton`` backend: inference on a Triton Inference Server over gRPC (``tritonclient``).

Capture, preprocessing and postprocessing stay in this process; only the letterboxed batch goes to the
server — (N, 3, H, W) float32 normalised, or uint8 pixels for a model that normalises inside its graph
(``export-triton --uint8-input``, 4× fewer bytes) — and the logits (N, C, h, w) float32 come back.

The model's spec (classes, mean/std, input size, letterbox, input dtype) comes from the server's model
config ``parameters`` when they carry our metadata keys (``infant-stream export-triton`` writes them),
else from the local ONNX file at ``model.path`` (a server that cannot carry parameters, e.g. PyTriton).
The server's input must match it. Every call has ``model.triton_timeout_s``; several inference workers
keep several requests in flight (``model.workers``, 4 by default for this backend).

A call that fails because the server is down, restarting or slow raises
:class:`~pipeline.errors.ServiceUnavailable`: the inference stage waits and retries
(:mod:`pipeline.runtime.outage`) and the gRPC channel reconnects by itself. A request the server
rejects (``INVALID_ARGUMENT``) is a :class:`~pipeline.errors.ModelError` and ends the run.

With ``shared_memory`` the tensors travel through POSIX shared memory (``/dev/shm``) registered with the
server (it must run on this host): one input and one output region per calling thread, sized for
``max_batch`` frames, registered again after the server restarts, destroyed when the backend is
garbage-collected or the process exits.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.contract.model_meta import ModelSpec
from pipeline.errors import ModelError, ServiceUnavailable

DTYPES = {"TYPE_FP32": "FP32", "TYPE_UINT8": "UINT8", "TYPE_FP16": "FP16"}
WIRE = {"float32": "FP32", "uint8": "UINT8"}
REJECTED = "StatusCode.INVALID_ARGUMENT"
"""The gRPC status of a request the server refuses (shape, type): not an outage."""


def _reason(exc: BaseException) -> str:
    """The first line of a tritonclient error, without its status prefix noise."""
    text = str(getattr(exc, "message", lambda: None)() or exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def spec_from_parameters(parameters: dict[str, Any], where: str) -> ModelSpec | None:
    """Our metadata from a Triton model config's ``parameters`` (``{"key": {"string_value": ...}}``);
    None when it holds none of our keys."""
    props = {k: v.get("string_value", "") for k, v in parameters.items() if k.startswith("infant_stream.")}
    return ModelSpec.from_props(props, where) if props else None


@dataclass
class _Region:
    """One system shared-memory region: its name on the server, its handle here, its size in bytes."""

    name: str
    handle: Any
    size: int


class _SharedMemory:
    """The calling threads' input/output regions (created on first use per thread) and their
    registration with the server (lost when it restarts: :meth:`forget` and they are registered again)."""

    def __init__(self, client: Any, in_bytes: int, out_bytes: int) -> None:
        import tritonclient.utils.shared_memory as shm

        self._shm, self._client = shm, client
        self.in_bytes, self.out_bytes = in_bytes, out_bytes
        self._lock = threading.Lock()
        self._regions: dict[int, tuple[_Region, _Region]] = {}
        self._registered: set[str] = set()
        self._prefix = f"infant-stream-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def regions(self, timeout_s: float) -> tuple[_Region, _Region]:
        """This thread's (input, output) regions, registered with the server."""
        key = threading.get_ident()
        with self._lock:
            pair = self._regions.get(key)
            if pair is None:
                n = len(self._regions)
                pair = tuple(  # type: ignore[assignment]
                    _Region(name, self._shm.create_shared_memory_region(name, "/" + name, size), size)
                    for name, size in (
                        (f"{self._prefix}-in{n}", self.in_bytes),
                        (f"{self._prefix}-out{n}", self.out_bytes),
                    )
                )
                self._regions[key] = pair  # type: ignore[assignment]
        assert pair is not None
        for region in pair:
            if region.name not in self._registered:
                # a timed-out call may have left it registered; not registered or down: register says
                with contextlib.suppress(Exception):
                    self._client.unregister_system_shared_memory(region.name, client_timeout=timeout_s)
                self._client.register_system_shared_memory(
                    region.name, "/" + region.name, region.size, client_timeout=timeout_s
                )
                with self._lock:
                    self._registered.add(region.name)
        return pair

    def forget(self) -> None:
        """The server may have restarted: register every region again before its next use."""
        with self._lock:
            self._registered.clear()

    def read(self, region: _Region, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        """A copy of ``shape`` values of ``dtype`` (Triton's name, e.g. FP32) from ``region``."""
        return np.array(self._shm.get_contents_as_numpy(region.handle, dtype_of(dtype), shape))

    def write(self, region: _Region, array: np.ndarray) -> None:
        self._shm.set_shared_memory_region(region.handle, [array])

    def handles(self) -> list[Any]:
        with self._lock:
            return [r.handle for pair in self._regions.values() for r in pair]


def dtype_of(wire: str) -> Any:
    """Triton's data type name → the numpy dtype."""
    return {"FP32": np.float32, "UINT8": np.uint8, "FP16": np.float16}[wire]


def _destroy(shared: _SharedMemory) -> None:
    """Unmap and unlink every region (the server's registrations die with the server or time out)."""
    for handle in shared.handles():
        with contextlib.suppress(Exception):  # best effort at exit
            shared._shm.destroy_shared_memory_region(handle)


class TritonBackend:
    """A segmentation model served by Triton (the :class:`~pipeline.infer.backends.base.Backend` protocol).

    Args:
        url: the server's gRPC address, ``HOST:PORT``.
        model: the model's name on the server.
        local: the ONNX file whose metadata describes the model when the server's config has none.
        timeout_s: longest wait for any call.
        shared_memory: tensors through system shared memory (the server is on this host).

    Raises (from the constructor, one line each):
        ModelError: no server answers at ``url``; the model is not there or not ready; its input does
            not fit the spec (shape, type); no metadata on the server and no local file; shared memory
            refused by the server.
    """

    on_gpu = False
    remote = True

    def __init__(
        self,
        url: str,
        model: str,
        local: Path | None,
        timeout_s: float = 5.0,
        shared_memory: bool = False,
    ) -> None:
        try:
            import tritonclient.grpc as grpcclient
            from tritonclient.utils import InferenceServerException
        except ImportError:
            raise ModelError(
                "backend triton: tritonclient is not installed (pip install 'infant-stream[triton]')"
            ) from None

        self._grpc = grpcclient
        self._error = InferenceServerException
        self.url, self.model, self.timeout_s = url, model, timeout_s
        where = f"--triton-url {url}"
        try:
            self.client = grpcclient.InferenceServerClient(url)
            if not self.client.is_server_live(client_timeout=timeout_s):
                raise ModelError(f"{where}: the Triton server is not live")
            if not self.client.is_model_ready(model, client_timeout=timeout_s):
                raise ModelError(f"--triton-model {model}: not ready on {url}{self._listing()}")
            config = self.client.get_model_config(model, as_json=True, client_timeout=timeout_s)["config"]
        except InferenceServerException as exc:
            raise ModelError(f"{where}: no Triton server answers ({_reason(exc)})") from None
        except ValueError as exc:  # a malformed address
            raise ModelError(f"{where}: not a HOST:PORT address ({exc})") from None
        inputs, outputs = config.get("input", []), config.get("output", [])
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"--triton-model {model}: expected one input and one output, got {len(inputs)} and {len(outputs)}"
            )
        self.input_name, self.output_name = inputs[0]["name"], outputs[0]["name"]
        spec = spec_from_parameters(config.get("parameters", {}), f"--triton-model {model}")
        if spec is None:
            if local is None or not local.is_file():
                raise ModelError(
                    f"--triton-model {model}: the server's config has no infant_stream metadata and there "
                    f"is no local model file ({local}) to read it from"
                )
            from pipeline.infer.backends.onnxruntime import read_model_io

            spec, _, _ = read_model_io(local)
        self.spec = spec
        self.wire = WIRE[spec.input_dtype]
        served = DTYPES.get(inputs[0].get("data_type", ""), "?")
        dims = [int(d) for d in inputs[0].get("dims", [])]
        want = [3, *spec.input_hw]
        if served != self.wire or dims != want:
            raise ModelError(
                f"--triton-model {model}: the server's input is {served} {dims}, the model's "
                f"metadata says {self.wire} {want} (wrong input shape)"
            )
        self.output_dims = tuple(int(d) for d in outputs[0].get("dims", []))
        self.max_batch = max(1, int(config.get("max_batch_size", 0) or 1))
        self.name = f"triton:{model}@{url}"
        self.shared: _SharedMemory | None = None
        if shared_memory:
            self._open_shared_memory()

    def _open_shared_memory(self) -> None:
        if any(d < 0 for d in self.output_dims):  # variable in the config: learn them from one call
            probe = np.zeros((1, 3, *self.spec.input_hw), dtype_of(self.wire))
            try:
                self.output_dims = tuple(int(d) for d in self.infer(probe).shape[1:])
            except ServiceUnavailable as exc:
                raise ModelError(str(exc)) from None
        per_in = 3 * self.spec.input_hw[0] * self.spec.input_hw[1] * np.dtype(dtype_of(self.wire)).itemsize
        per_out = int(np.prod(self.output_dims)) * 4
        self.shared = _SharedMemory(self.client, per_in * self.max_batch, per_out * self.max_batch)
        weakref.finalize(self, _destroy, self.shared)
        try:
            self.shared.regions(self.timeout_s)
        except self._error as exc:
            raise ModelError(
                f"--triton-url {self.url}: the server refuses system shared memory ({_reason(exc)}); "
                "it must run on this host (model.triton_shared_memory false)"
            ) from None
        self.name += "+shm"

    def _listing(self) -> str:
        """`` (models there: a, b)``, or "" when the server does not list its repository."""
        try:
            index = self.client.get_model_repository_index(client_timeout=self.timeout_s)
        except self._error:  # a server may restrict the repository API
            return ""
        return f" (models there: {', '.join(m.name for m in index.models) or 'none'})"

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32, or uint8 for a ``uint8`` model → logits (N, C, h, w) float32, one
        gRPC call (N ≤ ``max_batch``).

        Raises:
            ServiceUnavailable: the call failed or timed out (the server is down or restarting).
            ModelError: the server rejected the request, or its reply has no logits.
        """
        batch = np.ascontiguousarray(batch, dtype=dtype_of(self.wire))
        request = self._grpc.InferInput(self.input_name, list(batch.shape), self.wire)
        wanted = self._grpc.InferRequestedOutput(self.output_name)
        out_shape = (len(batch), *self.output_dims)
        try:
            if self.shared is not None:
                region_in, region_out = self.shared.regions(self.timeout_s)
                self.shared.write(region_in, batch)
                request.set_shared_memory(region_in.name, batch.nbytes)
                wanted.set_shared_memory(region_out.name, int(np.prod(out_shape)) * 4)
            else:
                request.set_data_from_numpy(batch)
            reply = self.client.infer(self.model, [request], outputs=[wanted], client_timeout=self.timeout_s)
        except self._error as exc:
            if exc.status() == REJECTED:
                raise ModelError(
                    f"--triton-model {self.model}: the server rejected the batch ({_reason(exc)})"
                ) from None
            if self.shared is not None:
                self.shared.forget()
            raise ServiceUnavailable(f"--triton-url {self.url}: inference failed ({_reason(exc)})") from None
        if self.shared is not None:
            return self.shared.read(region_out, "FP32", out_shape)
        out = reply.as_numpy(self.output_name)
        if out is None:
            raise ModelError(f"--triton-model {self.model}: the reply has no {self.output_name!r}")
        return out

    def infer_device(self, batch: Any) -> Any:
        raise ModelError("backend triton: the model runs on the server; there is no device path here")


def executed_batches(url: str, model: str, timeout_s: float = 5.0) -> dict[int, int]:
    """Batch size → times the server executed ``model`` with that many frames, from Triton's
    statistics API (what dynamic batching actually did, over the server's life).

    Raises:
        ModelError: the server does not answer or does not give statistics (one line).
    """
    try:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException
    except ImportError:
        raise ModelError("tritonclient is not installed (pip install 'infant-stream[triton]')") from None
    try:
        client = grpcclient.InferenceServerClient(url)
        stats = client.get_inference_statistics(model, as_json=True, client_timeout=timeout_s)
    except InferenceServerException as exc:
        raise ModelError(f"--triton-url {url}: no statistics of {model} ({_reason(exc)})") from None
    rows = stats.get("model_stats", [{}])[0].get("batch_stats", [])
    return {int(r["batch_size"]): int(r["compute_infer"]["count"]) for r in rows}


def batch_difference(after: dict[int, int], before: dict[int, int]) -> dict[int, int]:
    """The executions between two :func:`executed_batches` readings (sizes that happened)."""
    return {b: n - before.get(b, 0) for b, n in sorted(after.items()) if n > before.get(b, 0)}


def mean_batch(executions: dict[int, int]) -> float:
    """Mean frames per execution (0.0 when none)."""
    runs = sum(executions.values())
    return sum(b * n for b, n in executions.items()) / runs if runs else 0.0
