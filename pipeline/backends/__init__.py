"""Inference backends, chosen by name through :func:`create_backend`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from pipeline.backends.base import Backend
from pipeline.errors import ConfigError


def _onnxruntime(path: Path, providers: str, threads: int, spin: bool) -> Backend:
    from pipeline.backends.onnxruntime import OrtBackend, OrtOptions

    return OrtBackend(path, OrtOptions(providers=providers, intra_op_threads=threads, spin=spin))


FACTORIES: Final[dict[str, Callable[[Path, str, int, bool], Backend]]] = {"onnxruntime": _onnxruntime}


def create_backend(
    name: str, path: Path, providers: str = "auto", threads: int = 0, spin: bool = False
) -> Backend:
    """Load ``path`` with the backend called ``name`` (``onnxruntime``)."""
    factory = FACTORIES.get(name)
    if factory is None:
        raise ConfigError(f"model.backend: unknown backend {name!r} (known: {', '.join(FACTORIES)})")
    return factory(path, providers, threads, spin)


__all__ = ["Backend", "create_backend"]
