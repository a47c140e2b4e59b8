"""INT8 calibration: frames of a folder or video, preprocessed exactly as the pipeline does.

:func:`calibration_batches` is pure CPU (the sources and :class:`~pipeline.infer.preprocess.Preprocessor`),
so what calibration sees is tested without a GPU. :func:`make_calibrator` wraps it in a TensorRT
``IInt8EntropyCalibrator2`` whose device buffer is a torch CUDA tensor (GPU only).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.contract.model_meta import ModelSpec
from pipeline.errors import ModelError
from pipeline.frames import Frame
from pipeline.infer.preprocess import Preprocessor
from pipeline.sources.base import Source
from pipeline.sources.file import FileSource
from pipeline.sources.images import ImageSource
from pipeline.sources.urls import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)


def calibration_source(path: Path) -> Source:
    """An image folder, one image, or a video file (anything FFmpeg decodes)."""
    if path.is_dir() or path.suffix.lower() in IMAGE_EXTENSIONS:
        images = ImageSource(path, "calibration")
        images.files()  # one-line SourceError naming the path when there is nothing to read
        return images
    video = FileSource(path, "calibration")
    video.check()
    return video


def calibration_batches(
    path: Path, spec: ModelSpec, batch: int, max_frames: int = 256, stride: int = 1
) -> Iterator[np.ndarray]:
    """Preprocessed batches of frames of ``path``.

    Args:
        path: image folder, image file or video file.
        spec: the model's input spec (size, letterbox, normalisation).
        batch: frames per batch; a final partial batch is padded by repeating its last frame
            (TensorRT's calibration profile has a fixed batch).
        max_frames: stop after this many frames (before padding).
        stride: use every ``stride``-th frame (videos: neighbouring frames are near-duplicates).
    Yields:
        (batch, 3, in_h, in_w) float32 C-contiguous arrays, normalised as the pipeline's input.
    Raises:
        SourceError: the path cannot be read.
        ModelError: it holds no frame at all.
    """
    pre = Preprocessor(spec)
    stop = threading.Event()
    pending: list[np.ndarray] = []
    used = 0
    frames: Generator[Frame, None, None] = calibration_source(path).frames(stop)  # type: ignore[assignment]
    try:
        for i, frame in enumerate(frames):
            if i % stride:
                continue
            pending.append(pre(frame).tensor)
            used += 1
            if len(pending) == batch:
                yield np.stack(pending)
                pending = []
            if used >= max_frames:
                break
    finally:
        stop.set()
        frames.close()
    if used == 0:
        raise ModelError(f"{path}: no calibration frames")
    if pending:
        pending += [pending[-1]] * (batch - len(pending))
        yield np.stack(pending)
    log.info("%s: %d calibration frames", path, used)


def make_calibrator(trt: Any, torch: Any, batches: Iterator[np.ndarray], batch: int, cache_file: Path) -> Any:
    """A ``trt.IInt8EntropyCalibrator2`` fed from ``batches`` (GPU only; needs TensorRT and torch CUDA).

    The calibration cache is read from / written to ``cache_file`` (TensorRT's native format, also
    what ONNX Runtime's TensorRT EP reads with ``trt_int8_use_native_calibration_table``).
    """

    class _Calibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.device: Any = None

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            host = next(batches, None)
            if host is None:
                return None
            if self.device is None:
                self.device = torch.empty(host.shape, dtype=torch.float32, device="cuda")
            self.device.copy_(torch.from_numpy(host))
            torch.cuda.synchronize()
            return [int(self.device.data_ptr())]

        def read_calibration_cache(self) -> bytes | None:
            return cache_file.read_bytes() if cache_file.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_bytes(bytes(cache))

    return _Calibrator()
