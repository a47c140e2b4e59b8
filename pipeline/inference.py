"""The inference stage: one prepared frame → model logits, timed."""

from __future__ import annotations

import time
from dataclasses import replace

from pipeline.backends.base import Backend
from pipeline.frames import Inferred, Prepared


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
