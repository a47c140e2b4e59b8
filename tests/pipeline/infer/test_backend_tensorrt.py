"""TensorRT backend: lazy imports, missing-TensorRT errors, the engine load/rebuild decision,
INT8 calibration batches (all on CPU), and real engine builds (``-m gpu``, NVIDIA GPU + TensorRT)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.config import ModelConfig
from pipeline.errors import ModelError, SourceError
from pipeline.infer.backends import create_backend
from pipeline.infer.backends.calibration import calibration_batches
from pipeline.infer.backends.engine_cache import EngineKey, entry_for, store
from pipeline.infer.backends.ort_providers import find_calibration_table
from pipeline.infer.backends.trt_engine import calibration_cache_path, load_or_build
from tests.helpers.media import COLOUR_SPEC, colour_model, write_h264

REPO = Path(__file__).resolve().parents[3]
KEY = EngineKey(
    model_sha256="cd" * 32,
    gpu_name="NVIDIA H100 80GB HBM3",
    compute_capability=(9, 0),
    trt_version="10.3.0",
    precision="fp16",
    input_hw=(64, 64),
    batch=(1, 4, 4),
)


def test_importing_gpu_modules_imports_no_tensorrt_or_torch():
    code = (
        "import sys\n"
        "import pipeline.infer.backends, pipeline.infer.backends.tensorrt, pipeline.infer.backends.trt_engine\n"
        "import pipeline.infer.backends.gpu_info, pipeline.infer.backends.ort_providers, pipeline.cli.build_engine\n"
        "print(sorted(m for m in ('tensorrt', 'torch', 'onnxruntime') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_create_backend_without_tensorrt_names_the_fix(monkeypatch, colour_model_path):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` raise ImportError
    with pytest.raises(ModelError) as info:
        create_backend(ModelConfig(backend="tensorrt"), colour_model_path)
    assert str(info.value) == "TensorRT is not installed (pip install '.[tensorrt]')"


def test_tensorrt_older_than_10_is_refused(monkeypatch, colour_model_path):
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="8.6.1"))
    with pytest.raises(ModelError, match=r"TensorRT 8\.6\.1 is too old: need >= 10"):
        create_backend(ModelConfig(backend="tensorrt"), colour_model_path)


class FakeRuntime:
    """Stands in for ``trt.Runtime`` ONLY (the GPU runtime; no TensorRT on CPU machines).
    ``deserialize_cuda_engine`` returns ("engine", bytes), or None for bytes it was told to reject."""

    def __init__(self, reject: bytes = b"") -> None:
        self.loaded: list[bytes] = []
        self.reject = reject

    def deserialize_cuda_engine(self, data: bytes) -> object:
        self.loaded.append(data)
        return None if data == self.reject else ("engine", data)


class Builder:
    """Counts builds; returns new engine bytes under ``key``."""

    def __init__(self, key: EngineKey = KEY, data: bytes = b"new engine") -> None:
        self.calls, self.key, self.data = 0, key, data

    def __call__(self) -> tuple[bytes, EngineKey]:
        self.calls += 1
        return self.data, self.key


def test_valid_cache_entry_is_loaded_without_building(tmp_path):
    store(entry_for(tmp_path, "m", KEY), KEY, b"cached engine")
    runtime, build, reasons = FakeRuntime(), Builder(), []
    loaded = load_or_build(tmp_path, "m", KEY, runtime, build, on_build=reasons.append)
    assert loaded.engine == ("engine", b"cached engine")
    assert loaded.rebuilt_because is None and build.calls == 0 and reasons == []


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("trt_version", "10.0.1", "built for another trt version"),
        ("gpu_name", "NVIDIA A100", "built for another gpu name"),
        ("precision", "fp32", "built for another precision"),
    ],
)
def test_stale_entry_is_rebuilt_and_replaced(tmp_path, field, value, reason):
    entry = entry_for(tmp_path, "m", KEY)
    store(entry, KEY, b"old engine")
    sidecar = json.loads(entry.sidecar.read_text())
    sidecar["key"][field] = value  # as if built on another machine / TensorRT / precision
    entry.sidecar.write_text(json.dumps(sidecar))
    runtime, build, reasons = FakeRuntime(), Builder(), []
    loaded = load_or_build(tmp_path, "m", KEY, runtime, build, on_build=reasons.append)
    assert build.calls == 1 and runtime.loaded == [b"new engine"]  # the stale bytes never reach the runtime
    assert loaded.rebuilt_because is not None and loaded.rebuilt_because.startswith(reason)
    assert reasons == [loaded.rebuilt_because]
    assert entry.engine.read_bytes() == b"new engine"
    assert json.loads(entry.sidecar.read_text())["key"][field] != value


def test_foreign_engine_without_sidecar_is_rebuilt(tmp_path):
    entry = entry_for(tmp_path, "m", KEY)
    entry.engine.write_bytes(b"someone else's engine")
    runtime, build = FakeRuntime(), Builder()
    loaded = load_or_build(tmp_path, "m", KEY, runtime, build)
    assert loaded.rebuilt_because == "no sidecar (foreign engine)"
    assert build.calls == 1 and runtime.loaded == [b"new engine"]
    assert entry.sidecar.is_file() and entry.engine.read_bytes() == b"new engine"


def test_tampered_engine_bytes_are_rebuilt(tmp_path):
    entry = entry_for(tmp_path, "m", KEY)
    store(entry, KEY, b"good engine")
    entry.engine.write_bytes(b"good engi")  # truncated
    loaded = load_or_build(tmp_path, "m", KEY, FakeRuntime(), Builder())
    assert loaded.rebuilt_because is not None and "engine bytes changed" in loaded.rebuilt_because


def test_force_and_undeserializable_cache_rebuild(tmp_path):
    store(entry_for(tmp_path, "m", KEY), KEY, b"cached engine")
    build = Builder()
    assert (
        load_or_build(tmp_path, "m", KEY, FakeRuntime(), build, force=True).rebuilt_because
        == "forced (--force)"
    )
    store(entry_for(tmp_path, "m", KEY), KEY, b"bad engine")
    loaded = load_or_build(tmp_path, "m", KEY, FakeRuntime(reject=b"bad engine"), build)
    assert loaded.rebuilt_because == "cached engine did not deserialize" and build.calls == 2


def test_build_may_return_a_new_key_int8_calibration(tmp_path):
    key = EngineKey(**{**KEY.__dict__, "precision": "int8"})
    final = EngineKey(**{**key.__dict__, "calibration_sha256": "ef" * 32})
    loaded = load_or_build(tmp_path, "m", key, FakeRuntime(), Builder(final, b"int8 engine"))
    assert loaded.key == final and loaded.entry == entry_for(tmp_path, "m", final)
    assert loaded.entry.engine.name.endswith("-calefefefef.engine")
    again = load_or_build(tmp_path, "m", final, FakeRuntime(), Builder())
    assert again.rebuilt_because is None


def test_unbuildable_fresh_engine_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="freshly built engine does not deserialize"):
        load_or_build(tmp_path, "m", KEY, FakeRuntime(reject=b"new engine"), Builder())


def _images(folder: Path, count: int) -> None:
    folder.mkdir()
    for i in range(count):
        img = np.full((48, 96, 3), 20 * i, np.uint8)
        img[:, :, 2] = 255  # BGR on disk: red in RGB
        cv2.imwrite(str(folder / f"{i:03d}.png"), img)


def test_calibration_batches_from_image_folder_are_pipeline_inputs(tmp_path):
    _images(tmp_path / "frames", 5)
    batches = list(calibration_batches(tmp_path / "frames", COLOUR_SPEC, batch=2))
    assert [b.shape for b in batches] == [(2, 3, 64, 64)] * 3
    assert all(b.dtype == np.float32 and b.flags.c_contiguous for b in batches)
    # 96x48 → 64x32 content centred (16 rows padding each side); mean 0 std 1 → pixel / 255
    first = batches[0][0]
    assert first[0, 16:48].min() == pytest.approx(1.0) and first[:, :16].max() == 0.0
    assert first[2, 16:48].max() == pytest.approx(0.0)
    assert first[1, 32, 32] == pytest.approx(0.0) and batches[0][1][1, 32, 32] == pytest.approx(20 / 255)
    assert (batches[2][1] == batches[2][0]).all()  # the odd 5th frame is padded by repetition


def test_calibration_batches_from_video_with_stride_and_cap(tmp_path):
    video = write_h264(tmp_path / "cal.mp4", frames=20, size=(128, 96))
    batches = list(calibration_batches(video, COLOUR_SPEC, batch=4, max_frames=6, stride=3))
    assert [b.shape for b in batches] == [(4, 3, 64, 64), (4, 3, 64, 64)]
    assert not np.array_equal(batches[0][0], batches[0][1])  # frames 0 and 3 of a moving gradient


def test_calibration_source_errors_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="folder has no images"):
        list(calibration_batches(tmp_path / "empty", COLOUR_SPEC, batch=2))
    with pytest.raises(SourceError, match="no such file"):
        list(calibration_batches(tmp_path / "none.mp4", COLOUR_SPEC, batch=2))


def test_ort_finds_the_calibration_cache_build_engine_writes(tmp_path):
    sha = "ab" * 32
    path = calibration_cache_path(tmp_path, "infant-seg", sha, "10.3.0", (512, 512))
    assert find_calibration_table(tmp_path, "infant-seg", sha, (512, 512)) == ""
    path.write_bytes(b"TRT-1003-EntropyCalibration2\n")
    assert find_calibration_table(tmp_path, "infant-seg", sha, (512, 512)) == path.name
    assert find_calibration_table(tmp_path, "infant-seg", "00" * 32, (512, 512)) == ""
    assert find_calibration_table(tmp_path, "infant-seg", sha, (256, 256)) == ""


# ---------------------------------------------------------------- GPU (run with -m gpu) ----


@pytest.fixture
def gpu_trt() -> None:
    """Fails (does not skip) when ``-m gpu`` runs where no NVIDIA GPU + TensorRT ≥ 10 + torch CUDA is."""
    from pipeline.infer.backends.gpu_info import discover_gpu, import_tensorrt, import_torch_cuda

    try:
        import_tensorrt()
        import_torch_cuda()
    except ModelError as exc:
        pytest.fail(f"GPU test needs TensorRT and torch CUDA: {exc}")
    if discover_gpu() is None:
        pytest.fail("GPU test: no NVIDIA GPU found (run -m gpu only on a machine with one)")


def _agreement(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame fraction of pixels whose arg-max class agrees; logits (N, C, H, W)."""
    return (a.argmax(1) == b.argmax(1)).mean(axis=(1, 2))


