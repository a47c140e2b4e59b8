"""``infant-stream build-engine`` as a subprocess on a machine without TensorRT or without a GPU:
one-line errors, exit 4, nothing written. A shim package on PYTHONPATH hides (or fakes) TensorRT so
the test means the same on GPU machines; CUDA_VISIBLE_DEVICES="" hides the GPU."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def run_cli(
    cmd: list[str], shim: Path, *args: str, hide_gpu: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])}
    if hide_gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return subprocess.run([*cmd, "build-engine", *args], capture_output=True, text=True, env=env, timeout=120)


def shim_package(folder: Path, body: str) -> Path:
    (folder / "tensorrt").mkdir(parents=True)
    (folder / "tensorrt" / "__init__.py").write_text(body)
    return folder


@pytest.mark.parametrize(
    ("body", "hide_gpu", "message"),
    [
        (
            'raise ImportError("no tensorrt here")\n',
            False,
            "TensorRT is not installed (pip install '.[tensorrt]')",
        ),
        ('__version__ = "10.3.0"\n', True, "no NVIDIA GPU found"),
        (
            '__version__ = "8.6.1"\n',
            False,
            "TensorRT 8.6.1 is too old: need >= 10 (pip install '.[tensorrt]')",
        ),
    ],
    ids=["no-tensorrt", "no-gpu", "old-tensorrt"],
)
def test_build_engine_fails_in_one_line(tmp_path, infant_stream, colour_model_path, body, hide_gpu, message):
    shim = shim_package(tmp_path / "shim", body)
    cache = tmp_path / "engines"
    out = run_cli(
        infant_stream,
        shim,
        "--model",
        str(colour_model_path),
        "--engine-cache",
        str(cache),
        hide_gpu=hide_gpu,
    )
    assert out.returncode == 4, out.stderr
    assert out.stderr == f"infant-stream: error: {message}\n"
    assert out.stdout == ""
    assert not cache.exists()


def test_build_engine_bad_max_batch_is_a_config_error(tmp_path, infant_stream, colour_model_path):
    shim = shim_package(tmp_path / "shim", 'raise ImportError("no tensorrt here")\n')
    out = run_cli(infant_stream, shim, "--model", str(colour_model_path), "--max-batch", "0")
    assert out.returncode == 2 and out.stderr == "infant-stream: error: --max-batch: must be 1..256, got 0\n"


def test_build_engine_is_listed_in_usage(infant_stream):
    out = subprocess.run([*infant_stream, "--help"], capture_output=True, text=True, timeout=60)
    assert "build-engine" in out.stdout
