"""The inference stage: batches of prepared frames → model logits, timed.

Host or device: the items' tensors are either numpy arrays (the numpy path) or torch tensors on
the model's device (``model.gpu_preprocess``, :mod:`pipeline.infer.gpu_ops`). Numpy items go
through ``backend.infer`` (host in, host out); device items through ``backend.infer_device``
(device in, device out: no copy to or from the host here). torch is imported only for device items.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from pipeline.frames import Inferred, Prepared
from pipeline.infer.backends.base import Backend


class InferenceStage:
    """Runs the backend on batches of frames (:class:`pipeline.runtime.pipeline.BatchInfer`).

    :meth:`batch` stacks the items' tensors (each (3, in_h, in_w) float32, the model's input) into
    (N, 3, in_h, in_w), runs the backend once per ``backend.max_batch`` frames and splits the
    logits ((N, C, out_h, out_w) float32) back into one :class:`Inferred` per item, in order; each
    item's logits are (C, out_h, out_w), on the host or the device like its input. Each item's
    ``inference_ms`` is the backend call's time divided by its frame count (the amortised cost per
    frame, so per-frame sums stay equal to the stage's busy time; the wait of a frame for its batch
    is not included, it shows in capture→publish latency). On the device path it is host time: GPU
    work the backend leaves queued shows in the next stage that waits for it (postprocess).

    Batch statistics are the inference thread's (``Pipeline.inference.stats``).
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def __call__(self, item: Prepared) -> Inferred:
        """One frame: a batch of 1."""
        return self.batch([item])[0]

    def batch(self, items: Sequence[Prepared]) -> list[Inferred]:
        """Infer ``items`` (non-empty; all host or all device tensors) together; results in order."""
        out: list[Inferred] = []
        step = max(1, int(self.backend.max_batch))
        for start in range(0, len(items), step):
            chunk = items[start : start + step]
            t0 = time.perf_counter()
            logits = self._run([it.tensor for it in chunk])
            ms = (time.perf_counter() - t0) * 1000.0 / len(chunk)
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

    def _run(self, tensors: list[Any]) -> Any:
        """(3, in_h, in_w) tensors → (N, C, out_h, out_w) logits where the tensors are."""
        if isinstance(tensors[0], np.ndarray):
            return self.backend.infer(np.stack(tensors))
        from pipeline.infer.gpu_ops import stack

        return self.backend.infer_device(stack(tensors))
