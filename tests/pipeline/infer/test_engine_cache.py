"""TensorRT engine cache keys (pure Python: runs on CPU-only machines, no TensorRT needed)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pipeline.infer.backends.engine_cache import EngineKey, check_entry, entry_for, sha256_file, store

KEY = EngineKey(
    model_sha256="ab" * 32,
    gpu_name="NVIDIA H100 80GB HBM3",
    compute_capability=(9, 0),
    trt_version="10.3.0",
    precision="fp16",
    input_hw=(256, 256),
    batch=(1, 8, 32),
)


def test_file_stem_is_readable_and_safe():
    stem = KEY.file_stem("infant-seg")
    assert stem == "infant-seg-abababababab-nvidia-h100-80gb-hbm3-sm90-trt10.3.0-fp16-b1-8-32"
    assert "/" not in replace(KEY, gpu_name="A/B  C").file_stem("m")


def test_stored_engine_is_valid_for_its_key(tmp_path):
    entry = entry_for(tmp_path, "m", KEY)
    store(entry, KEY, b"engine-bytes")
    assert entry.engine.read_bytes() == b"engine-bytes"
    assert check_entry(entry, KEY) is None
    assert not list(tmp_path.glob(".*"))  # no temp files left


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"gpu_name": "NVIDIA H200"}, "another gpu name"),
        ({"compute_capability": (8, 6)}, "another compute capability"),
        ({"trt_version": "10.4.0"}, "another trt version"),
        ({"precision": "fp32"}, "another precision"),
        ({"model_sha256": "cd" * 32}, "another model sha256"),
        ({"batch": (1, 1, 1)}, "another batch"),
        ({"input_hw": (512, 512)}, "another input hw"),
    ],
)
def test_an_engine_built_for_another_key_is_stale(tmp_path, change, reason):
    entry = entry_for(tmp_path, "m", KEY)
    store(entry, KEY, b"engine")
    other = replace(KEY, **change)
    # same file names on purpose: a renamed/copied engine must still be caught by its sidecar
    assert reason in (check_entry(entry, other) or "")


def test_missing_foreign_and_tampered_engines_are_rejected(tmp_path):
    entry = entry_for(tmp_path, "m", KEY)
    assert check_entry(entry, KEY) == "missing"
    entry.engine.write_bytes(b"someone else's engine")
    assert check_entry(entry, KEY) == "no sidecar (foreign engine)"
    store(entry, KEY, b"engine")
    entry.engine.write_bytes(b"engi")  # truncated
    assert "engine bytes changed" in (check_entry(entry, KEY) or "")
    entry.sidecar.write_text("{not json")
    assert check_entry(entry, KEY) == "unreadable sidecar"


def test_sidecar_records_key_and_hash(tmp_path):
    entry = entry_for(tmp_path, "m", KEY)
    store(entry, KEY, b"x")
    meta = json.loads(entry.sidecar.read_text())
    assert meta["key"]["compute_capability"] == [9, 0]
    assert meta["engine_sha256"] == sha256_file(entry.engine)
