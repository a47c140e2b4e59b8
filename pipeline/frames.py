"""The frozen dataclasses that travel between pipeline threads (one per hop, no bare tuples).

Source ──Frame──▶ Preprocess ──Prepared──▶ Inference ──Inferred──▶ Postprocess ──Result──▶ sinks

Arrays are owned by the dataclass once it is sent: no thread writes into an array it has sent.

Host or device: ``Prepared.tensor`` and ``Inferred.logits`` are numpy arrays, or, on the GPU path
(``model.gpu_preprocess`` with a GPU backend, :mod:`pipeline.infer.gpu_ops`), torch tensors on the
model's device, so the data crosses to the host only as the small class/score maps. Either way the
shapes and dtypes are the same. torch is never imported here: those fields are typed
:data:`Tensor`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np

from pipeline.config import PrivacyApplied
from pipeline.contract.geometry import CellGrid, Letterbox
from pipeline.contract.keypoints import KeypointSet

Tensor: TypeAlias = Any
"""A ``numpy.ndarray`` on the host or a ``torch.Tensor`` on the model's device (never imported here)."""


@dataclass(frozen=True)
class FrameMeta:
    """Identity and timing of one captured frame.

    Attributes:
        source_id: the source's id (e.g. ``cam0``).
        seq: per-source sequence number, 0-based, +1 per decoded frame (gaps mean drops).
        capture_mono: ``time.monotonic()`` seconds when the frame left the decoder.
        capture_wall: ``time.time()`` seconds (Unix epoch) at the same instant.
        pts_s: presentation time in seconds from the stream (None when the source has none).
        width, height: frame size in pixels.
        image_file: the image file the frame was read from (image sources: the path as the source
            names it, e.g. ``frames/0003.jpg``); None for video, streams and cameras.
        still: the frame is an independent still (an image, not a frame of a sequence): nothing is
            tracked from the previous frame of its source into it.
    """

    source_id: str
    seq: int
    capture_mono: float
    capture_wall: float
    pts_s: float | None
    width: int
    height: int
    image_file: str | None = None
    still: bool = False


@dataclass(frozen=True)
class Frame:
    """A decoded frame. ``image``: (height, width, 3) uint8, RGB channel order."""

    meta: FrameMeta
    image: np.ndarray


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent in each stage for one frame (0.0 until the stage has run).

    ``pose_ms``: the pose stage's time for this frame (the class/score maps it computes for
    postprocessing too, the crop, its share of the batch's pose-model call, decoding); 0.0 without
    a pose model. Without segmentation the pose model runs in the inference stage and its time is
    ``pose_ms`` (``inference_ms`` stays 0.0).
    """

    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
    postprocess_ms: float = 0.0
    pose_ms: float = 0.0


@dataclass(frozen=True)
class Prepared:
    """A frame ready for the model. ``tensor``: (3, in_h, in_w) float32, normalised RGB; a numpy
    array, or a torch tensor on the model's device (GPU preprocessing)."""

    frame: Frame
    letterbox: Letterbox
    tensor: Tensor
    timings: Timings


@dataclass(frozen=True)
class Inferred:
    """Model output for one frame. ``logits``: (num_classes, out_h, out_w) float32; a numpy array,
    or a torch tensor on the model's device when the input was one (None without a segmentation
    model). ``pose``: the pose stage's answer (None before the pose stage, without a pose model, or
    when no infant was found). ``maps``: the host (class map (h, w) uint8, score map (h, w) float32)
    of ``logits`` over the frame region, when a stage already computed them (the pose stage does, for
    the infant's box): postprocessing then uses them instead of computing them again; None = not yet."""

    frame: Frame
    letterbox: Letterbox
    logits: Tensor
    timings: Timings
    pose: PoseEstimate | None = None
    maps: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PartInstance:
    """One connected region of one class, in original-frame pixels, or a track coasting without one.

    Attributes:
        class_id, name: the class (1..4 for parts).
        instance: 0-based index among this class's regions in this frame, largest area first;
            None for a ``predicted`` part (no region this frame).
        box: (x0, y0, x1, y1), x1/y1 exclusive; for a ``predicted`` part, the last observed box
            moved by the predicted displacement and cut at the frame's edges.
        centroid: (x, y) measured mean pixel position (pixel indices, as
            cv2.connectedComponentsWithStats); None for a ``predicted`` part.
        area_px: pixel count (0 for a ``predicted`` part).
        score: mean softmax probability of ``class_id`` over the region, 0..1 (0 when predicted).
        track_id: stable id of the part's track (None without a tracker).
        state: ``observed`` (a region this frame) or ``predicted`` (Kalman coasting, no region).
        smoothed: (x, y) Kalman-filtered position, px, inside the frame (``[0, width − 1] ×
            [0, height − 1]``; a coasting track that leaves the frame ends).
        velocity: (vx, vy) Kalman velocity, px/s (x right, y down).
        uncertainty: (σx, σy) standard deviation of the smoothed position, px.
    """

    class_id: int
    name: str
    instance: int | None
    box: tuple[int, int, int, int]
    centroid: tuple[float, float] | None
    area_px: int
    score: float
    track_id: int | None = None
    state: str = "observed"
    smoothed: tuple[float, float] | None = None
    velocity: tuple[float, float] | None = None
    uncertainty: tuple[float, float] | None = None


