"""One part track: a filterpy Kalman filter over one part instance's centroid, plus its bookkeeping.

Tracks live on the postprocess thread only (mutable, never sent anywhere); what leaves the tracker
is a frozen :class:`~pipeline.frames.PartInstance`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.config import Motion
from pipeline.postprocess.tracking.motion import (
    coast,
    measurement_noise,
    new_filter,
    process_noise,
    transition,
)


class Track:
    """The state of one tracked part instance.

    Args:
        track_id: id, unique and increasing per source.
        class_id, name: the part's class.
        motion: state model (:mod:`pipeline.postprocess.tracking.motion`).
        process_std: std of the model's white noise (px/s² CV, px/s³ CA).
        centroid: (x, y) px of the first region.
        noise_std_px: that region's centroid std (px), :func:`~pipeline.postprocess.tracking.motion.measurement_std`.
        box: (x0, y0, x1, y1) of the first region, x1/y1 exclusive.
        t: time of the first region, seconds.

    Attributes:
        kf: the filterpy ``KalmanFilter``; ``kf.x`` (n, 1) state, ``kf.P`` (n, n) covariance.
        t: time (s) the state refers to.
        last_box: the last observed region's box.
        last_observed_t: time (s) of the last observed region.
        last_observed_pos: (x, y) px, the filtered position right after the last update.
        last_observed_vel: (vx, vy) px/s, the filtered velocity right after the last update.
        state: ``observed`` when the latest step had a region, ``predicted`` while coasting.
        hits: number of regions assigned to the track.
    """

    def __init__(
        self,
        track_id: int,
        class_id: int,
        name: str,
        motion: Motion,
        process_std: float,
        centroid: tuple[float, float],
        noise_std_px: float,
        box: tuple[int, int, int, int],
        t: float,
    ) -> None:
        self.track_id = track_id
        self.class_id = class_id
        self.name = name
        self.motion = motion
        self.process_std = process_std
        self.kf = new_filter(motion, centroid, noise_std_px)
        self.t = t
        self.last_box = box
        self.last_observed_t = t
        self.last_observed_pos = (float(centroid[0]), float(centroid[1]))
        self.last_observed_vel = (0.0, 0.0)
        self.state = "observed"
        self.hits = 1

    def predict_to(self, t: float) -> None:
        """Move the state to time ``t`` (s) without a measurement: ``x ← F x``, ``P ← F P Fᵀ + Q``.

        ``t`` equal to the state's time: no step (the state is already there). The motion model is
        never run over a non-positive ``dt``.

        Raises:
            ValueError: ``t`` is before the state's time (``dt < 0``: the model would run backwards).
                :class:`~pipeline.postprocess.tracking.tracker.PartTracker` never asks for one: it
                ends a source's tracks on a frame time that does not increase.
        """
        dt = t - self.t
        if dt < 0.0 or dt != dt:
            raise ValueError(f"track {self.track_id}: cannot predict back in time ({self.t!r} s -> {t!r} s)")
        if dt > 0.0:
            self.kf.predict(F=transition(self.motion, dt), Q=process_noise(self.motion, dt, self.process_std))
            self.t = t
        self.state = "predicted"

    def mahalanobis2(self, centroid: tuple[float, float], noise_std_px: float) -> float:
        """Squared Mahalanobis distance ``yᵀ S⁻¹ y`` (unitless, χ² with 2 dof for a true match)."""
        return self.distance(centroid, noise_std_px)[0]

    def distance(self, centroid: tuple[float, float], noise_std_px: float) -> tuple[float, float]:
        """:func:`distances` of one measurement against this track."""
        d = distances([self], np.asarray([centroid], np.float64), np.asarray([noise_std_px], np.float64))
        return float(d[0, 0, 0]), float(d[0, 0, 1])

    def update(
        self, centroid: tuple[float, float], noise_std_px: float, box: tuple[int, int, int, int]
    ) -> None:
        """Correct the (already predicted) state with a region's centroid (px) of std ``noise_std_px``."""
        self.kf.update(
            np.asarray(centroid, dtype=np.float64).reshape(2, 1), R=measurement_noise(noise_std_px)
        )
        self.last_box = box
        self.last_observed_t = self.t
        self.last_observed_pos = self.position
        self.last_observed_vel = self.velocity
        self.state = "observed"
        self.hits += 1

    def coast(self, damping_per_s: float, max_speed_px_s: float) -> None:
        """Replace the (already predicted) state's motion by the damped coasting motion.

        Position and velocity become :func:`~pipeline.postprocess.tracking.motion.coast` of the last
        observed state over ``t − last_observed_t`` (speed capped, velocity decaying), acceleration 0
        (constant_acceleration); the covariance ``P`` stays that of the prediction. Call it on a track
        left without a region this frame.
        """
        tau = self.t - self.last_observed_t
        (x, y), (vx, vy) = coast(
            self.last_observed_pos, self.last_observed_vel, tau, damping_per_s, max_speed_px_s
        )
        self.kf.x[:, 0] = 0.0
        self.kf.x[0:4, 0] = (x, y, vx, vy)
        self.state = "predicted"

    @property
    def position(self) -> tuple[float, float]:
        """Smoothed (x, y), px."""
        return float(self.kf.x[0, 0]), float(self.kf.x[1, 0])

    @property
    def velocity(self) -> tuple[float, float]:
        """(vx, vy), px/s."""
        return float(self.kf.x[2, 0]), float(self.kf.x[3, 0])

    @property
    def uncertainty(self) -> tuple[float, float]:
        """(σx, σy) px: square roots of the position variances (diagonal of ``P``)."""
        p = self.kf.P
        return float(np.sqrt(max(p[0, 0], 0.0))), float(np.sqrt(max(p[1, 1], 0.0)))

    def predicted_box(self) -> tuple[int, int, int, int]:
        """The last observed box moved by the displacement since the last observation, rounded to px."""
        x, y = self.position
        dx = round(x - self.last_observed_pos[0])
        dy = round(y - self.last_observed_pos[1])
        x0, y0, x1, y1 = self.last_box
        return (x0 + dx, y0 + dy, x1 + dx, y1 + dy)


