"""The device-resident GPU path (``model.gpu_preprocess``) through a real threaded pipeline.

No GPU exists on the CI machine, so the device is torch's ``cpu`` and a fake backend stands in
for a GPU backend: :class:`TorchColourBackend` computes the colour model (tests/helpers/media.py,
a 1×1 convolution, weights read from the ONNX file) with torch ops, ``infer_device`` on tensors
(device in, device out, like ``OrtBackend``/``TrtBackend.infer_device`` on CUDA) and ``infer`` on
numpy arrays through the same ops (for the numpy path it is compared with). It agrees with ONNX
Runtime on the real model file.

Host↔device crossings are counted where torch meets numpy: ``torch.from_numpy`` (an upload) and
``Tensor.numpy`` (a download; ``np.asarray(tensor)`` goes through it too). The device path must
make exactly one upload (the uint8 frame) and two downloads (class map, score map) per frame, so
the test fails if a download/upload between the stages is reintroduced.

The same run on CUDA with ONNX Runtime's CUDA EP is the ``gpu``-marked test at the end (not run
without a GPU).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from pipeline.config import evolve
from pipeline.frames import Frame, Inferred, Prepared, Result
from pipeline.infer.backends.onnxruntime import OrtBackend, read_model_io
from pipeline.infer.gpu_ops import DeviceMaps, GpuPreprocessor
from pipeline.infer.inference import InferenceStage
from pipeline.infer.preprocess import Preprocessor
from pipeline.postprocess.parts import logits_to_maps
from pipeline.postprocess.stage import Postprocessor
from pipeline.runtime.pipeline import Pipeline
from pipeline.sources.file import FileSource
from tests.helpers.media import GREEN, RED, WHITE, ListSink, run_to_end, scene, write_h264

torch = pytest.importorskip("torch")

FRAMES = 30


def draw(i: int) -> np.ndarray:
    """48×64 frames: no resize into the 64×64 model input (so both paths see identical pixels), 8 px
    of letterbox padding above and below."""
    return scene(48, 64, [(RED, (2 + i, 4, 18 + i, 20)), (GREEN, (40, 24, 60, 44)), (WHITE, (4, 30, 14, 44))])


class TorchColourBackend:
    """Stands in for a GPU backend (no GPU here): the colour model's 1×1 convolution in torch.

    ``infer_device``: (N, 3, 64, 64) float32 tensor → (N, 5, 64, 64) float32 tensor on the same device.
    ``infer``: the same on numpy arrays. Elementwise ops only, so results do not depend on the batch.
    """

    name, on_gpu, max_batch = "fake-gpu:colour", True, 64

    def __init__(self, model: Path, device: str = "cpu") -> None:
        self.spec = read_model_io(model)[0]
        init = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(model)).graph.initializer}
        w = torch.from_numpy(init["W"][:, :, 0, 0].copy()).to(device)  # (C, 3)
        self.w = [w[:, k].view(1, -1, 1, 1) for k in range(3)]
        self.b = torch.from_numpy(init["B"].copy()).to(device).view(1, -1, 1, 1)
        self.infer_calls = self.device_calls = 0

    def infer_device(self, batch: Any) -> Any:
        assert isinstance(batch, torch.Tensor) and batch.dtype == torch.float32, type(batch)
        self.device_calls += 1
        return batch[:, 0:1] * self.w[0] + batch[:, 1:2] * self.w[1] + batch[:, 2:3] * self.w[2] + self.b

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self.infer_calls += 1
        return self.infer_device(torch.from_numpy(np.ascontiguousarray(batch))).numpy()


class Transfers:
    """Counts host→device (``torch.from_numpy``) and device→host (``Tensor.numpy``) crossings."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.up = self.down = 0
        from_numpy, to_numpy = torch.from_numpy, torch.Tensor.numpy

        def counted_from_numpy(a: np.ndarray) -> Any:
            self.up += 1
            return from_numpy(a)

        def counted_numpy(t: Any, *args: Any, **kw: Any) -> np.ndarray:
            self.down += 1
            return to_numpy(t, *args, **kw)

        monkeypatch.setattr(torch, "from_numpy", counted_from_numpy)
        monkeypatch.setattr(torch.Tensor, "numpy", counted_numpy)


class Seen:
    """Wraps the preprocess and postprocess callables to record the types crossing the stages."""

    def __init__(self, pre: Any, post: Postprocessor) -> None:
        self.pre, self.post = pre, post
        self.prepared: set[type] = set()
        self.logits: set[type] = set()

    def preprocess(self, frame: Frame) -> Prepared:
        out: Prepared = self.pre(frame)
        self.prepared.add(type(out.tensor))
        return out

    def postprocess(self, item: Inferred) -> Result:
        self.logits.add(type(item.logits))
        return self.post(item)


def run(video: Path, backend: Any, pre: Any, maps: Any, max_batch: int) -> tuple[list[Result], Seen]:
    seen, sink = Seen(pre, Postprocessor(backend.spec, 1, maps=maps)), ListSink()
    p = Pipeline(
        FileSource(video, "v"),
        seen.preprocess,
        InferenceStage(backend),
        seen.postprocess,
        [sink],
        max_batch=max_batch,
    )
    run_to_end(p)
    return sink.results, seen