def _trt(path: Path, cache: Path, max_batch: int = 4, **kw: object):
    cfg = ModelConfig(
        backend="tensorrt", precision="fp16", engine_cache=str(cache), max_batch=max_batch, **kw
    )
    return create_backend(cfg, path)


@pytest.mark.gpu
def test_gpu_colour_model_fp16_matches_ort_and_cache_is_reused(gpu_trt, tmp_path):
    model = colour_model(tmp_path / "colour.onnx")
    cache = tmp_path / "engines"
    trt_backend = _trt(model, cache)
    assert trt_backend.rebuilt_because == "missing"  # type: ignore[attr-defined]
    ort = create_backend(ModelConfig(providers="CPUExecutionProvider"), model)
    rng = np.random.default_rng(0)
    batch = rng.choice([0.0, 1.0], size=(4, 3, 64, 64)).astype(np.float32)
    assert (_agreement(trt_backend.infer(batch), ort.infer(batch)) >= 0.995).all()
    assert trt_backend.infer(batch[:1]).shape == (1, 5, 64, 64)
    t0 = time.perf_counter()
    again = _trt(model, cache)
    assert again.rebuilt_because is None  # type: ignore[attr-defined]
    assert time.perf_counter() - t0 < 10.0
    import torch

    dev = again.infer_device(torch.from_numpy(batch).cuda())  # type: ignore[attr-defined]
    np.testing.assert_allclose(dev.cpu().numpy(), again.infer(batch), atol=1e-3)


@pytest.mark.gpu
def test_gpu_stale_engine_is_rebuilt(gpu_trt, tmp_path):
    model = colour_model(tmp_path / "colour.onnx")
    cache = tmp_path / "engines"
    first = _trt(model, cache)
    sidecar = first.engine_path.with_suffix(".json")  # type: ignore[attr-defined]
    meta = json.loads(sidecar.read_text())
    meta["key"]["trt_version"] = "9.0.0"
    sidecar.write_text(json.dumps(meta))
    second = _trt(model, cache)
    assert second.rebuilt_because is not None and "trt version" in second.rebuilt_because  # type: ignore[attr-defined]


@pytest.mark.gpu
def test_gpu_infant_seg_fp16_agrees_with_ort_cpu(gpu_trt, tmp_path, vtest_avi):
    model = REPO / "models" / "infant-seg.onnx"
    trt_backend = _trt(model, tmp_path / "engines", max_batch=8)
    ort = create_backend(ModelConfig(providers="CPUExecutionProvider"), model)
    for batch in calibration_batches(vtest_avi, ort.spec, batch=8, max_frames=32, stride=10):
        agree = _agreement(trt_backend.infer(batch), ort.infer(batch))
        assert (agree >= 0.995).all(), agree