@dataclass(frozen=True)
class PoseEstimate:
    """The pose model's answer for one frame's infant (one subject per camera: an infant in a cot).

    Attributes:
        box: (x0, y0, x1, y1) float frame px, x1/y1 exclusive: the crop the model saw (the padded
            segmentation foreground at the model's aspect; the letterboxed frame without segmentation).
        model: the pose model's name (its file stem).
        keypoints: the pose model's keypoint set (its ``spec.keypoints``: names, skeleton, sides,
            facial ids, from its metadata or sidecar); index = keypoint id.
        xy: (K, 2) float32 (x, y) frame px, pixel centres at integers (may lie outside the frame).
        score: (K,) float32 decoder confidence, 0..1.
    """

    box: tuple[float, float, float, float]
    model: str
    keypoints: KeypointSet
    xy: np.ndarray = field(repr=False)
    score: np.ndarray = field(repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        """Keypoint names; index = keypoint id."""
        return self.keypoints.names


@dataclass(frozen=True)
class Keypoint:
    """One joint of the infant in one frame, after smoothing (the record's ``keypoints`` entries).

    Attributes:
        id, name: keypoint id (index in the pose model's keypoint set) and name.
        x, y: the measured position, frame px; None when ``predicted`` (no confident measurement).
        score: decoder confidence 0..1 (0 when predicted).
        state: ``observed`` or ``predicted`` (the Kalman track coasts: low confidence or no crop).
        smoothed: (x, y) Kalman-filtered position, px, inside the frame.
        velocity: (vx, vy) px/s.
        uncertainty: (σx, σy) px.
    """

    id: int
    name: str
    x: float | None
    y: float | None
    score: float
    state: str = "observed"
    smoothed: tuple[float, float] | None = None
    velocity: tuple[float, float] | None = None
    uncertainty: tuple[float, float] | None = None


@dataclass(frozen=True)
class ClassSummary:
    """All pixels of one class in a frame, whatever their regions (the seed app's view).

    Same units as :class:`PartInstance`; ``instances`` counts regions above the minimum area.
    """

    class_id: int
    name: str
    box: tuple[int, int, int, int]
    centroid: tuple[float, float]
    area_px: int
    score: float
    instances: int


@dataclass(frozen=True)
class Result:
    """Everything the pipeline knows about one frame after postprocessing.

    Attributes:
        image: (height, width, 3) uint8 RGB, the captured frame itself (shared, never written to);
            for overlays and recordings. It never goes into a record.
        class_map: (h, w) uint8 class ids at the model's resolution, padding cropped;
            :meth:`full_class_map` blows it up to the frame (for overlays).
        grid: which frame pixels each cell of ``class_map`` covers.
        privacy: what every image of this frame that leaves the process gets (the record's
            ``privacy`` key), decided once by the postprocessor (``pipeline.render.privacy.decide``):
            ``head`` region pixelated, whole ``frame`` pixelated, or ``none``. A result nobody
            decided for is ``frame`` (fail closed).
        dropped_since_last: frames of this source dropped between the previous result and this one.
        publish_mono: ``time.monotonic()`` when postprocessing finished and the record was built
            (the one publish time of every output).
        record: the schema-1 record (:mod:`pipeline.record`), built once by
            :func:`pipeline.record.sealed`; read-only. None until sealed.
        record_json: the record as compact UTF-8 JSON, the bytes every output writes or sends.
        pose: the pose model's raw answer (None without a pose model or without an infant).
        keypoints: the infant's smoothed joints (empty without a pose model).
        keypoint_set: the set ``keypoints`` belong to (ids index it): the pose model's, kept while
            the joints coast through frames without a pose; the overlay draws its skeleton and sides,
            privacy takes its head points. None = not known (no pose model yet; readers then guess
            from the names).
    """

    meta: FrameMeta
    parts: tuple[PartInstance, ...]
    classes: tuple[ClassSummary, ...]
    timings: Timings
    dropped_since_last: int
    image: np.ndarray = field(repr=False)
    class_map: np.ndarray = field(repr=False)
    grid: CellGrid = field(repr=False)
    privacy: PrivacyApplied = "frame"
    publish_mono: float = 0.0
    record: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    record_json: bytes = field(default=b"", repr=False, compare=False)
    pose: PoseEstimate | None = field(default=None, repr=False)
    keypoints: tuple[Keypoint, ...] = ()
    keypoint_set: KeypointSet | None = field(default=None, repr=False)

    def full_class_map(self) -> np.ndarray:
        """(height, width) uint8 class ids in original-frame pixels."""
        return self.grid.upsample(self.class_map)
