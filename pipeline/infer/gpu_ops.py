"""Pre- and postprocessing maps in torch, on any device (``cuda`` on a GPU machine, ``cpu`` in tests).

GPU issue part 3: letterbox + normalisation and arg-max/softmax run where the model runs, so the CPU
does not cap throughput. With ``model.gpu_preprocess`` on a GPU backend the data stays on the device
between the stages (:func:`pipeline.session.build.data_path` wires it):

- preprocess (:class:`GpuPreprocessor`): the uint8 frame goes up once; :class:`Prepared` carries the
  normalised (3, in_h, in_w) float32 tensor on the device;
- inference (:class:`pipeline.infer.inference.InferenceStage`): :func:`stack` on the device,
  ``backend.infer_device``; :class:`Inferred` carries (C, out_h, out_w) float32 logits on the device;
- postprocess (:class:`DeviceMaps`): arg-max/softmax on the device; only the (h, w) uint8 class map
  and float32 score map come back to the host.

So one upload (frame) and two downloads (maps) per frame. Only tested on torch's ``cpu`` device so
far (no GPU was available): the CUDA run itself is unverified (docs/gpu.md).

Equivalence with the numpy path (:mod:`pipeline.infer.preprocess`, :func:`pipeline.parts.logits_to_maps`):

- Resize: ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)``
  samples at the same half-pixel centres as ``cv2.resize(..., INTER_LINEAR)`` (no antialiasing when
  shrinking, like OpenCV). OpenCV interpolates uint8 in 11-bit fixed point and rounds to uint8; here
  the result is computed in float32 and rounded to uint8 too, so most pixels are identical and the
  rest differ by one grey level: after normalisation at most ``1 / (255 * min(std))`` (0.0175 for
  ImageNet std). :data:`PREPROCESS_TOLERANCE` states that bound.
- Maps: same crop (:func:`pipeline.geometry.content_slice`), same arg-max (first maximum wins on ties,
  as numpy), same ``1 / sum(exp(logit - max))`` score: identical class maps for identical logits on
  CPU; scores equal to float32 rounding.

torch is imported when an object is built, not at import time; nothing in the numpy pipeline imports
this module.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.contract.geometry import Letterbox, compute_letterbox, content_slice
from pipeline.contract.model_meta import ModelSpec
from pipeline.frames import Frame, Prepared, Timings

if TYPE_CHECKING:
    import torch


def preprocess_tolerance(spec: ModelSpec) -> float:
    """Largest |difference| of a normalised value vs the numpy path: one uint8 grey level."""
    return 1.0 / (255.0 * min(spec.std)) + 1e-5


def _torch() -> Any:
    import torch  # heavy: only when a GPU op is built

    return torch


def resolve(device: str) -> torch.device:
    """``device`` as a torch device; ``cuda`` without a usable GPU is a clear RuntimeError."""
    torch = _torch()
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"gpu_ops: device {device!r} requested but torch sees no CUDA GPU")
    return dev


class GpuPreprocessor:
    """Letterbox + normalise on ``device``: uint8 RGB frames (host) → (N, 3, in_h, in_w) float32 tensor.

    Frames of one size are uploaded as one uint8 array and resized in one call. Calling it with a
    :class:`Frame` gives the :class:`Prepared` of :class:`pipeline.infer.preprocess.Preprocessor`
    (same letterbox, values within :func:`preprocess_tolerance`) but with the tensor left on the
    device, for ``backend.infer_device``.
    """

    def __init__(self, spec: ModelSpec, device: str = "cuda") -> None:
        torch = _torch()
        self.spec = spec
        self.device = resolve(device)
        std = np.asarray(spec.std, dtype=np.float32)
        scale = (1.0 / (255.0 * std)).astype(np.float32)
        offset = (np.asarray(spec.mean, dtype=np.float32) / std).astype(np.float32)
        self._scale = torch.from_numpy(scale).to(self.device).view(1, 3, 1, 1)
        self._offset = torch.from_numpy(offset).to(self.device).view(1, 3, 1, 1)
        self._boxes: dict[tuple[int, int], Letterbox] = {}

    def letterbox_for(self, height: int, width: int) -> Letterbox:
        """The (cached) letterbox of a frame size into the model input."""
        box = self._boxes.get((height, width))
        if box is None:
            box = self._boxes[(height, width)] = compute_letterbox(
                (height, width), self.spec.input_hw, self.spec.letterbox
            )
        return box

    def batch(self, images: Sequence[np.ndarray]) -> tuple[torch.Tensor, list[Letterbox]]:
        """Images (H, W, 3) uint8 RGB (sizes may differ) → ((N, 3, in_h, in_w) float32 on device, boxes)."""
        torch = _torch()
        fn = torch.nn.functional
        h_in, w_in = self.spec.input_hw
        boxes = [self.letterbox_for(*im.shape[:2]) for im in images]
        canvas = torch.full(
            (len(images), 3, h_in, w_in), float(self.spec.pad_value), dtype=torch.float32, device=self.device
        )
        groups: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            groups.setdefault(im.shape[:2], []).append(i)
        for idx in groups.values():
            host = np.stack([images[i] for i in idx]) if len(idx) > 1 else images[idx[0]][None]
            x = torch.from_numpy(np.ascontiguousarray(host)).to(self.device, non_blocking=True)
            x = x.permute(0, 3, 1, 2).float()  # (n, 3, H, W)
            b = boxes[idx[0]]
            if (b.new_h, b.new_w) != tuple(x.shape[2:]):
                x = fn.interpolate(
                    x, size=(b.new_h, b.new_w), mode="bilinear", align_corners=False, antialias=False
                )
                x = x.round_().clamp_(0.0, 255.0)  # cv2 returns uint8: round like it
            rows, cols = slice(b.pad_y, b.pad_y + b.new_h), slice(b.pad_x, b.pad_x + b.new_w)
            canvas[idx, :, rows, cols] = x
        return canvas.mul_(self._scale).sub_(self._offset), boxes

    def __call__(self, frame: Frame) -> Prepared:
        """One frame → :class:`Prepared` with a (3, in_h, in_w) float32 torch tensor on the device.

        ``preprocess_ms`` is host time: on a GPU the work may still be queued when it returns.
        """
        t0 = time.perf_counter()
        tensor, (box,) = self.batch([frame.image])
        ms = (time.perf_counter() - t0) * 1000.0
        return Prepared(frame=frame, letterbox=box, tensor=tensor[0], timings=Timings(preprocess_ms=ms))


def stack(tensors: Sequence[Any]) -> Any:
    """Torch tensors of one shape (here (3, in_h, in_w)) → one (N, ...) tensor on their device."""
    return _torch().stack(list(tensors))


def _as_tensor(logits: Any, device: torch.device | None) -> torch.Tensor:
    torch = _torch()
    t = torch.from_numpy(np.ascontiguousarray(logits)) if isinstance(logits, np.ndarray) else logits
    return t if device is None else t.to(device, non_blocking=True)


def device_maps(logits: Any, box: Letterbox, device: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(C, out_h, out_w) logits → (classes (h, w) uint8, scores (h, w) float32), as ``logits_to_maps``.

    Only the content region is reduced on the device; the small maps come back to the host.
    """
    x = _as_tensor(logits, resolve(device) if device else None)
    ys, xs = content_slice(box, (int(x.shape[1]), int(x.shape[2])))
    crop = x[:, ys, xs].float()
    top, classes = crop.max(dim=0)
    scores = 1.0 / (crop - top[None]).exp_().sum(dim=0)
    return classes.to(dtype=_torch().uint8).cpu().numpy(), scores.cpu().numpy().astype(np.float32, copy=False)


class DeviceMaps:
    """``(logits, box) → (classes, scores)`` on ``device``: a drop-in for ``logits_to_maps``.

    ``logits``: (C, out_h, out_w) float32, a torch tensor on ``device`` (the device path: nothing
    goes up) or a numpy array (uploaded first). Returns host (h, w) uint8 classes and (h, w)
    float32 scores of the content region.
    """

    def __init__(self, device: str = "cuda") -> None:
        self.device = str(resolve(device))

    def __call__(self, logits: Any, box: Letterbox) -> tuple[np.ndarray, np.ndarray]:
        return device_maps(logits, box, self.device)
