"""The ``triton`` backend against a real Triton Inference Server (PyTriton's ``tritonserver``, serving the
shipped segmentation model through ONNX Runtime with dynamic batching on 127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
import threading
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
    from pipeline.infer.uint8_input import uint8_model
    from trainer.synth.video import write_video

    folder = tmp_path_factory.mktemp("triton")
    clip = folder / "clip.mp4"
    write_video(clip, frames=20, fps=10, width=320, height=240, seed=2)
    u8 = folder / "infant-seg-u8.onnx"
    u8.write_bytes(uint8_model(SEG, OrtBackend(SEG).spec))
    colour = colour_model(folder / "colour.onnx", input_hw=(64, 64))
    return {"clip": clip, "colour": colour, "u8": u8, "folder": folder}


@pytest.fixture(scope="module")
def server(media: dict[str, Path]) -> Iterator[TritonServer]:
    models = {"infant-seg": SEG, "infant-seg-u8": media["u8"], "colour": media["colour"]}
    with TritonServer(models, media["folder"] / "server") as s:
        yield s


@pytest.mark.parametrize(
    ("model", "shm"), [("infant-seg", False), ("infant-seg", True), ("infant-seg-u8", True)]
)
def test_triton_logits_match_local_onnxruntime_on_a_clip(server, media, model, shm):
    local_file = media["u8"] if model.endswith("u8") else SEG
    remote = TritonBackend(server.url, model, local_file, shared_memory=shm)
    local = OrtBackend(SEG)
    assert remote.max_batch == 8 and remote.name.endswith("+shm") == shm
    assert remote.spec.input_dtype == ("uint8" if model.endswith("u8") else "float32")
    remote_pre, local_pre = Preprocessor(remote.spec), Preprocessor(local.spec)
    frames = list(FileSource(media["clip"], "t").frames(threading.Event()))
    for start in range(0, len(frames), 8):  # batches of 8, 8 and 4 through the same regions
        chunk = frames[start : start + 8]
        got = remote.infer(np.stack([remote_pre(f).tensor for f in chunk]))
        want = local.infer(np.stack([local_pre(f).tensor for f in chunk]))
        assert got.shape == want.shape == (len(chunk), 5, 192, 192)
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
    shm = run("--backend", "triton", "--triton-url", server.url, "--triton-shared-memory")
    u8 = run(
        *("--backend", "triton", "--triton-url", server.url, "--triton-model", "infant-seg-u8"),
        *("--model", str(media["u8"])),
    )
    local = run()
    assert len(remote) == len(shm) == len(u8) == len(local) == 20
    for records in (remote, shm, u8):
        assert [r["classes"] for r in records] == [r["classes"] for r in local]
        assert [[p["box"] for p in r["parts"]] for r in records] == [
            [p["box"] for p in r["parts"]] for r in local
        ]


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


def test_two_client_processes_share_batches_on_the_server(server, media, tmp_path):
    """Two ``run`` processes, each one frame per request with 4 requests in flight: the server's dynamic
    batcher (2 ms queue delay) executes batches that mix their requests (Triton's statistics API)."""
    from pipeline.infer.backends.triton import batch_difference, executed_batches, mean_batch

    before = executed_batches(server.url, "infant-seg")
    args = ["run", "--source", str(media["clip"]), "--no-display", "--no-progress", "--no-pose"]
    args += ["--backend", "triton", "--triton-url", server.url, "--max-batch", "1"]
    procs = [
        subprocess.Popen([*cli_command(), *args, "--jsonl", str(tmp_path / f"c{i}.jsonl")], cwd=REPO)
        for i in range(2)
    ]
    codes = [p.wait(120) for p in procs]
    done = batch_difference(executed_batches(server.url, "infant-seg"), before)
    frames = sum(b * n for b, n in done.items())
    print(f"executed batches (size: count): {done}, mean {mean_batch(done):.2f}")
    assert codes == [0, 0]
    assert frames == 40  # every frame of both clients, each inferred once
    assert max(done) > 1 and mean_batch(done) > 1.0, done
