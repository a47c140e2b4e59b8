"""TensorRT engines: build from ONNX (FP32/FP16/INT8, dynamic batch), cache, load or rebuild.

The load decision (:func:`load_or_build`) only needs an object with ``deserialize_cuda_engine``
and a ``build`` callable, so it is tested on CPU with a fake runtime. Everything that touches
TensorRT (:func:`build_serialized`, :func:`ensure_engine`) imports it lazily and runs on a GPU only.

An engine's optimisation profile covers batches 1..``max_batch`` (opt = ``max_batch``); the
model's spatial size is fixed (from the graph, else from its metadata).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Protocol

from pipeline.config import Precision
from pipeline.contract.model_meta import ModelSpec
from pipeline.errors import ModelError
from pipeline.infer.backends.engine_cache import (
    CacheEntry,
    EngineKey,
    check_entry,
    entry_for,
    store,
)
from pipeline.infer.backends.engine_cache import sha256_file as sha256_file

log = logging.getLogger(__name__)

DEFAULT_WORKSPACE_BYTES: Final = 4 << 30
CALIBRATION_BATCH: Final = 8
"""Frames per INT8 calibration batch (capped at ``max_batch``)."""


class Runtime(Protocol):
    """What :func:`load_or_build` needs of ``trt.Runtime``."""

    def deserialize_cuda_engine(self, data: bytes) -> Any: ...


@dataclass(frozen=True)
class LoadedEngine:
    """A deserialized engine and how it was obtained.

    Attributes:
        engine: the ``trt.ICudaEngine`` (whatever the runtime returned).
        entry: where its bytes and sidecar are stored.
        key: the key it was stored under.
        rebuilt_because: why it was built now (None = loaded from the cache).
    """

    engine: Any
    entry: CacheEntry
    key: EngineKey
    rebuilt_because: str | None


def load_or_build(
    cache_dir: Path,
    model_name: str,
    key: EngineKey,
    runtime: Runtime,
    build: Callable[[], tuple[bytes, EngineKey]],
    force: bool = False,
    on_build: Callable[[str], None] | None = None,
) -> LoadedEngine:
    """Load the cached engine of ``key`` if it is valid, else build, store and load a new one.

    A stale entry (other GPU/TensorRT/precision/model, changed bytes) or a foreign engine (no
    sidecar) is never deserialized: it is rebuilt and replaced, with one log line naming the reason.

    Args:
        cache_dir: the engine cache folder.
        model_name: file-name stem of the engines (the ONNX file's stem).
        key: the key of this run.
        runtime: has ``deserialize_cuda_engine(bytes)`` (``trt.Runtime``; a fake in CPU tests).
        build: builds the engine, returns its bytes and the final key (INT8: with the SHA-256 of
            the calibration cache it wrote).
        force: rebuild even when the cached engine is valid.
        on_build: called with the reason just before a build (e.g. to publish "building engine").
    Raises:
        ModelError: a freshly built engine cannot be deserialized.
    """
    entry = entry_for(cache_dir, model_name, key)
    reason = "forced (--force)" if force else check_entry(entry, key)
    if reason is None:
        engine = runtime.deserialize_cuda_engine(entry.engine.read_bytes())
        if engine is not None:
            log.info("%s: engine loaded from cache", entry.engine)
            return LoadedEngine(engine, entry, key, None)
        reason = "cached engine did not deserialize"
    log.warning("%s: building TensorRT engine (%s)", model_name, reason)
    if on_build is not None:
        on_build(reason)
    data, final_key = build()
    final_entry = entry_for(cache_dir, model_name, final_key)
    store(final_entry, final_key, data)
    engine = runtime.deserialize_cuda_engine(data)
    if engine is None:
        raise ModelError(f"{final_entry.engine}: freshly built engine does not deserialize")
    return LoadedEngine(engine, final_entry, final_key, reason)


@dataclass(frozen=True)
class BuildSettings:
    """How to build an engine.

    Attributes:
        precision: ``fp32``, ``fp16`` or ``int8`` (INT8 also enables FP16 for layers without INT8).
        max_batch: profile max and opt batch (min is 1).
        cache_dir: engine cache folder.
        calibration: INT8: frames (folder, image or video) to calibrate from; None = reuse the
            calibration cache in ``cache_dir``.
        workspace_bytes: TensorRT builder workspace limit.
        force: rebuild (and, with ``calibration``, recalibrate) even when the cache is valid.
        progress: draw a tqdm bar of the build phases (TensorRT ≥ 10's ``IProgressMonitor``).
    """

    precision: Precision = "fp16"
    max_batch: int = 1
    cache_dir: Path = Path("models/.engines")
    calibration: Path | None = None
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES
    force: bool = False
    progress: bool = False


def calibration_cache_path(
    cache_dir: Path, model_name: str, model_sha: str, trt_version: str, hw: Any
) -> Path:
    """Where the INT8 calibration cache of a model (bytes), TensorRT version and input size lives."""
    return cache_dir / f"{model_name}-{model_sha[:12]}-trt{trt_version}-{hw[0]}x{hw[1]}.calib"


def ensure_engine(
    model_path: Path,
    settings: BuildSettings,
    device_id: int = 0,
    on_build: Callable[[str], None] | None = None,
) -> tuple[LoadedEngine, ModelSpec, str, str]:
    """The valid engine of ``model_path`` for this GPU, loaded from the cache or built (GPU only).

    Returns:
        (engine, model spec, input tensor name, output tensor name).
    Raises:
        ModelError: TensorRT missing or < 10, no GPU, bad model, build failure, INT8 without
            calibration frames or cache (all one line).
    """
    from pipeline.infer.backends.gpu_info import import_tensorrt, require_gpu
    from pipeline.infer.backends.onnxruntime import read_model_io

    trt = import_tensorrt()
    gpu = require_gpu(device_id)
    spec, input_name, output_name = read_model_io(model_path)
    model_sha = sha256_file(model_path)
    batch = (1, settings.max_batch, settings.max_batch)
    cal_file = calibration_cache_path(
        settings.cache_dir, model_path.stem, model_sha, trt.__version__, spec.input_hw
    )
    if settings.precision == "int8":
        if settings.force and settings.calibration is not None:
            cal_file.unlink(missing_ok=True)
        if not cal_file.is_file() and settings.calibration is None:
            raise ModelError(
                f"{model_path}: precision int8 needs calibration frames (model.calibration / --calibration)"
            )
    cal_sha = sha256_file(cal_file) if settings.precision == "int8" and cal_file.is_file() else ""
    key = EngineKey(
        model_sha,
        gpu.name,
        gpu.compute_capability,
        trt.__version__,
        settings.precision,
        spec.input_hw,
        batch,
        cal_sha,
    )

    def build() -> tuple[bytes, EngineKey]:
        data = build_serialized(trt, model_path, input_name, spec, settings, cal_file)
        if settings.precision != "int8":
            return data, key
        return data, replace(key, calibration_sha256=sha256_file(cal_file))

    runtime = trt.Runtime(_logger(trt))
    loaded = load_or_build(settings.cache_dir, model_path.stem, key, runtime, build, settings.force, on_build)
    return loaded, spec, input_name, output_name


_LOGGER: list[Any] = []


def _logger(trt: Any) -> Any:
    if not _LOGGER:  # TensorRT wants one logger per process
        _LOGGER.append(trt.Logger(trt.Logger.WARNING))
    return _LOGGER[0]


def build_serialized(
    trt: Any, model_path: Path, input_name: str, spec: ModelSpec, settings: BuildSettings, cal_file: Path
) -> bytes:
    """Parse ``model_path`` and build a serialized engine (GPU only; takes seconds to minutes).

    Raises:
        ModelError: the ONNX parser or the builder fails (first parser error named).
    """
    logger = _logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(model_path)):
        errors = [str(parser.get_error(i).desc()) for i in range(parser.num_errors)]
        raise ModelError(
            f"{model_path}: TensorRT cannot parse the model ({errors[0] if errors else 'unknown'})"
        )
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_bytes)
    h, w = spec.input_hw
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, (1, 3, h, w), (settings.max_batch, 3, h, w), (settings.max_batch, 3, h, w))
    config.add_optimization_profile(profile)
    if settings.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if settings.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _calibrator(trt, builder, config, input_name, spec, settings, cal_file)
    bars: dict[str, Any] = {}
    if settings.progress and hasattr(trt, "IProgressMonitor"):
        config.progress_monitor = _progress_monitor(trt, bars)
    t0 = time.perf_counter()
    try:
        host = builder.build_serialized_network(network, config)
    finally:
        for bar in bars.values():
            bar.close()
    if host is None:
        raise ModelError(f"{model_path}: TensorRT engine build failed (run with --debug for TensorRT's log)")
    log.info("%s: engine built in %.1f s", model_path, time.perf_counter() - t0)
    return bytes(host)


def _calibrator(
    trt: Any,
    builder: Any,
    config: Any,
    input_name: str,
    spec: ModelSpec,
    settings: BuildSettings,
    cal_file: Path,
) -> Any:
    from pipeline.infer.backends.calibration import calibration_batches, make_calibrator
    from pipeline.infer.backends.gpu_info import import_torch_cuda

    n = min(CALIBRATION_BATCH, settings.max_batch)
    h, w = spec.input_hw
    cal_profile = builder.create_optimization_profile()
    cal_profile.set_shape(input_name, (n, 3, h, w), (n, 3, h, w), (n, 3, h, w))
    config.set_calibration_profile(cal_profile)
    batches = calibration_batches(settings.calibration, spec, n) if settings.calibration else iter(())
    return make_calibrator(trt, import_torch_cuda(), batches, n, cal_file)


def _progress_monitor(trt: Any, bars: dict[str, Any]) -> Any:
    """A ``trt.IProgressMonitor`` drawing one tqdm bar per build phase (nested phases below)."""
    from tqdm import tqdm

    class _Monitor(trt.IProgressMonitor):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            bars[phase_name] = tqdm(
                total=num_steps, desc=f"building engine: {phase_name}", position=len(bars), leave=False
            )

        def step_complete(self, phase_name: str, step: int) -> bool:
            bar = bars.get(phase_name)
            if bar is not None:
                bar.update(step + 1 - bar.n)
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            bar = bars.pop(phase_name, None)
            if bar is not None:
                bar.close()

    return _Monitor()
