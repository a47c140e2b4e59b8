"""Frame → model input, exactly as training does (letterbox, then normalise).

The trainer's evaluation and the pipeline call the same :func:`normalize` and
:func:`pipeline.geometry.letterbox_image`, so a model sees identical pixels in both.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from pipeline.contract.geometry import Letterbox, compute_letterbox, letterbox_image
from pipeline.contract.model_meta import ModelSpec
from pipeline.frames import Frame, Prepared, Timings


def normalize(canvas: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """RGB uint8 (H, W, 3) → float32 (3, H, W) as ``(pixel / 255 - mean) / std`` per channel."""
    scale = (1.0 / (255.0 * np.asarray(std, dtype=np.float32))).astype(np.float32)
    offset = (np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)).astype(np.float32)
    out = canvas.astype(np.float32)
    out *= scale
    out -= offset
    return np.ascontiguousarray(out.transpose(2, 0, 1))


class Preprocessor:
    """Letterboxes and normalises frames for one model (stateless apart from a geometry cache)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._boxes: dict[tuple[int, int], Letterbox] = {}

    def letterbox_for(self, height: int, width: int) -> Letterbox:
        """The (cached) letterbox of a frame size into the model input."""
        key = (height, width)
        box = self._boxes.get(key)
        if box is None:
            box = compute_letterbox(key, self.spec.input_hw, self.spec.letterbox)
            self._boxes[key] = box
        return box

    def __call__(self, frame: Frame) -> Prepared:
        """The model input of one frame: (3, in_h, in_w) float32 normalised, or the letterboxed
        uint8 pixels (3, in_h, in_w) when the model normalises itself (``spec.input_dtype``)."""
        t0 = time.perf_counter()
        h, w = frame.image.shape[:2]
        box = self.letterbox_for(h, w)
        canvas = letterbox_image(frame.image, box, self.spec.pad_value)
        if self.spec.input_dtype == "uint8":
            tensor = np.ascontiguousarray(canvas.transpose(2, 0, 1))
        else:
            tensor = normalize(canvas, self.spec.mean, self.spec.std)
        ms = (time.perf_counter() - t0) * 1000.0
        return Prepared(frame=frame, letterbox=box, tensor=tensor, timings=Timings(preprocess_ms=ms))