def distances(tracks: Sequence[Track], centroids: np.ndarray, noise_std_px: np.ndarray) -> np.ndarray:
    """(T, R, 2) float64: for each track and measurement, (``d² = yᵀ S⁻¹ y``, ``d² + ln det S``), with
    the residual ``y = z − H x`` (px) and its covariance ``S = H P Hᵀ + R`` (px², ``R = std²·I``).

    The second is −2 ln of the Gaussian likelihood of the measurement, up to a constant: unlike ``d²``
    alone it does not favour a track just because it is uncertain (a long-coasting track has a large
    ``S`` and therefore a small ``d²`` to everything near it). All pairs in one batched solve (the
    tracks share one motion model, so one ``H``).

    Args:
        tracks: T tracks of one motion model, already predicted to the frame's time.
        centroids: (R, 2) float64 measured positions, px.
        noise_std_px: (R,) float64 measurement std of each, px.
    """
    if not tracks or not len(centroids):
        return np.zeros((len(tracks), len(centroids), 2), np.float64)
    h = tracks[0].kf.H  # (2, n)
    x = np.stack([tr.kf.x[:, 0] for tr in tracks])  # (T, n)
    p = np.stack([tr.kf.P for tr in tracks])  # (T, n, n)
    hph = h @ p @ h.T  # (T, 2, 2)
    s = hph[:, None] + (noise_std_px**2)[None, :, None, None] * np.eye(2)  # (T, R, 2, 2)
    y = centroids[None, :, :] - (x @ h.T)[:, None, :]  # (T, R, 2)
    solved = np.linalg.solve(s, y[..., None])[..., 0]
    d2 = np.einsum("trk,trk->tr", y, solved)
    return np.stack([d2, d2 + np.log(np.linalg.det(s))], axis=-1)
