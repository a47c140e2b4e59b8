"""Recent centroid history per track, for drawing motion trails.

Time of a result = its ``pts_s`` when the source has one, else its ``capture_mono``. A point is
forgotten once it is more than ``trail_s`` older than the newest result; a track not seen for
``trail_s`` is forgotten whole. Time going backwards (a looping file) clears everything, and so does
a still (``meta.still``: an independent image has no motion history). Memory is bounded by time and,
whatever the timestamps do, by :data:`MAX_POINTS` per track.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final, NamedTuple

import numpy as np

from pipeline.frames import Result

MAX_POINTS: Final = 1024
"""Hard cap of points kept per track (e.g. a source whose timestamps never advance)."""

Point = tuple[float, float]


class TrailPath(NamedTuple):
    """One track's trail, oldest point first.

    Attributes:
        class_id: the track's class.
        raw: (N, 2) float64 measured centroids (x, y) px; frames where the part was predicted are skipped.
        smoothed: (M, 2) float64 Kalman-smoothed positions (x, y) px.
    """

    class_id: int
    raw: np.ndarray
    smoothed: np.ndarray


@dataclass
class _Track:
    class_id: int
    last_t: float
    points: deque[tuple[float, Point | None, Point | None]] = field(
        default_factory=lambda: deque(maxlen=MAX_POINTS)
    )


def result_time(result: Result) -> float:
    """Seconds used to age trail points: ``pts_s`` if the source has one, else ``capture_mono``."""
    return result.meta.pts_s if result.meta.pts_s is not None else result.meta.capture_mono


class Trails:
    """Per track id: (time, raw centroid or None, smoothed or None) of the last ``trail_s`` seconds.

    Parts without a ``track_id`` (tracker off) have no trail. Not thread-safe: one owner.
    """

    def __init__(self, trail_s: float) -> None:
        self.trail_s = trail_s
        self._tracks: dict[int, _Track] = {}
        self._now: float | None = None

    def update(self, result: Result) -> None:
        """Add the tracked parts of ``result`` and forget what is older than ``trail_s``."""
        now = result_time(result)
        if (self._now is not None and now < self._now) or result.meta.still:
            self._tracks.clear()  # time went backwards (a looped file, a restarted source), or a still
        self._now = now
        if self.trail_s > 0:
            for part in result.parts:
                if part.track_id is None:
                    continue
                track = self._tracks.get(part.track_id)
                if track is None:
                    track = self._tracks[part.track_id] = _Track(part.class_id, now)
                track.last_t = now
                track.points.append((now, part.centroid, part.smoothed))
        self._forget(now)

    def _forget(self, now: float) -> None:
        oldest = now - self.trail_s
        for tid in [t for t, tr in self._tracks.items() if tr.last_t < oldest or self.trail_s <= 0]:
            del self._tracks[tid]
        for track in self._tracks.values():
            while track.points and track.points[0][0] < oldest:
                track.points.popleft()

    def __len__(self) -> int:
        """Number of tracks remembered."""
        return len(self._tracks)

    def point_count(self) -> int:
        """Number of points remembered over all tracks."""
        return sum(len(t.points) for t in self._tracks.values())

    def paths(self) -> dict[int, TrailPath]:
        """track id → :class:`TrailPath`, oldest point first."""
        out: dict[int, TrailPath] = {}
        for tid, track in self._tracks.items():
            raw = [p[1] for p in track.points if p[1] is not None]
            smooth = [p[2] for p in track.points if p[2] is not None]
            out[tid] = TrailPath(
                track.class_id,
                np.asarray(raw, np.float64).reshape(-1, 2),
                np.asarray(smooth, np.float64).reshape(-1, 2),
            )
        return out
