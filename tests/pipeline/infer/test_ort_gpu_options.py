"""ONNX Runtime GPU providers: the provider/option list (pure, CPU) and IO binding (``-m gpu``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import ModelError
from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.infer.backends.ort_providers import (
    CPU_EP,
    CUDA_EP,
    TRT_EP,
    OrtOptions,
    build_providers,
    trt_cache_dir,
)

ALL = [TRT_EP, CUDA_EP, CPU_EP]
CACHE = Path("/cache")
ORT_VERSION = "1.20.1"
PROFILE = {
    "trt_profile_min_shapes": "input:1x3x512x512",
    "trt_profile_opt_shapes": "input:8x3x512x512",
    "trt_profile_max_shapes": "input:8x3x512x512",
}
CUDA_OPTS = {"device_id": "0", "cudnn_conv_algo_search": "HEURISTIC"}


def trt_opts(precision: str, **extra: str) -> dict[str, str]:
    cache = str(CACHE / f"ort{ORT_VERSION}-trt-{precision}")
    return {
        "device_id": "0",
        "trt_max_workspace_size": str(4 << 30),
        "trt_fp16_enable": "False" if precision == "fp32" else "True",
        "trt_int8_enable": "True" if precision == "int8" else "False",
        **PROFILE,
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": cache,
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": cache,
        **extra,
    }


@pytest.mark.parametrize(
    ("options", "available", "driver", "expected"),
    [
        pytest.param(
            OrtOptions(engine_cache=CACHE, max_batch=8),
            ALL,
            True,
            [(TRT_EP, trt_opts("fp16")), (CUDA_EP, CUDA_OPTS), (CPU_EP, {})],
            id="auto-gpu-fp16",
        ),
        pytest.param(
            OrtOptions(engine_cache=CACHE, max_batch=8, precision="fp32"),
            ALL,
            True,
            [(TRT_EP, trt_opts("fp32")), (CUDA_EP, CUDA_OPTS), (CPU_EP, {})],
            id="auto-gpu-fp32-no-fp16-flag",
        ),
        pytest.param(
            OrtOptions(engine_cache=CACHE, max_batch=8, precision="int8", calibration_table="m.calib"),
            ALL,
            True,
            [
                (
                    TRT_EP,
                    trt_opts(
                        "int8",
                        trt_int8_calibration_table_name="../m.calib",
                        trt_int8_use_native_calibration_table="True",
                    ),
                ),
                (CUDA_EP, CUDA_OPTS),
                (CPU_EP, {}),
            ],
            id="auto-gpu-int8",
        ),
        pytest.param(
            OrtOptions(engine_cache=CACHE), ALL, False, [(CPU_EP, {})], id="auto-no-driver-cpu-only"
        ),
        pytest.param(OrtOptions(), [CPU_EP], False, [(CPU_EP, {})], id="cpu-only-install"),
        pytest.param(
            OrtOptions(providers="CUDAExecutionProvider,CPUExecutionProvider", device_id=1),
            ALL,
            True,
            [(CUDA_EP, {"device_id": "1", "cudnn_conv_algo_search": "HEURISTIC"}), (CPU_EP, {})],
            id="explicit-list-respected",
        ),
        pytest.param(
            OrtOptions(providers="CPUExecutionProvider"),
            ALL,
            True,
            [(CPU_EP, {})],
            id="explicit-cpu-on-gpu-box",
        ),
    ],
)
def test_build_providers(options, available, driver, expected):
    assert build_providers(options, available, driver, "input", (512, 512), ORT_VERSION) == expected


def test_no_engine_cache_means_no_cache_options():
    [(name, opts), *_] = build_providers(OrtOptions(max_batch=2), ALL, True, "x", (64, 32), ORT_VERSION)
    assert name == TRT_EP and not any("cache" in k for k in opts)
    assert opts["trt_profile_max_shapes"] == "x:2x3x64x32"


def test_int8_without_calibration_table_names_the_command():
    with pytest.raises(ModelError, match="build-engine --precision int8 --calibration"):
        build_providers(
            OrtOptions(engine_cache=CACHE, precision="int8"), ALL, True, "input", (8, 8), ORT_VERSION
        )


def test_int8_on_cuda_only_needs_no_table():
    out = build_providers(OrtOptions(providers=CUDA_EP, precision="int8"), ALL, True, "input", (8, 8), "1")
    assert out == [(CUDA_EP, CUDA_OPTS)]


def test_unknown_provider_is_named():
    with pytest.raises(ModelError, match="FooExecutionProvider is not available"):
        build_providers(OrtOptions(providers="FooExecutionProvider"), [CPU_EP], False, "input", (8, 8), "1")


def test_trt_cache_folder_names_ort_version_and_precision():
    assert trt_cache_dir(CACHE, "1.20.1", "int8") == CACHE / "ort1.20.1-trt-int8"


def test_cpu_session_uses_plain_run(colour_model_path):
    backend = OrtBackend(colour_model_path, OrtOptions(providers=CPU_EP))
    assert backend.io_binding is False and backend.output_hw == (64, 64)
    with pytest.raises(ModelError, match="infer_device needs the CUDA or TensorRT execution provider"):
        backend.infer_device(None)


@pytest.mark.gpu
def test_gpu_cuda_io_binding_equals_plain_path(colour_model_path):
    import onnxruntime as ort

    from pipeline.infer.backends.gpu_info import discover_gpu

    if discover_gpu() is None or CUDA_EP not in ort.get_available_providers():
        pytest.fail("GPU test: needs an NVIDIA GPU and onnxruntime-gpu's CUDA EP (run -m gpu only there)")
    bound = OrtBackend(colour_model_path, OrtOptions(providers=f"{CUDA_EP},{CPU_EP}"))
    plain = OrtBackend(colour_model_path, OrtOptions(providers=f"{CUDA_EP},{CPU_EP}", io_binding=False))
    assert bound.io_binding and bound.name == f"onnxruntime:{CUDA_EP}"
    batch = np.random.default_rng(1).random((3, 3, 64, 64), dtype=np.float32)
    np.testing.assert_allclose(bound.infer(batch), plain.infer(batch), atol=1e-5)
    import torch

    on_gpu = bound.infer_device(torch.from_numpy(batch).cuda())
    assert on_gpu.is_cuda and tuple(on_gpu.shape) == (3, 5, 64, 64)
    np.testing.assert_allclose(on_gpu.cpu().numpy(), plain.infer(batch), atol=1e-5)
