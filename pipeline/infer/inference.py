"""The inference stage: prepared frames → model logits, timed; one frame or a batch per call."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from pipeline.frames import Inferred, Prepared
from pipeline.infer.backends.base import Backend


class InferenceStage:
    """Runs the backend on one frame at a time (batch of 1)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def __call__(self, item: Prepared) -> Inferred:
        t0 = time.perf_counter()
        logits = self.backend.infer(item.tensor[None])[0]
        ms = (time.perf_counter() - t0) * 1000.0
        return Inferred(
            frame=item.frame,
            letterbox=item.letterbox,
            logits=logits,
            timings=replace(item.timings, inference_ms=ms),
        )


class BatchInferenceStage(InferenceStage):
    """Runs the backend on batches of frames (for :class:`pipeline.runtime.stage.BatchStage`).

    :meth:`batch` stacks the items' tensors (all (3, in_h, in_w) float32, the model's input) into one
    (N, 3, in_h, in_w) array, runs ``backend.infer`` once per ``backend.max_batch`` frames and splits
    the logits back into one :class:`Inferred` per item, in order. Each item's ``inference_ms`` is
    the batch's time divided by N (the amortised cost per frame, so per-frame sums stay equal to
    the stage's busy time; the wait of a frame for its batch is not included, it shows in
    capture→publish latency). Calling the stage with one item is a batch of 1.

    Attributes (written by the inference thread only; read for status lines and benchmarks):
        batches: backend calls so far.
        frames: frames inferred so far.
        recent_sizes: sizes of the last batches (bounded).
    """

    def __init__(self, backend: Backend) -> None:
        super().__init__(backend)
        self.batches = 0
        self.frames = 0
        self.recent_sizes: deque[int] = deque(maxlen=256)

    @property
    def batch_size(self) -> float:
        """Mean frames per backend call so far (0.0 before the first call)."""
        return self.frames / self.batches if self.batches else 0.0

    def __call__(self, item: Prepared) -> Inferred:
        return self.batch([item])[0]

    def batch(self, items: Sequence[Prepared]) -> list[Inferred]:
        """Infer ``items`` (non-empty) together; results in the same order."""
        out: list[Inferred] = []
        step = max(1, int(self.backend.max_batch))
        for start in range(0, len(items), step):
            chunk = items[start : start + step]
            t0 = time.perf_counter()
            logits = self.backend.infer(np.stack([it.tensor for it in chunk]))
            ms = (time.perf_counter() - t0) * 1000.0 / len(chunk)
            self.batches += 1
            self.frames += len(chunk)
            self.recent_sizes.append(len(chunk))
            for it, lg in zip(chunk, logits, strict=True):
                out.append(
                    Inferred(
                        frame=it.frame,
                        letterbox=it.letterbox,
                        logits=lg,
                        timings=replace(it.timings, inference_ms=ms),
                    )
                )
        return out
