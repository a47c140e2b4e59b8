"""The pose stage: the infant's crop → keypoint model → joints in frame pixels.

Two-stage (with a segmentation model), :class:`PoseStage`, on its own thread between inference and
postprocess (``pose``, a :class:`~pipeline.runtime.stage.BatchStage` fed by the inference thread's
per-source lanes). For each frame it computes the class and score maps once (postprocessing reuses
them: :attr:`pipeline.frames.Inferred.maps`), takes the box of every foreground pixel (classes 1..4:
**one subject per camera**, an infant in a cot; two people in view would share one box), pads it to
the pose model's aspect (:func:`~pipeline.contract.crop.pose_box` with the spec's ``crop_padding``),
crops it from the frame (:func:`~pipeline.contract.crop.crop_image`, outside the frame 0),
normalises it with the spec's mean/std, runs the model once on the crops of every frame of the batch
(several sources batch together), decodes, and maps the points back to frame pixels
(:func:`~pipeline.contract.crop.to_frame`). A frame without foreground gets no pose (None).

Without segmentation, :class:`PoseOnly` is the inference stage: the frame is letterboxed into the pose
model's input (centred, padding 0: :meth:`PoseOnly.preprocessor`), the model runs on it, and the crop
box is the letterboxed canvas in frame pixels (:func:`letterbox_box`; it extends past the frame where
the canvas is padding).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Final

import numpy as np

from pipeline.contract.crop import Box, crop_image, pose_box, to_frame
from pipeline.contract.geometry import CellGrids, Letterbox, foreground_box
from pipeline.contract.model_meta import ModelSpec
from pipeline.frames import Inferred, PoseEstimate, Prepared
from pipeline.infer.preprocess import Preprocessor, normalize
from pipeline.pose.model import PoseModel
from pipeline.postprocess.parts import logits_to_maps

Maps = Callable[[Any, Letterbox], tuple[np.ndarray, np.ndarray]]
"""Logits (C, out_h, out_w) + letterbox → host (class map (h, w) uint8, score map (h, w) float32)."""


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


NO_SEGMENTATION: Final = (_frozen(np.zeros((1, 1), np.uint8)), _frozen(np.zeros((1, 1), np.float32)))
"""The maps of a frame without a segmentation model: one background cell over the whole frame."""


def letterbox_box(box: Letterbox) -> Box:
    """The frame-pixel box whose crop (:func:`~pipeline.contract.crop.crop_image`) at the canvas size is
    the letterboxed frame: the whole canvas, padding included, in frame pixels."""
    sx, sy = box.scale_x, box.scale_y
    return (-box.pad_x / sx, -box.pad_y / sy, (box.dst_w - box.pad_x) / sx, (box.dst_h - box.pad_y) / sy)


def estimates(model: PoseModel, tensors: Sequence[np.ndarray], boxes: Sequence[Box]) -> list[PoseEstimate]:
    """Run ``model`` once on the crops ``tensors`` (each (3, H, W) float32, normalised) cut at ``boxes``
    (frame px) and map each crop's points back to frame pixels."""
    xy, score = model.run(np.stack(tensors))
    hw = model.spec.input_hw
    kset = model.spec.keypoints
    return [
        PoseEstimate(
            box=tuple(float(v) for v in b),  # type: ignore[arg-type]
            model=model.name,
            keypoints=kset,
            xy=_frozen(to_frame(xy[i], b, hw)),
            score=_frozen(np.ascontiguousarray(score[i], dtype=np.float32)),
        )
        for i, b in enumerate(boxes)
    ]


