"""Inference backends, chosen by name (``model.backend``) through :func:`create_backend`.

Backend modules are imported only when chosen; ``tensorrt`` and ``torch`` load only inside the
backend constructors, so this package imports on CPU-only machines without either.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from pipeline import REPO_ROOT
from pipeline.config import ModelConfig
from pipeline.errors import ConfigError
from pipeline.infer.backends.base import Backend

OnBuild = Callable[[str], None]
"""Called with the reason just before a TensorRT engine is built (to publish "building engine")."""


def engine_cache_dir(value: str) -> Path:
    """``model.engine_cache`` as a folder: "" = ``models/.engines`` under the repository."""
    return Path(value) if value else REPO_ROOT / "models" / ".engines"


def _onnxruntime(cfg: ModelConfig, path: Path, on_build: OnBuild | None) -> Backend:
    from pipeline.infer.backends.engine_cache import sha256_file
    from pipeline.infer.backends.onnxruntime import OrtBackend
    from pipeline.infer.backends.ort_providers import OrtOptions, find_calibration_table

    cache = engine_cache_dir(cfg.engine_cache)
    table = ""
    if cfg.precision == "int8" and path.is_file():
        from pipeline.infer.backends.onnxruntime import read_model_io

        spec, _, _ = read_model_io(path)
        table = find_calibration_table(cache, path.stem, sha256_file(path), spec.input_hw)
    options = OrtOptions(
        providers=cfg.providers,
        intra_op_threads=cfg.threads,
        spin=cfg.spin,
        precision=cfg.precision,
        engine_cache=cache,
        calibration_table=table,
        max_batch=cfg.max_batch,
    )
    return OrtBackend(path, options)


def _tensorrt(cfg: ModelConfig, path: Path, on_build: OnBuild | None) -> Backend:
    from pipeline.infer.backends.tensorrt import BuildSettings, TrtBackend

    settings = BuildSettings(
        precision=cfg.precision,
        max_batch=cfg.max_batch,
        cache_dir=engine_cache_dir(cfg.engine_cache),
        calibration=Path(cfg.calibration) if cfg.calibration else None,
    )
    return TrtBackend(path, settings, on_build=on_build)


def _triton(cfg: ModelConfig, path: Path, on_build: OnBuild | None) -> Backend:
    from pipeline.infer.backends.triton import TritonBackend

    if not cfg.triton_url:
        raise ConfigError("model.backend triton: give the server's address (--triton-url HOST:PORT)")
    model = cfg.triton_model or path.stem
    local = path if cfg.path else None
    return TritonBackend(cfg.triton_url, model, local, cfg.triton_timeout_s, cfg.triton_shared_memory)


FACTORIES: Final[dict[str, Callable[[ModelConfig, Path, OnBuild | None], Backend]]] = {
    "onnxruntime": _onnxruntime,
    "tensorrt": _tensorrt,
    "triton": _triton,
}


def create_backend(cfg: ModelConfig, path: Path, on_build: OnBuild | None = None) -> Backend:
    """Load the model at ``path`` (``cfg.path`` already resolved) with the backend ``cfg.backend``.

    Raises:
        ConfigError: unknown backend name.
        ModelError: the model cannot be loaded; for ``tensorrt`` also TensorRT/torch/GPU missing
            (one line naming the fix).
    """
    factory = FACTORIES.get(cfg.backend)
    if factory is None:
        raise ConfigError(f"model.backend: unknown backend {cfg.backend!r} (known: {', '.join(FACTORIES)})")
    return factory(cfg, path, on_build)


__all__ = ["Backend", "create_backend", "engine_cache_dir"]
