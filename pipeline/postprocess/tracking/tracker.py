"""Frame-to-frame association of part instances to Kalman tracks, per source and per class.

For each frame of a source, at time ``t`` (``pts_s``, else ``capture_mono``; seconds):

1. ``t`` must be after the source's previous frame time: the Kalman prediction over a step
   ``dt = t − t_prev`` is only defined for ``dt > 0`` (a zero step would update the filters twice at
   one instant and shrink their uncertainty for nothing; a negative one would run the motion model
   backwards). Sources guarantee strictly increasing times (``pipeline.sources.base.Timeline``), so
   a frame at or before the previous time is a broken source, never a normal event. The tracker does
   not raise — one bad timestamp must not end a live run — and never predicts over it: it ends every
   track of that source (as after a gap longer than ``max_coast_s``: the regions of this frame start
   new tracks at ``t``), logs a warning once per source and counts it in :attr:`PartTracker.time_faults`.
2. Every track is predicted to ``t`` (:meth:`Track.predict_to`): a dropped frame is just a longer step.
3. Per class, track *i* and region *j* may pair only if the squared Mahalanobis distance ``d²`` of the
   region's centroid from the track's predicted position (innovation covariance ``S = H P Hᵀ + R``) is
   at most ``gate_chi2``. Allowed pairs cost ``d² + ln det S`` (−2 ln likelihood: with ``d²`` alone an
   uncertain, coasting track would win a region from a confident one next to it, and two tracks on one
   part would take turns forever). Forbidden pairs cost :data:`FORBIDDEN`, larger than any sum of
   allowed costs, so :func:`scipy.optimize.linear_sum_assignment` first makes as many allowed pairs as
   possible, then the cheapest such set; forbidden pairs it still returns are dropped.
4. Paired tracks are updated; unpaired regions start new tracks (ids unique per source, increasing, never
   reused); unpaired tracks coast (``state="predicted"``).
5. A coasting track moves by the damped coasting motion (:meth:`Track.coast`,
   :func:`~pipeline.postprocess.tracking.motion.coast`): from its last observed state, its speed capped
   at ``coast_max_speed_px_s`` and its velocity decaying at ``coast_damping_per_s``, so it slows down
   and stays near where it was last seen instead of flying on at full speed.

A track ends (before step 2) once ``t − last_observed_t > max_coast_s``: it coasts for at most
``max_coast_s`` and a region after a longer gap gets a new id; a forward time jump beyond
``max_coast_s`` therefore ends every track as well. A track observed in fewer than
``tracker.min_hits_to_coast`` frames does not coast at all: it ends at its first miss. A coasting track
also ends (after step 5) as soon as its predicted position leaves the frame (``meta.width`` ×
``meta.height``): a part that left the picture is not published outside it.

Everything returned lies inside its frame (``tests/helpers/bounds.py`` is the check): a position
(``centroid``, ``smoothed``) in ``[0, width − 1] × [0, height − 1]``, a box within
``[0, width] × [0, height]`` and not empty. A measured centroid always is; the filter's ``smoothed``
of an observed part can overshoot the edge (a part that stops at the edge after a fast move) and is
published held at the edge (the filter's own state is not changed); a coasting part's box (the last
box moved with it) is cut at the frame's edges.

A *still* (``meta.still``: an image of a folder that is not a frame sequence) ends every track of its
source first: its parts start new tracks at rest, and nothing coasts from one image into the next.

Region instance indices are ordered by area each frame, so nothing here relies on them.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Final, Protocol

import numpy as np
from scipy.optimize import linear_sum_assignment

from pipeline.config import TrackerConfig
from pipeline.frames import FrameMeta, PartInstance
from pipeline.postprocess.tracking.motion import measurement_std
from pipeline.postprocess.tracking.track import Track, distances

FORBIDDEN: Final = 1e9
COAST_SLACK_S: Final = 1e-6

log = logging.getLogger(__name__)


class _SourceTracks:
    """What the tracker remembers about one source (postprocess thread only)."""

    def __init__(self) -> None:
        self.last_t: float | None = None
        self.next_id = 1
        self.tracks: list[Track] = []


def assign(cost: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    """Gated minimum-cost assignment.

    Args:
        cost: (tracks, regions) float64 pairing costs (any sign).
        allowed: (tracks, regions) bool, the pairs inside the gate.
    Returns:
        (track row, region column) pairs, all allowed: as many as possible, then the cheapest.
    """
    if cost.size == 0:
        return []
    rows, cols = linear_sum_assignment(np.where(allowed, cost, FORBIDDEN))
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]


class PartTracker:
    """Kalman tracking of part centroids; one independent set of tracks per source.

    Not thread-safe: call :meth:`update` from one thread (the postprocess stage), in frame order per
    source.

    Args:
        cfg: motion model, noises, gate and coasting time.

    Attributes:
        time_faults: source id → frames whose time was not after the source's previous frame's
            (each ended that source's tracks; see the module docstring, step 1).
    """

    def __init__(self, cfg: TrackerConfig) -> None:
        self.cfg = cfg
        self._sources: dict[str, _SourceTracks] = {}
        self.time_faults: dict[str, int] = {}

    def reset(self, source_id: str) -> None:
        """End every track of ``source_id`` (ids keep increasing afterwards)."""
        src = self._sources.get(source_id)
        if src is not None:
            src.tracks.clear()
            src.last_t = None

    def tracks(self, source_id: str) -> tuple[Track, ...]:
        """The live tracks of a source (for inspection; do not modify)."""
        src = self._sources.get(source_id)
        return tuple(src.tracks) if src is not None else ()

    def _noise(self, part: PartInstance) -> float:
        c = self.cfg
        return measurement_std(c.measurement_noise_px, c.reference_area_px, part.area_px, part.score)

    def update(self, meta: FrameMeta, parts: tuple[PartInstance, ...]) -> tuple[PartInstance, ...]:
        """Track one frame's regions.

        Args:
            meta: the frame (``source_id``, ``pts_s`` or ``capture_mono`` for the time, ``width`` and
                ``height`` for the frame's bounds, ``still`` for an independent image).
            parts: the frame's regions, as :func:`~pipeline.parts.extract_parts` returns them.
        Returns:
            every region in input order, copied with ``track_id``, ``state="observed"``, ``smoothed``
            (held inside the frame), ``velocity`` and ``uncertainty`` set (``centroid`` stays the
            measured one); then one ``predicted`` part per coasting track still inside the frame, by
            ``track_id`` (damped motion, box cut at the frame's edges). A part without a centroid is
            passed through unchanged.
        """
        src = self._sources.setdefault(meta.source_id, _SourceTracks())
        t, restart = frame_clock(meta, src.last_t, self.time_faults, "tracks", log)
        if restart:
            src.tracks.clear()
        src.last_t = t
        # A track unobserved for longer than max_coast_s ends before association (a region after a
        # longer gap starts a new track). COAST_SLACK_S absorbs the float rounding of timestamps so
        # that a gap of exactly max_coast_s still coasts.
        src.tracks = [tr for tr in src.tracks if within_coast(tr, t, self.cfg.max_coast_s)]
        for track in src.tracks:
            track.predict_to(t)

        assigned: dict[int, Track] = {}  # index in ``parts`` → its track
        for class_id in dict.fromkeys(p.class_id for p in parts):
            regions = [
                (i, p.centroid, self._noise(p))
                for i, p in enumerate(parts)
                if p.class_id == class_id and p.centroid is not None
            ]
            tracks = [tr for tr in src.tracks if tr.class_id == class_id]
            dist = distances(
                tracks,
                np.array([z for _, z, _ in regions], np.float64).reshape(-1, 2),
                np.array([n for _, _, n in regions], np.float64),
            )
            for r, c in assign(dist[..., 1], dist[..., 0] <= self.cfg.gate_chi2):
                i, z, n = regions[c]
                tracks[r].update(z, n, parts[i].box)
                assigned[i] = tracks[r]
            for i, z, n in regions:
                if i not in assigned:
                    p = parts[i]
                    assigned[i] = Track(
                        src.next_id,
                        p.class_id,
                        p.name,
                        self.cfg.motion,
                        self.cfg.process_noise,
                        z,
                        n,
                        p.box,
                        t,
                    )
                    src.next_id += 1
                    src.tracks.append(assigned[i])

        # Young tracks end at their first miss (no ghost of a one-frame fragment); the others coast
        # (damped) and end once their prediction has left the frame.
        size = (meta.width, meta.height)
        kept = []
        for tr in src.tracks:
            if tr.state == "predicted" and (
                not coasts_on(tr, self.cfg, size) or clip_box(tr.predicted_box(), size) is None
            ):
                continue
            kept.append(tr)
        src.tracks = kept
        out = [_observed(p, assigned[i], size) if i in assigned else p for i, p in enumerate(parts)]
        coasting = sorted((tr for tr in src.tracks if tr.state == "predicted"), key=lambda tr: tr.track_id)
        out.extend(_predicted(tr, size) for tr in coasting)
        return tuple(out)


class CoastRules(Protocol):
    """The coasting options both trackers' configs have (:class:`~pipeline.config.TrackerConfig`,
    :class:`~pipeline.config.KeypointTrackerConfig`)."""

    @property
    def max_coast_s(self) -> float: ...
    @property
    def min_hits_to_coast(self) -> int: ...
    @property
    def coast_damping_per_s(self) -> float: ...
    @property
    def coast_max_speed_px_s(self) -> float: ...


def frame_clock(
    meta: FrameMeta, last_t: float | None, time_faults: dict[str, int], tracks: str, logger: logging.Logger
) -> tuple[float, bool]:
    """(the frame's time ``t``, whether every track of its source must end first): ``t`` is ``pts_s``, else
    ``capture_mono`` (seconds). The tracks end for a still, and for a time not after the source's previous
    frame's ``last_t`` (module docstring, step 1): such a frame is counted in ``time_faults`` and warned
    about once per source to ``logger`` (the tracker's; ``tracks``: what the warning says ends)."""
    t = meta.pts_s if meta.pts_s is not None else meta.capture_mono
    if meta.still:
        return t, True
    if last_t is not None and t <= last_t:
        sid = meta.source_id
        time_faults[sid] = time_faults.get(sid, 0) + 1
        if time_faults[sid] == 1:
            logger.warning(
                "%s: frame %d at %.6f s is not after the previous frame (%.6f s); its %s end "
                "(the tracker never predicts over a non-positive time step)",
                sid,
                meta.seq,
                t,
                last_t,
                tracks,
            )
        return t, True
    return t, False


def within_coast(track: Track, t: float, max_coast_s: float) -> bool:
    """Whether ``track`` may live on at time ``t``: unobserved for at most ``max_coast_s`` (+
    :data:`COAST_SLACK_S`, which absorbs the float rounding of timestamps so that a gap of exactly
    ``max_coast_s`` still coasts)."""
    return t - track.last_observed_t <= max_coast_s + COAST_SLACK_S


def coasts_on(track: Track, rules: CoastRules, size: tuple[int, int]) -> bool:
    """Coast an unobserved ``track`` one frame (:meth:`Track.coast`, damped and speed-capped); False, and
    not moved, when it is too young to coast (observed in fewer than ``min_hits_to_coast`` frames), or
    False when its new position has left the frame of ``size`` (width, height): the track ends."""
    if track.hits < rules.min_hits_to_coast:
        return False
    track.coast(rules.coast_damping_per_s, rules.coast_max_speed_px_s)
    return inside(track.position, size)


def inside(xy: tuple[float, float], size: tuple[int, int]) -> bool:
    """Is the pixel position ``xy`` (x, y) inside a frame of ``size`` (width, height): in
    ``[0, width − 1] × [0, height − 1]``?"""
    return 0.0 <= xy[0] <= size[0] - 1 and 0.0 <= xy[1] <= size[1] - 1


def held_inside(xy: tuple[float, float], size: tuple[int, int]) -> tuple[float, float]:
    """``xy`` moved to the nearest position :func:`inside` the frame (unchanged when inside)."""
    return min(max(xy[0], 0.0), size[0] - 1.0), min(max(xy[1], 0.0), size[1] - 1.0)


def clip_box(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """``box`` (x0, y0, x1, y1; x1/y1 exclusive) cut to a frame of ``size``; None when nothing is left."""
    w, h = size
    x0, y0, x1, y1 = max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def _observed(part: PartInstance, track: Track, size: tuple[int, int]) -> PartInstance:
    """``part`` with its track's id and filtered state (the position held inside the frame)."""
    return replace(
        part,
        track_id=track.track_id,
        state="observed",
        smoothed=held_inside(track.position, size),
        velocity=track.velocity,
        uncertainty=track.uncertainty,
    )


def _predicted(track: Track, size: tuple[int, int]) -> PartInstance:
    """The part a coasting track stands for: no region, the predicted position (inside the frame:
    tracks that leave it end) and the moved box cut at the frame's edges."""
    box = clip_box(track.predicted_box(), size)
    assert box is not None, "a coasting track whose box left the frame has ended"
    return PartInstance(
        class_id=track.class_id,
        name=track.name,
        instance=None,
        box=box,
        centroid=None,
        area_px=0,
        score=0.0,
        track_id=track.track_id,
        state="predicted",
        smoothed=track.position,
        velocity=track.velocity,
        uncertainty=track.uncertainty,
    )
