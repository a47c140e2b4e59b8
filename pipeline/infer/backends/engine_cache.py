"""TensorRT engine cache: which serialized engine belongs to which model, GPU and build settings.

A TensorRT engine only runs on the GPU model, TensorRT version and precision it was built for,
and only means something for the exact ONNX bytes it was built from. Every engine is stored
beside a JSON sidecar holding its :class:`EngineKey` and the SHA-256 of the engine bytes; an
engine is loaded only when the sidecar's key equals the key of the current run *and* the engine
bytes still hash to the recorded value. Anything else (another GPU, an upgraded TensorRT, a
retrained model, a truncated or foreign file) is stale and gets rebuilt, never loaded.

Pure Python (hashlib/json), no TensorRT import: the keys are tested on CPU-only machines.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from pipeline.config import Precision
from pipeline.files import write_whole

KEY_VERSION: Final = 1
"""Bumped when the meaning of a key field changes (old sidecars then never match)."""
_CHUNK: Final = 1 << 20


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine's validity depends on.

    Attributes:
        model_sha256: hex SHA-256 of the ONNX file's bytes.
        gpu_name: e.g. ``NVIDIA H100 80GB HBM3`` (engines are tuned per GPU model).
        compute_capability: ``(major, minor)``, e.g. ``(9, 0)``.
        trt_version: TensorRT version string, e.g. ``10.3.0``.
        precision: ``fp32``, ``fp16`` or ``int8``.
        input_hw: model input (height, width) in pixels.
        batch: the optimisation profile's (min, opt, max) batch sizes.
        calibration_sha256: hex SHA-256 of the INT8 calibration cache ("" unless int8).
    """

    model_sha256: str
    gpu_name: str
    compute_capability: tuple[int, int]
    trt_version: str
    precision: Precision
    input_hw: tuple[int, int]
    batch: tuple[int, int, int]
    calibration_sha256: str = ""

    def as_json(self) -> dict[str, Any]:
        """The key as JSON-ready values (tuples become lists)."""
        return {"key_version": KEY_VERSION, **asdict(self)}

    def file_stem(self, model_name: str) -> str:
        """A readable, filesystem-safe name unique to this key, e.g.
        ``infant-seg-3f2a9c1b7d4e-nvidia-h100-80gb-hbm3-sm90-trt10.3.0-fp16-b1-8-32``."""
        gpu = re.sub(r"[^a-z0-9]+", "-", self.gpu_name.lower()).strip("-")
        cc = f"sm{self.compute_capability[0]}{self.compute_capability[1]}"
        b = "-".join(str(n) for n in self.batch)
        stem = f"{model_name}-{self.model_sha256[:12]}-{gpu}-{cc}-trt{self.trt_version}-{self.precision}-b{b}"
        if self.calibration_sha256:
            stem += f"-cal{self.calibration_sha256[:8]}"
        return re.sub(r"[^A-Za-z0-9._-]+", "-", stem)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """Where one key's engine and sidecar live in a cache folder."""

    engine: Path
    sidecar: Path


def entry_for(cache_dir: Path, model_name: str, key: EngineKey) -> CacheEntry:
    """The engine and sidecar paths of ``key`` in ``cache_dir``."""
    stem = key.file_stem(model_name)
    return CacheEntry(engine=cache_dir / f"{stem}.engine", sidecar=cache_dir / f"{stem}.json")


def check_entry(entry: CacheEntry, key: EngineKey) -> str | None:
    """Why the cached engine of ``entry`` must not be loaded for ``key``; None when it is valid.

    Reasons name what differs ("missing", "no sidecar", "built for another GPU", "engine bytes
    changed", ...) so the rebuild can be logged in one line.
    """
    if not entry.engine.is_file():
        return "missing"
    try:
        meta = json.loads(entry.sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no sidecar (foreign engine)"
    except (OSError, ValueError):
        return "unreadable sidecar"
    if not isinstance(meta, dict) or not isinstance(meta.get("key"), dict):
        return "unreadable sidecar"
    want = key.as_json()
    got = meta["key"]
    for field in want:
        if _norm(got.get(field)) != _norm(want[field]):
            return f"built for another {field.replace('_', ' ')} ({got.get(field)!r}, now {want[field]!r})"
    if meta.get("engine_sha256") != sha256_file(entry.engine):
        return "engine bytes changed since it was built (truncated or replaced)"
    return None


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, tuple | list) else value


def store(entry: CacheEntry, key: EngineKey, engine_bytes: bytes) -> None:
    """Write an engine and its sidecar atomically (temp file + rename; the sidecar goes last, so a
    crash in between leaves an engine without sidecar, which :func:`check_entry` rejects)."""
    entry.engine.parent.mkdir(parents=True, exist_ok=True)
    write_whole(entry.engine, lambda f: f.write(engine_bytes))
    meta = {"key": key.as_json(), "engine_sha256": hashlib.sha256(engine_bytes).hexdigest()}
    write_whole(entry.sidecar, lambda f: f.write((json.dumps(meta, indent=1) + "\n").encode()))
