"""Kalman smoothing of the infant's joints: one track per keypoint, identified by its name.

One subject per camera (an infant in a cot): the pose model answers with one point per keypoint id,
so there is nothing to associate. Keypoint ``k`` of a frame updates track ``k`` of its source, and
``Wrist_R`` and ``Wrist_L`` are different tracks whatever their distance: two legs that touch (one
blob in the segmentation) keep separate joints.

Each track is a :class:`~pipeline.postprocess.tracking.track.Track` with the part tracker's motion
models (:mod:`~pipeline.postprocess.tracking.motion`) and coasting rules. For each frame of a source,
at time ``t`` (``pts_s``, else ``capture_mono``; seconds):

1. A still (``meta.still``) ends every track of its source; a time not after the previous frame's
   ends them too (counted in :attr:`KeypointTracker.time_faults`, warned once per source), as in
   :class:`~pipeline.postprocess.tracking.tracker.PartTracker`. A pose whose keypoint set differs
   from the previous pose's (another model) ends them as well. The set of a source's last pose is
   remembered (:meth:`KeypointTracker.keypoint_set`): the joints coasting through frames without a
   pose still belong to it.
2. A track unobserved for longer than ``max_coast_s`` ends; the others are predicted to ``t``.
3. Keypoint ``k`` is *measured* when its decoder confidence is at least ``min_score`` and its
   position is finite and inside the frame (``[0, width − 1] × [0, height − 1]``; the crop the model
   saw may reach past the frame's edge). Its measurement noise comes from the confidence ``s``
   (0..1): ``σ = measurement_noise_px / s`` px per axis (the part tracker's
   :func:`~pipeline.postprocess.tracking.motion.measurement_std` with the reference area): a joint the
   model is sure of moves the estimate most; at ``min_score`` it counts ``1 / min_score`` times less
   (3.3× at the default 0.3). A measured joint updates its track, or starts one at rest.
4. A track without a measurement (low confidence, outside the frame, or no pose at all: no infant
   found, no pose model answer) coasts with the damped, speed-capped motion
   (:meth:`~pipeline.postprocess.tracking.track.Track.coast`) and is published ``predicted`` (``x``,
   ``y`` None, ``score`` 0). A track observed in fewer than ``min_hits_to_coast`` frames ends at its
   first miss instead, and a coasting track ends as soon as its position leaves the frame.

A keypoint without a track is absent from the frame's keypoints. Everything published lies inside
its frame: a measured ``x``/``y`` always does; an observed joint's ``smoothed`` is held at the edge
(the filter's state is not changed), a coasting one's is inside or the track has ended.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from pipeline.config import KeypointTrackerConfig
from pipeline.contract.keypoints import KeypointSet
from pipeline.frames import FrameMeta, Keypoint, PoseEstimate
from pipeline.postprocess.tracking.motion import measurement_std
from pipeline.postprocess.tracking.track import Track
from pipeline.postprocess.tracking.tracker import coasts_on, frame_clock, held_inside, within_coast

log = logging.getLogger(__name__)


@dataclass
class _SourceJoints:
    """What the keypoint tracker remembers about one source (postprocess thread only)."""

    last_t: float | None = None
    keypoints: KeypointSet | None = None
    tracks: dict[int, Track] = field(default_factory=dict)


def measured(pose: PoseEstimate, size: tuple[int, int], min_score: float) -> np.ndarray:
    """(K,) bool: which keypoints of ``pose`` count as measured in a frame of ``size`` (width,
    height): confidence at least ``min_score``, position finite and inside the frame."""
    xy = np.asarray(pose.xy, np.float64).reshape(-1, 2)
    score = np.asarray(pose.score, np.float64).reshape(-1)
    w, h = size
    with np.errstate(invalid="ignore"):
        return (
            (score >= min_score)
            & np.isfinite(xy).all(axis=1)
            & (xy[:, 0] >= 0.0)
            & (xy[:, 0] <= w - 1)
            & (xy[:, 1] >= 0.0)
            & (xy[:, 1] <= h - 1)
        )


def raw_keypoints(meta: FrameMeta, pose: PoseEstimate | None, min_score: float) -> tuple[Keypoint, ...]:
    """The decoder's joints unsmoothed (keypoint tracking off): each :func:`measured` keypoint, by id,
    ``observed`` with its position and confidence; ``smoothed``/``velocity``/``uncertainty`` None."""
    if pose is None:
        return ()
    ok = measured(pose, (meta.width, meta.height), min_score)
    return tuple(
        Keypoint(
            id=k,
            name=pose.names[k],
            x=float(pose.xy[k, 0]),
            y=float(pose.xy[k, 1]),
            score=float(pose.score[k]),
        )
        for k in np.flatnonzero(ok).tolist()
    )


class KeypointTracker:
    """One Kalman track per keypoint of each source's infant (module docstring).

    Not thread-safe: call :meth:`update` from one thread (the postprocess stage), in frame order per
    source.

    Args:
        cfg: ``tracker.keypoints``: confidence threshold, motion model, noises, coasting.

    Attributes:
        time_faults: source id → frames whose time was not after the source's previous frame's.
    """

    def __init__(self, cfg: KeypointTrackerConfig) -> None:
        self.cfg = cfg
        self._sources: dict[str, _SourceJoints] = {}
        self.time_faults: dict[str, int] = {}

    def reset(self, source_id: str) -> None:
        """End every track of ``source_id``."""
        src = self._sources.get(source_id)
        if src is not None:
            src.tracks.clear()
            src.last_t = None

    def tracks(self, source_id: str) -> dict[int, Track]:
        """Keypoint id → live track of a source (a copy of the mapping; do not modify the tracks)."""
        src = self._sources.get(source_id)
        return dict(src.tracks) if src is not None else {}

    def keypoint_set(self, source_id: str) -> KeypointSet | None:
        """The keypoint set of the last pose of ``source_id`` (its joints' set, also while they coast);
        None before its first pose."""
        src = self._sources.get(source_id)
        return src.keypoints if src is not None else None

    def noise_std(self, score: float) -> float:
        """Measurement std (px, per axis) of a joint of decoder confidence ``score`` (0..1):
        ``measurement_noise_px / score`` (module docstring, step 3)."""
        return measurement_std(self.cfg.measurement_noise_px, 1.0, 1.0, score)

    def update(self, meta: FrameMeta, pose: PoseEstimate | None) -> tuple[Keypoint, ...]:
        """Smooth one frame's joints.

        Args:
            meta: the frame (``source_id``; ``pts_s`` or ``capture_mono`` for the time; ``width`` and
                ``height`` for its bounds; ``still``).
            pose: the pose model's answer for the frame, or None (no answer: every track coasts).
        Returns:
            one :class:`~pipeline.frames.Keypoint` per live track, by keypoint id: ``observed`` (the
            measured position and confidence, the filtered state) or ``predicted`` (coasting).
        """
        cfg = self.cfg
        src = self._sources.setdefault(meta.source_id, _SourceJoints())
        t, restart = frame_clock(meta, src.last_t, self.time_faults, "keypoint tracks", log)
        if restart:
            src.tracks.clear()
        src.last_t = t
        if pose is not None and pose.keypoints != src.keypoints:
            src.tracks.clear()
            src.keypoints = pose.keypoints
        src.tracks = {k: tr for k, tr in src.tracks.items() if within_coast(tr, t, cfg.max_coast_s)}
        for track in src.tracks.values():
            track.predict_to(t)

        size = (meta.width, meta.height)
        ids = [] if pose is None else np.flatnonzero(measured(pose, size, cfg.min_score)).tolist()
        for k in ids:
            assert pose is not None
            xy = (float(pose.xy[k, 0]), float(pose.xy[k, 1]))
            std = self.noise_std(float(pose.score[k]))
            pixel = (math.floor(xy[0]), math.floor(xy[1]))
            box = (pixel[0], pixel[1], pixel[0] + 1, pixel[1] + 1)  # the joint's pixel
            if k in src.tracks:
                src.tracks[k].update(xy, std, box)
            else:
                src.tracks[k] = Track(k, k, pose.names[k], cfg.motion, cfg.process_noise, xy, std, box, t)

        kept: dict[int, Track] = {}
        for k, tr in src.tracks.items():
            if tr.state == "predicted" and not coasts_on(tr, cfg, size):
                continue
            kept[k] = tr
        src.tracks = kept
        out = []
        for k in sorted(kept):
            tr = kept[k]
            if tr.state == "observed":
                assert pose is not None
                out.append(
                    Keypoint(
                        id=k,
                        name=tr.name,
                        x=float(pose.xy[k, 0]),
                        y=float(pose.xy[k, 1]),
                        score=float(pose.score[k]),
                        state="observed",
                        smoothed=held_inside(tr.position, size),
                        velocity=tr.velocity,
                        uncertainty=tr.uncertainty,
                    )
                )
            else:
                out.append(
                    Keypoint(
                        id=k,
                        name=tr.name,
                        x=None,
                        y=None,
                        score=0.0,
                        state="predicted",
                        smoothed=tr.position,
                        velocity=tr.velocity,
                        uncertainty=tr.uncertainty,
                    )
                )
        return tuple(out)
