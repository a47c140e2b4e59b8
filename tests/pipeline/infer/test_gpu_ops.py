"""pipeline.infer.gpu_ops (torch pre/post maps) against the numpy path, on device cpu; ``-m gpu`` runs cuda.

Preprocessing tolerance: one uint8 grey level after normalisation, 1 / (255 · min std) — OpenCV resizes
uint8 in 11-bit fixed point, torch in float32; both round to uint8, so a pixel may land one level apart.
"""

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.contract.geometry import compute_letterbox
from pipeline.contract.model_meta import ModelSpec
from pipeline.frames import Frame
from pipeline.infer.gpu_ops import (
    DeviceMaps,
    GpuPreprocessor,
    device_maps,
    preprocess_tolerance,
)
from pipeline.infer.preprocess import Preprocessor
from pipeline.postprocess.parts import logits_to_maps
from pipeline.sources.base import FrameStamper

REPO = Path(__file__).resolve().parents[3]
SPEC = ModelSpec(input_hw=(256, 256))
SIZES = [(480, 640), (720, 1280), (100, 50), (256, 256), (37, 300), (96, 128), (600, 200)]


def frame(hw: tuple[int, int], seed: int, smooth: bool) -> Frame:
    img = np.random.default_rng(seed).integers(0, 256, (*hw, 3), dtype=np.uint8)
    if smooth:
        img = cv2.GaussianBlur(img, (0, 0), 3)
    return FrameStamper("t").stamp(img, None)


def check_preprocess(device: str, spec: ModelSpec = SPEC) -> None:
    ref, gpu = Preprocessor(spec), GpuPreprocessor(spec, device)
    tol = preprocess_tolerance(spec)
    for i, hw in enumerate(SIZES):
        for smooth in (False, True):
            f = frame(hw, i, smooth)
            a, b = ref(f), gpu(f)
            assert a.letterbox == b.letterbox
            assert b.tensor.device.type == gpu.device.type  # stays on the device
            host = b.tensor.cpu().numpy()
            assert host.dtype == np.float32 and host.shape == a.tensor.shape
            diff = np.abs(a.tensor - host)
            assert diff.max() <= tol, (hw, smooth, diff.max())
            assert (diff > 1e-5).mean() < 0.25  # most values identical (measured 1-10 %)


def test_preprocess_matches_numpy_cpu():
    check_preprocess("cpu")
    check_preprocess(
        "cpu",
        ModelSpec(
            input_hw=(64, 96), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), pad_value=114, letterbox="topleft"
        ),
    )


def test_preprocess_batch_mixed_sizes_cpu():
    gpu = GpuPreprocessor(SPEC, "cpu")
    frames = [frame(hw, i, True) for i, hw in enumerate([(480, 640), (96, 128), (480, 640)])]
    tensor, boxes = gpu.batch([f.image for f in frames])
    assert tuple(tensor.shape) == (3, 3, 256, 256) and str(tensor.dtype) == "torch.float32"
    for f, t, box in zip(frames, tensor, boxes, strict=True):
        np.testing.assert_array_equal(t.numpy(), gpu(f).tensor.numpy())
        assert box == compute_letterbox(f.image.shape[:2], SPEC.input_hw, SPEC.letterbox)


def random_logits(seed: int, shape=(5, 64, 64)) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 3, shape).astype(np.float32)


def check_maps(device: str) -> None:
    for seed, hw in enumerate(SIZES):
        box = compute_letterbox(hw, (256, 256), "center")
        for out_hw in ((256, 256), (64, 64), (32, 32)):
            logits = random_logits(seed, (5, *out_hw))
            logits[:, :4, :4] = 1.0  # ties: first maximum wins in both
            ref_c, ref_s = logits_to_maps(logits, box)
            got_c, got_s = device_maps(logits, box, device)
            assert got_c.dtype == np.uint8 and got_s.dtype == np.float32
            np.testing.assert_array_equal(got_c, ref_c)
            np.testing.assert_allclose(got_s, ref_s, rtol=1e-5, atol=1e-6)


def test_maps_equal_numpy_cpu():
    check_maps("cpu")
    maps = DeviceMaps("cpu")
    box = compute_letterbox((96, 128), (64, 64), "center")
    logits = random_logits(9)
    np.testing.assert_array_equal(maps(logits, box)[0], logits_to_maps(logits, box)[0])


def test_real_model_argmax_agreement_cpu():
    """Real logits from the shipped model on a real-looking frame, gpu_ops preprocessing vs numpy:
    arg-max agreement >= 99.5 % (input differs by <= 1 grey level), class maps identical for the
    same logits."""
    from pipeline.infer.backends.onnxruntime import OrtBackend, OrtOptions

    model = REPO / "models" / "infant-seg.onnx"  # shipped in the repository
    backend = OrtBackend(model, OrtOptions(providers="CPUExecutionProvider", warmup_runs=0))
    from trainer.synth.video import video_frames

    # a synthetic infant (what the model was trained on), so the arg-max is mostly confident
    _, rendered = next(video_frames(frames=1, fps=25, width=640, height=480, seed=5))
    f = FrameStamper("t").stamp(rendered.image, None)
    a, b = Preprocessor(backend.spec)(f), GpuPreprocessor(backend.spec, "cpu")(f)
    la, lb = backend.infer(np.stack([a.tensor, b.tensor.numpy()]))
    ca, _ = logits_to_maps(la, a.letterbox)
    cb, _ = device_maps(lb, b.letterbox, "cpu")
    agreement = float((ca == cb).mean())
    assert agreement >= 0.995, agreement
    np.testing.assert_array_equal(device_maps(la, a.letterbox, "cpu")[0], ca)


def test_cuda_device_is_used_or_refused_clearly():
    """Without a CUDA GPU (CI): a clear error, not a crash later; with one: it works."""
    import torch

    if torch.cuda.is_available():
        assert GpuPreprocessor(SPEC, "cuda").device.type == "cuda"
    else:
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            GpuPreprocessor(SPEC, "cuda")


@pytest.mark.gpu
def test_preprocess_matches_numpy_cuda():
    import torch

    assert torch.cuda.is_available(), "-m gpu: torch sees no CUDA GPU"
    check_preprocess("cuda")


@pytest.mark.gpu
def test_maps_equal_numpy_cuda():
    import torch

    assert torch.cuda.is_available(), "-m gpu: torch sees no CUDA GPU"
    check_maps("cuda")
    logits = torch.from_numpy(random_logits(3)).cuda()  # device-resident logits stay on the device
    box = compute_letterbox((96, 128), (64, 64), "center")
    np.testing.assert_array_equal(device_maps(logits, box)[0], logits_to_maps(logits.cpu().numpy(), box)[0])
