"""From a recording's raw tracks to clean, body-normalised limb signals on a uniform time grid.

The steps, in order (each one a function below; the reference is the open infant-movement-assessment
pipeline of Chambers et al. 2020: normalise by body size, fill short gaps, filter, trunk-centred frame):

1. **Time base** (:func:`frame_times`): the stream's ``pts_s`` when every record has one and they increase
   strictly (a file: its own clock, however fast it was processed), else the capture time ``capture_ts``
   (a live stream whose clock restarted on a reconnect). Frames whose time does not increase are
   timestamp anomalies and are left out.
2. **Segments** (:func:`segments`): the recording is split wherever consecutive frames are more than
   ``reconnect_gap_s`` apart (a reconnect or a long stall); nothing is interpolated across a split.
3. **Spikes** (:func:`spikes`): an observed point that jumps away from both its observed neighbours
   (within two frames each) and back, faster than ``spike_tl_s`` trunk lengths per second (8: no infant's
   wrist or ankle moves 8 trunk lengths in a second, a fast kick peaks near 4), is a mistake of the pose
   model (a swapped or misplaced joint for one frame) and is dropped (counted in ``spikes``).
4. **Uniform grid**: each segment is resampled at its median frame rate. A track's *observed* points are
   interpolated linearly onto the grid across gaps up to ``max_fill_s``; longer gaps stay missing (NaN) and
   are reported (predicted points of the Kalman filter count as missing: the analysis fills gaps itself).
5. **Filter**: a 4th-order Butterworth low-pass, ``cutoff_hz`` (6 Hz; at most 0.4 × the frame rate), run
   forwards and backwards (zero phase, no lag) over each unbroken stretch of at least 16 samples.
6. **Trunk frame and body size**: the origin is the midpoint of the hips (without joints: the torso's
   centroid); the y axis points from it to the midpoint of the shoulders (without joints: to the head's
   centroid), the x axis to the infant's left; the unit is the recording's median trunk length over its observed frames (hips to
   shoulders; without joints, torso to head). Positions are then in *trunk lengths* and speeds in trunk
   lengths per second, comparable across infants, cameras and distances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np

from pipeline.analysis.recording import OBSERVED, Recording, Track
from pipeline.errors import ConfigError

TimeBase = Literal["auto", "pts", "capture"]
MIN_FILTER_SAMPLES: Final = 16
"""Shortest stretch the zero-phase filter runs over (its edge padding needs 3 × 5 samples)."""


@dataclass(frozen=True)
class CleanOptions:
    """How a recording is cleaned (module docstring).

    Attributes:
        time_base: ``auto`` (pts when usable, else capture time), ``pts`` or ``capture``.
        reconnect_gap_s: frames further apart than this start a new segment, seconds.
        max_fill_s: longest gap in a track filled by interpolation, seconds.
        cutoff_hz: the low-pass filter's cut-off, Hz.
        spike_tl_s: an isolated jump faster than this is dropped, trunk lengths per second.
    """

    time_base: TimeBase = "auto"
    reconnect_gap_s: float = 1.0
    max_fill_s: float = 0.5
    cutoff_hz: float = 6.0
    spike_tl_s: float = 8.0


@dataclass(frozen=True)
class Segment:
    """A stretch of a recording without reconnect gaps, on a uniform grid.

    Attributes:
        t: (N,) seconds from the recording's first frame, uniform at ``fs``.
        fs: samples per second.
        px: track key → (N, 2) frame pixels after filling and filtering (NaN where missing).
        filled: track key → (N,) bool: the sample was interpolated (no observation within half a frame).
        trunk: track key → (N, 2) trunk-frame coordinates, trunk lengths (NaN where the point or the
            trunk is missing).
    """

    t: np.ndarray
    fs: float
    px: dict[str, np.ndarray] = field(default_factory=dict)
    filled: dict[str, np.ndarray] = field(default_factory=dict)
    trunk: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.t) / self.fs if len(self.t) else 0.0


@dataclass(frozen=True)
class Cleaned:
    """A cleaned recording: its segments, the time base used, the body size and what was dropped.

    Attributes:
        segments: in time order.
        time_base: ``pts`` or ``capture``.
        trunk_px: the body-size unit: median trunk length, pixels (NaN when no trunk was seen).
        trunk_source: ``joints`` (hips → shoulders) or ``parts`` (torso → head centroids) or "".
        anomalies: frames left out because their time did not increase.
        splits: reconnect gaps the recording was split at.
        spikes: track key → observed points dropped as spikes.
    """

    segments: list[Segment]
    time_base: str
    trunk_px: float
    trunk_source: str
    anomalies: int
    splits: int
    spikes: dict[str, int] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)


def frame_times(rec: Recording, base: TimeBase = "auto") -> tuple[np.ndarray, str]:
    """(T,) seconds from the first frame, and the base used (``pts`` or ``capture``)."""
    pts = rec.pts_s
    usable = len(pts) > 0 and bool(np.all(np.isfinite(pts))) and bool(np.all(np.diff(pts) > 0))
    if base == "pts" and not usable:
        raise ConfigError(f"{rec.path}: --time-base pts: the records' pts_s are missing or do not increase")
    if base != "capture" and usable:
        return pts - pts[0], "pts"
    ts = rec.capture_ts
    return (ts - ts[0]) if len(ts) else ts.copy(), "capture"


def segments(t: np.ndarray, reconnect_gap_s: float) -> tuple[list[np.ndarray], int]:
    """Index arrays of the frames of each segment (frames whose time does not increase left out), and
    the number of frames left out."""
    keep: list[int] = []
    last = -np.inf
    for i, v in enumerate(t):
        if v > last:
            keep.append(i)
            last = v
    idx = np.asarray(keep, np.int64)
    anomalies = len(t) - len(idx)
    if len(idx) == 0:
        return [], anomalies
    gaps = np.flatnonzero(np.diff(t[idx]) > reconnect_gap_s) + 1
    return [part for part in np.split(idx, gaps) if len(part) >= 2], anomalies


def resample(
    t_obs: np.ndarray, xy_obs: np.ndarray, grid: np.ndarray, max_fill_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Observed points (M,) times and (M, 2) positions onto ``grid`` (N,): linear between observations at
    most ``max_fill_s`` (+ 1 %) apart, NaN elsewhere; and (N,) True where a sample is interpolated (no
    observation within half a grid step)."""
    out = np.full((len(grid), 2), np.nan)
    filled = np.zeros(len(grid), bool)
    ok = np.isfinite(xy_obs).all(axis=1)
    t_obs, xy_obs = t_obs[ok], xy_obs[ok]
    if len(t_obs) == 0 or len(grid) == 0:
        return out, filled
    step = float(grid[1] - grid[0]) if len(grid) > 1 else 1.0
    right = np.searchsorted(t_obs, grid, side="left").clip(0, len(t_obs) - 1)
    left = (right - 1).clip(0, len(t_obs) - 1)
    exact = np.abs(t_obs[right] - grid) <= 1e-9
    left = np.where(exact, right, left)
    inside = (grid >= t_obs[0] - 0.5 * step) & (grid <= t_obs[-1] + 0.5 * step)
    gap = t_obs[right] - t_obs[left]
    usable = inside & (gap <= max_fill_s * 1.01 + 1e-9)
    for axis in (0, 1):
        out[:, axis] = np.interp(grid, t_obs, xy_obs[:, axis])
    out[~usable] = np.nan
    nearest = np.minimum(np.abs(t_obs[right] - grid), np.abs(t_obs[left] - grid))
    filled = usable & (nearest > 0.5 * step + 1e-9)
    return out, filled


