"""A real Triton Inference Server for tests and benchmarks: PyTriton's ``tritonserver`` serving ONNX models
through ONNX Runtime (CPU) inside its Python backend, with dynamic batching, bound to 127.0.0.1.

Run it with the server's own venv (``make triton-venv``: Debian's ``/usr/bin/python3`` with
``nvidia-pytriton``; PyTriton's Python-backend stub embeds its own libpython 3.11 and fails at model load
under the pyenv CPython of the project's venv):

    .venv-triton/bin/python tools/triton_server.py --model infant-seg=models/infant-seg.onnx \
        --grpc-port 8001 --http-port 8000 --metrics-port 8002 [--max-batch 8] [--queue-delay-us 2000] \
        [--workspace DIR] [--log-file FILE]

Each model is served under its name with the ONNX file's own input and output names; the batch dimension
is Triton's. Prints ``ready`` on stdout when the server answers; stops on SIGINT/SIGTERM. No endpoint is
token-protected (PyTriton protects statistics, shared memory and the repository API by default): it binds
127.0.0.1 only, and clients use the statistics and system shared memory APIs as on a stock server. The production
server is NVIDIA's Triton container with its onnxruntime/TensorRT backends on an ``export-triton``
repository; this one exists so tests use a real ``tritonserver`` where no container engine is available.
Imports nothing from the project (its venv has only PyTriton, ONNX Runtime and NumPy).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig

DTYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(float16)": np.float16}


def model_fn(session: ort.InferenceSession) -> Any:
    """The Triton infer function of one ONNX Runtime session: named batched inputs → named outputs."""
    outputs = [o.name for o in session.get_outputs()]

    @batch
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(outputs, session.run(outputs, inputs), strict=True))

    return infer


def tensors(items: list[Any]) -> list[Tensor]:
    """Triton tensors of ONNX inputs/outputs, batch dimension left out (Triton adds it)."""
    out = []
    for item in items:
        shape = tuple(d if isinstance(d, int) else -1 for d in item.shape[1:])
        out.append(Tensor(name=item.name, dtype=DTYPES[item.type], shape=shape))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="PyTriton test server for ONNX models (127.0.0.1)")
    ap.add_argument("--model", action="append", required=True, help="NAME=PATH.onnx (repeatable)")
    ap.add_argument("--grpc-port", type=int, required=True)
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--metrics-port", type=int, required=True)
    ap.add_argument("--max-batch", type=int, default=8, help="Triton max_batch_size (default 8)")
    ap.add_argument("--queue-delay-us", type=int, default=2000, help="dynamic batcher max queue delay")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads per model")
    ap.add_argument(
        "--workspace", default=None, help="PyTriton's workspace folder (default: a new temporary one)"
    )
    ap.add_argument("--log-file", default=None, help="tritonserver's log file (default: PyTriton's)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    config = TritonConfig(
        http_address="127.0.0.1",
        http_port=args.http_port,
        grpc_address="127.0.0.1",
        grpc_port=args.grpc_port,
        metrics_address="127.0.0.1",
        metrics_port=args.metrics_port,
        allow_gpu_metrics=False,
        exit_timeout_secs=5,
        log_file=Path(args.log_file) if args.log_file else None,
    )

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)  # leaves the with-block: Triton stops its server and the stubs

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    security = TritonSecurityConfig(restricted_endpoints=[])
    with Triton(config=config, workspace=args.workspace, security_config=security) as triton:
        for spec in args.model:
            name, _, path = spec.partition("=")
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            triton.bind(
                model_name=name,
                infer_func=model_fn(session),
                inputs=tensors(session.get_inputs()),
                outputs=tensors(session.get_outputs()),
                config=ModelConfig(
                    max_batch_size=args.max_batch,
                    batcher=DynamicBatcher(max_queue_delay_microseconds=args.queue_delay_us),
                ),
                strict=False,
            )
        print("ready", flush=True)
        triton.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
