"""The inference backend interface: a batch of model inputs in, a batch of logits out."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from pipeline.contract.model_meta import ModelSpec


class Backend(Protocol):
    """A loaded segmentation model.

    Attributes:
        spec: what the model expects (input size, normalisation, classes).
        name: backend name and device, for status lines (e.g. ``onnxruntime:CPUExecutionProvider``).
        max_batch: largest batch ``infer`` accepts.
        on_gpu: inference runs on an NVIDIA GPU (GPU pre/post-processing can be used with it).
        remote: inference runs on a server (Triton): several calls are kept in flight, and a call
            may raise :class:`~pipeline.errors.ServiceUnavailable` while the server is down.
    """

    spec: ModelSpec
    name: str
    max_batch: int
    on_gpu: bool
    remote: bool

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, in_h, in_w) model input → logits (N, num_classes, out_h, out_w) float32 (host arrays).

        The input is float32 normalised, or uint8 pixels when ``spec.input_dtype`` is ``uint8`` (the
        model normalises inside its graph).
        """
        ...

    def infer_device(self, batch: Any) -> Any:
        """The same on the device, no host copy: a torch float32 (N, 3, in_h, in_w) tensor on the
        backend's GPU → a new torch float32 (N, num_classes, out_h, out_w) tensor there.

        Only when :attr:`on_gpu` (the ``model.gpu_preprocess`` path); a CPU backend raises
        :class:`~pipeline.errors.ModelError`.
        """
        ...
