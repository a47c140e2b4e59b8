"""``infant-stream export-triton``: a Triton model repository of the shipped models, each config parsed as
Triton's own ``ModelConfig`` protobuf (tritonclient's schema) and its metadata read back as the backend does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from pipeline.infer.backends.onnxruntime import read_model_io
from pipeline.infer.backends.triton import spec_from_parameters
from tests.helpers.procs import REPO, cli_command

SEG = REPO / "models" / "infant-seg.onnx"
POSE = REPO / "models" / "infant-pose.onnx"


def export(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_command(), "export-triton", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def parsed(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_the_repository_holds_both_models_with_their_metadata(tmp_path):
    out = tmp_path / "model_repository"
    done = export("--out", str(out), "--max-batch", "16", "--queue-delay-us", "500", "--kind", "cpu")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["infant-pose", "infant-seg"]
    seg = parsed(out / "infant-seg" / "config.pbtxt")
    assert (seg.name, seg.platform, seg.max_batch_size) == ("infant-seg", "onnxruntime_onnx", 16)
    assert list(seg.input[0].dims) == [3, 192, 192] and seg.input[0].data_type == model_config_pb2.TYPE_FP32
    assert list(seg.output[0].dims) == [5, 192, 192] and seg.output[0].name == "out"
    assert list(seg.dynamic_batching.preferred_batch_size) == [4, 8]
    assert seg.dynamic_batching.max_queue_delay_microseconds == 500
    assert seg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    params = json_format.MessageToDict(seg)["parameters"]
    params = {k: {"string_value": v["stringValue"]} for k, v in params.items()}
    assert spec_from_parameters(params, "seg") == read_model_io(SEG)[0]  # what the backend reads back
    pose = parsed(out / "infant-pose" / "config.pbtxt")
    assert list(pose.output[0].dims) == [22, 48, 48] and "infant_stream.keypoints" in pose.parameters
    assert (out / "infant-seg" / "1" / "model.onnx").read_bytes() == SEG.read_bytes()
    assert (out / "infant-pose" / "1" / "model.onnx").read_bytes() == POSE.read_bytes()


def test_no_pose_and_gpu_by_default(tmp_path):
    out = tmp_path / "repo"
    assert export("--out", str(out), "--no-pose").returncode == 0
    assert [p.name for p in out.iterdir()] == ["infant-seg"]
    config = parsed(out / "infant-seg" / "config.pbtxt")
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert not config.optimization.execution_accelerators.gpu_execution_accelerator


def test_tensorrt_accelerator_for_gpu_servers(tmp_path):
    out = tmp_path / "repo"
    assert export("--out", str(out), "--no-pose", "--tensorrt", "fp16").returncode == 0
    (trt,) = parsed(
        out / "infant-seg" / "config.pbtxt"
    ).optimization.execution_accelerators.gpu_execution_accelerator
    assert trt.name == "tensorrt" and trt.parameters["precision_mode"] == "FP16"
    cpu = export("--out", str(tmp_path / "cpu"), "--tensorrt", "fp16", "--kind", "cpu")
    assert cpu.returncode == 2 and "--tensorrt: needs --kind gpu" in cpu.stderr


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--model", "/nonexistent.onnx"], 4, "/nonexistent.onnx: model file not found"),
        (["--max-batch", "0"], 2, "--max-batch: must be 1..1024"),
        (["--pose-model", "x.onnx", "--no-pose"], 2, "--pose-model and --no-pose"),
    ],
)
def test_bad_exports_are_one_line_and_write_nothing(tmp_path, args, code, says):
    out = tmp_path / "repo"
    done = export("--out", str(out), *args)
    assert done.returncode == code and says in done.stderr and len(done.stderr.splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []  # no half-written repository, no staging


def test_an_existing_repository_needs_force(tmp_path):
    out = tmp_path / "repo"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    done = export("--out", str(out), "--no-pose")
    assert done.returncode == 2 and "exists and is not empty (--force replaces it)" in done.stderr
    assert (out / "keep.txt").read_text() == "mine"
    assert export("--out", str(out), "--no-pose", "--force").returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["infant-seg"]


def test_uint8_input_normalises_in_the_graph_exactly_as_the_pipeline_does(tmp_path):
    import numpy as np

    from pipeline.infer.backends.onnxruntime import OrtBackend
    from pipeline.infer.preprocess import normalize

    out = tmp_path / "repo"
    done = export("--out", str(out), "--no-pose", "--uint8-input", "--kind", "cpu")
    assert done.returncode == 0, done.stderr
    seg = parsed(out / "infant-seg" / "config.pbtxt")
    assert seg.input[0].data_type == model_config_pb2.TYPE_UINT8 and list(seg.input[0].dims) == [3, 192, 192]
    assert seg.parameters["infant_stream.input_dtype"].string_value == "uint8"
    u8, f32 = OrtBackend(out / "infant-seg" / "1" / "model.onnx"), OrtBackend(SEG)
    assert u8.spec.input_dtype == "uint8" and u8.spec.input_hw == f32.spec.input_hw
    pixels = np.random.default_rng(0).integers(0, 256, (2, 192, 192, 3), dtype=np.uint8)
    want = f32.infer(np.stack([normalize(p, f32.spec.mean, f32.spec.std) for p in pixels]))
    got = u8.infer(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))
    assert np.abs(got - want).max() < 1e-4 and (got.argmax(1) == want.argmax(1)).all()
    again = export(
        "--out",
        str(tmp_path / "again"),
        "--no-pose",
        "--uint8-input",
        "--model",
        str(out / "infant-seg" / "1" / "model.onnx"),
    )
    assert again.returncode == 4 and "already takes uint8 pixels" in again.stderr, again.stderr