def parts(results: list[Result]) -> list[Any]:
    return [
        [(r.meta.seq, p.class_id, p.instance, p.box, p.area_px, p.centroid) for p in r.parts] for r in results
    ]


def assert_same_results(device: list[Result], host: list[Result]) -> None:
    assert [r.meta.seq for r in device] == [r.meta.seq for r in host] == list(range(FRAMES))
    assert parts(device) == parts(host)
    for d, h in zip(device, host, strict=True):
        np.testing.assert_array_equal(d.class_map, h.class_map)
        assert d.class_map.dtype == np.uint8
        np.testing.assert_array_equal(d.full_class_map(), h.full_class_map())
        np.testing.assert_allclose([p.score for p in d.parts], [p.score for p in h.parts], rtol=1e-6)


@pytest.fixture
def video(tmp_path: Path) -> Iterator[Path]:
    yield write_h264(tmp_path / "v.mp4", frames=FRAMES, fps=10, size=(64, 48), draw=draw)


def test_fake_backend_is_the_colour_model(video, colour_model_path):
    fake, real = TorchColourBackend(colour_model_path), OrtBackend(colour_model_path)
    assert fake.spec == real.spec
    x = np.random.default_rng(0).uniform(0, 1, (3, 3, 64, 64)).astype(np.float32)
    np.testing.assert_allclose(fake.infer(x), real.infer(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("max_batch", [1, 4])
def test_device_path_equals_numpy_path_without_host_copies(video, colour_model_path, monkeypatch, max_batch):
    backend = TorchColourBackend(colour_model_path)
    host, host_seen = run(video, backend, Preprocessor(backend.spec), logits_to_maps, max_batch)
    assert host_seen.prepared == host_seen.logits == {np.ndarray}
    assert backend.infer_calls > 0 and backend.device_calls == backend.infer_calls  # infer goes through torch

    backend.infer_calls = backend.device_calls = 0
    pre, maps = GpuPreprocessor(backend.spec, "cpu"), DeviceMaps("cpu")  # built before counting
    transfers = Transfers(monkeypatch)
    device, seen = run(video, backend, pre, maps, max_batch)
    monkeypatch.undo()

    assert seen.prepared == {torch.Tensor}, "preprocess downloaded its tensor"
    assert seen.logits == {torch.Tensor}, "inference downloaded the logits"
    assert backend.infer_calls == 0 and backend.device_calls > 0  # only infer_device
    assert transfers.up == FRAMES, f"{transfers.up} uploads for {FRAMES} frames (only the frame goes up)"
    assert transfers.down == 2 * FRAMES, f"{transfers.down} downloads for {FRAMES} frames (2 maps each)"
    assert_same_results(device, host)


def test_build_picks_the_device_path_only_for_a_gpu_backend(colour_model_path, caplog):
    """``segmentation_stages`` is where the data path is chosen: device for ``gpu_preprocess`` + a GPU backend."""
    from pipeline.config import Config
    from pipeline.session.build import segmentation_stages

    cfg = Config()
    gpu_cfg = evolve(cfg, model=evolve(cfg.model, gpu_preprocess=True))
    cpu_backend = OrtBackend(colour_model_path)
    for c in (cfg, gpu_cfg):
        pre, infer, post = segmentation_stages(c, cpu_backend)
        assert isinstance(pre, Preprocessor) and post.maps is logits_to_maps
        assert isinstance(infer, InferenceStage) and infer.backend is cpu_backend
    assert "model.gpu_preprocess: ignored" in caplog.text
    fake = TorchColourBackend(colour_model_path)  # on_gpu: picks the device path, on "cuda"
    if torch.cuda.is_available():
        pre, infer, post = segmentation_stages(gpu_cfg, fake)
        assert isinstance(pre, GpuPreprocessor) and isinstance(post.maps, DeviceMaps)
    else:
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            segmentation_stages(gpu_cfg, fake)
    pre, _, post = segmentation_stages(cfg, fake)  # option off: the numpy path, whatever the backend
    assert isinstance(pre, Preprocessor) and post.maps is logits_to_maps


@pytest.mark.gpu
def test_device_path_on_cuda_equals_numpy_path(video, colour_model_path):
    """On a GPU: ONNX Runtime's CUDA EP, device path vs numpy path (same backend), tensors on cuda."""
    from pipeline.infer.backends.ort_providers import OrtOptions

    assert torch.cuda.is_available(), "-m gpu: torch sees no CUDA GPU"
    backend = OrtBackend(
        colour_model_path, OrtOptions(providers="CUDAExecutionProvider,CPUExecutionProvider")
    )
    assert backend.on_gpu and backend.io_binding, backend.name
    host, _ = run(video, backend, Preprocessor(backend.spec), logits_to_maps, 4)
    device, seen = run(video, backend, GpuPreprocessor(backend.spec, "cuda"), DeviceMaps("cuda"), 4)
    assert seen.prepared == seen.logits == {torch.Tensor}
    assert_same_results(device, host)
