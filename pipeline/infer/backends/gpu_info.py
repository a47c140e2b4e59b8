"""What GPU and TensorRT this machine has, discovered lazily (nothing heavy at import).

The GPU is found through ``torch.cuda`` when torch is importable, else through ``cuda-python``
(``cuda.bindings.runtime`` or the older ``cuda.cudart``); on a machine without an NVIDIA GPU (CI)
:func:`discover_gpu` returns None. :func:`import_tensorrt` and :func:`require_gpu` turn absence into
the one-line :class:`~pipeline.errors.ModelError` the CLI prints (exit 4).
"""

from __future__ import annotations

import ctypes
import importlib
import logging
from dataclasses import dataclass
from typing import Any, Final

from pipeline.errors import ModelError

log = logging.getLogger(__name__)

TRT_MISSING: Final = "TensorRT is not installed (pip install '.[tensorrt]')"
NO_GPU: Final = "no NVIDIA GPU found"
MIN_TRT_MAJOR: Final = 10


def gpu_driver_present() -> bool:
    """An NVIDIA driver is loadable (``libcuda.so.1``): the cheap test used before asking ONNX
    Runtime for GPU providers, and by the test suite to decide whether ``gpu`` tests run."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class GpuInfo:
    """One CUDA device.

    Attributes:
        device_id: CUDA ordinal (0 = first visible device).
        name: e.g. ``NVIDIA H100 80GB HBM3``.
        compute_capability: ``(major, minor)``, e.g. ``(9, 0)``.
    """

    device_id: int
    name: str
    compute_capability: tuple[int, int]


def _via_torch(device_id: int) -> GpuInfo | None:
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        raise LookupError("torch not importable") from None
    if not torch.cuda.is_available() or device_id >= torch.cuda.device_count():
        return None
    major, minor = torch.cuda.get_device_capability(device_id)
    return GpuInfo(device_id, str(torch.cuda.get_device_name(device_id)), (int(major), int(minor)))


def _via_cuda_python(device_id: int) -> GpuInfo | None:
    rt: Any = None
    for name in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            rt = importlib.import_module(name)
            break
        except ImportError:
            continue
    if rt is None:
        raise LookupError("cuda-python not importable")
    err, count = rt.cudaGetDeviceCount()
    if int(err) != 0 or device_id >= count:
        return None
    err, props = rt.cudaGetDeviceProperties(device_id)
    if int(err) != 0:
        return None
    raw = props.name
    name = raw.split(b"\0", 1)[0].decode() if isinstance(raw, bytes) else str(raw)
    return GpuInfo(device_id, name, (int(props.major), int(props.minor)))


def discover_gpu(device_id: int = 0) -> GpuInfo | None:
    """The CUDA device ``device_id``, or None when there is none (or no way to ask)."""
    for probe in (_via_torch, _via_cuda_python):
        try:
            return probe(device_id)
        except LookupError:
            continue
        except Exception as exc:  # noqa: BLE001 - a broken driver means "no usable GPU", logged
            log.debug("GPU probe %s failed: %s", probe.__name__, exc)
            return None
    return None


def require_gpu(device_id: int = 0) -> GpuInfo:
    """Like :func:`discover_gpu`, but raises ``ModelError("no NVIDIA GPU found")`` instead of None."""
    gpu = discover_gpu(device_id)
    if gpu is None:
        raise ModelError(NO_GPU if device_id == 0 else f"{NO_GPU} (device {device_id})")
    return gpu


def import_tensorrt() -> Any:
    """The ``tensorrt`` module (≥ 10).

    Raises:
        ModelError: not installed (names the pip extra) or older than TensorRT 10.
    """
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError:
        raise ModelError(TRT_MISSING) from None
    version = str(getattr(trt, "__version__", "0"))
    if trt_major(version) < MIN_TRT_MAJOR:
        raise ModelError(
            f"TensorRT {version} is too old: need >= {MIN_TRT_MAJOR} (pip install '.[tensorrt]')"
        )
    return trt


def trt_major(version: str) -> int:
    """Major version of a version string (``"10.3.0"`` → 10; unparsable → 0)."""
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def import_torch_cuda() -> Any:
    """``torch`` with CUDA usable (the TensorRT backend keeps its I/O buffers in torch tensors).

    Raises:
        ModelError: torch missing, or torch without a usable CUDA device.
    """
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        raise ModelError("torch is not installed (pip install '.[tensorrt]')") from None
    if not torch.cuda.is_available():
        raise ModelError(f"{NO_GPU} (torch.cuda.is_available() is False)")
    return torch