def spikes(t: np.ndarray, xy: np.ndarray, limit_px_s: float) -> np.ndarray:
    """(M,) True for the observed points (times (M,), positions (M, 2), no NaN) that jump away from both
    neighbours and back: each neighbour within two frames, both jumps faster than ``limit_px_s``, and the
    neighbours closer to each other than half of either jump."""
    out = np.zeros(len(t), bool)
    if len(t) < 3:
        return out
    step = float(np.median(np.diff(t)))
    d_prev = np.linalg.norm(xy[1:-1] - xy[:-2], axis=1)
    d_next = np.linalg.norm(xy[2:] - xy[1:-1], axis=1)
    d_skip = np.linalg.norm(xy[2:] - xy[:-2], axis=1)
    dt_prev, dt_next = t[1:-1] - t[:-2], t[2:] - t[1:-1]
    near = (dt_prev <= 2.5 * step) & (dt_next <= 2.5 * step)
    fast = (d_prev > limit_px_s * dt_prev) & (d_next > limit_px_s * dt_next)
    back = d_skip < 0.5 * np.minimum(d_prev, d_next)
    out[1:-1] = near & fast & back
    return out


def trunk_length(points: dict[str, np.ndarray]) -> tuple[float, str]:
    """(median trunk length over the frames, where it came from) of points keyed as in :func:`clean`
    ((T, 2) each, NaN where missing): :func:`trunk_points`' bottom to top; (NaN, "") without a trunk."""
    origin, top, source = trunk_points(points)
    if origin is None or top is None:
        return float("nan"), ""
    lengths = np.linalg.norm(top - origin, axis=1)
    lengths = lengths[np.isfinite(lengths)]
    return (float(np.median(lengths)), source) if len(lengths) else (float("nan"), "")


