"""The ``triton`` backend against a real Triton Inference Server (PyTriton's ``tritonserver``, serving the
shipped segmentation model through ONNX Runtime with dynamic batching on 127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import ModelError
from pipeline.infer.backends.onnxruntime import OrtBackend
from pipeline.infer.backends.triton import TritonBackend
from pipeline.infer.preprocess import Preprocessor
from pipeline.sources.file import FileSource
from tests.helpers.media import colour_model
from tests.helpers.procs import REPO, cli_command
from tests.helpers.triton import TritonServer

SEG = REPO / "models" / "infant-seg.onnx"
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from trainer.synth.video import write_video

    folder = tmp_path_factory.mktemp("triton")
    clip = folder / "clip.mp4"
    write_video(clip, frames=20, fps=10, width=320, height=240, seed=2)
    return {"clip": clip, "colour": colour_model(folder / "colour.onnx", input_hw=(64, 64)), "folder": folder}


@pytest.fixture(scope="module")
def server(media: dict[str, Path]) -> Iterator[TritonServer]:
    models = {"infant-seg": SEG, "colour": media["colour"]}
    with TritonServer(models, media["folder"] / "server") as s:
        yield s


def test_triton_logits_match_local_onnxruntime_on_a_clip(server, media):
    remote = TritonBackend(server.url, "infant-seg", SEG)
    local = OrtBackend(SEG)
    assert remote.spec == local.spec and remote.max_batch == 8
    pre = Preprocessor(local.spec)
    import threading

    frames = list(FileSource(media["clip"], "t").frames(threading.Event()))
    batch = np.stack([pre(f).tensor for f in frames[:8]])
    got, want = remote.infer(batch), local.infer(batch)
    assert got.shape == want.shape == (8, 5, 192, 192)
    assert (got.argmax(1) == want.argmax(1)).all()  # arg-max agreement: 100 % of pixels of every frame


def test_run_with_backend_triton_writes_the_same_records(server, media, tmp_path):
    def run(*extra: str) -> list[dict]:
        out = tmp_path / f"r{len(extra)}.jsonl"
        args = ["run", "--source", str(media["clip"]), "--no-display", "--no-progress", "--no-pose"]
        subprocess.run(
            [*cli_command(), *args, "--jsonl", str(out), *extra], cwd=REPO, check=True, timeout=120
        )
        return [json.loads(line) for line in out.read_text().splitlines()]

    remote = run("--backend", "triton", "--triton-url", server.url)
    local = run()
    assert len(remote) == len(local) == 20
    assert [r["classes"] for r in remote] == [r["classes"] for r in local]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--triton-url", "127.0.0.1:1"], "--triton-url 127.0.0.1:1: no Triton server answers"),
        (["--triton-url", "{url}", "--triton-model", "nope"], "--triton-model nope: not ready on"),
        (["--triton-url", "{url}", "--triton-model", "colour"], "(wrong input shape)"),
        ([], "give the server's address (--triton-url HOST:PORT)"),
    ],
)
def test_bad_triton_settings_are_one_line(server, media, args, says):
    args = [a.replace("{url}", server.url) for a in args]
    done = subprocess.run(
        [*cli_command(), "run", "--source", str(media["clip"]), "--no-display", "--backend", "triton", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (2, 4), done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in done.stderr, done.stderr


def test_a_server_without_our_metadata_needs_the_local_file(server):
    with pytest.raises(ModelError, match="no infant_stream metadata and there is no local model file"):
        TritonBackend(server.url, "infant-seg", None)
