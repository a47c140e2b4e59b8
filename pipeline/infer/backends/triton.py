"""The ``triton`` backend: inference on a Triton Inference Server over gRPC (``tritonclient``).

Capture, preprocessing and postprocessing stay in this process; only the letterboxed, normalised batch
(N, 3, H, W) float32 goes to the server and the logits come back. The model's spec (classes, mean/std,
input size, letterbox) comes from the server's model config ``parameters`` when they carry our
metadata keys (``infant-stream export-triton`` writes them), else from the local ONNX file at
``model.path`` (a server that cannot carry parameters, e.g. PyTriton). The server's input must match.
Every call has ``model.triton_timeout_s``. Several inference workers keep several requests in flight.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.contract.model_meta import ModelSpec
from pipeline.errors import ModelError

DTYPES = {"TYPE_FP32": "FP32", "TYPE_UINT8": "UINT8", "TYPE_FP16": "FP16"}


class BackendUnavailable(ModelError):
    """The server did not answer an inference call (down, restarting, timed out)."""


def _reason(exc: BaseException) -> str:
    """The first line of a tritonclient error, without its status prefix noise."""
    text = str(getattr(exc, "message", lambda: None)() or exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def spec_from_parameters(parameters: dict[str, Any], where: str) -> ModelSpec | None:
    """Our metadata from a Triton model config's ``parameters`` (``{"key": {"string_value": ...}}``);
    None when it holds none of our keys."""
    props = {k: v.get("string_value", "") for k, v in parameters.items() if k.startswith("infant_stream.")}
    return ModelSpec.from_props(props, where) if props else None


class TritonBackend:
    """A segmentation model served by Triton (the :class:`~pipeline.infer.backends.base.Backend` protocol).

    Args:
        url: the server's gRPC address, ``HOST:PORT``.
        model: the model's name on the server.
        local: the ONNX file whose metadata describes the model when the server's config has none.
        timeout_s: longest wait for any call.

    Raises (from the constructor, one line each):
        ModelError: no server answers at ``url``; the model is not there or not ready; its input does
            not fit the spec (shape, type); no metadata on the server and no local file.
    """

    on_gpu = False

    def __init__(self, url: str, model: str, local: Path | None, timeout_s: float = 5.0) -> None:
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
        self.input_type = DTYPES.get(inputs[0].get("data_type", ""), "")
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
        dims = [int(d) for d in inputs[0].get("dims", [])]
        want = [3, *spec.input_hw]
        if self.input_type != "FP32" or dims != want:
            raise ModelError(
                f"--triton-model {model}: the server's input is {self.input_type or '?'} {dims}, the model's "
                f"metadata says FP32 {want} (wrong input shape)"
            )
        self.max_batch = max(1, int(config.get("max_batch_size", 0) or 1))
        self.name = f"triton:{model}@{url}"

    def _listing(self) -> str:
        """`` (models there: a, b)``, or "" when the server does not list its repository."""
        try:
            index = self.client.get_model_repository_index(client_timeout=self.timeout_s)
        except self._error:  # e.g. PyTriton restricts the repository API
            return ""
        return f" (models there: {', '.join(m.name for m in index.models) or 'none'})"

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 → logits (N, C, h, w) float32, one gRPC call (N ≤ ``max_batch``).

        Raises:
            BackendUnavailable: the call failed or timed out (the server is down or restarting).
        """
        request = self._grpc.InferInput(self.input_name, list(batch.shape), "FP32")
        request.set_data_from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        wanted = [self._grpc.InferRequestedOutput(self.output_name)]
        try:
            reply = self.client.infer(self.model, [request], outputs=wanted, client_timeout=self.timeout_s)
        except self._error as exc:
            raise BackendUnavailable(f"--triton-url {self.url}: inference failed ({_reason(exc)})") from None
        out = reply.as_numpy(self.output_name)
        if out is None:
            raise BackendUnavailable(f"--triton-model {self.model}: the reply has no {self.output_name!r}")
        return out

    def infer_device(self, batch: Any) -> Any:
        raise ModelError("backend triton: the model runs on the server; there is no device path here")
