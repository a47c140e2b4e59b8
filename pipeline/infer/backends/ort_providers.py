"""ONNX Runtime execution providers and their options, as pure functions (tested on CPU).

``auto`` = TensorRT EP > CUDA EP > CPU EP among those installed, GPU ones only with an NVIDIA
driver. The TensorRT EP gets its engine and timing caches in a sub-folder of ``model.engine_cache``
named by ONNX Runtime version and precision (ONNX Runtime's own cache names do not encode
either), FP16/INT8 flags per ``model.precision``, and an optimisation profile for batches
1..``max_batch`` of the model's input size. The CUDA EP gets its device and cuDNN algorithm search.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from pipeline.config import Precision
from pipeline.errors import ModelError

TRT_EP: Final = "TensorrtExecutionProvider"
CUDA_EP: Final = "CUDAExecutionProvider"
CPU_EP: Final = "CPUExecutionProvider"
PREFERENCE: Final = (TRT_EP, CUDA_EP, CPU_EP)
"""``auto`` takes the first of these that is installed and usable."""
GPU_PROVIDERS: Final = frozenset(PREFERENCE[:2])
ProviderList = list[tuple[str, dict[str, str]]]


@dataclass(frozen=True)
class OrtOptions:
    """ONNX Runtime session settings.

    Attributes:
        providers: ``auto`` or a comma-separated list of execution provider names.
        intra_op_threads: threads inside one operator; 0 = ONNX Runtime's default (all cores).
        inter_op_threads: threads across independent operators; 0 = default.
        spin: let idle worker threads spin (lower latency, but burns CPU other stages need).
        warmup_runs: inferences run at load time so the first frame is not slow.
        precision: TensorRT EP: ``fp32``, ``fp16`` or ``int8`` (CUDA/CPU EPs always run fp32).
        engine_cache: TensorRT EP engine/timing cache folder (None = no caching: rebuilt per start).
        calibration_table: INT8: file name, inside ``engine_cache``, of a TensorRT-native calibration
            cache (``infant-stream build-engine --precision int8`` writes one).
        max_batch: largest batch; the TensorRT EP's profile covers 1..max_batch.
        device_id: CUDA device of the GPU providers.
        workspace_bytes: TensorRT EP builder workspace limit.
        cudnn_conv_algo_search: CUDA EP: ``HEURISTIC`` (default: no per-shape benchmark, which
            would stall a live pipeline on each new batch size), ``EXHAUSTIVE`` or ``DEFAULT``.
        io_binding: with a GPU first provider, keep input and output on the GPU between copies.
    """

    providers: str = "auto"
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    spin: bool = False
    warmup_runs: int = 2
    precision: Precision = "fp16"
    engine_cache: Path | None = None
    calibration_table: str = ""
    max_batch: int = 1
    device_id: int = 0
    workspace_bytes: int = 4 << 30
    cudnn_conv_algo_search: Literal["HEURISTIC", "EXHAUSTIVE", "DEFAULT"] = "HEURISTIC"
    io_binding: bool = True


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
        return chosen or [CPU_EP]
    names = [p.strip() for p in requested.split(",") if p.strip()]
    for name in names:
        if name not in available:
            raise ModelError(f"providers: {name} is not available (available: {', '.join(available)})")
    return names


def _flag(on: bool) -> str:
    return "True" if on else "False"


def trt_cache_dir(engine_cache: Path, ort_version: str, precision: Precision) -> Path:
    """The TensorRT EP's cache folder inside ``engine_cache``, e.g. ``ort1.20.1-trt-fp16``."""
    return engine_cache / f"ort{ort_version}-trt-{precision}"


def tensorrt_ep_options(
    o: OrtOptions, input_name: str, input_hw: tuple[int, int], ort_version: str
) -> dict[str, str]:
    """TensorRT EP options (all values strings, as ONNX Runtime parses them).

    Raises:
        ModelError: INT8 without a calibration table, or a calibration table without a cache folder.
    """
    h, w = input_hw
    opts = {
        "device_id": str(o.device_id),
        "trt_max_workspace_size": str(o.workspace_bytes),
        "trt_fp16_enable": _flag(o.precision in ("fp16", "int8")),
        "trt_int8_enable": _flag(o.precision == "int8"),
        "trt_profile_min_shapes": f"{input_name}:1x3x{h}x{w}",
        "trt_profile_opt_shapes": f"{input_name}:{o.max_batch}x3x{h}x{w}",
        "trt_profile_max_shapes": f"{input_name}:{o.max_batch}x3x{h}x{w}",
    }
    cache = trt_cache_dir(o.engine_cache, ort_version, o.precision) if o.engine_cache else None
    if cache is not None:
        opts |= {
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": str(cache),
        }
    if o.precision == "int8":
        if not o.calibration_table or cache is None:
            raise ModelError(
                "precision int8 with the TensorRT EP needs a calibration cache in model.engine_cache: "
                "run infant-stream build-engine --precision int8 --calibration FRAMES first"
            )
        opts |= {
            # ONNX Runtime looks the table up in the engine cache folder
            "trt_int8_calibration_table_name": str(Path("..") / o.calibration_table),
            "trt_int8_use_native_calibration_table": "True",
        }
    return opts


def cuda_ep_options(o: OrtOptions) -> dict[str, str]:
    """CUDA EP options."""
    return {"device_id": str(o.device_id), "cudnn_conv_algo_search": o.cudnn_conv_algo_search}


def build_providers(
    o: OrtOptions,
    available: list[str],
    gpu_driver: bool,
    input_name: str,
    input_hw: tuple[int, int],
    ort_version: str,
) -> ProviderList:
    """The ``providers=[(name, options), ...]`` list for ``onnxruntime.InferenceSession``.

    Args:
        o: the session settings (providers requested, precision, cache, batch, device).
        available: ``onnxruntime.get_available_providers()``.
        gpu_driver: whether an NVIDIA driver is loadable (``auto`` skips GPU providers without one).
        input_name, input_hw: the model's input tensor name and (height, width), for TensorRT profiles.
        ort_version: ``onnxruntime.__version__`` (names the TensorRT EP cache folder).
    Raises:
        ModelError: unknown provider, or INT8 without calibration table.
    """
    out: ProviderList = []
    for name in choose_providers(o.providers, available, gpu_driver):
        if name == TRT_EP:
            out.append((name, tensorrt_ep_options(o, input_name, input_hw, ort_version)))
        elif name == CUDA_EP:
            out.append((name, cuda_ep_options(o)))
        else:
            out.append((name, {}))
    return out


def find_calibration_table(
    engine_cache: Path, model_name: str, model_sha: str, input_hw: tuple[int, int]
) -> str:
    """File name of the newest TensorRT calibration cache of this model in ``engine_cache``, or ""."""
    pattern = f"{model_name}-{model_sha[:12]}-trt*-{input_hw[0]}x{input_hw[1]}.calib"
    found = (
        sorted(engine_cache.glob(pattern), key=lambda p: p.stat().st_mtime) if engine_cache.is_dir() else []
    )
    return found[-1].name if found else ""