def lowpass(xy: np.ndarray, fs: float, cutoff_hz: float) -> np.ndarray:
    """(N, 2) → (N, 2): zero-phase 4th-order Butterworth low-pass over each NaN-free stretch of at least
    :data:`MIN_FILTER_SAMPLES` samples (shorter stretches are left as they are)."""
    from scipy.signal import butter, sosfiltfilt

    cut = min(cutoff_hz, 0.4 * fs)
    sos = butter(4, cut, btype="low", fs=fs, output="sos")
    out = xy.copy()
    for start, stop in runs(np.isfinite(xy).all(axis=1)):
        if stop - start >= MIN_FILTER_SAMPLES:
            out[start:stop] = sosfiltfilt(sos, xy[start:stop], axis=0)
    return out


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a (N,) bool array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _midpoint(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    return None if a is None or b is None else (a + b) / 2.0


def trunk_points(px: dict[str, np.ndarray]) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """(origin, top, source): the trunk's bottom and top points (N, 2) of one segment: hip and shoulder
    midpoints from joints, else torso and head centroids from parts; (None, None, "") without either."""
    hips = _midpoint(px.get("hip_l"), px.get("hip_r"))
    shoulders = _midpoint(px.get("shoulder_l"), px.get("shoulder_r"))
    if hips is not None and shoulders is not None:
        return hips, shoulders, "joints"
    if "part:torso" in px and "part:head" in px:
        return px["part:torso"], px["part:head"], "parts"
    return None, None, ""


def to_trunk_frame(p: np.ndarray, origin: np.ndarray, top: np.ndarray, unit_px: float) -> np.ndarray:
    """(N, 2) pixels → (N, 2) trunk-frame coordinates (x to the infant's left, y towards the head), in
    units of ``unit_px``. Image y points down; the infant's left is the viewer's right when the head is
    up (a supine infant facing the camera)."""
    axis = top - origin
    norm = np.linalg.norm(axis, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = axis / norm
    left = np.stack([-u[:, 1], u[:, 0]], axis=1)
    rel = p - origin
    x = np.sum(rel * left, axis=1)
    y = np.sum(rel * u, axis=1)
    return np.stack([x, y], axis=1) / unit_px


def clean(rec: Recording, options: CleanOptions | None = None) -> Cleaned:
    """The recording's segments with every track filled, filtered and in the trunk frame (module docstring).

    Joints are keyed by their joint key (``wrist_l``); body parts by ``part:<key>`` (``part:arm_l``).
    """
    o = options or CleanOptions()
    t, base = frame_times(rec, o.time_base)
    pieces, anomalies = segments(t, o.reconnect_gap_s)
    tracks: dict[str, Track] = {**rec.joints, **{f"part:{k}": v for k, v in rec.parts.items()}}
    unit, source = trunk_length({k: v.xy for k, v in tracks.items()})  # from the observed points
    limit = o.spike_tl_s * unit
    dropped: dict[str, int] = {}
    out: list[Segment] = []
    for idx in pieces:
        ts = t[idx]
        dt = float(np.median(np.diff(ts)))
        fs = 1.0 / dt
        grid = ts[0] + np.arange(int(np.floor((ts[-1] - ts[0]) / dt + 1e-6)) + 1) * dt
        seg = Segment(t=grid, fs=fs)
        for key, track in tracks.items():
            observed = track.state[idx] == OBSERVED
            if not observed.any():
                continue
            t_obs, xy_obs = ts[observed], track.xy[idx][observed]
            if np.isfinite(limit):
                keep = ~spikes(t_obs, xy_obs, limit)
                dropped[key] = dropped.get(key, 0) + int((~keep).sum())
                t_obs, xy_obs = t_obs[keep], xy_obs[keep]
            xy, filled = resample(t_obs, xy_obs, grid, o.max_fill_s)
            seg.px[key] = lowpass(xy, fs, o.cutoff_hz)
            seg.filled[key] = filled
        out.append(seg)
    for seg in out:
        origin, top, _ = trunk_points(seg.px)
        if origin is None or top is None or not np.isfinite(unit) or unit <= 0:
            continue
        for key, p in seg.px.items():
            seg.trunk[key] = to_trunk_frame(p, origin, top, unit)
    return Cleaned(out, base, unit, source, anomalies, max(0, len(pieces) - 1), dropped)
