"""What ``tools/gpu_bench.py`` needs before it measures: models, a clip, and backends by kind.

Every loader returns either a backend or a one-line reason why that row is "n/a" on this machine; a
backend that is being written elsewhere (``pipeline.infer.backends.tensorrt``) is imported defensively.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pipeline.config import ModelConfig
from pipeline.infer.backends import Backend

log = logging.getLogger(__name__)

REPO: Final = Path(__file__).resolve().parents[1]
CACHE: Final = REPO / "out" / "gpu-bench"
MODEL_256: Final = REPO / "models" / "infant-seg.onnx"
MODEL_512_CANDIDATES: Final = (
    REPO / "out" / "deeplabv3-512-untrained.onnx",
    CACHE / "deeplabv3-512-untrained.onnx",
)

KINDS: Final = ("ort-cpu", "ort-cuda", "ort-trt", "trt")
"""Backend kinds: ONNX Runtime CPU / CUDA EP / TensorRT EP, and the TensorRT Python API backend."""
PROVIDERS: Final = {
    "ort-cpu": "CPUExecutionProvider",
    "ort-cuda": "CUDAExecutionProvider",
    "ort-trt": "TensorrtExecutionProvider,CUDAExecutionProvider",
}
GPU_KINDS: Final = frozenset({"ort-cuda", "ort-trt", "trt"})


@dataclass(frozen=True)
class Loaded:
    """A backend ready to measure, or why there is none (``backend`` None, ``reason`` set)."""

    backend: Backend | None
    reason: str = ""


def model_512() -> Path:
    """A 512² DeepLabV3-MobileNetV3 ONNX (untrained weights): an existing one, or built and cached."""
    for path in MODEL_512_CANDIDATES:
        if path.is_file():
            return path
    return build_512(MODEL_512_CANDIDATES[-1])


def build_512(out: Path) -> Path:
    """torchvision ``deeplabv3_mobilenet_v3_large(weights=None, num_classes=5)`` → ONNX with a 512 input,
    dynamic batch and the pipeline's metadata (trainer.export conventions: ``input`` → ``out``)."""
    import warnings

    import onnx
    import torch

    from pipeline.contract.model_meta import ModelSpec
    from trainer.export import INPUT_NAME, OUTPUT_NAME
    from trainer.models import LogitsOnly, build_model

    torch.manual_seed(0)
    model = LogitsOnly(build_model("deeplabv3", weights_backbone="none")).eval()
    spec = ModelSpec(
        input_hw=(512, 512), architecture="deeplabv3_mobilenet_v3_large", training_data="untrained"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, 512, 512),),
            str(tmp),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load(str(tmp))
    for key, value in spec.to_props().items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(tmp))
    tmp.replace(out)
    return out


def clip(frames: int, width: int, height: int) -> Path:
    """A cached synthetic infant H.264 clip (``infant-stream synth video``'s writer), seed 0, 25 fps."""
    from trainer.synth.video import write_video

    path = CACHE / f"clip-{width}x{height}-{frames}.mp4"
    if not path.is_file():
        tmp = path.with_name("tmp-" + path.name)
        write_video(tmp, frames=frames, fps=25.0, width=width, height=height, seed=0)
        tmp.replace(path)
    return path


def gpu_state() -> tuple[bool, str]:
    """(usable CUDA GPU, reason if not): an NVIDIA driver for ORT, and torch's view of CUDA."""
    from pipeline.infer.backends.gpu_info import gpu_driver_present

    if not gpu_driver_present():
        return False, "no NVIDIA driver (libcuda.so.1)"
    return True, ""


def torch_cuda() -> bool:
    """torch is installed and sees a CUDA GPU (GPU pre/postprocessing possible)."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _create(cfg: ModelConfig, path: Path) -> Backend:
    """``pipeline.infer.backends.create_backend`` in either its (ModelConfig, path) or (name, path, ...) form."""
    from pipeline.infer.backends import create_backend

    factory: Any = create_backend
    first = next(iter(inspect.signature(factory).parameters))
    if first == "name":  # the older signature
        return factory(cfg.backend, path, cfg.providers, cfg.threads, cfg.spin)  # type: ignore[no-any-return]
    return factory(cfg, path)  # type: ignore[no-any-return]


def load(kind: str, precision: str, path: Path, max_batch: int) -> Loaded:
    """Load ``path`` as backend ``kind`` at ``precision`` (``fp32``/``fp16``), or say why not."""
    if kind not in KINDS:
        return Loaded(None, f"unknown kind {kind}")
    if kind == "ort-cpu" and precision != "fp32":
        return Loaded(None, "CPU runs fp32 only")
    if kind in GPU_KINDS:
        ok, why = gpu_state()
        if not ok:
            return Loaded(None, why)
    if kind == "trt":
        if importlib.util.find_spec("pipeline.infer.backends.tensorrt") is None:
            return Loaded(None, "pipeline.infer.backends.tensorrt not present")
        if importlib.util.find_spec("tensorrt") is None:
            return Loaded(None, "tensorrt Python package not installed")
        cfg = ModelConfig(path=str(path), backend="tensorrt", precision=precision, max_batch=max_batch)  # type: ignore[arg-type]
    else:
        import onnxruntime as ort

        wanted = PROVIDERS[kind].split(",")[0]
        if wanted not in ort.get_available_providers():
            return Loaded(None, f"{wanted} not in this onnxruntime build")
        cfg = ModelConfig(
            path=str(path),
            backend="onnxruntime",
            providers=PROVIDERS[kind],
            precision=precision,  # type: ignore[arg-type]
            max_batch=max_batch,
        )
    try:
        backend = _create(cfg, path)
    except Exception as exc:  # noqa: BLE001 - one row's failure must not end the whole benchmark
        return Loaded(
            None, f"load failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
    if kind != "ort-cpu" and "CPUExecutionProvider" in backend.name:
        return Loaded(None, f"fell back to CPU ({backend.name})")
    if kind != "ort-cpu" and precision == "fp16" and getattr(backend, "precision", "fp32") != "fp16":
        return Loaded(None, f"{backend.name} does not report fp16 (runs the fp32 graph)")
    return Loaded(backend)
