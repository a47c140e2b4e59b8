"""The postprocess stage: logits (or the maps the pose stage computed from them) and the pose model's
answer → :class:`~pipeline.frames.Result` with parts, tracks, smoothed joints and drop counts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.config import KeypointTrackerConfig, PrivacyConfig
from pipeline.contract.geometry import CellGrids, Letterbox
from pipeline.contract.keypoints import KeypointSet
from pipeline.contract.model_meta import ModelSpec
from pipeline.frames import Inferred, Keypoint, PoseEstimate, Result
from pipeline.postprocess.parts import extract_parts, logits_to_maps
from pipeline.record import sealed
from pipeline.render.privacy import decide

if TYPE_CHECKING:  # scipy/filterpy are only imported by whoever builds a tracker
    from pipeline.postprocess.tracking import PartTracker
    from pipeline.postprocess.tracking.keypoints import KeypointTracker


class Postprocessor:
    """Turns each model output into a result. Runs on one thread, in frame order.

    Args:
        spec: the model's classes.
        min_area_px: smallest region (original-frame pixels) reported as a part instance.
        tracker: Kalman part tracker run on every frame's parts (track ids, smoothed centroids,
            coasting parts); None = raw regions only. Its time counts in ``postprocess_ms``.
        maps: logits (C, out_h, out_w) float32 + letterbox → (class map (h, w) uint8, score map
            (h, w) float32, both host arrays); default :func:`pipeline.parts.logits_to_maps` (numpy
            logits), or :class:`pipeline.infer.gpu_ops.DeviceMaps` to reduce device logits on the
            device (only the maps come back). Not called when the item carries its ``maps`` already
            (the pose stage computed them): those are used as they are.
        privacy: ``privacy.mode`` and its thresholds: each result carries the one privacy decision
            (:func:`pipeline.render.privacy.decide`) its record states and every renderer applies.
        keypoints: ``tracker.keypoints``: how the pose model's joints (``Inferred.pose``) become the
            result's ``keypoints`` (:mod:`pipeline.postprocess.tracking.keypoints`); ``enabled`` off =
            the decoder's confident points unsmoothed. The tracker is made at the first frame that
            carries a pose (a run without a pose model never builds one); its time counts in
            ``postprocess_ms``. None = the defaults.
    """

    def __init__(
        self,
        spec: ModelSpec,
        min_area_px: int = 100,
        tracker: PartTracker | None = None,
        maps: Callable[[Any, Letterbox], tuple[np.ndarray, np.ndarray]] = logits_to_maps,
        privacy: PrivacyConfig | None = None,
        keypoints: KeypointTrackerConfig | None = None,
    ) -> None:
        self.spec = spec
        self.privacy = privacy or PrivacyConfig()
        self.maps = maps
        self.min_area_px = min_area_px
        self.tracker = tracker
        self.keypoint_cfg = keypoints or KeypointTrackerConfig()
        self.keypoint_tracker: KeypointTracker | None = None
        self._last_seq: dict[str, int] = {}
        self.grids = CellGrids()

    def dropped_before(self, source_id: str, seq: int) -> int:
        """Frames of ``source_id`` missing between the previous result and ``seq``."""
        last = self._last_seq.get(source_id, -1)
        self._last_seq[source_id] = seq
        return max(0, seq - last - 1)

    def __call__(self, item: Inferred) -> Result:
        t0 = time.perf_counter()
        maps = item.maps if item.maps is not None else self.maps(item.logits, item.letterbox)
        class_map, score_map = maps
        grid = self.grids(class_map.shape, item.letterbox)
        parts, classes = extract_parts(class_map, score_map, self.spec.class_names, self.min_area_px, grid)
        meta = item.frame.meta
        if self.tracker is not None:
            parts = self.tracker.update(meta, parts)
        keypoints, keypoint_set = self.joints(item)
        done = time.perf_counter()
        timings = replace(item.timings, postprocess_ms=(done - t0) * 1000.0)
        return sealed(
            Result(
                meta=meta,
                parts=parts,
                classes=classes,
                timings=timings,
                dropped_since_last=self.dropped_before(meta.source_id, meta.seq),
                image=item.frame.image,
                class_map=class_map,
                grid=grid,
                privacy=decide(classes, self.privacy, keypoints=keypoints, keypoint_set=keypoint_set),
                pose=item.pose,
                keypoints=keypoints,
                keypoint_set=keypoint_set,
            )
        )

    def joints(self, item: Inferred) -> tuple[tuple[Keypoint, ...], KeypointSet | None]:
        """The frame's keypoints and their set: ``item.pose`` smoothed by the keypoint tracker (made at
        the first pose; without a pose, its tracks coast in the set of the source's last pose), or
        unsmoothed when ``tracker.keypoints`` is off (the pose's set; None without a pose)."""
        pose: PoseEstimate | None = item.pose
        meta = item.frame.meta
        if pose is None and self.keypoint_tracker is None:
            return (), None  # no pose model (or none yet): nothing to import, nothing to coast
        if not self.keypoint_cfg.enabled:
            from pipeline.postprocess.tracking.keypoints import raw_keypoints

            kset = None if pose is None else pose.keypoints
            return raw_keypoints(meta, pose, self.keypoint_cfg.min_score), kset
        if self.keypoint_tracker is None:
            from pipeline.postprocess.tracking.keypoints import KeypointTracker

            self.keypoint_tracker = KeypointTracker(self.keypoint_cfg)
        keypoints = self.keypoint_tracker.update(meta, pose)
        return keypoints, self.keypoint_tracker.keypoint_set(meta.source_id)