class PoseStage:
    """The two-stage pose step, run on batches of inferred frames (``batch``, one result per item, in
    order): each item comes back with ``maps``, ``pose`` and ``timings.pose_ms`` set.

    ``pose_ms`` of a frame: its maps, box and crop, plus an equal share of the batch's model call and
    decoding among the frames that had a crop.

    Args:
        model: the pose model.
        maps: how logits become the class/score maps (:func:`~pipeline.postprocess.parts.logits_to_maps`
            on the host, or :class:`pipeline.infer.gpu_ops.DeviceMaps` on the device path).
    """

    def __init__(self, model: PoseModel, maps: Maps = logits_to_maps) -> None:
        self.model = model
        self.maps = maps
        self.grids = CellGrids()

    def crop_box(self, item: Inferred, class_map: np.ndarray) -> Box | None:
        """The crop box of a frame (frame px): its foreground box padded to the model's aspect; None
        without foreground."""
        cells = foreground_box(class_map, self.grids(class_map.shape, item.letterbox))
        if cells is None:
            return None
        body = (float(cells[0]), float(cells[1]), float(cells[2]), float(cells[3]))
        h, w = self.model.spec.input_hw
        return pose_box(body, self.model.spec.crop_padding, w / h)

    def __call__(self, item: Inferred) -> Inferred:
        """One frame: a batch of 1."""
        return self.batch([item])[0]

    def batch(self, items: Sequence[Inferred]) -> list[Inferred]:
        """Maps, crops, one model call for every crop, points in frame px (see the class docstring)."""
        spec = self.model.spec
        own_ms: list[float] = []
        maps: list[tuple[np.ndarray, np.ndarray]] = []
        boxes: list[Box | None] = []
        tensors: list[np.ndarray] = []
        for item in items:
            t0 = time.perf_counter()
            m = item.maps if item.maps is not None else self.maps(item.logits, item.letterbox)
            box = self.crop_box(item, m[0])
            if box is not None:
                crop = crop_image(item.frame.image, box, spec.input_hw, pad_value=0)
                tensors.append(normalize(crop, spec.mean, spec.std))
            maps.append(m)
            boxes.append(box)
            own_ms.append((time.perf_counter() - t0) * 1000.0)
        found: list[PoseEstimate] = []
        share_ms = 0.0
        if tensors:
            t0 = time.perf_counter()
            found = estimates(self.model, tensors, [b for b in boxes if b is not None])
            share_ms = (time.perf_counter() - t0) * 1000.0 / len(tensors)
        poses = iter(found)
        out = []
        for item, m, box, ms in zip(items, maps, boxes, own_ms, strict=True):
            pose = next(poses) if box is not None else None
            total = ms + (share_ms if box is not None else 0.0)
            out.append(replace(item, maps=m, pose=pose, timings=replace(item.timings, pose_ms=total)))
        return out


class PoseOnly:
    """The inference stage without a segmentation model: the pose model on the letterboxed frame
    (:class:`~pipeline.runtime.pipeline.BatchInfer`). Each :class:`Inferred` has no logits, the
    :data:`NO_SEGMENTATION` maps (no parts), ``pose`` for the whole frame and ``timings.pose_ms`` (the
    batch's model call and decoding divided by its frames)."""

    def __init__(self, model: PoseModel) -> None:
        self.model = model

    def letterbox_spec(self) -> ModelSpec:
        """The letterbox and normalisation of the pose input (centred, padding 0, the spec's mean/std)."""
        s = self.model.spec
        return ModelSpec(input_hw=s.input_hw, mean=s.mean, std=s.std, letterbox="center", pad_value=0)

    def preprocessor(self) -> Preprocessor:
        """The preprocess stage of a pose-only run: frames letterboxed into the pose input."""
        return Preprocessor(self.letterbox_spec())

    def __call__(self, item: Prepared) -> Inferred:
        return self.batch([item])[0]

    def batch(self, items: Sequence[Prepared]) -> list[Inferred]:
        """Infer ``items`` (host tensors (3, H, W) float32 of the pose input) together; results in order."""
        t0 = time.perf_counter()
        boxes = [letterbox_box(it.letterbox) for it in items]
        found = estimates(self.model, [it.tensor for it in items], boxes)
        ms = (time.perf_counter() - t0) * 1000.0 / len(items)
        return [
            Inferred(
                frame=it.frame,
                letterbox=it.letterbox,
                logits=None,
                timings=replace(it.timings, pose_ms=ms),
                pose=pose,
                maps=NO_SEGMENTATION,
            )
            for it, pose in zip(items, found, strict=True)
        ]
