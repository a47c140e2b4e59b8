"""The web app's models, loaded once at start, and one uploaded image through the pipeline's own stages."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.config import Config, evolve
from pipeline.frames import Frame, FrameMeta, Inferred, Prepared, Result
from pipeline.infer.backends import Backend
from pipeline.pose.model import PoseModel
from pipeline.pose.stage import PoseStage
from pipeline.postprocess.stage import Postprocessor
from pipeline.session.build import (
    load_backend,
    load_pose_model,
    pose_only_stages,
    resolve_model_path,
    segmentation_stages,
)

IMAGE_SOURCE = "upload"
"""The source id of uploaded images and videos in their records."""


@dataclass(frozen=True)
class Analysis:
    """One image through the stages.

    Attributes:
        result: the sealed result (record, class map, parts, keypoints, privacy decision).
        runtime_ms: wall time of preprocess → inference → pose → postprocess, ms (the pipeline's
            single-image time: what ``infant-stream run`` spends on this image once loaded).
    """

    result: Result
    runtime_ms: float


class ImageAnalyzer:
    """The segmentation model (and the pose model, when there is one) loaded once; :meth:`analyze`
    runs one image through the same preprocess, inference, pose and postprocess stages a run builds
    from the same config, with tracking off (an upload is an independent still).

    Thread-safe: images are analysed one at a time (a lock), each with every inference thread the
    config gives. Raises ModelError (one line) from the constructor when a model does not load.
    """

    def __init__(self, cfg: Config) -> None:
        cfg = evolve(cfg, tracker=evolve(cfg.tracker, enabled=False))
        self.cfg = cfg
        self.backend: Backend | None = load_backend(cfg) if cfg.model.path else None
        self.pose: PoseModel | None = load_pose_model(cfg)
        self.model_path = str(resolve_model_path(cfg.model.path)) if cfg.model.path else ""
        self.pose_path = str(self.pose.path) if self.pose is not None else ""
        self._pre: Callable[[Frame], Prepared]
        self._infer: Callable[[Prepared], Inferred]
        self._pose: PoseStage | None = None
        self._post: Postprocessor
        if self.backend is not None:
            self._pre, self._infer, self._post = segmentation_stages(cfg, self.backend)
            if self.pose is not None:
                self._pose = PoseStage(self.pose, self._post.maps)
        else:
            assert self.pose is not None  # load_pose_model refuses no model at all
            self._pre, self._infer, self._post = pose_only_stages(cfg, self.pose)
        self._lock = threading.Lock()
        self._seq = itertools.count()

    @property
    def num_classes(self) -> int:
        """Classes of the segmentation model (background included); 0 without one."""
        return self.backend.spec.num_classes if self.backend is not None else 0

    @property
    def image_size(self) -> tuple[int, int]:
        """The segmentation model's input (height, width), px (the pose model's without one)."""
        if self.backend is not None:
            return self.backend.spec.input_hw
        assert self.pose is not None
        return self.pose.spec.input_hw

    @property
    def names(self) -> tuple[str, ...]:
        """Class names, index = class id (empty without a segmentation model)."""
        return self.backend.spec.class_names if self.backend is not None else ()

    def describe(self) -> str:
        """One line: which models are loaded, on what."""
        seg = f"segmentation {Path(self.model_path).name} ({self.backend.name})" if self.backend else ""
        pose = f"keypoints {Path(self.pose_path).name}" if self.pose is not None else ""
        return ", ".join(x for x in (seg, pose) if x)

    def analyze(self, image: np.ndarray) -> Analysis:
        """``image`` (H, W, 3) uint8 RGB through the stages; the result's frame is that image."""
        h, w = image.shape[:2]
        with self._lock:
            meta = FrameMeta(
                IMAGE_SOURCE, next(self._seq), time.monotonic(), time.time(), None, w, h, still=True
            )
            t0 = time.perf_counter()
            inferred = self._infer(self._pre(Frame(meta, image)))
            if self._pose is not None:
                inferred = self._pose(inferred)
            result = self._post(inferred)
            return Analysis(result, (time.perf_counter() - t0) * 1000.0)
